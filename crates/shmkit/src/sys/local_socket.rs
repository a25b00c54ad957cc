//! The local stream socket of the benchmarks' socket baseline: a Unix domain socket where there
//! are such, TCP on the loopback interface elsewhere (Windows), its port kept in the file the
//! Unix socket would be.

use std::io;
use std::path::Path;

#[cfg(unix)]
mod imp {
    use super::*;

    /// A connected local stream socket.
    pub type LocalStream = std::os::unix::net::UnixStream;
    /// Its listener.
    pub type LocalListener = std::os::unix::net::UnixListener;

    pub(crate) fn local_listen(path: &Path) -> io::Result<LocalListener> {
        let _ = std::fs::remove_file(path);
        LocalListener::bind(path)
    }

    pub(crate) fn local_accept(l: &LocalListener) -> io::Result<LocalStream> {
        l.accept().map(|(s, _)| s)
    }

    pub(crate) fn local_connect(path: &Path) -> io::Result<LocalStream> {
        LocalStream::connect(path)
    }
}

#[cfg(not(unix))]
mod imp {
    use super::*;

    /// A connected local stream socket.
    pub type LocalStream = std::net::TcpStream;
    /// Its listener.
    pub type LocalListener = std::net::TcpListener;

    pub(crate) fn local_listen(path: &Path) -> io::Result<LocalListener> {
        let l = LocalListener::bind(("127.0.0.1", 0))?;
        std::fs::write(path, l.local_addr()?.port().to_string())?;
        Ok(l)
    }

    pub(crate) fn local_accept(l: &LocalListener) -> io::Result<LocalStream> {
        let (s, _) = l.accept()?;
        s.set_nodelay(true)?;
        Ok(s)
    }

    pub(crate) fn local_connect(path: &Path) -> io::Result<LocalStream> {
        let port: u16 = std::fs::read_to_string(path)?
            .trim()
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad port file"))?;
        let s = LocalStream::connect(("127.0.0.1", port))?;
        s.set_nodelay(true)?;
        Ok(s)
    }
}

pub use imp::{LocalListener, LocalStream};
pub(crate) use imp::{local_accept, local_connect, local_listen};

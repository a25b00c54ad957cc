//! `shmkit view`: a local web page that shows what flows through shared memory — every segment
//! live, a stream's frames as pictures (or text, or hex) at display rate, a cell's value as it
//! changes, with their statistics.
//!
//! The server is a face like the rest of the command line: [`feed`] turns a segment into what a
//! page shows through the library's public calls (a stream subscriber that skips to the newest
//! frame and never holds the publisher back, a cell's `wait_newer`), [`pixels`] converts raw
//! images for the canvas, [`access`] says who may ask, and [`server`] maps HTTP and WebSocket
//! requests onto them. It lives in the CLI crate so that the pages describe segments with the
//! very code `ls`, `info` and `top` use (`show`, `foreign`, `target`), and the crate stays
//! `forbid(unsafe_code)`: nothing here needs unsafe.

mod access;
mod feed;
mod pixels;
mod server;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::follow::note;
use crate::interrupt::{CHECK_EVERY, on_interrupt};
use crate::output::Output;
use crate::target::{TARGET_HELP, Target};
use crate::util;

/// See what flows: serve a live web page of the segments, their frames and values
///
/// Serves a page on this machine and prints its URL, with the access token, as the first line of
/// stdout; with TARGET, the URL of that segment's page. Open it in a browser (--open does).
///
/// The index lists every segment live, as `shmkit ls` does, each linking to its page. A
/// stream's page shows its newest frame at the browser's display rate — it skips frames, it
/// never queues a backlog, and it never slows the publisher down, not even a `block` stream's:
/// raw images (--format rgba8:WxH and the other pixel layouts) drawn as pictures, PNG and JPEG
/// as images, text and JSON as text, anything else as hex — with the frame rate, sequence
/// number, age, losses and the statistics of `shmkit info`. Pause, and save the current frame.
/// A cell's page shows its value as it changes (no polling: the server waits on the cell and
/// pushes). Another program's segment (qt:KEY, posix:NAME) shows as hex, a Qt QImage as the
/// picture, or as an image of --format.
///
/// The page only reads: it never writes a segment. Every request needs the token (in the URL,
/// then a cookie); the Host header must name this server by address (against DNS rebinding).
/// It listens on 127.0.0.1 unless --listen names another address, which makes every segment
/// you can read visible to whoever reaches that address and has the token: it says so loudly.
/// Ctrl-C ends it.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit view                         the index of every segment; open the printed URL
  shmkit view cam0 --open             cam0's page, in your browser
  shmkit view qt:frames --format bgra8:640x480   a Qt segment's bytes as a picture
  shmkit view --listen 127.0.0.1:8080 a fixed port")]
pub struct Args {
    #[arg(help = TARGET_HELP, value_parser = Target::parse)]
    target: Option<Target>,

    /// Where to listen, ADDR:PORT; port 0 picks a free one (in the printed URL)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:0")]
    listen: SocketAddr,

    /// Start the browser on the URL
    #[arg(long)]
    open: bool,

    #[arg(long, value_name = "FORMAT", value_parser = util::parse_format,
          help = "Show the bytes as this format instead of the segment's own (for other programs' \
segments, which say nothing): a raw image PIXEL:WIDTHxHEIGHT[:stride=BYTES] (rgba8:640x480), or a \
media type (image/png, text/plain)")]
    format: Option<shmkit::Format>,
}

/// `%`-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Starts the browser on `url`: the desktop's opener of this system.
fn open_browser(url: &str) -> std::io::Result<()> {
    let (program, args): (&str, Vec<&str>) = match std::env::consts::OS {
        "macos" => ("open", vec![url]),
        "windows" => ("cmd", vec!["/C", "start", "", url]),
        _ => ("xdg-open", vec![url]),
    };
    std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
}

/// Serves until Ctrl-C.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    // The target is checked before anything is served: a wrong name fails as in the CLI.
    if let Some(t) = &args.target {
        let format = args.format.clone();
        feed::Feed::open(t, format)?;
    }
    let listener = TcpListener::bind(args.listen)
        .map_err(|e| Error::Failed(format!("cannot listen on {}: {e}", args.listen)))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let token = access::new_token()
        .map_err(|e| Error::Failed(format!("cannot make an access token: {e}")))?;
    let shown_host = if bound.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), bound.port()).to_string()
    } else {
        bound.to_string()
    };
    let url = match &args.target {
        Some(t) => {
            let mut u = format!("http://{shown_host}/view?target={}", encode(&t.to_string()));
            if let Some(f) = &args.format {
                u.push_str(&format!("&format={}", encode(&f.to_string())));
            }
            format!("{u}&token={token}")
        }
        None => format!("http://{shown_host}/?token={token}"),
    };
    out.line(&url)?;
    out.flush()?;
    if !bound.ip().is_loopback() {
        note(
            out,
            format_args!(
                "warning: listening on {bound}, not only on this machine's loopback: whoever \
                 reaches it with the token sees every segment you can read, unencrypted"
            ),
        )?;
    }
    if args.open {
        if let Err(e) = open_browser(&url) {
            note(
                out,
                format_args!("cannot start a browser ({e}); open the URL yourself"),
            )?;
        }
    }
    let app = Arc::new(server::App {
        token,
        bound,
        format: args.format,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let interrupted = on_interrupt();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let stop = async move {
            while !interrupted.get() {
                tokio::time::sleep(CHECK_EVERY).await;
            }
        };
        axum::serve(listener, server::router(app))
            .with_graceful_shutdown(stop)
            .await
    })?;
    // Open WebSockets do not hold the exit back.
    runtime.shutdown_timeout(Duration::from_millis(500));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode("cam0"), "cam0");
        assert_eq!(encode("qt:my key"), "qt:my%20key");
        assert_eq!(encode("a&b=c"), "a%26b%3Dc");
    }
}

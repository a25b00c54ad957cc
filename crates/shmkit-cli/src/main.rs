//! `shmkit`: create, inspect and clean up named shared memory from the command line.
//!
//! This file parses the command line and turns the outcome into an exit status; each
//! subcommand lives in [`cmd`], errors and exit statuses in [`error`], stdout in [`output`],
//! the presentation of segments in [`show`], and value parsing/formatting in [`util`].

#![forbid(unsafe_code)]

mod cmd;
mod error;
mod follow;
mod foreign;
mod framing;
mod interrupt;
mod opened;
mod output;
mod show;
mod source;
mod target;
mod util;
mod view;

use std::process::ExitCode;

use clap::Parser;

use crate::output::Output;

const ABOUT: &str =
    "Share data between processes through named shared memory; inspect and clean it up";

const LONG_ABOUT: &str = "\
Share data between processes through named shared memory; inspect and clean it up.

A shared-memory segment is a block of memory that several processes map at once, found by its \
name. On Linux a segment named NAME is the file /dev/shm/NAME: the very object that \
shm_open(\"/NAME\"), Python's SharedMemory(name=\"NAME\") and the shmkit library open.

What shmkit puts in segments:
  cell    the latest value (a text, a struct, a frame): `write` publishes, `read` and `watch` \
show it — always whole, never mixed with an older value, and `watch` sleeps until a new one comes
  stream  a sequence of frames for any number of readers: `pub` publishes, `sub` reads each \
frame and says how many a slow reader lost
  bytes   plain bytes with a lock and a change counter (`create`, `dump`, `read`/`write --offset`)

A shmkit segment starts with a header that shmkit programs check when they open it; a raw \
segment has none, for programs that do not use shmkit. Segments made by programs with the shmkit \
library disappear when the last process using them closes them, even after a crash; segments \
made by this command line are persistent and stay until `shmkit rm` (or `shmkit gc --idle`).

Names: 1 to 30 characters of A-Z a-z 0-9 . _ - not starting with '.' (the rule that works on \
Linux, macOS and Windows alike).

Other programs' segments: info, dump, read, write and lock also take qt:KEY (the segment of a Qt \
app's QSharedMemory(\"KEY\"), System V, found through $TMPDIR), qt-posix:KEY (the same in a Qt \
using the POSIX backend), Qt's key strings (systemv:/tmp/qipc_sharedmemory_…?legacyKey=KEY, \
posix:/name) and posix:NAME (a plain object such as a Python SharedMemory). For Qt segments they \
take Qt's own lock. ls marks Qt and Python objects; gc --foreign removes their crash leftovers. \
On Windows they also take a file mapping's Win32 name (Global\\NAME, Local\\NAME), opened raw as \
the classic Win32 programs made it. read, watch and write decode and encode what the classic \
programs put there: --cstring and --utf16 (TCHAR text), --qt-datastream bytes|string|image (Qt's \
QDataStream: QByteArray or `out << \"text\"`, QString, QImage).

Sizes: a number of bytes, or with a unit K, M, G, T or P, which are powers of 1024 as in \
`ls -h` (KiB, MiB, ... and lowercase k, m, ... mean the same; KB, MB, ... are refused as \
ambiguous): 4096, 4K, 8MiB, 1.5G.

Durations: 500ms, 5s, 1.5s, 2m, 1h 30m, 100us (a bare number is seconds).

Exit status: 0 success, 1 failure (the message says why), 2 usage error.";

const EXAMPLES: &str = "\
Examples:
  shmkit demo                    watch a writer and a reader process share a value live
  shmkit write status --create --capacity 4K \"all good\"   publish a value to a cell
  shmkit watch status            print each new value as it comes
  shmkit sub log                 wait for the stream log, print its frames as they come
  tail -f app.log | shmkit pub log   (another terminal) every line a frame of the stream
  shmkit bench                   measure this machine: shmkit vs socket, pipe, futex
  shmkit create cam0 --size 8M   a persistent segment of 8 MiB
  shmkit ls                      what exists, what state it is in, who holds it
  shmkit info cam0               everything about one segment
  shmkit dump cam0 --len 64      its first 64 bytes in hex
  shmkit gc --dry-run            what crashed programs left behind (gc removes it)
  shmkit dump qt:frames          the bytes of a Qt app's QSharedMemory(\"frames\")
  shmkit gc --foreign --dry-run  what crashed Qt and Python programs left behind
  shmkit top                     every segment live: publish rates, subscribers, losses
  shmkit view cam0               a web page with cam0's frames live (open the printed URL)
  shmkit bridge export cam0 --listen tcp/127.0.0.1:7447   the stream cam0 to other machines

Run `shmkit help COMMAND` for a command's options and examples.";

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "shmkit",
    // Not argv[0]: on Windows that is `shmkit.exe`.
    bin_name = "shmkit",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: cmd::Command,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return error::usage(e),
    };
    let mut out = Output::stdout();
    error::announce_stale_removals();
    let result = cli.command.run(&mut out);
    // Flush even after a failure, so what was printed before it is not lost.
    let flushed = out.flush();
    error::exit(result.and(flushed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}

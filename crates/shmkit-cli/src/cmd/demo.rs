//! `shmkit demo`: the classic writer/reader scenario in one command, with two real processes.
//!
//! The demo process creates a cell, starts a writer process and a reader process (this same
//! binary, in hidden roles), and prints what each does as it happens:
//!
//! 1. *live*: the writer publishes a reading a few times a second; the reader sleeps on the
//!    cell (no polling) and prints each value with the time it took to arrive;
//! 2. *burst*: the writer publishes self-checking values of random length as fast as it can
//!    while the reader snapshots as fast as it can and checks every one: none may be torn or
//!    mixed, and sequence numbers must never go back;
//! 3. a summary; then every handle closes and the cell is gone from /dev/shm.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shmkit::{Access, Cell, CellOptions, ErrorKind, Segment};

use crate::error::{Error, Result};
use crate::output::Output;
use crate::util::{self, short_time};

/// The largest value, in bytes.
const CAPACITY: usize = 4096;
/// How long the reader waits for a value before it gives up.
const PATIENCE: Duration = Duration::from_secs(10);

/// Watch a writer and a reader process share a value live
///
/// Starts two processes — a writer and a reader — that share a cell (a latest-value slot in
/// shared memory) and shows values flowing between them: first a few readings a second, each
/// with the time it took to reach the reader (which sleeps until woken: no polling timer), then a
/// burst where the writer publishes as fast as it can and the reader checks every value it sees
/// for tearing. Ends with a summary; the cell disappears with its last user. Ctrl-C stops it
/// early, with a summary of what it saw until then (exit status 0).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit demo                     3 s of live values, then a 1 s burst
  shmkit demo --seconds 10 --rate 20")]
pub struct Args {
    /// How long the live part lasts
    #[arg(long, value_name = "DUR", default_value = "3s", value_parser = util::parse_duration)]
    seconds: Duration,

    /// Values per second in the live part: more than 0, at most 10000
    #[arg(long, value_name = "HZ", default_value_t = 5.0, value_parser = parse_rate)]
    rate: f64,

    /// How long the burst lasts (0 to skip it)
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = util::parse_duration)]
    burst: Duration,
}

/// The hidden roles the demo starts itself in.
#[derive(Debug, clap::Args)]
pub struct RoleArgs {
    /// writer or reader
    role: String,
    /// The cell
    name: String,
    #[arg(long, default_value = "3s", value_parser = util::parse_duration)]
    seconds: Duration,
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    #[arg(long, default_value = "1s", value_parser = util::parse_duration)]
    burst: Duration,
}

/// Runs the demo.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let name = format!("shmkit-demo-{}", std::process::id());
    let cell = CellOptions::new()
        .capacity(CAPACITY)
        .create(name.as_str())?;
    out.line(format_args!(
        "shmkit demo: a writer process and a reader process share the cell {name:?} \
         ({} KiB of shared memory, gone when the last of them closes it)",
        CAPACITY * 3 / 1024
    ))?;
    let interrupted = crate::interrupt::on_interrupt();
    let mut stats = Stats::default();
    let result = live(&name, &args, out, &interrupted, &mut stats);
    // Ctrl-C in a terminal reaches the writer and reader too (the whole process group): they
    // end at once, which is no failure of theirs.
    if interrupted.get() {
        out.line("interrupted (Ctrl-C); what the demo saw until then:")?;
        stats.summary(out, Duration::ZERO)?;
        drop(cell);
        return Ok(());
    }
    let (w, r) = result?;
    stats.summary(out, args.burst)?;
    drop(cell);
    match Segment::info(name.as_str()) {
        Err(e) if e.kind() == ErrorKind::NotFound => out.line(format_args!(
            "the cell {name:?} is gone: its last handle closed"
        ))?,
        _ => out.line(format_args!(
            "the cell {name:?} is still there (another process holds it)"
        ))?,
    }
    if !(w.success() && r.success()) || stats.torn > 0 || stats.backwards > 0 {
        return Err(Error::Failed(format!(
            "the demo failed: writer {w}, reader {r}, {} torn values, {} backward steps",
            stats.torn, stats.backwards
        )));
    }
    Ok(())
}

/// Starts the reader and the writer and shows what they report until both are done (or Ctrl-C);
/// returns how they ended.
fn live(
    name: &str,
    args: &Args,
    out: &mut Output,
    interrupted: &crate::interrupt::Interrupted,
    stats: &mut Stats,
) -> Result<(ExitStatus, ExitStatus)> {
    let (tx, rx) = mpsc::channel::<(Who, String)>();
    let mut reader = Peer::start(Who::Reader, name, args, tx.clone())?;
    wait_for(&rx, Who::Reader, "ready")?;
    let mut writer = Peer::start(Who::Writer, name, args, tx)?;
    out.line(format_args!(
        "writer: pid {}, reader: pid {}; live values for {}:",
        writer.child.id(),
        reader.child.id(),
        short_time(args.seconds)
    ))?;
    out.flush()?;
    let mut finished = 0;
    while finished < 2 {
        if interrupted.get() {
            break;
        }
        let Ok((who, line)) = rx.recv_timeout(Duration::from_millis(200)) else {
            if writer.exited() && reader.exited() {
                break;
            }
            continue;
        };
        if line == "done" {
            finished += 1;
            continue;
        }
        stats.show(out, who, &line)?;
        out.flush()?;
    }
    if interrupted.get() {
        // The peers are killed as they drop, if Ctrl-C did not end them already.
        return Err(Error::Failed("interrupted".into()));
    }
    let statuses = (writer.child.wait()?, reader.child.wait()?);
    if !(statuses.0.success() && statuses.1.success()) {
        // Ctrl-C in a terminal signals the whole group: the peers may die of it before our
        // own handler has run. Give it a moment before calling their deaths a failure.
        let until = Instant::now() + Duration::from_millis(500);
        while !interrupted.get() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        if interrupted.get() {
            return Err(Error::Failed("interrupted".into()));
        }
    }
    Ok(statuses)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Writer,
    Reader,
}

/// A child process of the demo, its stdout lines forwarded to the demo.
struct Peer {
    child: Child,
}

impl Peer {
    fn start(who: Who, name: &str, args: &Args, tx: mpsc::Sender<(Who, String)>) -> Result<Peer> {
        let role = match who {
            Who::Writer => "writer",
            Who::Reader => "reader",
        };
        let mut child = Command::new(std::env::current_exe()?)
            .args(["demo-role", role, name])
            .arg(format!("--seconds={}s", args.seconds.as_secs_f64()))
            .arg(format!("--rate={}", args.rate))
            .arg(format!("--burst={}s", args.burst.as_secs_f64()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((who, line)).is_err() {
                    break;
                }
            }
            let _ = tx.send((who, "done".into()));
        });
        Ok(Peer { child })
    }

    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if !self.exited() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn wait_for(rx: &mpsc::Receiver<(Who, String)>, who: Who, what: &str) -> Result<()> {
    loop {
        match rx.recv_timeout(PATIENCE) {
            Ok((w, line)) if w == who && line == what => return Ok(()),
            Ok((_, line)) if line == "done" => {
                return Err(Error::Failed(format!(
                    "the {who:?} process ended before it was {what}"
                )));
            }
            Ok(_) => {}
            Err(_) => {
                return Err(Error::Failed(format!(
                    "the {who:?} process never got {what}"
                )));
            }
        }
    }
}

/// What the demo saw, for the summary.
#[derive(Debug, Default)]
struct Stats {
    sent: u64,
    received: u64,
    latencies: Vec<Duration>,
    burst_published: u64,
    burst_seconds: f64,
    snapshots: u64,
    distinct: u64,
    torn: u64,
    backwards: u64,
}

impl Stats {
    /// Prints one event line from a child and keeps its numbers.
    fn show(&mut self, out: &mut Output, who: Who, line: &str) -> Result<()> {
        let mut f = line.splitn(4, ' ');
        match (who, f.next(), f.next(), f.next(), f.next()) {
            (Who::Writer, Some("sent"), Some(seq), _, Some(text)) => {
                self.sent += 1;
                out.line(format_args!("  writer → #{seq:<4} {text}"))
            }
            (Who::Reader, Some("got"), Some(seq), Some(ns), Some(text)) => {
                self.received += 1;
                let lat = Duration::from_nanos(ns.parse().unwrap_or(0));
                self.latencies.push(lat);
                out.line(format_args!("  reader ← #{seq:<4} {text}   ({} after publish)", short_time(lat)))
            }
            (Who::Writer, Some("burst"), Some(n), Some(secs), _) => {
                self.burst_published = n.parse().unwrap_or(0);
                self.burst_seconds = secs.parse().unwrap_or(0.0);
                Ok(())
            }
            (Who::Writer, Some("burst-start"), ..) => out.line("burst: the writer publishes as fast as it can; the reader checks every value it sees"),
            (Who::Reader, Some("checked"), Some(rest), ..) => {
                let nums: Vec<u64> = std::iter::once(rest)
                    .chain(line.split(' ').skip(2))
                    .filter_map(|w| w.parse().ok())
                    .collect();
                if let [snaps, distinct, torn, back] = nums[..] {
                    (self.snapshots, self.distinct, self.torn, self.backwards) = (snaps, distinct, torn, back);
                }
                Ok(())
            }
            _ => out.line(format_args!("  {who:?}: {line}")),
        }
    }

    fn summary(&mut self, out: &mut Output, burst: Duration) -> Result<()> {
        self.latencies.sort();
        let pick = |q: f64| {
            let n = self.latencies.len();
            self.latencies
                .get(((n as f64 - 1.0) * q).round() as usize)
                .copied()
                .map_or("-".to_string(), short_time)
        };
        out.line("summary:")?;
        out.line(format_args!(
            "  live:  {} sent, {} received; publish → reader awake: median {}, p99 {}, max {}",
            self.sent,
            self.received,
            pick(0.5),
            pick(0.99),
            pick(1.0)
        ))?;
        if !burst.is_zero() {
            let rate = if self.burst_seconds > 0.0 {
                self.burst_published as f64 / self.burst_seconds
            } else {
                0.0
            };
            out.line(format_args!(
                "  burst: {} values published in {:.1} s ({:.0} a second); the reader took {} snapshots \
                 of {} different values: {} torn, {} steps back",
                self.burst_published, self.burst_seconds, rate, self.snapshots, self.distinct, self.torn, self.backwards
            ))?;
        }
        Ok(())
    }
}

/// Runs a hidden role.
pub fn run_role(args: RoleArgs, out: &mut Output) -> Result<()> {
    match args.role.as_str() {
        "writer" => writer(&args, out),
        "reader" => reader(&args, out),
        other => Err(Error::Failed(format!("unknown demo role {other:?}"))),
    }
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn writer(args: &RoleArgs, out: &mut Output) -> Result<()> {
    let cell = Cell::open(args.name.as_str(), Access::ReadWrite)?;
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let start = Instant::now();
    let mut next = start;
    let mut i = 0u64;
    while start.elapsed() < args.seconds {
        i += 1;
        let reading = 20.0 + 2.5 * (i as f64 * 0.7).sin();
        let text = format!("reading {i}: {reading:.1} °C");
        // Announced before it is published (we are the only writer, so we know its seq), so
        // that the demo shows it before the reader's report of it.
        out.line(format_args!("sent {} - {text}", cell.seq() + 1))?;
        out.flush()?;
        cell.publish(format!("live {} {text}", unix_nanos()).as_bytes())?;
        next += period;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    if !args.burst.is_zero() {
        out.line("burst-start")?;
        out.flush()?;
        let t0 = Instant::now();
        let mut n = 0u64;
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        while t0.elapsed() < args.burst {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let len = 16 + rng as usize % (CAPACITY - 16);
            let k = cell.seq() + 1; // our seq: the only writer
            cell.publish_with(len, |buf| burst_value(k, buf))?;
            n += 1;
        }
        out.line(format_args!("burst {n} {:.3}", t0.elapsed().as_secs_f64()))?;
    }
    cell.publish(b"end")?;
    Ok(())
}

/// A value that checks itself: `burst`, then `k`, then byte `j` = `k + j` to the end.
fn burst_value(k: u64, buf: &mut [u8]) {
    buf[..5].copy_from_slice(b"burst");
    buf[5..13].copy_from_slice(&k.to_le_bytes());
    for (j, b) in buf[13..].iter_mut().enumerate() {
        *b = (k as usize).wrapping_add(j) as u8;
    }
}

/// Whether `v` is a whole burst value for sequence number `seq`.
fn burst_value_ok(v: &[u8], seq: u64) -> bool {
    v.len() >= 13
        && v[5..13] == seq.to_le_bytes()
        && v[13..]
            .iter()
            .enumerate()
            .all(|(j, &b)| b == (seq as usize).wrapping_add(j) as u8)
}

fn reader(args: &RoleArgs, out: &mut Output) -> Result<()> {
    let cell = Cell::open(args.name.as_str(), Access::ReadOnly)?;
    out.line("ready")?;
    out.flush()?;
    let mut value = Vec::new();
    let mut seq = cell.seq();
    loop {
        seq = cell.wait_newer(seq, Some(PATIENCE))?;
        let got = cell.read_into(&mut value)?;
        let now = unix_nanos();
        seq = seq.max(got);
        if let Some(rest) = value.strip_prefix(b"live ") {
            let text = String::from_utf8_lossy(rest);
            let (sent, text) = text.split_once(' ').unwrap_or(("0", &text));
            let lat = now.saturating_sub(sent.parse().unwrap_or(now));
            out.line(format_args!("got {got} {lat} {text}"))?;
            out.flush()?;
        } else if value.starts_with(b"burst") {
            return check_burst(&cell, got, value, out);
        } else if value == b"end" {
            return Ok(());
        }
    }
}

/// Snapshots as fast as possible until the end value, checking every one.
fn check_burst(cell: &Cell, mut last: u64, mut value: Vec<u8>, out: &mut Output) -> Result<()> {
    let (mut snaps, mut distinct, mut torn, mut back) = (0u64, 0u64, 0u64, 0u64);
    loop {
        let seq = cell.read_into(&mut value)?;
        snaps += 1;
        if value == b"end" {
            break;
        }
        if seq < last {
            back += 1;
        }
        if seq != last {
            distinct += 1;
        }
        if !burst_value_ok(&value, seq) {
            torn += 1;
        }
        last = seq;
    }
    out.line(format_args!("checked {snaps} {distinct} {torn} {back}"))
}

/// `--rate`: values a second, more than 0 and at most 10000.
fn parse_rate(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 10_000.0 => Ok(r),
        _ => Err("the rate must be more than 0 and at most 10000 values a second".into()),
    }
}

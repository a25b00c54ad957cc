//! `shmkit bench`: measures this machine — shmkit next to the baselines, in one run, as ratios.
//!
//! Speeds vary a lot between machines and from minute to minute on a shared one, so absolute
//! numbers mean little; ratios against baselines measured in the same run (a Unix socket, a
//! pipe, a raw futex, raw atomics, `memcpy`) mean more. Every two-process case runs in two real
//! processes: this one and a peer started as `shmkit bench-role …`.

mod latency;
mod local;
mod stats;
mod throughput;

use std::io::{IsTerminal, Write};

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::output::Output;
use crate::util::short_time;

use latency::Channel;
use stats::Summary;
use throughput::Pipeline;

/// Measure shmkit against a socket, a pipe and the hardware, in one run
///
/// Runs each case in two real processes and prints, per case, the median and 99th percentile,
/// and how it compares with its baseline measured in the same run: "2.40x faster" or "1.22x
/// slower" (the baseline's median time over the case's, whatever the unit: a round trip, an
/// operation, a frame; --json gives that number as `speedup`):
///
///   latency   an 8-byte ping-pong round trip: raw atomics (spinning: the baseline), a
///             raw futex, a Unix socket, a pipe, and shmkit's cell and stream (blocking, and
///             spinning briefly before blocking; each cell with its one exclusive writer, and
///             once more with writers that lock per publish); ratios against the Unix socket.
///             The median comes from blocks of 50 round trips timed together, back to back
///             (a clock read costs about a fifth of a spinning round trip); the 99th
///             percentile from round trips timed one by one
///   local     in one process: a cell snapshot against memcpy of the same size (64 B, 4 KiB,
///             1 MiB; between page-aligned buffers, as where two buffers lie can make a copy
///             ten times slower), a publish nobody waits for (by a writer that locks per publish, and by
///             the cell's exclusive writer), and an 8-byte stream frame sent and received in
///             one thread: a spinning hand-off's instructions without its cache-line transfers,
///             which shows how fast the cores are next to the transfers (the same code ran at
///             37 ns and at 75 ns on two days of one VM, and its spinning ratios with it)
///   throughput  frames of 64 KiB, 1 MiB and 8 MiB from one process to another whose reader
///             checksums every byte: the shmkit stream (copying in, and zero-copy), the cell, a
///             plain one-copy shared-memory ring (the limit), a Unix socket, a pipe, and memcpy
///             in one process; time per frame, speed in GiB/s, and against the socket. The
///             stream's hand-off alone (nobody touches the bytes) shows its time per frame only
///
/// Every case runs in several rounds (--rounds, default 3), the rounds interleaved so that a
/// machine that slows down for a while slows every case alike; each row shows the median of
/// the rounds' medians and their spread (the largest minus the smallest, over the median). A
/// spread above 20 % means the machine was too noisy to judge that row: the table says so.
///
/// A progress line goes to stderr while it runs (when stderr is a terminal). --json prints one
/// object with the machine's description and every result, for scripts.
#[derive(Debug, clap::Args)]
#[command(
    verbatim_doc_comment,
    after_help = "\
Examples:
  shmkit bench                 every case (about half a minute)
  shmkit bench --only cell     the cases whose name contains \"cell\"
  shmkit bench --only raw-atomics --only spin
                               the spinning round trips and their baseline
  shmkit bench --quick --json  fewer rounds, machine-readable"
)]
pub struct Args {
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,

    /// Fewer samples per case, and one round (a rough picture in a few seconds)
    #[arg(long)]
    quick: bool,

    /// How many times to run every case (the median of the rounds is shown, with their spread)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=50))]
    rounds: Option<u32>,

    /// Run only the cases whose id contains this text (ids: latency/raw-atomics,
    /// latency/cell, local/snapshot-4KiB, ...); give it more than once for the cases matching any
    #[arg(long, value_name = "TEXT")]
    only: Vec<String>,
}

static PEER_CPU: std::sync::Mutex<Option<usize>> = std::sync::Mutex::new(None);

/// The CPU peers are pinned to (`None`: wherever the scheduler likes).
fn set_peer_cpu(cpu: Option<usize>) {
    *PEER_CPU.lock().unwrap_or_else(|e| e.into_inner()) = cpu;
}

/// The other process of a two-process case: this binary as
/// `shmkit bench-role KIND ID BASE [ARGS]`, on the peer CPU, once it has printed `ready`. It is
/// killed when dropped.
struct Peer {
    child: std::process::Child,
    out: Option<std::io::BufReader<std::process::ChildStdout>>,
}

impl Peer {
    fn start(kind: &str, id: &str, base: &str, args: &[String]) -> Result<Peer> {
        use std::process::{Command, Stdio};
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["bench-role", kind, id, base]).args(args);
        if let Some(cpu) = *PEER_CPU.lock().unwrap_or_else(|e| e.into_inner()) {
            cmd.arg(format!("--cpu={cpu}"));
        }
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
        let out = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut peer = Peer {
            child,
            out: Some(out),
        };
        if peer.line()?.trim() != "ready" {
            return Err(Error::Failed(format!(
                "bench {kind} {id}: the peer process did not start"
            )));
        }
        Ok(peer)
    }

    /// The next line the peer prints.
    fn line(&mut self) -> Result<String> {
        use std::io::BufRead;
        let mut line = String::new();
        if let Some(out) = self.out.as_mut() {
            out.read_line(&mut line)?;
        }
        Ok(line)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The peer side of a two-process case (started by `shmkit bench` itself).
#[derive(Debug, clap::Args)]
pub struct RoleArgs {
    /// latency
    kind: String,
    /// The channel
    channel: String,
    /// The base name of the shared objects
    base: String,
    /// A socket path, for the socket channel
    socket: Option<String>,
    /// Pin this process to this CPU
    #[arg(long)]
    cpu: Option<usize>,
    /// Frame size, for throughput
    #[arg(long, default_value_t = 0)]
    size: usize,
    /// Frames per batch, for throughput
    #[arg(long, default_value_t = 0)]
    frames: usize,
}

/// One line of the results.
#[derive(Debug)]
struct Row {
    group: &'static str,
    id: String,
    label: String,
    summary: Summary,
    /// Each round's median.
    rounds: Vec<std::time::Duration>,
    /// The id of the row this one is compared with.
    baseline: Option<String>,
    /// Bytes moved per operation (throughput rows).
    bytes: Option<usize>,
}

/// A case to run: its id, label, group and how to measure it.
struct Case {
    group: &'static str,
    id: String,
    label: String,
    baseline: Option<String>,
    bytes: Option<usize>,
    /// Its samples (nanoseconds per operation), summarised.
    run: Box<dyn Fn(bool) -> Result<Option<Summary>>>,
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for ch in Channel::ALL {
        v.push(Case {
            group: "latency",
            id: format!("latency/{}", ch.id()),
            label: ch.label().to_string(),
            baseline: (ch != Channel::UnixSocket).then(|| "latency/unix-socket".to_string()),
            bytes: None,
            run: Box::new(move |quick| {
                let rounds = match (ch.spins(), quick) {
                    (true, false) => 50_000,
                    (true, true) => 5_000,
                    (false, false) => 3_000,
                    (false, true) => 300,
                };
                latency::measure(ch, rounds, rounds / 10)
            }),
        });
    }
    for (size, label) in local::SIZES {
        let tag = label.replace(' ', "");
        v.push(Case {
            group: "local",
            id: format!("local/memcpy-{tag}"),
            label: format!("memcpy {label}"),
            baseline: None,
            bytes: None,
            run: Box::new(move |quick| {
                Ok(Summary::of(local::memcpy(
                    size,
                    if quick { 10 } else { 50 },
                )))
            }),
        });
        v.push(Case {
            group: "local",
            id: format!("local/snapshot-{tag}"),
            label: format!("cell snapshot {label}"),
            baseline: Some(format!("local/memcpy-{tag}")),
            bytes: None,
            run: Box::new(move |quick| {
                local::snapshot(size, if quick { 10 } else { 50 }).map(Summary::of)
            }),
        });
    }
    v.push(Case {
        group: "local",
        id: "local/publish-64B".into(),
        label: "cell publish 64 B, nobody waiting".into(),
        baseline: None,
        bytes: None,
        run: Box::new(|quick| local::publish(false, if quick { 10 } else { 50 }).map(Summary::of)),
    });
    v.push(Case {
        group: "local",
        id: "local/publish-64B-exclusive".into(),
        label: "  the same by the cell's exclusive writer".into(),
        baseline: None,
        bytes: None,
        run: Box::new(|quick| local::publish(true, if quick { 10 } else { 50 }).map(Summary::of)),
    });
    v.push(Case {
        group: "local",
        id: "local/stream-send-recv-8B".into(),
        label: "stream send + receive 8 B, one thread".into(),
        baseline: None,
        bytes: None,
        run: Box::new(|quick| local::send_recv(if quick { 10 } else { 50 }).map(Summary::of)),
    });
    for (size, label) in throughput::SIZES {
        let tag = label.replace(' ', "");
        for p in Pipeline::ALL {
            // The hand-off alone moves no bytes: its time per frame is the figure, not a speed,
            // and comparing it with a socket that copies every byte would mean nothing.
            let moves_bytes = p != Pipeline::StreamHandoff;
            v.push(Case {
                group: "throughput",
                id: format!("throughput/{}-{tag}", p.id()),
                label: format!("{label}: {}", p.label()),
                baseline: (p != Pipeline::UnixSocket && moves_bytes)
                    .then(|| format!("throughput/unix-socket-{tag}")),
                bytes: moves_bytes.then_some(size),
                run: Box::new(move |quick| {
                    throughput::measure(p, size, if quick { 2 } else { 7 }).map(Summary::of)
                }),
            });
        }
        v.push(Case {
            group: "throughput",
            id: format!("throughput/memcpy-{tag}"),
            label: format!("{label}: memcpy in one process"),
            baseline: Some(format!("throughput/unix-socket-{tag}")),
            bytes: Some(size),
            run: Box::new(move |quick| {
                Ok(Summary::of(local::memcpy(size, if quick { 5 } else { 20 })))
            }),
        });
    }
    v
}

/// Runs the cases and prints the results.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|c| args.only.is_empty() || args.only.iter().any(|o| c.id.contains(o.as_str())))
        .collect();
    if cases.is_empty() {
        return Err(Error::Failed(format!(
            "no case matches {}; ids look like latency/cell or local/snapshot-4KiB",
            args.only
                .iter()
                .map(|o| format!("{o:?}"))
                .collect::<Vec<_>>()
                .join(" or ")
        )));
    }
    // The two processes of a case run on CPUs 0 and 1. Left to itself, the scheduler puts a
    // woken process on the waker's CPU in some runs and on the other CPU in others, and on a
    // virtual machine the two differ tenfold; fixed CPUs make the cases of one run comparable.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = cpus >= 2 && shmkit::bench_support::pin_to_cpu(0);
    set_peer_cpu(pinned.then_some(1));
    let progress = std::io::stderr().is_terminal();
    let rounds = args.rounds.unwrap_or(if args.quick { 1 } else { 3 }) as usize;
    // Rounds outside, cases inside: a noisy minute spreads over every case alike.
    let mut per_case: Vec<Vec<Summary>> = vec![Vec::new(); cases.len()];
    for round in 0..rounds {
        for (i, case) in cases.iter().enumerate() {
            if progress {
                let _ = write!(
                    std::io::stderr(),
                    "\r\x1b[K[round {}/{rounds}, {}/{}] {} …",
                    round + 1,
                    i + 1,
                    cases.len(),
                    case.label
                );
            }
            let summary = (case.run)(args.quick)?
                .ok_or_else(|| Error::Failed(format!("{}: no samples", case.id)))?;
            per_case[i].push(summary);
        }
    }
    let rows: Vec<Row> = cases
        .iter()
        .zip(per_case)
        .map(|(case, summaries)| Row {
            group: case.group,
            id: case.id.clone(),
            label: case.label.clone(),
            summary: Summary::middle(&summaries),
            rounds: summaries.iter().map(|s| s.median).collect(),
            baseline: case.baseline.clone(),
            bytes: case.bytes,
        })
        .collect();
    if progress {
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
    if args.json {
        out.json(&to_json(&rows, machine(cpus, pinned)))
    } else {
        table(out, &rows, &machine(cpus, pinned))
    }
}

/// The spread of a row's rounds: (largest median − smallest) / the median of medians.
fn spread(row: &Row) -> f64 {
    let (Some(min), Some(max)) = (row.rounds.iter().min(), row.rounds.iter().max()) else {
        return 0.0;
    };
    (*max - *min).as_secs_f64() / row.summary.median.as_secs_f64().max(1e-12)
}

/// Above this spread a row's figures are too noisy to judge.
const NOISY: f64 = 0.20;

/// How many times faster than its baseline `row` is: the baseline's median time over the row's
/// (per round trip, operation or frame alike), so above 1 is faster, below 1 slower.
fn speedup(rows: &[Row], row: &Row) -> Option<f64> {
    let base = rows.iter().find(|r| Some(&r.id) == row.baseline.as_ref())?;
    Some(base.summary.median.as_secs_f64() / row.summary.median.as_secs_f64().max(1e-12))
}

/// A speedup in words: `2.40x faster`, `1.22x slower`, `as fast`.
fn speedup_text(x: f64) -> String {
    if (x - 1.0).abs() < 0.005 {
        "as fast".into()
    } else if x > 1.0 {
        format!("{x:.2}x faster")
    } else {
        format!("{:.2}x slower", 1.0 / x.max(1e-12))
    }
}

fn gib_per_s(bytes: usize, per_op: std::time::Duration) -> f64 {
    bytes as f64 / per_op.as_secs_f64().max(1e-12) / f64::from(1u32 << 30)
}

/// The machine, for the record: `cpus` as counted before the bench pinned itself.
fn machine(cpus: usize, pinned: bool) -> Value {
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, m)| m.trim().to_string())
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string());
    json!({
        "os": std::env::consts::OS,
        "cpus": cpus,
        "cpu": model,
        "kernel": kernel,
        "pinned_to_cpus_0_and_1": pinned,
    })
}

fn to_json(rows: &[Row], machine: Value) -> Value {
    let results: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "group": r.group,
                "id": r.id,
                "label": r.label,
                "median_ns": r.summary.median.as_nanos() as u64,
                "p99_ns": r.summary.p99.as_nanos() as u64,
                "samples": r.summary.samples,
                "round_medians_ns": r.rounds.iter().map(|d| d.as_nanos() as u64).collect::<Vec<_>>(),
                "spread": spread(r),
                "noisy": spread(r) > NOISY,
                "baseline": r.baseline,
                "speedup": speedup(rows, r),
                "bytes_per_op": r.bytes,
                "gib_per_s": r.bytes.map(|b| gib_per_s(b, r.summary.median)),
            })
        })
        .collect();
    json!({ "machine": machine, "results": results })
}

fn table(out: &mut Output, rows: &[Row], m: &Value) -> Result<()> {
    let pinned = m["pinned_to_cpus_0_and_1"] == true;
    out.line(format_args!(
        "shmkit bench on {} CPUs ({}), {} {}{}",
        m["cpus"],
        m["cpu"].as_str().unwrap_or("unknown CPU"),
        m["os"].as_str().unwrap_or("?"),
        m["kernel"].as_str().unwrap_or(""),
        if pinned {
            "; the two processes pinned to CPUs 0 and 1"
        } else {
            ""
        }
    ))?;
    for (group, title, vs) in [
        (
            "latency",
            "latency: 8-byte ping-pong between two processes, round trip",
            "vs socket",
        ),
        ("local", "in one process, per operation", "vs memcpy"),
        (
            "throughput",
            "throughput: frames between two processes, reader checksums all",
            "vs socket",
        ),
    ] {
        let group_rows: Vec<&Row> = rows.iter().filter(|r| r.group == group).collect();
        if group_rows.is_empty() {
            continue;
        }
        let speed = group == "throughput";
        out.line("")?;
        let (c1, c2) = if speed {
            ("per frame", "GiB/s")
        } else {
            ("median", "p99")
        };
        out.line(format_args!(
            "{title:<66} {c1:>10} {c2:>9} {:>7} {vs:>14}",
            "spread"
        ))?;
        for r in group_rows {
            let vs = speedup(rows, r).map_or(String::new(), speedup_text);
            let second = match (speed, r.bytes) {
                (true, Some(b)) => format!("{:.1}", gib_per_s(b, r.summary.median)),
                (true, None) => "-".into(),
                (false, _) => short_time(r.summary.p99),
            };
            let sp = spread(r);
            let spread_text = if r.rounds.len() < 2 {
                "-".to_string()
            } else {
                format!("{:.0}%{}", sp * 100.0, if sp > NOISY { "!" } else { "" })
            };
            let line = format!(
                "  {:<64} {:>10} {:>9} {:>7} {:>14}",
                r.label,
                short_time(r.summary.median),
                second,
                spread_text,
                vs
            );
            out.line(line.trim_end())?;
        }
    }
    let noisy = rows.iter().filter(|r| spread(r) > NOISY).count();
    let rounds = rows.first().map_or(0, |r| r.rounds.len());
    out.line("")?;
    out.line(format_args!(
        "{rounds} round(s) per case: the median of the rounds' medians; spread = (largest - \
         smallest) / median"
    ))?;
    if noisy > 0 {
        out.line(format_args!(
            "note: {noisy} row(s) marked ! spread more than {:.0}% between rounds: the machine was \
             too noisy to judge them; run again on a quieter machine",
            NOISY * 100.0
        ))?;
    }
    Ok(())
}

/// Runs the peer side of a case.
pub fn run_role(args: RoleArgs, _out: &mut Output) -> Result<()> {
    if let Some(cpu) = args.cpu {
        shmkit::bench_support::pin_to_cpu(cpu);
    }
    let unknown = || Error::Failed(format!("unknown bench role {} {}", args.kind, args.channel));
    match args.kind.as_str() {
        "latency" => {
            let ch = Channel::from_id(&args.channel).ok_or_else(unknown)?;
            latency::serve(ch, &args.base, args.socket.as_deref())
        }
        "throughput" => {
            let p = Pipeline::from_id(&args.channel).ok_or_else(unknown)?;
            throughput::serve(
                p,
                &args.base,
                args.size,
                args.frames,
                args.socket.as_deref(),
            )
        }
        _ => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speedups_say_which_way_is_better() {
        assert_eq!(speedup_text(2.4), "2.40x faster");
        assert_eq!(speedup_text(0.5), "2.00x slower");
        assert_eq!(speedup_text(1.001), "as fast");
    }
}

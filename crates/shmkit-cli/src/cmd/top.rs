//! `shmkit top`: every segment live, refreshed about once a second — publish rates, subscribers
//! with their lag and losses, cell update rates, holders. The `top` of shared memory.
//!
//! Each refresh takes a census ([`Segment::list`], which reads the statistics publishers and
//! subscribers keep in their segments without disturbing them); rates are the differences
//! between two successive censuses divided by the time between them. The screen is made by
//! [`screen`], a pure function of two censuses, so that it is tested without a terminal.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, queue, terminal};
use shmkit::{Details, Segment, SegmentInfo, human_bytes};

use crate::error::{Error, Result};
use crate::interrupt::on_interrupt;
use crate::output::Output;
use crate::show;
use crate::util;

/// Watch every segment live: publish rates, subscribers, lag and losses
///
/// Shows every segment with what flows through it, refreshed every --interval (1 s): for a
/// stream, frames and bytes published per second and each subscriber (its process, how many
/// frames it is behind, how many it lost, how many it receives per second, how long ago it last
/// received one); for a cell, values published per second; for every segment its kind, state,
/// format and the processes that hold it. Nothing is opened or locked to find out: publishers
/// and subscribers keep these counters in the segment, and top only reads them.
///
/// q, Esc or Ctrl-C ends it. On a terminal it redraws one screen, as wide as the terminal (80
/// columns are enough); when stdout is not a terminal, or with --batch, it prints one screen
/// after another.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit top                     live, until q
  shmkit top --interval 250ms    faster
  shmkit top -b -n 3 > top.txt   three screens as text, for a log or a script")]
pub struct Args {
    /// Time between refreshes: 1s, 250ms
    #[arg(short = 'd', long, value_name = "DUR", default_value = "1s", value_parser = parse_interval)]
    interval: Duration,

    /// End after this many screens (default: until q or Ctrl-C)
    #[arg(short = 'n', long, value_name = "N")]
    iterations: Option<u64>,

    /// Print screens one after another instead of redrawing one (what happens anyway when
    /// stdout is not a terminal)
    #[arg(short, long)]
    batch: bool,
}

fn parse_interval(s: &str) -> std::result::Result<Duration, String> {
    let d = util::parse_duration(s)?;
    if d < Duration::from_millis(50) {
        return Err("refresh at most every 50ms".into());
    }
    Ok(d)
}

/// The width of a screen when the terminal's is not known.
const DEFAULT_WIDTH: usize = 80;

/// One census: every segment, and when it was taken.
#[derive(Debug, Clone)]
pub struct Census {
    pub at: Instant,
    pub wall: SystemTime,
    pub infos: Vec<SegmentInfo>,
}

impl Census {
    fn take() -> Result<Census> {
        let mut infos = Segment::list()?;
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Census {
            at: Instant::now(),
            wall: SystemTime::now(),
            infos,
        })
    }
}

/// Runs the live view until q, Ctrl-C or --iterations.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let live = !args.batch && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if live {
        live_view(&args, out)
    } else {
        batch(&args, out)
    }
}

/// Screens one after another, separated by a blank line; Ctrl-C ends it.
fn batch(args: &Args, out: &mut Output) -> Result<()> {
    let interrupted = on_interrupt();
    let mut previous: Option<Census> = None;
    let mut shown = 0u64;
    loop {
        let census = Census::take()?;
        if shown > 0 {
            out.line("")?;
        }
        for line in screen(previous.as_ref(), &census, args.interval, DEFAULT_WIDTH) {
            out.line(line)?;
        }
        out.flush()?;
        shown += 1;
        if args.iterations.is_some_and(|n| shown >= n) {
            return Ok(());
        }
        previous = Some(census);
        let until = Instant::now() + args.interval;
        while Instant::now() < until {
            if interrupted.get() {
                return Ok(());
            }
            std::thread::sleep(crate::interrupt::CHECK_EVERY.min(args.interval));
        }
    }
}

/// Puts the terminal back as it was (raw mode off, main screen, cursor shown), also when the
/// view ends with an error or a panic.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let mut stdout = std::io::stdout();
        let _ = execute!(stdout, cursor::Show, terminal::LeaveAlternateScreen);
        let _ = terminal::disable_raw_mode();
    }
}

/// Whether a key ends the view: q, Esc, Ctrl-C (raw mode turns Ctrl-C into a key).
fn quits(key: &KeyEvent) -> bool {
    key.kind != KeyEventKind::Release
        && match key.code {
            KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc => true,
            KeyCode::Char('c') => key.modifiers.contains(KeyModifiers::CONTROL),
            _ => false,
        }
}

/// One screen redrawn in place on the alternate screen.
fn live_view(args: &Args, out: &mut Output) -> Result<()> {
    let term = |e: std::io::Error| Error::Failed(format!("cannot drive the terminal: {e}"));
    terminal::enable_raw_mode().map_err(term)?;
    let _restore = Restore;
    execute!(
        std::io::stdout(),
        terminal::EnterAlternateScreen,
        cursor::Hide
    )
    .map_err(term)?;
    let mut previous: Option<Census> = None;
    let mut shown = 0u64;
    loop {
        let census = Census::take()?;
        let (cols, rows) = terminal::size().unwrap_or((DEFAULT_WIDTH as u16, 24));
        let mut lines = screen(previous.as_ref(), &census, args.interval, cols as usize);
        lines.truncate(rows as usize);
        let mut frame = Vec::new();
        queue!(
            frame,
            cursor::MoveTo(0, 0),
            terminal::Clear(terminal::ClearType::All)
        )
        .map_err(term)?;
        for (i, line) in lines.iter().enumerate() {
            queue!(frame, cursor::MoveTo(0, i as u16)).map_err(term)?;
            frame.extend_from_slice(line.as_bytes());
        }
        out.raw(&frame)?;
        out.flush()?;
        shown += 1;
        if args.iterations.is_some_and(|n| shown >= n) {
            return Ok(());
        }
        previous = Some(census);
        let until = Instant::now() + args.interval;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if !event::poll(left).map_err(term)? {
                break;
            }
            match event::read().map_err(term)? {
                Event::Key(key) if quits(&key) => return Ok(()),
                Event::Resize(..) => break,
                _ => {}
            }
        }
    }
}

/// A rate for a column: `30.0/s`, `1.2k/s`; `…` before there are two censuses.
fn per_second(delta: Option<f64>) -> String {
    match delta {
        None => "…".into(),
        Some(r) if r < 1000.0 => format!("{r:.1}/s"),
        Some(r) if r < 1e6 => format!("{:.1}k/s", r / 1e3),
        Some(r) => format!("{:.1}M/s", r / 1e6),
    }
}

/// Bytes per second: `237 MiB/s`.
fn bytes_per_second(rate: Option<f64>) -> String {
    match rate {
        None => "…".into(),
        Some(r) => format!("{}/s", human_bytes(r.max(0.0) as u64)),
    }
}

/// `text` cut to `width` characters, with `…` where it was cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `12s ago`, `now`.
fn ago(now: SystemTime, t: Option<SystemTime>) -> String {
    match t.map(|t| now.duration_since(t).unwrap_or_default()) {
        None => "never".into(),
        Some(d) if d < Duration::from_secs(1) => "now".into(),
        Some(d) if d < Duration::from_secs(120) => format!("{}s ago", d.as_secs()),
        Some(d) if d < Duration::from_secs(7200) => format!("{}m ago", d.as_secs() / 60),
        Some(d) => format!("{}h ago", d.as_secs() / 3600),
    }
}

/// The holders in `width` columns: `4242,4243`, `4242 +3`, or `4 pids` when even that does not
/// fit.
fn holders(h: &shmkit::Holders, width: usize) -> String {
    let all = show::holders_short(h);
    if all.chars().count() <= width {
        return all;
    }
    let mut pids = all.split(',');
    let first = pids.next().unwrap_or_default();
    let rest = pids.count();
    let short = format!("{first} +{rest}");
    if short.chars().count() <= width {
        short
    } else {
        format!("{} pids", rest + 1)
    }
}

/// The counters a rate is made of, per segment: (frames or values, bytes).
fn counters(info: &SegmentInfo) -> Option<(u64, u64)> {
    match &info.details {
        Some(Details::Stream(s)) => Some((s.frames, s.bytes)),
        Some(Details::Cell(c)) => Some((c.seq, 0)),
        _ => None,
    }
}

/// The screen for `now`, with rates since `before`: a title line, the column headings, a line
/// per segment and one per stream subscriber. Every line fits `width` columns (at least 80
/// are assumed).
pub fn screen(
    before: Option<&Census>,
    now: &Census,
    interval: Duration,
    width: usize,
) -> Vec<String> {
    let width = width.max(40);
    let secs = before.map(|b| now.at.duration_since(b.at).as_secs_f64().max(1e-3));
    let old: HashMap<&str, &SegmentInfo> = before
        .map(|b| b.infos.iter().map(|i| (i.name.as_str(), i)).collect())
        .unwrap_or_default();
    let rate = |info: &SegmentInfo, pick: fn((u64, u64)) -> u64| -> Option<f64> {
        let then = counters(old.get(info.name.as_str())?)?;
        let now = counters(info)?;
        Some(pick(now).saturating_sub(pick(then)) as f64 / secs?)
    };
    let streams = now
        .infos
        .iter()
        .filter(|i| matches!(i.details, Some(Details::Stream(_))))
        .count();
    let cells = now
        .infos
        .iter()
        .filter(|i| matches!(i.details, Some(Details::Cell(_))))
        .count();
    let mut lines = vec![
        fit(
            &format!(
                "shmkit top — {} segments ({streams} streams, {cells} cells), every {}; q quits",
                now.infos.len(),
                util::short_time(interval)
            ),
            width,
        ),
        String::new(),
    ];
    // NAME KIND STATE FORMAT RATE BYTES/S SUBS HOLDERS: 15+6+5+15+9+11+4 and 7 spaces leave
    // HOLDERS 8 columns of 80; a wider terminal gives the rest to NAME, FORMAT and HOLDERS.
    let extra = width.saturating_sub(80);
    let (name_w, format_w) = (15 + extra / 3, 15 + extra / 3);
    let row = |cells: [&str; 8]| -> String {
        let line = format!(
            "{:<name_w$} {:<6} {:<5} {:<format_w$} {:>9} {:>11} {:>4} {}",
            fit(cells[0], name_w),
            fit(cells[1], 6),
            fit(cells[2], 5),
            fit(cells[3], format_w),
            cells[4],
            cells[5],
            cells[6],
            cells[7],
        );
        fit(line.trim_end(), width)
    };
    lines.push(row([
        "NAME", "KIND", "STATE", "FORMAT", "RATE", "BYTES/S", "SUBS", "HOLDERS",
    ]));
    if now.infos.is_empty() {
        lines.push("(no segments)".into());
    }
    for info in &now.infos {
        let format = info
            .format
            .as_ref()
            .map_or("-".to_string(), ToString::to_string);
        let (rate_s, bytes_s, subs) = match &info.details {
            Some(Details::Stream(s)) => (
                per_second(rate(info, |c| c.0)),
                bytes_per_second(rate(info, |c| c.1)),
                s.subscribers.len().to_string(),
            ),
            Some(Details::Cell(_)) => (per_second(rate(info, |c| c.0)), "-".into(), "-".into()),
            _ => ("-".into(), "-".into(), "-".into()),
        };
        lines.push(row([
            &util::display_name(&info.name),
            info.kind.as_str(),
            info.state.as_str(),
            &format,
            &rate_s,
            &bytes_s,
            &subs,
            &holders(&info.holders, width.saturating_sub(name_w + format_w + 42)),
        ]));
        if let Some(Details::Stream(s)) = &info.details {
            let old_subs = match old.get(info.name.as_str()).and_then(|o| o.details.as_ref()) {
                Some(Details::Stream(o)) => o.subscribers.as_slice(),
                _ => &[],
            };
            for sub in &s.subscribers {
                let recv = old_subs
                    .iter()
                    .find(|o| o.pid == sub.pid && o.received <= sub.received)
                    .and_then(|o| Some((sub.received - o.received) as f64 / secs?));
                let state = match sub.alive {
                    Some(false) => " (dead)",
                    None => " (?)",
                    Some(true) => "",
                };
                lines.push(fit(
                    &format!(
                        "  └ sub pid {}{state}: lag {}, lost {}, {} received, last {}",
                        sub.pid,
                        sub.lag,
                        sub.lost,
                        per_second(recv),
                        ago(now.wall, sub.last_receive),
                    ),
                    width,
                ));
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_cuts() {
        assert_eq!(per_second(None), "…");
        assert_eq!(per_second(Some(29.96)), "30.0/s");
        assert_eq!(per_second(Some(1500.0)), "1.5k/s");
        assert_eq!(bytes_per_second(Some(248_832_000.0)), "237.3 MiB/s");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        let held = shmkit::Holders::Held(vec![4242, 4243, 4244]);
        assert_eq!(holders(&held, 20), "4242,4243,4244");
        assert_eq!(holders(&held, 7), "4242 +2");
        assert_eq!(
            holders(&shmkit::Holders::Held(vec![1234567, 7654321]), 8),
            "2 pids"
        );
        let now = SystemTime::now();
        assert_eq!(ago(now, None), "never");
        assert_eq!(ago(now, Some(now - Duration::from_secs(5))), "5s ago");
    }

    #[test]
    fn an_empty_census_says_so_in_80_columns() {
        let census = Census {
            at: Instant::now(),
            wall: SystemTime::now(),
            infos: Vec::new(),
        };
        let lines = screen(None, &census, Duration::from_secs(1), 80);
        assert!(lines[0].starts_with("shmkit top — 0 segments"), "{lines:?}");
        assert!(lines[2].starts_with("NAME "), "{lines:?}");
        assert_eq!(lines[3], "(no segments)");
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{lines:?}");
    }
}

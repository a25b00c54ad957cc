//! `shmkit bridge`: streams and cells between machines over Zenoh (the `shmkit-zenoh`
//! library; this file only parses, prints and waits for Ctrl-C).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use shmkit::human_bytes;
use shmkit::stream::Policy;
use shmkit_zenoh::{
    Bridge, Direction, Export, Import, Level, LocalKind, Mode, NetOptions, Stats, Tls,
};

use crate::error::{Error, Result};
use crate::follow::note;
use crate::interrupt::{CHECK_EVERY, on_interrupt};
use crate::output::Output;
use crate::util;

/// Carry streams and cells to other machines over Zenoh
///
/// `export` publishes every frame of a local stream (or every value of a cell) to a Zenoh key;
/// `import` subscribes to a key and publishes what arrives into a local stream or cell, which
/// local programs read exactly as if it were local. `run` does several of each in one process.
/// The network part is Eclipse Zenoh's: any Zenoh program, in any language, can read an
/// exported key (the payload is the frame's bytes, unchanged) or publish to an imported one.
///
/// Connecting: one side listens (--listen tcp/127.0.0.1:7447), the other connects to it
/// (--connect tcp/127.0.0.1:7447); either may start first, and either may be restarted: Zenoh
/// reconnects. Nothing listens unless told, and multicast scouting is off unless --scouting on.
///
/// Off this machine (any address but 127.0.0.1, ::1, localhost), the bridge insists on Zenoh's
/// encryption and access control: tls/ endpoints with mutual TLS (--tls-ca, --tls-cert,
/// --tls-key: every peer shows a certificate signed by the CA), or Zenoh's access_control in a
/// --zenoh-config file. --insecure goes on without, with a warning.
///
/// Frames arrive whole and in order. Frames that never arrive are counted as lost by the
/// imported stream's subscribers, as local losses are. An overwrite stream is sent "newest
/// wins" (frames are dropped rather than queued when the network is slower than the
/// publisher); a block stream is sent reliably, its publisher slowed down by the slowest
/// subscriber on either side. Ctrl-C ends it, with a summary.
///
/// Zenoh's own log: RUST_LOG=zenoh=info (or debug, warn).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit bridge export cam0 --listen tcp/127.0.0.1:7447       (on the robot)
  shmkit bridge import shmkit/cam0 --as cam0 --connect tcp/127.0.0.1:7447   (on the laptop)
  shmkit bridge export status --key site/status --connect tls/10.0.0.5:7447 \\
      --tls-ca ca.pem --tls-cert me.pem --tls-key me.key      (to another machine: mutual TLS)
  shmkit bridge run --export cam0 --export imu=robot/imu --import laptop/cmd=cmd \\
      --listen tcp/127.0.0.1:7447                               (several in one process)
  shmkit bridge run --file bridge.conf --zenoh-config zenoh.json5")]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    Export(ExportArgs),
    Import(ImportArgs),
    Run(RunArgs),
}

/// Publish a local stream or cell to Zenoh
///
/// Subscribes to the stream (or reads the cell) NAME — waiting for it to appear, and following
/// it when it is made anew — and publishes every frame (value) to the key shmkit/NAME, or
/// --key. A Zenoh query on the key answers with the cell's current value (a stream's
/// description for a stream).
#[derive(Debug, clap::Args)]
struct ExportArgs {
    #[command(flatten)]
    item: ExportItem,
    #[command(flatten)]
    net: NetArgs,
}

#[derive(Debug, Clone, clap::Args)]
struct ExportItem {
    #[arg(help = super::NAME_HELP)]
    name: String,

    /// The Zenoh key to publish on, without wildcards [default: shmkit/NAME]
    #[arg(long, value_name = "KEYEXPR")]
    key: Option<String>,
}

/// Publish what arrives from Zenoh into a local stream or cell
///
/// Subscribes to KEYEXPR (wildcards allowed) and publishes each sample into the local stream
/// or cell NAME. A missing one is created like the exporter's — stream or cell, largest frame,
/// ring, policy, format — as soon as the exporter answers or the first frame arrives; the
/// options below override what they set, and --stream --max-frame SIZE or --cell --capacity SIZE
/// create it at once. An existing stream must have no live publisher: the import becomes its
/// publisher. Created streams and cells go away when the bridge and their last reader close
/// them.
#[derive(Debug, clap::Args)]
struct ImportArgs {
    #[command(flatten)]
    item: ImportItem,
    #[command(flatten)]
    net: NetArgs,
}

#[derive(Debug, Clone, clap::Args)]
struct ImportItem {
    /// The Zenoh key expression to subscribe to: shmkit/cam0, robot/**
    #[arg(value_name = "KEYEXPR")]
    key: String,

    /// The local stream or cell to publish into
    #[arg(long = "as", value_name = "NAME")]
    name: String,

    /// Make a stream, whatever the exporter has (default: what it has)
    #[arg(long, conflicts_with = "cell")]
    stream: bool,

    /// Make a cell, whatever the exporter has (default: what it has)
    #[arg(long)]
    cell: bool,

    /// The largest frame of a created stream: 64K, 8MiB [default: the exporter's]
    #[arg(long, value_name = "SIZE", value_parser = util::parse_segment_size, conflicts_with = "cell")]
    max_frame: Option<usize>,

    /// The ring of a created stream, at least two maximum frames [default: the exporter's]
    #[arg(long, value_name = "SIZE", value_parser = util::parse_segment_size, conflicts_with = "cell")]
    ring: Option<usize>,

    /// What a created stream does when its ring is full [default: the exporter's]
    #[arg(long, value_name = "POLICY", conflicts_with = "cell")]
    policy: Option<PolicyArg>,

    /// The largest value of a created cell: 4K, 1MiB [default: the exporter's]
    #[arg(long, value_name = "SIZE", value_parser = util::parse_segment_size, conflicts_with = "stream")]
    capacity: Option<usize>,

    /// Permission bits of a created stream or cell, in octal [default: 600]
    #[arg(long, value_name = "OCTAL", value_parser = util::parse_mode)]
    mode: Option<u32>,
}

/// Several exports and imports in one process
///
/// Each --export and --import is one, and --file reads more from a file: one per line, as
/// `export NAME [--key KEYEXPR]` or `import KEYEXPR --as NAME [--stream|--cell] [--max-frame
/// SIZE] [--ring SIZE] [--policy P] [--capacity SIZE] [--mode OCTAL]`; blank lines and lines
/// starting with # are ignored.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
A --file:
  # robot side
  export cam0
  export imu --key robot/imu
  import laptop/cmd --as cmd --cell --capacity 4K")]
struct RunArgs {
    /// Export the stream or cell NAME to shmkit/NAME, or to KEYEXPR (repeatable)
    #[arg(long = "export", value_name = "NAME[=KEYEXPR]")]
    exports: Vec<String>,

    /// Import KEYEXPR into the stream or cell NAME, made like the exporter's (repeatable)
    #[arg(long = "import", value_name = "KEYEXPR=NAME")]
    imports: Vec<String>,

    /// Read exports and imports from this file, one per line
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,

    #[command(flatten)]
    net: NetArgs,
}

/// How the bridge meets the other side: Zenoh's own options.
#[derive(Debug, clap::Args)]
struct NetArgs {
    /// Listen for other Zenoh nodes on ENDPOINT: tcp/127.0.0.1:7447 (repeatable)
    #[arg(long, value_name = "ENDPOINT", help_heading = "Zenoh")]
    listen: Vec<String>,

    /// Connect to the Zenoh node at ENDPOINT, retrying until it answers (repeatable)
    #[arg(long, value_name = "ENDPOINT", help_heading = "Zenoh")]
    connect: Vec<String>,

    /// Zenoh mode: peer (talks to peers directly), client (through one router), router
    /// [default: peer]
    #[arg(long, value_name = "MODE", help_heading = "Zenoh")]
    zenoh_mode: Option<ModeArg>,

    /// Multicast scouting: find peers on the local network (needs TLS or --insecure)
    /// [default: off]
    #[arg(long, value_name = "on|off", value_parser = parse_on_off, help_heading = "Zenoh")]
    scouting: Option<bool>,

    /// A Zenoh configuration file (JSON5) for everything else; the options here override it
    #[arg(long, value_name = "PATH", help_heading = "Zenoh")]
    zenoh_config: Option<PathBuf>,

    /// The certificate authority (PEM) that signs every peer's certificate (mutual TLS for
    /// tls/ endpoints; with --tls-cert and --tls-key)
    #[arg(long, value_name = "PATH", requires_all = ["tls_cert", "tls_key"], help_heading = "Zenoh")]
    tls_ca: Option<PathBuf>,

    /// This node's certificate (PEM), signed by --tls-ca
    #[arg(long, value_name = "PATH", requires = "tls_ca", help_heading = "Zenoh")]
    tls_cert: Option<PathBuf>,

    /// This node's private key (PEM)
    #[arg(long, value_name = "PATH", requires = "tls_ca", help_heading = "Zenoh")]
    tls_key: Option<PathBuf>,

    /// Go on with endpoints off this machine that have no encryption or access control:
    /// anyone who reaches them can read and inject frames
    #[arg(long, help_heading = "Zenoh")]
    insecure: bool,

    /// Print only warnings and errors, and the summary
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Peer,
    Client,
    Router,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PolicyArg {
    Overwrite,
    Block,
}

fn parse_on_off(s: &str) -> std::result::Result<bool, String> {
    match s {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err("say on or off".into()),
    }
}

impl NetArgs {
    fn options(&self) -> NetOptions {
        let mut net = NetOptions::new().insecure(self.insecure);
        for e in &self.listen {
            net = net.listen(e);
        }
        for e in &self.connect {
            net = net.connect(e);
        }
        if let Some(m) = self.zenoh_mode {
            net = net.mode(match m {
                ModeArg::Peer => Mode::Peer,
                ModeArg::Client => Mode::Client,
                ModeArg::Router => Mode::Router,
            });
        }
        if let Some(on) = self.scouting {
            net = net.scouting(on);
        }
        if let Some(p) = &self.zenoh_config {
            net = net.zenoh_config(p);
        }
        if let (Some(ca), Some(cert), Some(key)) = (&self.tls_ca, &self.tls_cert, &self.tls_key) {
            net = net.tls(Tls {
                ca: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        net
    }
}

impl ExportItem {
    fn export(&self) -> Export {
        let e = Export::new(&self.name);
        match &self.key {
            Some(k) => e.key(k),
            None => e,
        }
    }
}

impl ImportItem {
    fn import(&self) -> Import {
        let mut i = Import::new(&self.key, &self.name);
        if self.stream {
            i = i.kind(LocalKind::Stream);
        }
        if self.cell {
            i = i.kind(LocalKind::Cell);
        }
        if let Some(n) = self.max_frame {
            i = i.max_frame(n);
        }
        if let Some(n) = self.ring {
            i = i.ring(n);
        }
        if let Some(p) = self.policy {
            i = i.policy(match p {
                PolicyArg::Overwrite => Policy::Overwrite,
                PolicyArg::Block => Policy::Block,
            });
        }
        if let Some(n) = self.capacity {
            i = i.capacity(n);
        }
        if let Some(m) = self.mode {
            i = i.mode(m);
        }
        i
    }
}

/// One line of a --file, parsed with the same options as the subcommands.
#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
enum Line {
    Export(ExportItem),
    Import(ImportItem),
}

/// The exports and imports of a --file.
fn read_file(path: &std::path::Path) -> Result<(Vec<Export>, Vec<Import>)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Failed(format!("cannot read {}: {e}", path.display())))?;
    let (mut exports, mut imports) = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() || words[0].starts_with('#') {
            continue;
        }
        match Line::try_parse_from(&words) {
            Ok(Line::Export(e)) => exports.push(e.export()),
            Ok(Line::Import(i)) => imports.push(i.import()),
            Err(e) => {
                let why = e.to_string();
                let why = why
                    .lines()
                    .find(|l| l.starts_with("error:"))
                    .unwrap_or("not an export or import line")
                    .trim_start_matches("error: ");
                return Err(Error::Failed(format!(
                    "{}:{}: {why} (lines are `export NAME [--key KEYEXPR]` or `import KEYEXPR \
                     --as NAME [options]`)",
                    path.display(),
                    n + 1
                )));
            }
        }
    }
    Ok((exports, imports))
}

/// `NAME[=KEYEXPR]`.
fn parse_export(spec: &str) -> Export {
    match spec.split_once('=') {
        Some((name, key)) => Export::new(name).key(key),
        None => Export::new(spec),
    }
}

/// `KEYEXPR=NAME`.
fn parse_import(spec: &str) -> Result<Import> {
    match spec.rsplit_once('=') {
        Some((key, name)) if !key.is_empty() && !name.is_empty() => Ok(Import::new(key, name)),
        _ => Err(Error::Failed(format!(
            "--import {spec:?}: say KEYEXPR=NAME, e.g. --import shmkit/cam0=cam0"
        ))),
    }
}

/// Runs the bridge until Ctrl-C (or a fatal error of one of its exports or imports).
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let (net, exports, imports) = match args.what {
        What::Export(a) => (a.net, vec![a.item.export()], Vec::new()),
        What::Import(a) => (a.net, Vec::new(), vec![a.item.import()]),
        What::Run(a) => {
            let mut exports: Vec<Export> = a.exports.iter().map(|s| parse_export(s)).collect();
            let mut imports = a
                .imports
                .iter()
                .map(|s| parse_import(s))
                .collect::<Result<Vec<_>>>()?;
            if let Some(path) = &a.file {
                let (e, i) = read_file(path)?;
                exports.extend(e);
                imports.extend(i);
            }
            if exports.is_empty() && imports.is_empty() {
                return Err(Error::Failed(
                    "nothing to bridge: give --export, --import or --file".into(),
                ));
            }
            (a.net, exports, imports)
        }
    };
    let failed = |e: shmkit_zenoh::Error| Error::Failed(e.to_string());
    // Zenoh's own log on stderr, if RUST_LOG asks for it.
    shmkit_zenoh::zenoh::try_init_log_from_env();
    let interrupted = on_interrupt();
    let mut bridge = Bridge::open(&net.options()).map_err(failed)?;
    for w in bridge.warnings() {
        note(out, w)?;
    }
    for e in &exports {
        bridge.export(e).map_err(failed)?;
    }
    for i in &imports {
        bridge.import(i).map_err(failed)?;
    }
    let endpoints = |list: &[String]| list.join(", ");
    if !net.quiet {
        let mut how = Vec::new();
        if !net.listen.is_empty() {
            how.push(format!("listening on {}", endpoints(&net.listen)));
        }
        if !net.connect.is_empty() {
            how.push(format!("connecting to {}", endpoints(&net.connect)));
        }
        if how.is_empty() {
            how.push("as the Zenoh configuration says".into());
        }
        note(
            out,
            format_args!(
                "bridge {}, {} (Ctrl-C ends)",
                bridge.session().zid(),
                how.join(", ")
            ),
        )?;
    }
    // Events as they come; the connection state once a second.
    let started = Instant::now();
    let mut connected: Option<usize> = None;
    let mut next_look = started + Duration::from_secs(1);
    let mut outcome = Ok(());
    while !interrupted.get() {
        if let Some(ev) = bridge.next_event(CHECK_EVERY) {
            if ev.level == Level::Fatal {
                outcome = Err(Error::Failed(ev.text));
                break;
            }
            if ev.level > Level::Info || !net.quiet {
                let prefix = if ev.level == Level::Warning {
                    "warning: "
                } else {
                    ""
                };
                note(out, format_args!("{prefix}{ev}"))?;
            }
        }
        if Instant::now() >= next_look {
            next_look += Duration::from_secs(1);
            let now = bridge.connected().len();
            if connected != Some(now) && !net.quiet {
                match now {
                    0 if net.connect.is_empty() => note(
                        out,
                        "no Zenoh peer or router connected yet: waiting for one to connect here",
                    )?,
                    0 => note(
                        out,
                        format_args!(
                            "nothing answers at {} (yet): retrying until it does",
                            endpoints(&net.connect)
                        ),
                    )?,
                    n => note(
                        out,
                        format_args!(
                            "connected to {n} Zenoh peer{}",
                            if n == 1 { "" } else { "s" }
                        ),
                    )?,
                }
            }
            connected = Some(now);
        }
    }
    let stats = bridge.stats();
    let closed = bridge.close().map_err(failed);
    for s in &stats {
        summary(out, s)?;
    }
    outcome.and(closed)
}

/// One export's or import's counters, as a line.
fn summary(out: &mut Output, s: &Stats) -> Result<()> {
    let verb = match s.direction {
        Direction::Export => "exported",
        Direction::Import => "imported",
    };
    let mut line = format!(
        "{}: {verb} {} frame{} ({})",
        s.about,
        s.frames,
        if s.frames == 1 { "" } else { "s" },
        human_bytes(s.bytes)
    );
    if s.lost > 0 {
        line.push_str(&format!(", {} lost", s.lost));
    }
    if s.discarded > 0 {
        line.push_str(&match s.direction {
            Direction::Export => format!(", {} overwritten while copied", s.discarded),
            Direction::Import => format!(", {} too large for the local side", s.discarded),
        });
    }
    if s.restarts > 0 {
        line.push_str(&format!(", source made anew {} times", s.restarts));
    }
    out.line(line)
}

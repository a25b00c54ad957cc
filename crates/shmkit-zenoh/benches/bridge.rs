//! The bridge against plain Zenoh, in one run, between the same two processes' worth of setup:
//! process A publishes, process B receives, connected over loopback TCP with the same Zenoh
//! configuration (explicit endpoints, no scouting).
//!
//! * **zenoh**: A puts each payload with a Zenoh publisher; B counts the samples in its
//!   subscriber's callback. The payload is copied into a pooled buffer before each put (the
//!   application making its frame), and B does not read the bytes.
//! * **bridge**: A sends each payload into a shmkit stream (the application making its frame, one
//!   copy into the ring) that A's bridge exports; B's bridge imports it into a local stream that
//!   a subscriber in B reads (in place, without reading the bytes). That is the whole path a
//!   frame takes between two programs on two machines, minus the two programs' own processes.
//!
//! Throughput: 64 KiB, 1 MiB and 8 MiB payloads, as fast as the path takes them, reliably
//! (Zenoh's `CongestionControl::Block`; a `Block` stream); medians of several runs, alternating
//! the two. Latency: 64-byte payloads every millisecond, one way, by the machine's clock
//! (publish time in the payload, read on arrival); the median and 90th percentile of all.
//!
//! ```text
//! cargo bench -p shmkit-zenoh --bench bridge            # everything (about two minutes)
//! cargo bench -p shmkit-zenoh --bench bridge -- --quick # fewer runs
//! cargo bench -p shmkit-zenoh --bench bridge -- --latency  # latency only
//! ```

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shmkit::stream::{Policy, StreamOptions, Subscriber};
use shmkit_zenoh::zenoh::bytes::ZBytes;
use shmkit_zenoh::zenoh::qos::CongestionControl;
use shmkit_zenoh::zenoh::{self, Wait};
use shmkit_zenoh::{Bridge, Export, Import, NetOptions};

const LATENCY_LEN: usize = 64;
const LATENCY_COUNT: u64 = 2000;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn zenoh_config(listen: Option<&str>, connect: Option<&str>) -> zenoh::Config {
    let (config, _) = match (listen, connect) {
        (Some(l), _) => NetOptions::new().listen(l),
        (_, Some(c)) => NetOptions::new().connect(c),
        _ => NetOptions::new(),
    }
    .to_zenoh()
    .unwrap();
    config
}

fn net(listen: Option<&str>, connect: Option<&str>) -> NetOptions {
    match (listen, connect) {
        (Some(l), _) => NetOptions::new().listen(l),
        (_, Some(c)) => NetOptions::new().connect(c),
        _ => NetOptions::new(),
    }
}

// ---- roles: each a process ------------------------------------------------------------------

/// `a MODE KIND LEN COUNT ENDPOINT KEY NAME`: the sending side. Prints READY when it can send,
/// waits for a line on stdin, sends, then waits for stdin to close.
fn role_a(args: &[String]) {
    let [mode, kind, len, count, ep, key, name] = args else {
        panic!("a: {args:?}")
    };
    let (len, count): (usize, u64) = (len.parse().unwrap(), count.parse().unwrap());
    let latency = kind == "latency";
    let mut pattern = vec![0u8; len];
    for (i, b) in pattern.iter_mut().enumerate() {
        *b = (i * 31 % 251) as u8;
    }
    let go = || {
        println!("READY");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
    };
    let stamp = |buf: &mut [u8]| {
        if latency {
            buf[..8].copy_from_slice(&now_ns().to_le_bytes());
        }
    };
    let pace = |i: u64, start: Instant| {
        if latency {
            let next = start + Duration::from_millis(i + 1);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    };
    match mode.as_str() {
        "zenoh" => {
            let session = zenoh::open(zenoh_config(None, Some(ep))).wait().unwrap();
            let cc = if latency {
                CongestionControl::Drop
            } else {
                CongestionControl::Block
            };
            let publisher = session
                .declare_publisher(key.clone())
                .congestion_control(cc)
                .wait()
                .unwrap();
            while !publisher.matching_status().wait().unwrap().matching() {
                std::thread::sleep(Duration::from_millis(10));
            }
            go();
            let pool: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
            let start = Instant::now();
            for i in 0..count {
                let mut buf = pool.lock().unwrap().pop().unwrap_or_default();
                buf.clear();
                buf.extend_from_slice(&pattern);
                stamp(&mut buf);
                let owner = Pooled(buf, pool.clone());
                publisher
                    .put(ZBytes::from(bytes::Bytes::from_owner(owner)))
                    .wait()
                    .unwrap();
                pace(i, start);
            }
            let mut rest = String::new();
            let _ = std::io::stdin().read_line(&mut rest);
            session.close().wait().unwrap();
        }
        "bridge" => {
            let policy = if latency {
                Policy::Overwrite
            } else {
                Policy::Block
            };
            let mut p = StreamOptions::new()
                .max_frame(len)
                .policy(policy)
                .create(name.as_str())
                .unwrap();
            let mut bridge = Bridge::open(&net(None, Some(ep))).unwrap();
            bridge.export(&Export::new(name.as_str()).key(key)).unwrap();
            while bridge.connected().is_empty() {
                std::thread::sleep(Duration::from_millis(10));
            }
            go();
            let start = Instant::now();
            for i in 0..count {
                let mut loan = p.loan(len).unwrap();
                loan.copy_from_slice(&pattern);
                stamp(&mut loan);
                loan.commit();
                pace(i, start);
            }
            let mut rest = String::new();
            let _ = std::io::stdin().read_line(&mut rest);
            bridge.close().unwrap();
        }
        other => panic!("mode {other}"),
    }
}

struct Pooled(Vec<u8>, Arc<Mutex<Vec<Vec<u8>>>>);

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Ok(mut pool) = self.1.lock() {
            if pool.len() < 4 {
                pool.push(std::mem::take(&mut self.0));
            }
        }
    }
}

/// What B measures, from wherever the frames arrive (Zenoh's callback, a subscriber's thread).
struct Meter {
    count: u64,
    len: usize,
    n: AtomicU64,
    first: Mutex<Option<Instant>>,
    last: Mutex<Option<Instant>>,
    latencies: Mutex<Vec<u64>>,
    done: Mutex<mpsc::Sender<()>>,
}

impl Meter {
    /// A payload of `len` bytes arrived now, published at `sent` (latency runs; else 0).
    fn arrived(&self, len: usize, sent: u64) {
        let now = (Instant::now(), now_ns());
        assert_eq!(len, self.len);
        let k = self.n.fetch_add(1, Ordering::Relaxed) + 1;
        if k == 1 {
            *self.first.lock().unwrap() = Some(now.0);
        }
        if sent != 0 {
            self.latencies
                .lock()
                .unwrap()
                .push(now.1.saturating_sub(sent));
        }
        if k == self.count {
            *self.last.lock().unwrap() = Some(now.0);
            let _ = self.done.lock().unwrap().send(());
        }
    }
}

/// `b MODE KIND LEN COUNT ENDPOINT KEY NAME`: the receiving side. Listens; prints READY when
/// it can receive, then the result: `RESULT bytes_per_second` or `LATENCY ns ns ...`.
fn role_b(args: &[String]) {
    let [mode, kind, len, count, ep, key, name] = args else {
        panic!("b: {args:?}")
    };
    let (len, count): (usize, u64) = (len.parse().unwrap(), count.parse().unwrap());
    let latency = kind == "latency";
    let (done, finished) = mpsc::channel();
    let meter = Arc::new(Meter {
        count,
        len,
        n: AtomicU64::new(0),
        first: Mutex::new(None),
        last: Mutex::new(None),
        latencies: Mutex::new(Vec::new()),
        done: Mutex::new(done),
    });
    let keep: Box<dyn std::any::Any> = match mode.as_str() {
        "zenoh" => {
            let session = zenoh::open(zenoh_config(Some(ep), None)).wait().unwrap();
            println!("UP");
            let m = meter.clone();
            let sub = session
                .declare_subscriber(key.clone())
                .callback(move |sample| {
                    let p = sample.payload();
                    let sent = if latency {
                        let b = p.to_bytes();
                        u64::from_le_bytes(b[..8].try_into().unwrap())
                    } else {
                        0
                    };
                    m.arrived(p.len(), sent);
                })
                .wait()
                .unwrap();
            println!("READY");
            Box::new((session, sub))
        }
        "bridge" => {
            let mut bridge = Bridge::open(&net(Some(ep), None)).unwrap();
            bridge
                .import(&Import::new(key.as_str(), name.as_str()))
                .unwrap();
            println!("UP");
            // The stream appears when the exporter has answered: the link is up, and the
            // subscription known there.
            let mut sub = loop {
                match Subscriber::open(name.as_str()) {
                    Ok(s) => break s,
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            };
            let m = meter.clone();
            let reader = std::thread::spawn(move || {
                for _ in 0..count {
                    let ((len, sent), _) = sub
                        .recv_with(Duration::from_secs(60), |bytes| {
                            let sent = if latency {
                                u64::from_le_bytes(bytes[..8].try_into().unwrap())
                            } else {
                                0
                            };
                            (bytes.len(), sent)
                        })
                        .unwrap();
                    m.arrived(len, sent);
                }
            });
            println!("READY");
            Box::new((bridge, reader))
        }
        other => panic!("mode {other}"),
    };
    finished
        .recv_timeout(Duration::from_secs(120))
        .expect("B: every frame within 2 minutes");
    if latency {
        let lat = meter.latencies.lock().unwrap();
        let text: Vec<String> = lat.iter().map(|n| n.to_string()).collect();
        println!("LATENCY {}", text.join(" "));
    } else {
        // From the first frame's arrival to the last's: count - 1 frames' worth.
        let first = meter.first.lock().unwrap().unwrap();
        let elapsed = meter.last.lock().unwrap().unwrap() - first;
        let rate = (count - 1) as f64 * len as f64 / elapsed.as_secs_f64();
        println!("RESULT {rate}");
    }
    drop(keep);
}

// ---- the orchestra ------------------------------------------------------------------------

struct Role {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Role {
    fn start(role: &str, args: &[String]) -> Role {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--role")
            .arg(role)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stdin = child.stdin.take();
        Role {
            name: format!("{role} {}", args.join(" ")),
            child,
            stdin,
            lines,
        }
    }

    fn expect(&self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("no {prefix} line from {}", self.name));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_string();
            }
        }
    }

    fn say(&mut self) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "go").unwrap();
        stdin.flush().unwrap();
    }

    fn finish(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// One run of `mode` (zenoh or bridge): what B printed after `prefix`.
fn run(mode: &str, kind: &str, len: usize, count: u64, n: &mut u32) -> String {
    *n += 1;
    let ep = format!("tcp/127.0.0.1:{}", free_port());
    let key = format!("bench/{}/{n}", std::process::id());
    let (src, dst) = (
        format!("bench-zb-{}-{n}a", std::process::id()),
        format!("bench-zb-{}-{n}b", std::process::id()),
    );
    let args = |name: &str| {
        vec![
            mode.to_string(),
            kind.to_string(),
            len.to_string(),
            count.to_string(),
            ep.clone(),
            key.clone(),
            name.to_string(),
        ]
    };
    // B listens, A connects; each says READY when it can receive or send.
    let b = Role::start("b", &args(&dst));
    b.expect("UP");
    let mut a = Role::start("a", &args(&src));
    a.expect("READY");
    b.expect("READY");
    a.say();
    let prefix = if kind == "latency" {
        "LATENCY"
    } else {
        "RESULT"
    };
    let out = b.expect(prefix);
    a.finish();
    b.finish();
    out
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--role") {
        let rest = &args[2..];
        match args[1].as_str() {
            "a" => role_a(rest),
            "b" => role_b(rest),
            r => panic!("role {r}"),
        }
        return;
    }
    if args.iter().any(|a| a == "--list") {
        // `cargo bench -- --list` and `cargo test --benches`: nothing to list.
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let only_latency = args.iter().any(|a| a == "--latency");
    let runs = if quick { 3 } else { 7 };
    let mut n = 0;
    println!(
        "Zenoh bridge vs plain Zenoh, loopback TCP, {runs} runs each (medians; higher \
         throughput and lower latency are better)"
    );
    println!(
        "{:<10} {:>14} {:>14} {:>14}",
        "payload", "zenoh MB/s", "bridge MB/s", "bridge/zenoh"
    );
    let sizes: &[(usize, u64)] = if only_latency {
        &[]
    } else {
        &[(64 << 10, 8000), (1 << 20, 800), (8 << 20, 100)]
    };
    for &(len, count) in sizes {
        let (mut z, mut br) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            z.push(
                run("zenoh", "throughput", len, count, &mut n)
                    .parse::<f64>()
                    .unwrap()
                    / 1e6,
            );
            br.push(
                run("bridge", "throughput", len, count, &mut n)
                    .parse::<f64>()
                    .unwrap()
                    / 1e6,
            );
        }
        let (mz, mb) = (median(&mut z), median(&mut br));
        println!(
            "{:<10} {:>14.0} {:>14.0} {:>13.1}%",
            shmkit::human_bytes(len as u64),
            mz,
            mb,
            mb / mz * 100.0
        );
    }
    let lat_runs = if quick { 1 } else { 3 };
    let (mut z, mut br) = (Vec::new(), Vec::new());
    for _ in 0..lat_runs {
        for (mode, all) in [("zenoh", &mut z), ("bridge", &mut br)] {
            let line = run(mode, "latency", LATENCY_LEN, LATENCY_COUNT, &mut n);
            // The first samples include the connection's warm-up.
            all.extend(
                line.split_whitespace()
                    .skip(100)
                    .map(|w| w.parse::<f64>().unwrap() / 1e3),
            );
        }
    }
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[((v.len() - 1) as f64 * p) as usize]
    };
    let (zm, bm) = (median(&mut z), median(&mut br));
    let (z90, b90) = (pct(&mut z, 0.9), pct(&mut br, 0.9));
    println!(
        "{LATENCY_LEN} B one way: zenoh median {zm:.1} µs (p90 {z90:.1}), bridge median {bm:.1} µs \
         (p90 {b90:.1}): the bridge adds {:.1} µs",
        bm - zm
    );
}

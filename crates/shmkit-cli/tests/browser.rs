//! `shmkit view`'s pages in a real headless Chromium, driven through chromedriver (WebDriver):
//! a stream of a known picture is drawn with exactly its pixels (the canvas read back, and the
//! screenshot), a cell's page follows its value, the index lists a new segment at its next
//! refresh, and the frame rate the page shows is measured for 640x480 and 1920x1080 streams.
//!
//! These tests need Chromium and chromedriver (Debian: `chromium`, `chromium-driver`), so they
//! are `#[ignore]`d in a plain `cargo test`; `.ci/viewer.sh` installs both and runs them with
//! `--ignored`. Screenshots are kept in `target/viewer-artifacts/`. Publishers are real
//! processes: this test binary re-run in the role of [`publisher_role`].

mod support;

#[path = "support/http.rs"]
mod http;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shmkit::stream::StreamOptions;
use shmkit::{Format, Pixel, Segment};
use support::{Killed, Name, bin, shmkit};

const ROLE: &str = "SHMKIT_BROWSER_TEST_ROLE";

// ---- publishers ------------------------------------------------------------------------------

/// The picture a publisher sends: `solid` (one colour) or `gradient`; the same every frame.
fn pixel(kind: &str, x: u32, y: u32, w: u32, h: u32) -> [u8; 4] {
    match kind {
        "solid" => [30, 144, 255, 255],
        _ => [
            (x * 255 / (w - 1).max(1)) as u8,
            (y * 255 / (h - 1).max(1)) as u8,
            128,
            255,
        ],
    }
}

/// Not a test: the publisher process. `SHMKIT_BROWSER_TEST_ROLE=NAME:W:H:FPS:SECONDS:KIND`
/// publishes `rgba8:WxH` frames of the picture KIND at FPS for SECONDS, creating the stream
/// (gone when this process ends).
#[test]
fn publisher_role() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let p: Vec<&str> = role.split(':').collect();
    let (name, w, h) = (p[0], p[1].parse().unwrap(), p[2].parse().unwrap());
    let (fps, secs): (f64, f64) = (p[3].parse().unwrap(), p[4].parse().unwrap());
    let kind = p[5];
    let mut publisher = StreamOptions::new()
        .format(Format::image(Pixel::Rgba8, w, h).unwrap())
        .create(name)
        .unwrap();
    let picture: Vec<u8> = (0..h)
        .flat_map(|y| (0..w).flat_map(move |x| pixel(kind, x, y, w, h)))
        .collect();
    println!("publishing");
    let period = Duration::from_secs_f64(1.0 / fps);
    let start = Instant::now();
    let mut next = start;
    while start.elapsed().as_secs_f64() < secs {
        let mut loan = publisher.loan(picture.len()).unwrap();
        loan.copy_from_slice(&picture);
        loan.commit();
        next += period;
        let now = Instant::now();
        match next.checked_duration_since(now) {
            Some(d) => thread::sleep(d),
            None if now - next > period => next = now,
            None => {}
        }
    }
}

/// Starts a publisher process; returns once the stream exists.
fn publish(name: &str, w: u32, h: u32, fps: u32, secs: u32, kind: &str) -> Killed {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "publisher_role",
            "--nocapture",
            "--include-ignored",
        ])
        .env(ROLE, format!("{name}:{w}:{h}:{fps}:{secs}:{kind}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("publishing") {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("the publisher ended before publishing");
        }
    }
    thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Killed(child)
}

// ---- the viewer and the browser --------------------------------------------------------------

/// A running `shmkit view` and the URL it printed.
fn viewer(args: &[&str]) -> (Killed, String) {
    let mut child = Command::new(bin())
        .arg("view")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Killed(child), line.trim().to_string())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tool(var: &str, candidates: &[&str]) -> String {
    if let Ok(p) = std::env::var(var) {
        return p;
    }
    candidates
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| {
            panic!("none of {candidates:?} exists: apt-get install chromium chromium-driver, or set {var}")
        })
        .to_string()
}

/// A headless Chromium under chromedriver, in a fresh profile; closed on drop.
struct Browser {
    port: u16,
    session: String,
    _driver: Killed,
    _profile: PathBuf,
}

impl Browser {
    fn start() -> Browser {
        let driver = tool("SHMKIT_CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        let chromium = tool(
            "SHMKIT_CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        );
        let port = free_port();
        let driver = Killed(
            Command::new(driver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver"),
        );
        let profile =
            std::env::temp_dir().join(format!("shmkit-chromium-{}-{port}", std::process::id()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let deadline = Instant::now() + Duration::from_secs(20);
        let created = loop {
            match http::request(
                port,
                "POST",
                "/session",
                &[],
                Some(caps.to_string().as_bytes()),
            ) {
                Ok(r) => break r,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("chromedriver on port {port}: {e}"),
            }
        };
        let v: Value = serde_json::from_slice(&created.body).unwrap();
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        Browser {
            port,
            session,
            _driver: driver,
            _profile: profile,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let body = body.map(|b| b.to_string());
        let r = http::request(
            self.port,
            method,
            &path,
            &[],
            body.as_deref().map(str::as_bytes),
        )
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(r.status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Waits until `script` returns something other than null/false, at most `secs`.
    #[track_caller]
    fn until(&self, what: &str, secs: u64, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.eval(script);
            if !(v.is_null() || v == json!(false)) {
                return v;
            }
            assert!(Instant::now() < deadline, "waited {secs} s for {what}");
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// A screenshot, kept as `target/viewer-artifacts/NAME.png`; decoded.
    fn screenshot(&self, name: &str) -> (u32, u32, Vec<u8>) {
        let b64 = self.call("GET", "/screenshot", None);
        let png = base64(b64.as_str().unwrap());
        let dir = artifacts();
        std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let channels = info.color_type.samples();
        let rgba = buf[..info.buffer_size()]
            .chunks_exact(channels)
            .flat_map(|p| [p[0], p[1], p[2], if channels == 4 { p[3] } else { 255 }])
            .collect();
        (info.width, info.height, rgba)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http::request(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            &[],
            None,
        );
        let _ = std::fs::remove_dir_all(&self._profile);
    }
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/viewer-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= u32::from(val(c)) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

fn windows() -> bool {
    shmkit::test_support::BACKEND == "windows"
}

// ---- the tests -------------------------------------------------------------------------------

/// A stream of a known picture: the canvas holds exactly its pixels, and so does the screenshot.
#[test]
#[ignore = "needs chromium and chromedriver: bash .ci/viewer.sh"]
fn a_stream_s_page_draws_exactly_the_published_picture() {
    if windows() {
        return;
    }
    let browser = Browser::start();
    for (kind, w, h) in [("solid", 64, 48), ("gradient", 256, 128)] {
        let name = Name::new(&format!("br-{kind}"));
        let _publisher = publish(name.as_str(), w, h, 30, 60, kind);
        let (_viewer, url) = viewer(&[name.as_str()]);
        browser.go(&url);
        browser.until(
            "three frames drawn",
            20,
            "return window.shmkitView && window.shmkitView.drawn >= 3",
        );
        let got = browser.eval(
            "const c = document.getElementById('canvas');
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             return {w: c.width, h: c.height, hidden: c.hidden, px: Array.from(d)};",
        );
        assert_eq!(
            (got["w"].as_u64(), got["h"].as_u64()),
            (Some(w.into()), Some(h.into()))
        );
        assert_eq!(got["hidden"], false);
        let px: Vec<u8> = got["px"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        for y in 0..h {
            for x in 0..w {
                let i = ((y * w + x) * 4) as usize;
                assert_eq!(
                    &px[i..i + 4],
                    &pixel(kind, x, y, w, h),
                    "{kind} pixel ({x},{y})"
                );
            }
        }
        // What the screen shows: the canvas drawn at its size, where the page put it.
        let rect = browser.eval(
            "const r = document.getElementById('canvas').getBoundingClientRect();
             return [r.left, r.top, r.width, r.height, window.devicePixelRatio];",
        );
        let r: Vec<f64> = rect
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(
            (r[2], r[3], r[4]),
            (f64::from(w), f64::from(h), 1.0),
            "drawn 1:1"
        );
        let (sw, _, shot) = browser.screenshot(&format!("stream-{kind}"));
        for (x, y) in [(0, 0), (w / 2, h / 2), (w - 1, h - 1), (w / 3, h - 1)] {
            let (sx, sy) = (r[0] as u32 + x, r[1] as u32 + y);
            let i = ((sy * sw + sx) * 4) as usize;
            assert_eq!(
                &shot[i..i + 4],
                &pixel(kind, x, y, w, h),
                "{kind} on screen at ({x},{y})"
            );
        }
        let text = browser.eval("return [document.getElementById('kind').textContent, document.getElementById('format').textContent, document.getElementById('fps').textContent]");
        assert_eq!(text[0], "stream");
        assert_eq!(text[1], format!("rgba8:{w}x{h}"));
        // Statistics arrive: the publish rate, and the viewer itself among the subscribers.
        browser.until(
            "the publish rate",
            10,
            "return window.shmkitView.publishRate",
        );
        browser.until(
            "the subscriber table",
            10,
            "return !document.getElementById('subscribers').hidden",
        );
        // Save hands over the frame on screen as a PNG (the download is intercepted: the blob
        // behind the link and the link's click).
        browser.eval(
            "window.__saved = null; window.__blob = null;
             const make = URL.createObjectURL;
             URL.createObjectURL = (b) => { window.__blob = b; return make(b); };
             HTMLAnchorElement.prototype.click = function () {
               window.__blob.slice(0, 4).arrayBuffer().then((head) => {
                 window.__saved = {name: this.download, head: Array.from(new Uint8Array(head))};
               });
             };
             document.getElementById('save').click();",
        );
        let saved = browser.until("the saved frame", 10, "return window.__saved");
        let file = saved["name"].as_str().unwrap();
        assert!(
            file.starts_with(name.as_str()) && file.ends_with(".png"),
            "{saved}"
        );
        assert_eq!(saved["head"], json!([0x89, b'P', b'N', b'G']), "a PNG");
        // Pause stops the drawing.
        browser.eval("document.getElementById('pause').click()");
        thread::sleep(Duration::from_millis(300));
        let a = browser.eval("return window.shmkitView.drawn");
        thread::sleep(Duration::from_millis(700));
        assert_eq!(browser.eval("return window.shmkitView.drawn"), a, "paused");
    }
}

/// A cell's page follows its value as it changes (text, then pretty JSON); the page gets it
/// pushed, it does not poll.
#[test]
#[ignore = "needs chromium and chromedriver: bash .ci/viewer.sh"]
fn a_cell_s_page_follows_its_value() {
    if windows() || !shmkit::test_support::PERSISTENT {
        return;
    }
    let browser = Browser::start();
    let cell = Name::new("br-cell");
    let c = cell.as_str();
    shmkit(&[
        "write",
        c,
        "--create",
        "--capacity",
        "1K",
        "--format",
        "application/json",
        r#"{"n":1}"#,
    ])
    .ok();
    let (_viewer, url) = viewer(&[c]);
    browser.go(&url);
    let text = "document.getElementById('text').textContent";
    browser.until(
        "the first value",
        20,
        &format!("return {text}.includes('\"n\": 1')"),
    );
    assert_eq!(browser.eval("return window.shmkitView.kind"), "cell");
    for n in 2..5 {
        shmkit(&["write", c, &format!(r#"{{"n":{n},"ok":true}}"#)]).ok();
        let shown = browser.until(
            "the new value",
            5,
            &format!("const t = {text}; return t.includes('\"n\": {n}') && t"),
        );
        assert!(
            shown.as_str().unwrap().contains("\"ok\": true"),
            "pretty JSON: {shown}"
        );
        assert_eq!(browser.eval("return window.shmkitView.seq"), n);
    }
    browser.screenshot("cell-json");
}

/// Other programs' segments: a Qt app's QImage shows as its picture; a plain POSIX object as
/// hex, or as a picture when a format is given for it.
#[test]
#[ignore = "needs chromium and chromedriver: bash .ci/viewer.sh"]
fn other_programs_segments_as_pictures_and_hex() {
    use shmkit::interop::qt;
    use shmkit::interop::qt::datastream::{Version, Writer};
    if windows() || shmkit::test_support::BACKEND != "linux" {
        return;
    }
    let browser = Browser::start();
    // A QImage of 40x30 (a PNG made here), put in a Qt segment as QDataStream writes it.
    let mut png = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png, 40, 30);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[200, 30, 60, 255].repeat(40 * 30))
            .unwrap();
    }
    let mut stream = Writer::new(Version::LATEST);
    stream.image(&png).unwrap();
    let key_name = format!("shmkit-br-{}", std::process::id());
    let key = qt::Key::legacy(&key_name).unwrap();
    let seg = qt::Segment::create(&key, stream.as_bytes().len()).unwrap();
    seg.write(0, stream.as_bytes()).unwrap();
    let (_viewer, url) = viewer(&[&format!("qt:{key_name}")]);
    browser.go(&url);
    let size = browser.until(
        "the QImage",
        20,
        "const i = document.getElementById('image');
         return !i.hidden && i.complete && i.naturalWidth > 0 && [i.naturalWidth, i.naturalHeight]",
    );
    assert_eq!(size, json!([40, 30]));
    let px = browser.eval(
        "const i = document.getElementById('image'); const c = document.createElement('canvas');
         c.width = 40; c.height = 30; const g = c.getContext('2d'); g.drawImage(i, 0, 0);
         return Array.from(g.getImageData(20, 15, 1, 1).data);",
    );
    assert_eq!(px, json!([200, 30, 60, 255]));
    assert!(
        browser
            .eval("return document.getElementById('note').textContent")
            .as_str()
            .unwrap()
            .contains("QImage of 40x30")
    );
    browser.screenshot("qt-qimage");
    drop(seg);

    // A plain POSIX object (as Python's SharedMemory makes): hex, or a picture with a format.
    let name = Name::new("br-posix");
    let raw = shmkit::SegmentOptions::new()
        .raw(true)
        .size(16)
        .create(name.as_str())
        .unwrap();
    raw.write(
        0,
        &[1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255, 10, 11, 12, 255],
    )
    .unwrap();
    let target = format!("posix:{}", name.as_str());
    let (_v1, url) = viewer(&[&target]);
    browser.go(&url);
    let hex = browser.until(
        "the hex view",
        20,
        "const t = document.getElementById('text'); return !t.hidden && t.textContent",
    );
    assert!(
        hex.as_str()
            .unwrap()
            .starts_with("00000000  01 02 03 ff 04 05 06 ff"),
        "{hex}"
    );
    let (_v2, url) = viewer(&[&target, "--format", "rgba8:2x2"]);
    browser.go(&url);
    browser.until(
        "the picture",
        20,
        "return window.shmkitView.drawn > 0 && !document.getElementById('canvas').hidden",
    );
    let px = browser.eval(
        "const c = document.getElementById('canvas');
         return Array.from(c.getContext('2d').getImageData(0, 0, 2, 2).data);",
    );
    assert_eq!(
        px,
        json!([1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255, 10, 11, 12, 255])
    );
    // The picture follows the bytes (polled: other programs announce no change).
    raw.write(0, &[99, 98, 97, 255]).unwrap();
    browser.until("the new bytes", 5, "const d = document.getElementById('canvas').getContext('2d').getImageData(0, 0, 1, 1).data; return d[0] === 99");
}

/// The index lists every segment, and a new one at its next refresh (once a second).
#[test]
#[ignore = "needs chromium and chromedriver: bash .ci/viewer.sh"]
fn the_index_lists_a_new_segment_at_its_next_refresh() {
    if windows() {
        return;
    }
    let browser = Browser::start();
    let (_viewer, url) = viewer(&[]);
    browser.go(&url);
    browser.until(
        "a census",
        20,
        "return window.shmkitIndex && window.shmkitIndex.updates > 0",
    );
    let name = Name::new("br-new");
    let updates = browser
        .eval("return window.shmkitIndex.updates")
        .as_u64()
        .unwrap();
    let created = Instant::now();
    let _seg = Segment::create(name.as_str(), 4096).unwrap();
    let check = format!(
        "return window.shmkitIndex.names.includes('{}') && window.shmkitIndex.updates",
        name.as_str()
    );
    let seen = browser
        .until("the new segment", 10, &check)
        .as_u64()
        .unwrap();
    // Listed by the first or second census after it appeared: within 2 s of refreshes.
    assert!(
        seen - updates <= 2,
        "listed {} censuses later",
        seen - updates
    );
    eprintln!(
        "the index listed the new segment after {:?}",
        created.elapsed()
    );
    let link = browser.eval(&format!(
        "const a = [...document.querySelectorAll('#segments a')].find(a => a.textContent === '{}');
         return a && a.getAttribute('href')",
        name.as_str()
    ));
    assert_eq!(link, format!("/view?target={}", name.as_str()));
    browser.screenshot("index");
}

/// The displayed frame rate of 640x480 and 1920x1080 RGBA streams published at 30 fps, and the
/// publisher's rate with and without the page: printed, not asserted (speed is measured, not
/// tested). A 1080p stream at 60 fps shows the page's ceiling. `.ci/viewer.sh` shows the
/// figures.
#[test]
#[ignore = "needs chromium and chromedriver: bash .ci/viewer.sh"]
fn measure_the_displayed_frame_rate() {
    if windows() {
        return;
    }
    let browser = Browser::start();
    for (w, h, fps) in [(640, 480, 30), (1920, 1080, 30), (1920, 1080, 60)] {
        let name = Name::new(&format!("br-fps{w}-{fps}"));
        let _publisher = publish(name.as_str(), w, h, fps, 120, "gradient");
        let frames = || match Segment::info(name.as_str()).unwrap().details {
            Some(shmkit::Details::Stream(s)) => s.frames,
            _ => 0,
        };
        let rate = |secs: u64| {
            let (f0, t0) = (frames(), Instant::now());
            thread::sleep(Duration::from_secs(secs));
            (frames() - f0) as f64 / t0.elapsed().as_secs_f64()
        };
        let alone = rate(3);
        let (_viewer, url) = viewer(&[name.as_str()]);
        browser.go(&url);
        browser.until(
            "frames drawn",
            20,
            "return window.shmkitView && window.shmkitView.drawn >= 5",
        );
        thread::sleep(Duration::from_secs(2));
        let mut samples = Vec::new();
        let (f0, t0) = (frames(), Instant::now());
        for _ in 0..10 {
            thread::sleep(Duration::from_millis(500));
            samples.push(
                browser
                    .eval("return window.shmkitView.fps")
                    .as_f64()
                    .unwrap(),
            );
        }
        let watched = (frames() - f0) as f64 / t0.elapsed().as_secs_f64();
        samples.sort_by(f64::total_cmp);
        let median = (samples[4] + samples[5]) / 2.0;
        assert!(median > 0.0, "frames are shown");
        println!(
            "MEASURED rgba8:{w}x{h} at {fps} fps: page shows median {median:.1} fps \
             (min {:.0}, max {:.0}); publisher {alone:.1} fps alone, {watched:.1} fps watched \
             ({:.2}x)",
            samples[0],
            samples[9],
            watched / alone
        );
        browser.screenshot(&format!("stream-{w}x{h}-{fps}fps"));
    }
}

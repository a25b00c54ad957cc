//! `shmkit view` as a server, through real requests to the real binary: the token on every
//! request, the Host and Origin checks, unknown names and bad formats with the CLI's words, the
//! loud warning off loopback, and the census. (The pages themselves, in a real browser:
//! `tests/browser.rs`.)

mod support;

#[path = "support/http.rs"]
mod http;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use support::{Killed, Name, bin, shmkit};

/// A running `shmkit view`: its URL's parts.
struct Viewer {
    _child: Killed,
    port: u16,
    token: String,
    url: String,
    stderr: std::process::ChildStderr,
}

impl Viewer {
    fn start(args: &[&str]) -> Viewer {
        let mut child = Command::new(bin())
            .arg("view")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start shmkit view");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first.trim().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
        let port = url["http://127.0.0.1:".len()..]
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let token = url.rsplit_once("token=").unwrap().1.to_string();
        let stderr = child.stderr.take().unwrap();
        Viewer {
            _child: Killed(child),
            port,
            token,
            url,
            stderr,
        }
    }

    fn get(&self, path: &str) -> http::Response {
        let sep = if path.contains('?') { '&' } else { '?' };
        http::get(self.port, &format!("{path}{sep}token={}", self.token), &[])
    }
}

fn windows() -> bool {
    if shmkit::test_support::BACKEND == "windows" {
        eprintln!("SKIPPED: shmkit view's tests run where the segments are files");
        return true;
    }
    false
}

#[test]
fn every_request_needs_the_token_and_the_url_sets_a_cookie() {
    if windows() {
        return;
    }
    let v = Viewer::start(&[]);
    assert!(
        v.url.ends_with(&format!("/?token={}", v.token)),
        "{}",
        v.url
    );
    assert_eq!(v.token.len(), 32);
    for path in [
        "/",
        "/view?target=x",
        "/static/view.js",
        "/api/segments",
        "/ws/index",
    ] {
        let r = http::get(v.port, path, &[]);
        assert_eq!(r.status, 403, "{path}: {r:?}");
        assert!(
            r.text().contains("this page needs the access token"),
            "{path}"
        );
    }
    let r = http::get(v.port, "/?token=0123456789abcdef0123456789abcdef", &[]);
    assert_eq!(r.status, 403);
    assert!(r.text().contains("wrong access token"));

    let r = v.get("/");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text().contains("shmkit view"));
    let cookie = r.header("set-cookie").expect("a cookie").to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert_eq!(
        r.header("referrer-policy"),
        Some("no-referrer"),
        "the token must not leak"
    );
    assert!(r.header("content-security-policy").is_some());
    let pair = cookie.split(';').next().unwrap();
    let r = http::get(v.port, "/static/view.js", &[("Cookie", pair)]);
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    let auth = format!("token {}", v.token);
    let r = http::get(v.port, "/api/segments", &[("Authorization", &auth)]);
    assert_eq!(r.status, 200);
    assert!(
        serde_json::from_slice::<serde_json::Value>(&r.body)
            .unwrap()
            .is_array()
    );
}

#[test]
fn hosts_and_origins_other_than_this_server_are_refused() {
    if windows() {
        return;
    }
    let v = Viewer::start(&[]);
    let path = format!("/?token={}", v.token);
    for host in [
        "evil.example",
        "localhost.evil.example",
        "192.168.1.1",
        "127.0.0.1:1",
    ] {
        let host = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:{}", v.port)
        };
        let r = http::get(v.port, &path, &[("Host", &host)]);
        assert_eq!(r.status, 403, "{host}: {r:?}");
        assert!(r.text().contains("does not name this server"), "{host}");
    }
    let local = format!("localhost:{}", v.port);
    assert_eq!(http::get(v.port, &path, &[("Host", &local)]).status, 200);
    // A WebSocket opened by another site's page, with the right cookie, is refused.
    let r = http::get(
        v.port,
        &path.replace('/', "/ws/index"),
        &[
            ("Origin", "http://evil.example"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
    );
    assert_eq!(r.status, 403, "{r:?}");
}

#[test]
fn unknown_names_and_bad_formats_get_the_cli_s_words() {
    if windows() {
        return;
    }
    let missing = Name::new("view-none");
    let v = Viewer::start(&[]);
    let r = v.get(&format!("/view?target={}", missing.as_str()));
    assert_eq!(r.status, 404, "{r:?}");
    assert!(r.text().contains("no such segment"), "{}", r.text());
    let cli = shmkit(&["info", missing.as_str()]);
    let cli_words = cli.stderr.trim().trim_start_matches("shmkit: ");
    let page = r.text();
    let shown = cli_words.replace('"', "&quot;");
    assert!(
        page.contains(&shown),
        "the same message as the CLI: {cli_words:?} in {page}"
    );

    let r = v.get("/view?target=a%2Fb");
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.text().contains("1 to 30 characters"), "{}", r.text());
    let r = v.get("/view?target=x&format=rgba9:2x2");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("is not a pixel layout"), "{}", r.text());
    let r = v.get("/view");
    assert_eq!(r.status, 400);
    let r = v.get("/nowhere");
    assert_eq!(r.status, 404);
    let r = v.get(&format!("/api/info?target={}", missing.as_str()));
    assert_eq!(r.status, 404);
    assert!(r.text().contains("no such segment"));

    // On the command line: the same errors, before anything is served.
    shmkit(&["view", missing.as_str()])
        .fails(1)
        .stderr_has("no such segment");
    shmkit(&["view", "--format", "rgba8:0x1"])
        .fails(2)
        .stderr_has("has none");
}

#[test]
fn a_segment_s_url_and_the_census() {
    if windows() || !shmkit::test_support::PERSISTENT {
        return;
    }
    let cell = Name::new("view-cell");
    shmkit(&[
        "write",
        cell.as_str(),
        "--create",
        "--capacity",
        "64",
        "hello",
    ])
    .ok();
    let v = Viewer::start(&[cell.as_str(), "--format", "text/plain"]);
    assert!(
        v.url.contains(&format!(
            "/view?target={}&format=text%2Fplain&token=",
            cell.as_str()
        )),
        "{}",
        v.url
    );
    let path = &v.url[v.url.find("/view").unwrap()..];
    let r = http::get(v.port, path, &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let list: serde_json::Value = serde_json::from_slice(&v.get("/api/segments").body).unwrap();
    let me = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == cell.as_str())
        .expect("the cell is listed");
    assert_eq!(me["kind"], "cell");
    let info: serde_json::Value =
        serde_json::from_slice(&v.get(&format!("/api/info?target={}", cell.as_str())).body)
            .unwrap();
    assert_eq!(info["cell"]["seq"], 1);
}

#[test]
fn listening_beyond_loopback_is_said_loudly() {
    if windows() {
        return;
    }
    let mut v = Viewer::start(&["--listen", "0.0.0.0:0"]);
    let mut line = String::new();
    BufReader::new(&mut v.stderr).read_line(&mut line).unwrap();
    assert!(
        line.starts_with("shmkit: warning: listening on 0.0.0.0:"),
        "{line}"
    );
    assert!(line.contains("sees every segment you can read"), "{line}");
    assert_eq!(v.get("/").status, 200);
}

#[test]
fn open_starts_the_desktop_s_opener_on_the_url() {
    if windows() || shmkit::test_support::BACKEND != "linux" {
        return;
    }
    // A stand-in for xdg-open that writes down what it was asked to open.
    let dir = std::env::temp_dir().join(format!("shmkit-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let opened = dir.join("opened");
    let script = dir.join("xdg-open");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" > '{}'\n", opened.display()),
    )
    .unwrap();
    // (chmod rather than std::os::unix, which would not build for Windows.)
    assert!(
        Command::new("chmod")
            .arg("755")
            .arg(&script)
            .status()
            .unwrap()
            .success()
    );
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new(bin())
        .args(["view", "--open"])
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let _child = Killed(child);
    let got = support::eventually("the opener to run", || {
        std::fs::read_to_string(&opened).ok()
    });
    assert_eq!(got.trim(), url.trim());
    let _ = std::fs::remove_dir_all(&dir);
}

//! `--format` on `pub`, `write` and `create`: parsed, stored in the header, shown by `info` (and
//! `--json`), checked against what is published, refused with a clear error when malformed.

mod support;

use support::{Name, shmkit};

/// Segments made by the command line are persistent, which Windows does not have.
fn persistent() -> bool {
    if !shmkit::test_support::PERSISTENT {
        eprintln!(
            "SKIPPED: no persistent segments on {}",
            shmkit::test_support::BACKEND
        );
    }
    shmkit::test_support::PERSISTENT
}

/// A temporary file, removed on drop.
struct File(std::path::PathBuf);

impl File {
    fn to_str(&self) -> Option<&str> {
        self.0.to_str()
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn file(tag: &str, bytes: &[u8]) -> File {
    let path = std::env::temp_dir().join(format!("shmkit-fmt-{}-{tag}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    File(path)
}

#[test]
fn pub_records_a_raw_image_format_and_sizes_the_stream_for_it() {
    if !persistent() {
        return;
    }
    let name = Name::new("fmt-pub");
    let n = name.as_str();
    let picture_file = file("pic", &[7u8; 4 * 3 * 2]);
    let picture = picture_file.to_str().unwrap();
    shmkit(&["pub", n, "--format", "rgba8:3x2", "-f", picture])
        .ok()
        .stdout_has("published 1 frame (24 B)");
    let info = shmkit(&["info", n, "--json"]).ok().json();
    assert_eq!(info["format"], "rgba8:3x2");
    // The largest frame is one picture, not pub's usual 64 KiB.
    assert_eq!(info["stream"]["max_frame"], 24);
    shmkit(&["info", n])
        .ok()
        .stdout_has("format:")
        .stdout_has("rgba8:3x2");
    // A frame that is not one whole picture is refused, and nothing is published.
    let short = file("short", b"abc");
    shmkit(&["pub", n, "-f", short.to_str().unwrap()])
        .fails(1)
        .stderr_has("its frames are pictures of rgba8:3x2, 24 bytes each")
        .stderr_has("has 3; nothing of it was published");
    assert_eq!(shmkit(&["info", n, "--json"]).json()["stream"]["frames"], 1);
    // A different format for an existing stream: said, and the stream keeps its own.
    shmkit(&["pub", n, "--format", "gray8:24x1", "-f", picture])
        .stderr_has("--format gray8:24x1 (it has rgba8:3x2)");
    assert_eq!(shmkit(&["info", n, "--json"]).json()["format"], "rgba8:3x2");
}

#[test]
fn media_types_on_cells_and_bytes_segments() {
    if !persistent() {
        return;
    }
    let cell = Name::new("fmt-cell");
    shmkit(&[
        "write",
        cell.as_str(),
        "--create",
        "--capacity",
        "1K",
        "--format",
        "Application/JSON",
        "{\"on\":true}",
    ])
    .ok();
    let info = shmkit(&["info", cell.as_str(), "--json"]).ok().json();
    assert_eq!(info["format"], "application/json", "stored lowercase");
    assert_eq!(info["kind"], "cell");

    let bytes = Name::new("fmt-bytes");
    shmkit(&[
        "create",
        bytes.as_str(),
        "--size",
        "64K",
        "--format",
        "image/png",
    ])
    .ok()
    .stdout_has("bytes segment (image/png)");
    assert_eq!(
        shmkit(&["info", bytes.as_str(), "--json"]).json()["format"],
        "image/png"
    );
    // Without --format nothing is said.
    let plain = Name::new("fmt-plain");
    shmkit(&["create", plain.as_str(), "--size", "4K"]).ok();
    assert!(shmkit(&["info", plain.as_str(), "--json"]).json()["format"].is_null());
}

#[test]
fn bad_formats_are_usage_errors_that_say_the_rule() {
    let name = Name::new("fmt-bad");
    let n = name.as_str();
    for (format, says) in [
        (
            "rgba9:2x2",
            "\"rgba9\" is not a pixel layout; use one of gray8, gray16le",
        ),
        ("rgba8:2by2", "write WIDTHxHEIGHT, like 1920x1080"),
        ("rgba8:0x2", "has none"),
        ("rgb8:4x1:stride=11", "shorter than a row"),
        ("png", "is not a media type"),
        ("image/p ng", "not a valid media type part"),
    ] {
        for args in [
            vec!["pub", n, "--format", format],
            vec!["create", n, "--size", "4K", "--format", format],
            vec![
                "write",
                n,
                "--create",
                "--capacity",
                "4K",
                "--format",
                format,
                "x",
            ],
        ] {
            shmkit(&args)
                .fails(2)
                .stderr_has(&format!("invalid value {format:?} for --format"))
                .stderr_has(says);
        }
    }
    assert!(shmkit::Segment::info(n).is_err(), "nothing was created");
}

#[test]
fn a_picture_larger_than_the_room_creates_nothing() {
    if !persistent() {
        return;
    }
    let name = Name::new("fmt-room");
    let n = name.as_str();
    shmkit(&["create", n, "--size", "4K", "--format", "rgba8:100x100"])
        .fails(1)
        .stderr_has("one picture of rgba8:100x100 takes 39.1 KiB, more than --size 4 KiB");
    shmkit(&[
        "write",
        n,
        "--create",
        "--capacity",
        "1K",
        "--format",
        "gray8:64x64",
        "x",
    ])
    .fails(1)
    .stderr_has("a picture of gray8:64x64 takes 4 KiB, more than the --capacity of 1 KiB");
    assert!(shmkit::Segment::info(n).is_err(), "nothing was created");
    // --format on write needs --create: a cell's format is fixed when it is made.
    let r = shmkit(&["write", n, "--format", "text/plain", "x"]);
    assert_eq!(r.code, Some(2), "{r:#?}");
}

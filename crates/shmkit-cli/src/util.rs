//! Parsing and formatting of the values the command line reads and writes: sizes (`4K`,
//! `8MiB`), permission modes (`0600`), times and names. Dates and durations are jiff's: its
//! calendar, its RFC 3339, its duration grammar.
//!
//! The parsers are clap value parsers: they return `Err(String)` with one lowercase sentence
//! that says what is wrong and what to write instead.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use jiff::{SignedDuration, Timestamp};

/// The end of every size error.
const SIZE_EXAMPLES: &str = "sizes look like 4096, 4K, 8MiB or 1.5G (units are powers of 1024)";

/// Parses a byte count: `4096`, `4K`, `4k`, `4KiB`, `4 KiB`, `8M`, `1.5MiB`, `1G`.
///
/// Units are powers of 1024, like `ls -h`; `KB`, `MB`, ... are rejected as ambiguous rather
/// than guessed. A fraction must come to a whole number of bytes (`1.5K` is 1536, `1.3K` is an
/// error). Accepts what [`shmkit::human_bytes`] writes, so sizes can be copied from `shmkit ls`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("empty size; {SIZE_EXAMPLES}"));
    }
    if t.starts_with('-') {
        return Err("a size cannot be negative".into());
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let multiplier = unit_multiplier(unit.trim_start())?;
    scale(number, multiplier).map_err(|why| format!("{why}; {SIZE_EXAMPLES}"))
}

/// A size for a new segment: as [`parse_size`], not zero, and addressable here.
pub fn parse_segment_size(s: &str) -> Result<usize, String> {
    match parse_size(s)? {
        0 => Err("a segment needs at least one byte".into()),
        n => usize::try_from(n).map_err(|_| format!("{n} bytes is more than this system can map")),
    }
}

/// The number of bytes in one `unit` (`""`, `B`, `K`, `KiB`, `ki`, `M`, ...).
fn unit_multiplier(unit: &str) -> Result<u128, String> {
    let lower = unit.to_ascii_lowercase();
    if lower.is_empty() || lower == "b" {
        return Ok(1);
    }
    let unknown = || {
        format!(
            "unknown unit {unit:?}; use B, K, M, G, T or P (powers of 1024), \
             as in 4096, 4K, 8MiB, 1.5G"
        )
    };
    let mut chars = lower.chars();
    let prefix = chars.next().ok_or_else(unknown)?;
    let power = "kmgtp".find(prefix).ok_or_else(unknown)?;
    match chars.as_str() {
        "" | "i" | "ib" => Ok(1u128 << (10 * (power + 1))),
        "b" => Err(format!(
            "{unit:?} is ambiguous; write {0} or {0}iB (shmkit's units are powers of 1024)",
            prefix.to_ascii_uppercase()
        )),
        _ => Err(unknown()),
    }
}

/// `number` (digits with at most one `.`) times `multiplier`, exactly.
fn scale(number: &str, multiplier: u128) -> Result<u64, String> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() {
        return Err("no number".into());
    }
    if frac.contains('.') {
        return Err("not a number".into());
    }
    if frac.len() > 18 {
        return Err("too many decimals".into());
    }
    let too_large = || "too large".to_string();
    let digits = |d: &str| -> Result<u128, String> {
        if d.is_empty() {
            Ok(0)
        } else {
            d.parse().map_err(|_| too_large())
        }
    };
    let (int, frac_digits) = (digits(int)?, digits(frac)?);
    let denominator = 10u128.pow(frac.len() as u32);
    let scaled = int
        .checked_mul(multiplier)
        .and_then(|v| v.checked_mul(denominator))
        .and_then(|v| v.checked_add(frac_digits.checked_mul(multiplier)?))
        .ok_or_else(too_large)?;
    if scaled % denominator != 0 {
        return Err("not a whole number of bytes".into());
    }
    u64::try_from(scaled / denominator).map_err(|_| too_large())
}

/// Parses permission bits in octal: `600`, `0600`, `0o600`. At most `0777`.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s
        .strip_prefix("0o")
        .or_else(|| s.strip_prefix("0O"))
        .unwrap_or(s);
    let example = "write permission bits in octal, such as 600, 0640 or 0o666";
    if digits.is_empty() {
        return Err(format!("empty mode; {example}"));
    }
    if let Some(c) = digits.chars().find(|c| !('0'..='7').contains(c)) {
        return Err(format!("{c:?} is not an octal digit; {example}"));
    }
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!(
            "{s} has bits beyond 0777; setuid, setgid and sticky bits do not apply to shared memory"
        )),
    }
}

/// The help of every `--format` option.
pub const FORMAT_HELP: &str = "What the bytes are, recorded for every tool to show: a raw image \
PIXEL:WIDTHxHEIGHT[:stride=BYTES] with PIXEL gray8, gray16le, rgb8, bgr8, rgba8 or bgra8 \
(rgba8:1920x1080), or a media type (image/png, image/jpeg, text/plain, application/json, any \
type/subtype)";

/// Parses `--format`: a raw image format (`rgba8:1920x1080`) or a media type (`image/png`), as
/// [`shmkit::Format`]'s parser reads them; the error says which rule was broken.
pub fn parse_format(s: &str) -> Result<shmkit::Format, String> {
    s.parse::<shmkit::Format>()
        .map_err(|e| e.reason_text().to_string())
}

/// Permission bits as `ls -l` users read them in octal: `0600`.
pub fn format_mode(mode: u32) -> String {
    format!("{mode:04o}")
}

/// A name as it can be shown on one line: as is when it is plain, quoted and escaped when a
/// foreign object's name holds spaces or control characters.
pub fn display_name(name: &str) -> Cow<'_, str> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() || c.is_alphanumeric())
    {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(format!("{name:?}"))
    }
}

/// `t` to the second, as a point on jiff's time line (`None` outside its range, years
/// -9999 to 9999).
fn timestamp(t: SystemTime) -> Option<Timestamp> {
    Timestamp::try_from(t)
        .ok()
        .and_then(|ts| Timestamp::from_second(ts.as_second()).ok())
}

/// A time for people: `2026-05-01 12:34:56 UTC (3m ago)`.
pub fn human_time(t: SystemTime) -> String {
    let Some(ts) = timestamp(t) else {
        return "out of range (the clock or the header is wrong)".into();
    };
    let ago = SystemTime::now()
        .duration_since(t)
        .map(|d| format!(" ({} ago)", short_duration(d)))
        .unwrap_or_default();
    format!("{}{ago}", ts.strftime("%Y-%m-%d %H:%M:%S UTC"))
}

/// A time for programs: RFC 3339 in UTC, `2026-05-01T12:34:56Z`.
pub fn rfc3339(t: SystemTime) -> Option<String> {
    timestamp(t).map(|ts| ts.to_string())
}

/// `42s`, `5m`, `3h`, `12d`: the largest whole unit.
fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// The end of every duration error.
const DURATION_EXAMPLES: &str = "write 500ms, 5s, 1.5s, 2m or 1h 30m";

/// Parses a duration: `500ms`, `5s`, `1.5s`, `2m`, `1h 30m`, `100us` (jiff's "friendly" format,
/// or ISO 8601 `PT5S`); a bare number is seconds (`0`, `2.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("{s:?} is not a duration; {DURATION_EXAMPLES}");
    if t.starts_with('-') {
        return Err("a duration cannot be negative".into());
    }
    if t.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && t.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        let secs: f64 = t.parse().map_err(|_| bad())?;
        return Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is out of range"));
    }
    let d: SignedDuration = t.parse().map_err(|_| bad())?;
    Duration::try_from(d).map_err(|_| "a duration cannot be negative".into())
}

/// A duration for people: `850 ns`, `41.2 µs`, `3.1 ms`, `2.50 s`.
pub fn short_time(d: Duration) -> String {
    let ns = d.as_nanos();
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", d.as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("100us").unwrap(), Duration::from_micros(100));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("PT5S").unwrap(), Duration::from_secs(5));
        for bad in ["", "x", "5 parsecs", "-1s", "1e999", "1..2", "1d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(short_time(Duration::from_nanos(850)), "850 ns");
        assert_eq!(short_time(Duration::from_nanos(41_234)), "41.2 µs");
        assert_eq!(short_time(Duration::from_millis(2500)), "2.50 s");
    }

    #[test]
    fn sizes_in_every_accepted_spelling() {
        let cases = [
            ("4096", 4096),
            ("0", 0),
            ("12B", 12),
            ("4K", 4096),
            ("4k", 4096),
            ("4KiB", 4096),
            ("4kib", 4096),
            ("4Ki", 4096),
            ("4 KiB", 4096),
            ("8M", 8 << 20),
            ("8MiB", 8 << 20),
            ("1G", 1 << 30),
            ("2T", 2 << 40),
            ("1P", 1 << 50),
            ("1.5MiB", 1536 << 10),
            ("1.5 MiB", 1536 << 10),
            (".5K", 512),
            ("2.K", 2048),
            ("1.25K", 1280),
            (" 64 ", 64),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn sizes_read_back_what_human_bytes_writes() {
        for n in [1u64, 512, 4096, 1536 << 10, 8 << 30, 3 << 40] {
            assert_eq!(parse_size(&shmkit::human_bytes(n)), Ok(n), "{n}");
        }
    }

    fn size_error(text: &str) -> String {
        parse_size(text).expect_err(text)
    }

    #[test]
    fn bad_sizes_say_what_is_wrong() {
        assert!(size_error("").starts_with("empty size"));
        assert!(size_error("12Q").starts_with("unknown unit \"Q\""));
        assert!(size_error("4X").contains("use B, K, M, G, T or P"));
        assert!(size_error("K").starts_with("no number"));
        assert!(size_error("-1").contains("cannot be negative"));
        assert!(size_error("-4K").contains("cannot be negative"));
        assert!(size_error("1.2.3").contains("not a number"));
        assert!(size_error("1.3K").contains("not a whole number of bytes"));
        assert!(size_error("0.5").contains("not a whole number of bytes"));
        assert!(size_error("4KB").starts_with("\"KB\" is ambiguous; write K or KiB"));
        assert!(size_error("4mb").starts_with("\"mb\" is ambiguous; write M or MiB"));
        assert!(size_error("abc").starts_with("unknown unit"));
        assert!(size_error("4 K B").starts_with("unknown unit"));
    }

    #[test]
    fn overflowing_sizes_are_too_large() {
        assert!(size_error("16384P").starts_with("too large"));
        assert!(size_error("18446744073709551616").starts_with("too large"));
        assert!(size_error(&"9".repeat(60)).starts_with("too large"));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_size("16383P"), Ok(16383 << 50));
    }

    #[test]
    fn segment_sizes_are_not_zero() {
        assert_eq!(parse_segment_size("4K"), Ok(4096));
        assert_eq!(
            parse_segment_size("0"),
            Err("a segment needs at least one byte".into())
        );
        assert!(parse_segment_size("0K").is_err());
    }

    #[test]
    fn modes_in_octal() {
        for (text, want) in [
            ("600", 0o600),
            ("0600", 0o600),
            ("0o600", 0o600),
            ("0O640", 0o640),
            ("0", 0),
            ("777", 0o777),
            ("0000644", 0o644),
        ] {
            assert_eq!(parse_mode(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn bad_modes_say_what_is_wrong() {
        assert!(parse_mode("").unwrap_err().starts_with("empty mode"));
        assert!(parse_mode("0o").unwrap_err().starts_with("empty mode"));
        assert!(
            parse_mode("800")
                .unwrap_err()
                .starts_with("'8' is not an octal digit")
        );
        assert!(
            parse_mode("rw")
                .unwrap_err()
                .starts_with("'r' is not an octal digit")
        );
        assert!(
            parse_mode("-600")
                .unwrap_err()
                .contains("not an octal digit")
        );
        assert!(parse_mode("1777").unwrap_err().contains("beyond 0777"));
        assert!(parse_mode("4755").unwrap_err().contains("setuid"));
        assert!(
            parse_mode(&"7".repeat(20))
                .unwrap_err()
                .contains("beyond 0777")
        );
    }

    #[test]
    fn modes_print_as_four_octal_digits() {
        assert_eq!(format_mode(0o600), "0600");
        assert_eq!(format_mode(0o1777), "1777");
        assert_eq!(format_mode(0), "0000");
    }

    #[test]
    fn plain_names_stay_plain_others_are_quoted() {
        assert_eq!(display_name("cam0"), "cam0");
        assert_eq!(display_name("qipc_sharedmemory_x"), "qipc_sharedmemory_x");
        assert_eq!(display_name("with space"), "\"with space\"");
        assert_eq!(display_name("a\nb"), "\"a\\nb\"");
    }

    #[test]
    fn utc_dates() {
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(rfc3339(at(0)).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_700_000_000)).unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(at(4_102_444_799)).unwrap(), "2099-12-31T23:59:59Z");
        assert_eq!(
            rfc3339(at(0) + Duration::from_nanos(999_999_999)).unwrap(),
            "1970-01-01T00:00:00Z",
            "whole seconds"
        );
        assert!(human_time(at(0)).starts_with("1970-01-01 00:00:00 UTC ("));
    }

    #[test]
    fn durations_in_their_largest_unit() {
        let d = Duration::from_secs;
        assert_eq!(short_duration(d(0)), "0s");
        assert_eq!(short_duration(d(59)), "59s");
        assert_eq!(short_duration(d(60)), "1m");
        assert_eq!(short_duration(d(7200)), "2h");
        assert_eq!(short_duration(d(3 * 86_400 + 5)), "3d");
    }
}

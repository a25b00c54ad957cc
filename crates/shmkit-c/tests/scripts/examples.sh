#!/usr/bin/env bash
# The example programs at work, and byte-for-byte exchanges between C/C++ and the Rust `shmkit`
# command. Run by CTest, one case per call:
#
#   examples.sh CASE BIN_DIR SHMKIT      (qt_viewer_rust: examples.sh qt_viewer_rust QT_BIN_DIR FRAMES_PUB)
#
# Every case uses its own "t-" name and checks that the name is gone at the end (nothing leaks,
# also after kill -9).
set -euo pipefail
case_=$1 bin=$2 shmkit=$3
name="t-ex-${case_//_/-}-$$"
name=${name:0:30}
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAILED ($case_): $*" >&2; exit 1; }
# Waits until FILE contains TEXT (at most 15 s).
wait_for() {
    for _ in $(seq 150); do grep -qF -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "--- $1:" >&2; cat "$1" >&2 || true
    fail "no \"$2\" in $1"
}
gone() {
    for _ in $(seq 50); do [ -e "/dev/shm/$name" ] || return 0; sleep 0.1; done
    fail "$name was left in /dev/shm"
}

case $case_ in
c_writer_reader | cpp_writer_reader)
    pre=""; [ "$case_" = cpp_writer_reader ] && pre="cpp_"
    # The reader starts first and waits for the writer (the Win32 original fails instead).
    "$bin/${pre}reader" "$name" --follow >"$tmp/reader.out" 2>&1 & pids+=($!)
    sleep 0.3
    mkfifo "$tmp/in"
    "$bin/${pre}writer" "$name" "Message from first process." <"$tmp/in" >"$tmp/writer.out" 2>&1 & pids+=($!)
    exec 3>"$tmp/in"
    wait_for "$tmp/reader.out" "Message from first process."
    echo "a second message" >&3
    wait_for "$tmp/reader.out" "a second message"
    echo "x" >&3
    wait_for "$tmp/reader.out" "x"
    # A shorter message shows whole, without the tail of the longer one.
    grep -qx "x" "$tmp/reader.out" || fail "the short message came with a stale tail"
    # kill -9 the reader: the kernel drops its hold; the writer, closing last, removes the name.
    kill -9 "${pids[0]}"
    wait "${pids[0]}" 2>/dev/null || true # dead and reaped: its hold is gone
    exec 3>&-
    wait "${pids[1]}" || fail "the writer failed"
    gone
    # Bad names are errors that say why.
    if "$bin/${pre}writer" "../etc/passwd" "x" </dev/null >"$tmp/bad.out" 2>&1; then fail "a bad name was accepted"; fi
    grep -q "A-Z a-z 0-9\|not a valid\|may not\|character" "$tmp/bad.out" || { cat "$tmp/bad.out"; fail "the bad name's message does not explain"; }
    # A reader with a timeout says the writer is missing.
    if "$bin/${pre}reader" "$name" --timeout-ms 200 >"$tmp/missing.out" 2>&1; then fail "a missing writer was not reported"; fi
    grep -q "is the writer running" "$tmp/missing.out" || { cat "$tmp/missing.out"; fail "no hint"; }
    ;;
c_kill9_no_leak)
    # The writer is killed with kill -9 as the last holder: its guard process removes the name
    # from /dev/shm at once (nothing to `shmkit gc`).
    mkfifo "$tmp/in"
    "$bin/writer" "$name" "doomed" <"$tmp/in" >"$tmp/writer.out" 2>&1 & pids+=($!)
    exec 3>"$tmp/in"
    wait_for "$tmp/writer.out" "published #1"
    "$bin/reader" "$name" >"$tmp/reader.out" 2>&1
    grep -qx "doomed" "$tmp/reader.out" || fail "the reader did not print the message"
    kill -9 "${pids[0]}"
    wait "${pids[0]}" 2>/dev/null || true
    exec 3>&-
    gone
    # Again, and this time the next writer starts at once, racing the guard: whether it finds
    # the name gone or the crash leftover still there, it starts anew.
    mkfifo "$tmp/in2"
    "$bin/writer" "$name" "doomed again" <"$tmp/in2" >"$tmp/w2.out" 2>&1 & pids+=($!)
    exec 4>"$tmp/in2"
    wait_for "$tmp/w2.out" "published #1"
    kill -9 "${pids[1]}"
    wait "${pids[1]}" 2>/dev/null || true
    exec 4>&-
    echo "" | "$bin/writer" "$name" "a new writer" >"$tmp/w3.out" 2>&1 || { cat "$tmp/w3.out"; fail "the next writer could not take the name"; }
    grep -q "published #1" "$tmp/w3.out" || { cat "$tmp/w3.out"; fail "the next writer did not start anew"; }
    gone
    ;;
cpp_frames)
    "$bin/frames_pub" "$name" --size 160x120 --frames 40 --fps 200 >"$tmp/pub.out" 2>&1 & pids+=($!)
    "$bin/frames_sub" "$name" --count 20 --timeout-ms 10000 >"$tmp/sub.out" 2>&1 || { cat "$tmp/sub.out"; fail "frames_sub failed"; }
    grep -q "20 whole, 0 wrong" "$tmp/sub.out" || { cat "$tmp/sub.out"; fail "frames were not whole"; }
    wait "${pids[0]}" || fail "frames_pub failed"
    gone
    ;;
cpp_pub_to_shmkit_sub)
    # A C++ publisher's frames, byte for byte, through the Rust command.
    "$shmkit" sub "$name" --count 1 --out "$tmp/frames" >"$tmp/sub.out" 2>&1 & pids+=($!)
    sleep 0.5
    "$bin/frames_pub" "$name" --size 8x4 --frames 30 --fps 50 >/dev/null 2>&1
    wait "${pids[0]}" || { cat "$tmp/sub.out"; fail "shmkit sub failed"; }
    f=$(ls "$tmp/frames" | head -1)
    [ -n "$f" ] || fail "shmkit sub wrote no frame"
    # The frame's bytes: the pattern for the frame counter in its first byte.
    python3 - "$tmp/frames/$f" <<'PY' || fail "the frame shmkit sub received differs from what frames_pub published"
import sys
b = open(sys.argv[1], "rb").read()
k = b[0]
want = bytes(v for y in range(4) for x in range(8) for v in ((x + k) % 256, (y + 2 * k) % 256, (3 * k) % 256, 255))
sys.exit(0 if b == want else 1)
PY
    gone
    ;;
shmkit_pub_to_c_sub)
    # Frames from the Rust command to a C subscriber (tests/scripts/csub.c).
    "$bin/csub" "$name" 3 >"$tmp/csub.out" 2>&1 & pids+=($!)
    sleep 0.5
    printf 'first line\nsecond \xc3\xa9\xe2\x82\xac line\n\x01\x02 third\n' | "$shmkit" pub "$name" >/dev/null
    wait "${pids[0]}" || { cat "$tmp/csub.out"; fail "the C subscriber failed"; }
    printf 'first line\nsecond \xc3\xa9\xe2\x82\xac line\n\x01\x02 third\n' >"$tmp/want"
    cmp "$tmp/csub.out" "$tmp/want" || fail "the C subscriber did not receive the bytes shmkit pub sent"
    "$shmkit" rm "$name" >/dev/null 2>&1 || true # `shmkit pub` makes a persistent stream
    gone
    ;;
c_cell_to_shmkit_watch)
    # A C cell writer, watched by the Rust command: each value byte for byte.
    "$shmkit" watch "$name" --count 2 >"$tmp/watch.out" 2>"$tmp/watch.err" & pids+=($!)
    sleep 0.3
    mkfifo "$tmp/in"
    "$bin/writer" "$name" "hello from C" <"$tmp/in" >/dev/null 2>&1 & pids+=($!)
    exec 3>"$tmp/in"
    wait_for "$tmp/watch.out" "hello from C"
    echo "second value" >&3
    wait "${pids[0]}" || { cat "$tmp/watch.out"; fail "shmkit watch failed"; }
    exec 3>&-
    wait "${pids[1]}" || true
    printf 'hello from C\nsecond value\n' >"$tmp/want"
    cmp "$tmp/watch.out" "$tmp/want" || { cat "$tmp/watch.out"; fail "shmkit watch printed other bytes"; }
    gone
    ;;
qt_viewer_rust)
    # The Qt viewer shows frames of the Rust frames_pub (1920x1080 RGBA, format recorded).
    frames_pub=$3
    "$frames_pub" "$name" --fps 10 --seconds 4 >"$tmp/pub.out" 2>&1 & pids+=($!)
    QT_QPA_PLATFORM=offscreen timeout 60 "$bin/qt_viewer" "$name" --grab "$tmp/shown.png" >"$tmp/viewer.out" 2>&1 \
        || { cat "$tmp/viewer.out" "$tmp/pub.out"; fail "qt_viewer failed"; }
    grep -q "1920x1080 saved" "$tmp/viewer.out" || { cat "$tmp/viewer.out"; fail "no 1920x1080 frame shown"; }
    [ -s "$tmp/shown.png" ] || fail "no grab"
    wait "${pids[0]}" || { cat "$tmp/pub.out"; fail "frames_pub failed"; }
    gone
    ;;
*) fail "unknown case" ;;
esac
echo "1 passed, 0 failed"

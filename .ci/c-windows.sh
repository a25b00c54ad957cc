#!/usr/bin/env bash
# The C library for Windows and the C programs against it, under Wine: shmkit.dll with its import
# library (libshmkit.dll.a) and libshmkit.a, built for x86_64-pc-windows-gnu with Debian's
# compiler (-Zbuild-std), the C examples and a Windows C test built with MinGW, then run.
# Called by .ci/cross.sh inside its Wine step (its environment: Debian's rustc, target/cross,
# the Wine prefix); reuses the std it built.
set -euo pipefail
cd "$(dirname "$0")/.."
t=x86_64-pc-windows-gnu
cargo build -Zbuild-std --target $t -p shmkit-c --locked -q
lib="$CARGO_TARGET_DIR/$t/debug"
out=target/c-windows
mkdir -p "$out"
for f in shmkit.dll libshmkit.dll.a libshmkit.a; do
    [ -s "$lib/$f" ] || { echo "c-windows: $lib/$f was not built" >&2; exit 1; }
done
cp "$lib/shmkit.dll" "$out/"
mingw() { x86_64-w64-mingw32-gcc -std=c11 -O2 -Wall -Wextra -Werror -Icrates/shmkit-c/include "$@"; }
mingw -o "$out/writer.exe" crates/shmkit-c/examples/c/writer.c "$lib/libshmkit.dll.a"
mingw -o "$out/reader.exe" crates/shmkit-c/examples/c/reader.c "$lib/libshmkit.dll.a"
mingw -o "$out/test_windows.exe" crates/shmkit-c/tests/c/test_windows.c "$lib/libshmkit.dll.a"

run() { timeout -k 5 60 wine "$@"; }
fail() { echo "c-windows: FAILED: $*" >&2; exit 1; }
run "$out/test_windows.exe" | tee "$out/test_windows.out"
grep -q " 0 failed" "$out/test_windows.out" || fail "test_windows"

# The Win32 tutorial's pair: the reader, started first, waits for the writer and prints its
# message; --follow, each new one too (it is then stopped with Wine's own taskkill).
name="t-cwin-pair-$$"
rm -f "$out/in" && mkfifo "$out/in"
run "$out/reader.exe" "$name" >"$out/reader1.out" 2>&1 &
reader1=$!
sleep 1
run "$out/writer.exe" "$name" "Message from first process." <"$out/in" >"$out/writer.out" 2>&1 &
writer=$!
exec 3>"$out/in"
wait "$reader1" || { cat "$out/reader1.out"; fail "the reader failed"; }
# (Windows writes text with CRLF line ends.)
tr -d '\r' <"$out/reader1.out" | grep -qx "Message from first process." || { cat "$out/reader1.out"; fail "no message"; }
wait_for() {
    for _ in $(seq 300); do grep -qF -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    cat "$1" >&2 || true
    fail "no \"$2\" in $1"
}
run "$out/reader.exe" "$name" --follow >"$out/reader.out" 2>&1 &
reader=$!
wait_for "$out/reader.out" "Message from first process."
echo "a second message" >&3
wait_for "$out/reader.out" "a second message"
wine taskkill /f /im reader.exe >/dev/null 2>&1 || true
wait "$reader" 2>/dev/null || true
exec 3>&-
wait "$writer" || fail "the writer failed"
# Windows frees the section with its last handle: the name is gone, and a reader says so.
if run "$out/reader.exe" "$name" --timeout-ms 300 >"$out/gone.out" 2>&1; then
    fail "the segment outlived its handles"
fi
grep -q "is the writer running" "$out/gone.out" || { cat "$out/gone.out"; fail "no hint"; }
echo "c-windows: shmkit.dll, the C examples and test_windows passed under Wine"

#!/usr/bin/env bash
# The platforms shmkit cannot run natively here, checked from Linux (recipe: shared/PLATFORMS.md):
# clippy (a type-check plus lints) for macOS (x86_64, aarch64), Windows MSVC and FreeBSD; then
# clippy, build and the whole test suite for Windows (x86_64-pc-windows-gnu) under Wine — with the
# classic Win32 programs (crates/shmkit-cli/tests/win32/*.c, built here with MinGW) beside it.
#
# Runs on a fresh Debian 12 (bookworm) x86_64 machine as root with only the package registries
# reachable; installs what it needs. Uses Debian's rustc-web with its exact std source
# (rust-web-src) and -Zbuild-std, in target/cross, apart from the normal (rustup) builds.
#
#   bash .ci/cross.sh                 everything (what .ci/run does)
#   bash .ci/cross.sh check           only the type-checks
#   bash .ci/cross.sh wine [ARGS...]  only the Windows tests under Wine (ARGS go to cargo test)
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
step() { echo "== [cross $((SECONDS - t0))s] $*"; }
what=${1:-all}
[ $# -gt 0 ] && shift

step "apt install (Debian's rustc-web + std source, MinGW, Wine)"
pkgs=(rustc-web cargo-web rust-web-src rust-web-clippy
    binutils-mingw-w64-x86-64 gcc-mingw-w64-x86-64-posix wine wine64)
installed=$(dpkg-query -W -f='${Status}\n' "${pkgs[@]}" 2>/dev/null | grep -c 'install ok installed' || true)
if [ "$installed" -eq "${#pkgs[@]}" ]; then
    echo "already installed"
else
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
dpkg-query -W -f='${Package} ${Version}\n' rustc-web rust-web-src wine64 gcc-mingw-w64-x86-64-posix

# Debian's compiler, not rustup's: rust-web-src is the std source of exactly this compiler, and
# -Zbuild-std compiles std for any target from it (RUSTC_BOOTSTRAP=1 unlocks -Z on a stable
# compiler). /usr/bin first, so that cargo, rustc, rustdoc and clippy-driver are all Debian's.
export PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$PWD/target/cross" CARGO_TERM_COLOR=never
# The Linux root-only tests do not exist on these targets (see the README's platform table).
unset SHMKIT_REQUIRE_ROOT_TESTS
cargo -V
rustc -V

if [ "$what" = all ] || [ "$what" = check ]; then
    # Without the Zenoh bridge: its TLS (ring) and config parser (psm) compile C and assembly for
    # the target, and there is no C compiler here for these three. The bridge is platform-neutral
    # Rust over zenoh; it is checked on Linux and on Windows (MinGW) below.
    for t in x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-msvc x86_64-unknown-freebsd; do
        step "clippy $t (no bridge)"
        cargo clippy -Zbuild-std --target "$t" --workspace --exclude shmkit-zenoh \
            --no-default-features --all-targets --locked -q -- -D warnings
    done
    # A full build of the library for one Apple target (no link: no macOS SDK here) catches what
    # a check misses (post-monomorphisation and const-evaluation errors).
    step "build --lib aarch64-apple-darwin"
    cargo build -Zbuild-std --target aarch64-apple-darwin -p shmkit --lib --locked -q
fi

if [ "$what" = all ] || [ "$what" = wine ]; then
    if [ "$what" = all ]; then
        step "clippy x86_64-pc-windows-gnu"
        # missing_const_for_thread_local: Debian's clippy 1.96 flags `thread_local!`s whose
        # initializers are `const` already on this target (its OS-key expansion).
        cargo clippy -Zbuild-std --target x86_64-pc-windows-gnu --workspace --all-targets --locked -q \
            -- -D warnings -A clippy::missing_const_for_thread_local
    fi

    step "wine prefix"
    export WINEPREFIX="$PWD/target/wineprefix" WINEDEBUG=-all
    if [ ! -f "$WINEPREFIX/system.reg" ]; then
        wineboot --init >/dev/null 2>&1
    fi
    # Wine 8.0 lacks bcryptprimitives.dll (ProcessPrng), which Rust std >= 1.78 imports.
    dll="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
    if [ ! -f "$dll" ] || [ .ci/bcryptprimitives.c -nt "$dll" ]; then
        x86_64-w64-mingw32-gcc -O2 -shared -s -o "$dll" \
            .ci/bcryptprimitives.c .ci/bcryptprimitives.def -ladvapi32
    fi
    # With Wine's default crash debugger a crashing test exits 0 about 4 times in 10; with no
    # usable debugger it exits non-zero every time (the crash tests depend on that).
    wine reg add 'HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug' \
        /v Debugger /d nonexistent.exe /f >/dev/null 2>&1

    # The classic Win32 programs the CLI's tests/win32_classics.rs runs against shmkit.exe: the
    # Microsoft sample pair, ANSI and UNICODE, and the Qt-over-Win32 dialogs' writer and reader.
    step "the classic Win32 programs (MinGW)"
    samples="$PWD/target/win32-samples"
    src=crates/shmkit-cli/tests/win32
    mkdir -p "$samples"
    mingw() { x86_64-w64-mingw32-gcc -O2 -Wall -Werror "$@"; }
    for p in ms_writer ms_reader; do
        mingw -o "$samples/${p}_ansi.exe" "$src/$p.c"
        mingw -DUNICODE -D_UNICODE -municode -o "$samples/${p}_unicode.exe" "$src/$p.c"
    done
    for p in dialog_writer dialog_reader; do
        mingw -municode -o "$samples/$p.exe" "$src/$p.c"
    done
    export SHMKIT_WIN32_SAMPLES="$samples" SHMKIT_REQUIRE_WIN32_SAMPLES=1

    step "test x86_64-pc-windows-gnu under Wine"
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$PWD/.ci/wine-runner.sh"
    status=0
    cargo test -Zbuild-std --target x86_64-pc-windows-gnu --workspace --locked --no-fail-fast "$@" || status=$?
    step "the C library (shmkit.dll) and the C examples for Windows under Wine"
    bash .ci/c-windows.sh || status=$?
    wineserver -k 2>/dev/null || true
    [ "$status" -eq 0 ] || exit "$status"
fi
step "cross checks passed"

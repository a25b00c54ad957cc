#!/usr/bin/env bash
# The C and C++ face (crates/shmkit-c), checked as users meet it, on Debian 12 as root:
# - the header is what cbindgen (pinned) makes of the sources;
# - CMake builds libshmkit, the C/C++/Qt 6 examples and the tests; CTest runs the C API tests
#   (-Wall -Wextra -Werror -fsanitize=address,undefined), the C++ wrapper tests, the example
#   pairs, byte-for-byte exchanges with the Rust `shmkit` command, and the Qt programs headless;
# - the C API tests once more under valgrind;
# - install into a prefix, then find_package(shmkit), add_subdirectory, pkg-config with gcc, and
#   qmake build a program against it.
# (Windows: .ci/c-windows.sh, from .ci/cross.sh's Wine step.)
# Reuses the workspace's target/ (the dev profile `cargo test --workspace` built).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
step() { echo "== [c $((SECONDS - t0))s] $*"; }
export CARGO_TERM_COLOR=never

step "apt install (CMake, Ninja, Qt 6 Widgets, qmake, valgrind)"
pkgs=(cmake ninja-build g++ pkg-config qt6-base-dev qt6-base-dev-tools qmake6 valgrind)
installed=$(dpkg-query -W -f='${Status}\n' "${pkgs[@]}" 2>/dev/null | grep -c 'install ok installed' || true)
if [ "$installed" -ne "${#pkgs[@]}" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

# cbindgen pinned: the header must not change with whatever version a machine has. Debian 12's
# (0.24) cannot read edition-2024 sources (#[unsafe(no_mangle)]), so it comes from crates.io.
CBINDGEN_VERSION=0.29.2
cbindgen=target/tools/bin/cbindgen
step "cbindgen $CBINDGEN_VERSION"
if ! "$cbindgen" --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
    cargo install cbindgen --version "=$CBINDGEN_VERSION" --locked --root target/tools -q
fi
step "include/shmkit.h is what cbindgen generates"
"$cbindgen" --quiet --config crates/shmkit-c/cbindgen.toml --crate shmkit-c \
    --output target/shmkit.h.generated crates/shmkit-c
if ! diff -u crates/shmkit-c/include/shmkit.h target/shmkit.h.generated; then
    echo "crates/shmkit-c/include/shmkit.h is stale: regenerate it (see crates/shmkit-c/cbindgen.toml)" >&2
    exit 1
fi

step "cargo build: libshmkit, the shmkit command, the Rust frames_pub"
# The whole workspace's libraries, binaries and examples: the units `cargo test --workspace`
# built, with its features, so next to nothing compiles (17 s in CI). Picked with -p, cargo
# unifies features over the picked packages only and without dev-dependencies: it rebuilt the
# Zenoh stack (167 s).
cargo build --locked -q --workspace --lib --bins --examples

step "CMake: examples (C, C++, Qt 6) and tests, sanitizers on the C programs"
build=target/c-build prefix="$PWD/target/c-prefix"
cmake -S crates/shmkit-c -B "$build" -G Ninja -DSHMKIT_CARGO_PROFILE=dev -DSHMKIT_TESTS=ON \
    -DSHMKIT_EXAMPLES=ON -DSHMKIT_QT_EXAMPLES=ON -DSHMKIT_SANITIZE=ON \
    -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build "$build"

step "CTest"
(cd "$build" && QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j2 --timeout 300)

step "valgrind: the C API tests"
# The same library the tests above used (rustix reads auxv through libc, so valgrind can run it).
gcc -std=c11 -g -Wall -Wextra -Werror -Icrates/shmkit-c/include crates/shmkit-c/tests/c/test_api.c \
    -Ltarget/debug -lshmkit -lpthread -o target/c-build/test_api_valgrind
LD_LIBRARY_PATH=target/debug valgrind -q --error-exitcode=3 --leak-check=full \
    --errors-for-leak-kinds=definite target/c-build/test_api_valgrind

step "install, then find_package, add_subdirectory, pkg-config + gcc, qmake"
rm -rf "$prefix"
cmake --install "$build" >/dev/null
consumer=crates/shmkit-c/tests/consumer
cmake -S $consumer -B target/c-consumer-pkg -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build target/c-consumer-pkg >/dev/null
target/c-consumer-pkg/consumer
target/c-consumer-pkg/consumer_c
cmake -S $consumer -B target/c-consumer-sub -G Ninja -DSHMKIT_SOURCE_DIR="$PWD/crates/shmkit-c" \
    -DSHMKIT_CARGO_PROFILE=dev >/dev/null
cmake --build target/c-consumer-sub >/dev/null
target/c-consumer-sub/consumer
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# The README's one-liner (plus an rpath, the prefix not being a system one).
gcc -std=c11 -Wall -Wextra -Werror -o target/c-consumer-gcc $consumer/main.c $(pkg-config --cflags --libs shmkit) \
    -Wl,-rpath,"$prefix/lib"
target/c-consumer-gcc
mkdir -p target/c-consumer-qmake
(cd target/c-consumer-qmake && qmake6 "$PWD/../../$consumer/consumer.pro" >/dev/null && make -s >/dev/null)
LD_LIBRARY_PATH="$prefix/lib" target/c-consumer-qmake/consumer_qmake
step "C and C++ checks passed"

#!/usr/bin/env bash
# Checks what a make target needs before it starts, and when something is
# missing says exactly what and how to get it (Debian/Ubuntu package names),
# instead of letting cargo or rustc fail halfway with a linker error.
#
#   scripts/need.sh CHECK...    silent when everything is there
#
#   rust    rustup, and the toolchain rust-toolchain.toml pins (rustc, cargo)
#   lint    rust, plus its clippy and rustfmt components
#   cc      a C compiler and linker: rustc links through `cc`, and aws-lc-sys
#           (the TLS library of the AWS SDK) compiles C (Debian: gcc, and
#           libc6-dev, which gcc only recommends)
#   arm64   rust, plus the aarch64-unknown-linux-gnu standard library (added
#           with rustup when missing, as rust-toolchain.toml asks)
#
# Python (python3, python3-venv) is checked by scripts/venv.sh, qemu and the
# aarch64 glibc by scripts/check-artefact.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

ARM64=aarch64-unknown-linux-gnu
# The channel rust-toolchain.toml pins.
channel=$(sed -nE 's/^channel *= *"([^"]+)".*/\1/p' rust-toolchain.toml 2>/dev/null || true)
channel=${channel:-1.95.0}
install_toolchain="rustup toolchain install $channel --profile minimal --component clippy,rustfmt --target $ARM64"

die() {
    echo "need: $*" >&2
    exit 1
}

check_rust() {
    command -v rustup >/dev/null 2>&1 ||
        die "rustup not found; the build uses the Rust toolchain pinned in rust-toolchain.toml ($channel) through rustup." \
            "Install it (Debian 13+/Ubuntu 24.04+: apt-get install rustup; otherwise https://rustup.rs)," \
            "then run: $install_toolchain"
    command -v cargo >/dev/null 2>&1 ||
        die "rustup is installed but cargo is not on PATH: add ~/.cargo/bin to PATH (or, with Debian's rustup package, run: $install_toolchain)"
    local version
    if ! version=$(RUST_BACKTRACE=0 rustc --version 2>&1); then
        version=$(head -n 1 <<<"$version")
        die "rustc does not run ($version): the toolchain rust-toolchain.toml pins ($channel) is probably not installed," \
            "and rustup could not download it. Run: $install_toolchain"
    fi
    [[ $version == "rustc $channel "* ]] ||
        die "rustc on PATH is '$version', not the $channel that rust-toolchain.toml pins: the rustc/cargo on PATH are not rustup's" \
            "(Debian's rustc or cargo package?). Put ~/.cargo/bin first on PATH, or apt-get remove rustc cargo."
}

check_lint() {
    check_rust
    local c
    for c in clippy rustfmt; do
        local sub=$c
        [[ $c == rustfmt ]] && sub=fmt
        cargo "$sub" --version >/dev/null 2>&1 ||
            die "cargo $sub is missing from the $channel toolchain: rustup component add clippy rustfmt"
    done
}

check_cc() {
    command -v cc >/dev/null 2>&1 ||
        die "no C compiler 'cc': rustc links through it and aws-lc-sys compiles C. On Debian/Ubuntu: apt-get install gcc libc6-dev"
    local dir
    dir=$(mktemp -d)
    # Not just there, but able to compile and link (gcc without libc6-dev cannot).
    if ! echo 'int main(void) { return 0; }' | cc -x c - -o "$dir/a.out" >"$dir/log" 2>&1; then
        local log
        log=$(head -n 3 "$dir/log")
        rm -rf "$dir"
        die "cc cannot compile and link a C program (${log//$'\n'/ }). On Debian/Ubuntu: apt-get install gcc libc6-dev"
    fi
    rm -rf "$dir"
}

check_arm64() {
    check_rust
    rustup target list --installed 2>/dev/null | grep -qx "$ARM64" && return
    echo "need: adding the $ARM64 standard library (rustup target add $ARM64)"
    rustup target add "$ARM64" ||
        die "rustup could not add $ARM64 (it downloads from static.rust-lang.org, or RUSTUP_DIST_SERVER);" \
            "the arm64 Lambda build needs it: rustup target add $ARM64"
}

[[ $# -gt 0 ]] || {
    echo "usage: $0 rust|lint|cc|arm64..." >&2
    exit 2
}
for check in "$@"; do
    case $check in
    rust) check_rust ;;
    lint) check_lint ;;
    cc) check_cc ;;
    arm64) check_arm64 ;;
    *)
        echo "need: unknown check '$check' (rust, lint, cc, arm64)" >&2
        exit 2
        ;;
    esac
done

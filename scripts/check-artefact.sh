#!/usr/bin/env bash
# Checks the Lambda artefact that `make build` produces:
#   1. the zip exists and holds an executable `bootstrap`;
#   2. `bootstrap` is a 64-bit little-endian aarch64 ELF (e_machine 183);
#   3. the zip is at most 5 MiB (MAX_ZIP_BYTES overrides), and its size is
#      reported;
#   4. `bootstrap` starts under qemu-aarch64-static with the aarch64 glibc of
#      Debian's libc6-arm64-cross and polls a Lambda Runtime API: a small
#      Python stand-in records the GET on /2018-06-01/runtime/invocation/next
#      (and an init error, if the function reports one instead).
#
#   scripts/check-artefact.sh [ZIP]     check (default: the make build output)
#   scripts/check-artefact.sh --deps    only install qemu-user-static and
#                                       libc6-arm64-cross if missing
#
# Installs the two Debian packages with apt-get when missing and running as
# root; otherwise says what to install. Needs python3; nothing leaves loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

zip=target/lambda/eks-endpoint-guard/bootstrap.zip
deps_only=false
case "${1:-}" in
--deps) deps_only=true ;;
"") ;;
*) zip=$1 ;;
esac
max_bytes=${MAX_ZIP_BYTES:-5242880}
poll_timeout=${POLL_TIMEOUT_SECONDS:-30}
sysroot=/usr/aarch64-linux-gnu

die() {
    echo "check-artefact: FAIL: $*" >&2
    exit 1
}
say() { echo "check-artefact: $*"; }

ensure_qemu() {
    if command -v qemu-aarch64-static >/dev/null 2>&1 && [[ -e $sysroot/lib/ld-linux-aarch64.so.1 ]]; then
        return
    fi
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        say "installing qemu-user-static and libc6-arm64-cross (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends qemu-user-static libc6-arm64-cross >/dev/null
    else
        die "needs qemu-aarch64-static and an aarch64 glibc in $sysroot; on Debian/Ubuntu, as root: apt-get install qemu-user-static libc6-arm64-cross"
    fi
    command -v qemu-aarch64-static >/dev/null 2>&1 || die "qemu-aarch64-static still missing after apt-get"
    [[ -e $sysroot/lib/ld-linux-aarch64.so.1 ]] || die "$sysroot/lib/ld-linux-aarch64.so.1 still missing after apt-get"
}

if $deps_only; then
    ensure_qemu
    say "qemu-aarch64-static and $sysroot are there"
    exit 0
fi

command -v python3 >/dev/null 2>&1 || die "python3 is needed"
[[ -f "$zip" ]] || die "$zip does not exist: run make build first"

work=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# 1-3: contents, ELF header, size (python3: no unzip needed).
python3 - "$zip" "$work" "$max_bytes" <<'EOF'
import os, stat, struct, sys, zipfile

path, work, max_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3])

def fail(msg):
    print(f"check-artefact: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)

with zipfile.ZipFile(path) as z:
    names = z.namelist()
    if "bootstrap" not in names:
        fail(f"{path} has no bootstrap at its root (entries: {names})")
    info = z.getinfo("bootstrap")
    mode = info.external_attr >> 16
    if not mode & 0o111:
        fail(f"bootstrap in {path} is not executable (mode {oct(mode)}): Lambda could not start it")
    z.extract(info, work)
binary = os.path.join(work, "bootstrap")
os.chmod(binary, 0o755)

with open(binary, "rb") as f:
    header = f.read(20)
if header[:4] != b"\x7fELF":
    fail("bootstrap is not an ELF file")
ei_class, ei_data = header[4], header[5]
e_machine = struct.unpack_from("<H", header, 18)[0]
if (ei_class, ei_data, e_machine) != (2, 1, 183):
    fail(f"bootstrap is not a 64-bit little-endian aarch64 ELF "
         f"(class {ei_class}, data {ei_data}, e_machine {e_machine}; aarch64 is 2, 1, 183)")

zip_bytes = os.path.getsize(path)
print(f"check-artefact: ok: {path} holds an executable bootstrap, an ELF64 LE aarch64 binary (e_machine 183)")
print(f"check-artefact: size: zip {zip_bytes} bytes ({zip_bytes / 2**20:.2f} MiB), "
      f"bootstrap {info.file_size} bytes ({info.file_size / 2**20:.2f} MiB) uncompressed; limit {max_bytes} bytes")
if zip_bytes > max_bytes:
    fail(f"the zip is {zip_bytes} bytes, over the {max_bytes}-byte limit")
EOF
if command -v file >/dev/null 2>&1; then
    say "file: $(file -b "$work/bootstrap")"
fi

# 4: start it under qemu against a Runtime API stand-in.
ensure_qemu

cat >"$work/runtime_api.py" <<'EOF'
"""A Lambda Runtime API stand-in that records what the function asks for.

GET .../invocation/next is recorded and then held open (no event is ever
delivered, so the function makes no AWS call); POST .../init/error is
recorded with its body. Writes the chosen port to argv[1] and its records to
argv[2], one line each.
"""
import http.server, sys, threading, time

port_file, log_file = sys.argv[1], sys.argv[2]
lock = threading.Lock()

def record(line):
    with lock, open(log_file, "a") as f:
        f.write(line + "\n")

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        record(f"{time.time():.6f} GET {self.path}")
        if self.path == "/2018-06-01/runtime/invocation/next":
            time.sleep(3600)  # a long poll that never gets an event
        self.send_error(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        record(f"{time.time():.6f} POST {self.path} {body}")
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
EOF

: >"$work/requests.log"
python3 "$work/runtime_api.py" "$work/port" "$work/requests.log" &
pids+=($!)
for _ in $(seq 100); do
    [[ -s "$work/port" ]] && break
    sleep 0.05
done
[[ -s "$work/port" ]] || die "the Runtime API stand-in did not start"
port=$(cat "$work/port")

# A Lambda-like environment with dummy credentials; nothing is invoked, so no
# AWS call is made. ALERT_TOPIC_ARN is the one setting the guard requires.
start=$(python3 -c 'import time; print(f"{time.time():.6f}")')
# shellcheck disable=SC2016 # $LATEST is the literal version name
env -i PATH=/usr/bin:/bin HOME="$work" \
    AWS_LAMBDA_RUNTIME_API="127.0.0.1:$port" \
    AWS_LAMBDA_FUNCTION_NAME=eks-endpoint-guard \
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
    AWS_LAMBDA_FUNCTION_VERSION='$LATEST' \
    AWS_LAMBDA_LOG_FORMAT=json AWS_LAMBDA_LOG_LEVEL=info \
    AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=AKIDCHECKARTEFACT AWS_SECRET_ACCESS_KEY=check-artefact \
    AWS_EC2_METADATA_DISABLED=true \
    ALERT_TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:eks-endpoint-guard-alerts \
    qemu-aarch64-static -L "$sysroot" "$work/bootstrap" >"$work/bootstrap.log" 2>&1 &
qemu_pid=$!
pids+=("$qemu_pid")

deadline=$((SECONDS + poll_timeout))
outcome=timeout
while ((SECONDS < deadline)); do
    if grep -q ' GET /2018-06-01/runtime/invocation/next$' "$work/requests.log"; then
        outcome=polled
        break
    fi
    if grep -q ' POST /2018-06-01/runtime/init/error' "$work/requests.log"; then
        outcome=init-error
        break
    fi
    if ! kill -0 "$qemu_pid" 2>/dev/null; then
        outcome=exited
        break
    fi
    sleep 0.05
done

show_logs() {
    echo "--- Runtime API requests:" >&2
    cat "$work/requests.log" >&2
    echo "--- bootstrap output (last 40 lines):" >&2
    tail -n 40 "$work/bootstrap.log" >&2
}
case $outcome in
polled)
    first=$(grep ' GET /2018-06-01/runtime/invocation/next$' "$work/requests.log" | head -n1 | cut -d' ' -f1)
    ms=$(python3 -c "print(round(($first - $start) * 1000))")
    say "ok: bootstrap started under qemu-aarch64-static and polled the Runtime API (GET /2018-06-01/runtime/invocation/next) after ${ms} ms (emulated; not a cold-start figure)"
    ;;
init-error)
    show_logs
    die "bootstrap reported an init error to the Runtime API instead of polling"
    ;;
exited)
    wait "$qemu_pid" && rc=0 || rc=$?
    show_logs
    die "bootstrap exited (status $rc) before polling the Runtime API"
    ;;
timeout)
    show_logs
    die "bootstrap did not poll the Runtime API within ${poll_timeout} s"
    ;;
esac

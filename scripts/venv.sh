#!/usr/bin/env bash
# Creates or refreshes a project-local Python virtualenv; nothing global.
#
#   scripts/venv.sh            .venv          from requirements-dev.txt
#                              (requirements-moto.txt, moto[server] and
#                              cfn-lint, aws-sam-cli, cargo-lambda, ziglang)
#   scripts/venv.sh moto       .venv          from requirements-moto.txt only
#                              (moto, flask: all that make demo, invoke,
#                              bench and test-rust need; about 20 s to install
#                              against about a minute for dev)
#   scripts/venv.sh checkov    .venv-checkov  from requirements-checkov.txt
#                              (checkov pins a boto3 that aws-sam-cli refuses)
#
# moto and dev share .venv: dev is moto plus the build and lint tools
# (requirements-dev.txt includes requirements-moto.txt), so `make demo` then
# `make test` installs moto once, and a .venv made for `make test` already
# serves `make demo` without a pip run.
#
# Idempotent: the virtualenv keeps a stamp per kind with the hash of its
# requirements files and of the Python it was made with; when they still
# match and the tools are there, the script does nothing. A changed
# requirements file makes pip install it again into the same virtualenv; a
# changed or broken Python makes a new virtualenv.
#
# PYTHON=/path/to/python3 picks the interpreter (default: python3.11, else
# python3; 3.9 or newer).
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:-dev}
case "$kind" in
# req: the file pip installs.
dev)
    venv=.venv
    req=requirements-dev.txt
    tools=(moto_server cfn-lint sam cargo-lambda)
    ;;
moto)
    venv=.venv
    req=requirements-moto.txt
    tools=(moto_server)
    ;;
checkov)
    venv=.venv-checkov
    req=requirements-checkov.txt
    tools=(checkov)
    ;;
*)
    echo "usage: $0 [dev|moto|checkov]" >&2
    exit 2
    ;;
esac

die() {
    echo "venv.sh: $*" >&2
    exit 1
}

py=${PYTHON:-}
if [[ -z "$py" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then
        py=python3.11
    elif command -v python3 >/dev/null 2>&1; then
        py=python3
    else
        die "no python3 found: on Debian/Ubuntu apt-get install python3 python3-venv (Python 3.9 or newer; the pins were checked with 3.11), or set PYTHON=/path/to/python3"
    fi
fi
command -v "$py" >/dev/null 2>&1 || die "PYTHON=$py: no such program"
"$py" -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
    die "$py is $("$py" --version 2>&1); aws-sam-cli and checkov need Python 3.9 or newer (set PYTHON=...)"
"$py" -c 'import venv, ensurepip' 2>/dev/null ||
    die "$py cannot create virtualenvs (module venv/ensurepip missing); on Debian/Ubuntu: apt-get install python3-venv"

py_id=$("$py" -c 'import sys; print(sys.version)')
# files_of KIND: the requirements files pip reads for it (with -r includes);
# stamp_of KIND: where its stamp lives; want_of KIND: what the stamp must say.
files_of() {
    case $1 in
    dev) echo requirements-dev.txt requirements-moto.txt ;;
    moto) echo requirements-moto.txt ;;
    checkov) echo requirements-checkov.txt ;;
    esac
}
stamp_of() {
    case $1 in
    moto) echo "$venv/.requirements-moto.sha256" ;;
    *) echo "$venv/.requirements.sha256" ;;
    esac
}
want_of() {
    local files
    read -ra files <<<"$(files_of "$1")"
    {
        sha256sum "${files[@]}"
        echo "$py_id"
    } | sha256sum | cut -d' ' -f1
}
for f in $(files_of "$kind"); do
    [[ -f "$f" ]] || die "$f is missing (run from a complete checkout)"
done
want=$(want_of "$kind")
stamp=$(stamp_of "$kind")

# One writer at a time (make -j, two terminals).
exec 9>"$venv.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi

up_to_date() {
    [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] || return 1
    "$venv/bin/python" -c 'pass' 2>/dev/null || return 1
    local t
    for t in "${tools[@]}"; do
        [[ -x "$venv/bin/$t" ]] || return 1
    done
}

if up_to_date; then
    echo "venv.sh: $venv is up to date with $req"
    exit 0
fi

start=$SECONDS
if [[ -d "$venv" ]]; then
    venv_py_id=$("$venv/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null || true)
    if [[ "$venv_py_id" != "$py_id" ]]; then
        echo "venv.sh: $venv was made with another or a broken Python; recreating it"
        rm -rf "$venv"
    fi
fi
if [[ ! -d "$venv" ]]; then
    echo "venv.sh: creating $venv with $py ($("$py" --version 2>&1))"
    "$py" -m venv "$venv"
fi
echo "venv.sh: installing $req into $venv"
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet --requirement "$req" ||
    die "pip could not install $req into $venv (it needs PyPI, or a mirror set with PIP_INDEX_URL); see pip's message above"
for t in "${tools[@]}"; do
    [[ -x "$venv/bin/$t" ]] || die "$req installed, but $venv/bin/$t is missing"
done
echo "$want" >"$stamp"
# dev installs requirements-moto.txt too (-r): that stamp holds as well.
if [[ $kind == dev ]]; then
    want_of moto >"$(stamp_of moto)"
fi
echo "venv.sh: $venv ready in $((SECONDS - start)) s"

#!/usr/bin/env bash
# The README's test command. On a fresh machine it installs everything the suite needs (virtual
# environments, Python packages, and the Debian/npm packages of the local test servers), then runs
# ruff, mypy and the whole suite on Django 5.2, plus unit + conformance tests on Django 4.2 and on
# the newest Django (with the newest Python the machine has, 3.12 or later).
# Every step is idempotent: a second run only re-installs what changed.
#
#   scripts/test.sh          everything
#   scripts/test.sh lint     ruff + mypy only
#   scripts/test.sh unit     unit tests only (fast, no servers)
#   scripts/test.sh -- ARGS  the Django 5.2 suite with extra pytest arguments
#   scripts/test.sh docs     build the documentation into docs/_build/html
#   scripts/test.sh demo     the example site (example/), see the README
#   scripts/test.sh bench [ARGS]  the benchmarks (benchmarks/run.py; ARGS e.g. --scale 0.1), with
#                                 django-storages beside us (.venv-peer) and charts in the docs
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

# Build (or refresh) a virtualenv with the project, its extras and one Django line.
ensure_venv() {
    local dir=$1 django=$2 python=${3:-$PY}
    local stamp="$dir/.stowage-stamp"
    local want
    want=$(cat pyproject.toml scripts/test.sh | sha256sum | cut -c1-16)-$django-$python
    if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return
    fi
    echo "==> preparing $dir ($django)"
    [ -x "$dir/bin/python" ] || "$python" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip
    "$dir/bin/python" -m pip install -q -e ".[all,dev]" "$django"
    echo "$want" >"$stamp"
}

ensure_venv .venv "django~=5.2.0"

# The benchmarks' peer: django-storages in a virtualenv of its own (both packages import as
# `storages`), never a dependency of ours, with the SDK versions of .venv (so both sides run the
# same SDK code) and matplotlib for the charts.
PEER_VERSION="1.14.6"
ensure_peer_venv() {
    local dir=.venv-peer
    local constraints
    constraints=$(mktemp)
    .venv/bin/python -m pip freeze --exclude-editable | grep -v -e ' @ ' -e '^-e ' >"$constraints"
    local want
    want=$(cat "$constraints" scripts/test.sh | sha256sum | cut -c1-16)-$PEER_VERSION-$PY
    if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.stowage-stamp" 2>/dev/null)" = "$want" ]; then
        rm -f "$constraints"
        return
    fi
    echo "==> preparing $dir (django-storages $PEER_VERSION)"
    [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip
    "$dir/bin/python" -m pip install -q -c "$constraints" \
        "django-storages[s3,azure,google,dropbox,sftp,libcloud]==$PEER_VERSION" "django~=5.2.0" \
        boto3 azure-storage-blob google-cloud-storage paramiko dropbox apache-libcloud matplotlib
    rm -f "$constraints"
    echo "$want" >"$dir/.stowage-stamp"
}

# The newest Django release needs Python 3.12 or later: the first one found here.
newest_python() {
    local candidate
    local pyenv=${PYENV_ROOT:-$HOME/.pyenv}/versions
    for candidate in python3.13 python3.12 "$pyenv"/3.13*/bin/python "$pyenv"/3.12*/bin/python \
        /usr/bin/python3.13 /usr/bin/python3.12; do
        if "$candidate" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then
            command -v "$candidate"
            return
        fi
    done
}
NEWEST_DJANGO="django~=6.1.0"
mode=${1:-all}

run_lint() {
    echo "==> ruff"
    .venv/bin/ruff check src tests scripts benchmarks example
    .venv/bin/ruff format --check --quiet src tests scripts benchmarks example
    echo "==> mypy (strict on src/)"
    .venv/bin/mypy
}

run_docs() {
    echo "==> docs (Sphinx, warnings are errors)"
    .venv/bin/sphinx-build -W -q -b html docs docs/_build/html
}

case "$mode" in
lint)
    run_lint
    ;;
docs)
    run_docs
    ;;
unit)
    .venv/bin/python -m pytest -q tests/unit
    ;;
demo)
    cd example
    exec ../.venv/bin/python manage.py demo
    ;;
bench)
    shift
    ./scripts/install-servers.sh
    ensure_peer_venv
    .venv/bin/python -m benchmarks.run --docs "$@"
    ;;
--)
    shift
    ./scripts/install-servers.sh
    .venv/bin/python -m pytest "$@"
    ;;
all)
    ./scripts/install-servers.sh
    ensure_venv .venv-dj42 "django~=4.2.0"
    run_lint
    run_docs
    echo "==> tests on Django $(.venv/bin/python -c 'import django; print(django.__version__)')"
    CI=${CI:-true} .venv/bin/python -m pytest -q tests
    echo "==> unit + conformance on Django $(.venv-dj42/bin/python -c 'import django; print(django.__version__)')"
    CI=${CI:-true} .venv-dj42/bin/python -m pytest -q tests/unit tests/conformance
    newest=$(newest_python)
    if [ -n "$newest" ]; then
        ensure_venv .venv-newest "$NEWEST_DJANGO" "$newest"
        echo "==> unit + conformance on Django $(.venv-newest/bin/python -c 'import django; print(django.__version__)') (Python $("$newest" -c 'import platform; print(platform.python_version())'))"
        CI=${CI:-true} .venv-newest/bin/python -m pytest -q tests/unit tests/conformance
    else
        echo "!!  no Python 3.12+ on this machine: the newest Django ($NEWEST_DJANGO) was not tested" >&2
    fi
    echo "==> all green"
    ;;
*)
    echo "unknown mode: $mode" >&2
    exit 2
    ;;
esac

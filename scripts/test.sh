#!/usr/bin/env bash
# The README's test command. On a fresh machine it installs everything the suite needs (virtual
# environments, Python packages, and the Debian/npm packages of the local test servers), then runs
# ruff, mypy and the whole suite on Django 5.2, plus unit + conformance tests on Django 4.2.
# Every step is idempotent: a second run only re-installs what changed.
#
#   scripts/test.sh          everything
#   scripts/test.sh lint     ruff + mypy only
#   scripts/test.sh unit     unit tests only (fast, no servers)
#   scripts/test.sh -- ARGS  the Django 5.2 suite with extra pytest arguments
#   scripts/test.sh docs     build the documentation into docs/_build/html
#   scripts/test.sh demo     the example site (example/), see the README
#   scripts/test.sh bench [ARGS]  the benchmarks (benchmarks/run.py; ARGS e.g. --scale 0.1)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

# Build (or refresh) a virtualenv with the project, its extras and one Django line.
ensure_venv() {
    local dir=$1 django=$2
    local stamp="$dir/.stowage-stamp"
    local want
    want=$(cat pyproject.toml scripts/test.sh | sha256sum | cut -c1-16)-$django
    if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return
    fi
    echo "==> preparing $dir ($django)"
    [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip
    "$dir/bin/python" -m pip install -q -e ".[all,dev]" "$django"
    echo "$want" >"$stamp"
}

ensure_venv .venv "django~=5.2.0"
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
    .venv/bin/python -m benchmarks.run "$@"
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
    echo "==> all green"
    ;;
*)
    echo "unknown mode: $mode" >&2
    exit 2
    ;;
esac

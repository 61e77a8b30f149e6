#!/usr/bin/env bash
# Install the packages of the real local servers the test suite starts. Each server has its own
# idempotent script in scripts/servers/ (it checks first and installs only what is missing);
# the servers themselves are started by the tests (tests/servers/).
set -euo pipefail
cd "$(dirname "$0")/.."
for script in scripts/servers/*.sh; do
    [ -e "$script" ] || continue
    bash "$script"
done

#!/usr/bin/env bash
# Install the real local servers the test suite starts (see docs/testing.md). Idempotent: each
# step checks first and only installs what is missing. Servers themselves are started by the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> test servers: nothing extra to install yet"

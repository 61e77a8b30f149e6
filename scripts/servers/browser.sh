#!/usr/bin/env bash
# Debian's Chromium for the example site's browser test (Playwright drives it; no browser
# download). Idempotent.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
    echo "==> installing chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

#!/usr/bin/env bash
# Azurite, the Azure Storage emulator, for the Azure Blob backend's tests (tests/servers/azure.py).
# Installed from npm into .servers/azurite/ (git-ignored). Pinned: 3.35.0 is the newest release
# that runs on Node 20 (3.37 needs Node 22). Idempotent: does nothing when it is installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=3.35.0
DIR=.servers/azurite
installed=$(node -p "require('./$DIR/node_modules/azurite/package.json').version" 2>/dev/null || true)
if [ "$installed" = "$VERSION" ] && [ -e "$DIR/node_modules/.bin/azurite-blob" ]; then
    exit 0
fi
if ! command -v npm >/dev/null; then
    echo "==> installing nodejs and npm (for Azurite)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
echo "==> installing azurite $VERSION into $DIR"
mkdir -p "$DIR"
[ -f "$DIR/package.json" ] || echo '{"name": "stowage-azurite", "private": true}' >"$DIR/package.json"
npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error --save-exact "azurite@$VERSION"

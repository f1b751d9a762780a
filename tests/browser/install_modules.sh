#!/usr/bin/env bash
# Installs the npm packages of tests/browser/package-lock.json (playwright-core, which drives
# Debian's Chromium; no browser is downloaded) with `npm ci` into WORK_DIR/node_modules, once per
# lockfile and node version: later runs reuse them without touching the network.
# Usage: install_modules.sh WORK_DIR. Fails (never skips) naming what is missing: ./dev installs
# chromium, node and npm.
set -euo pipefail
WORK_DIR=${1:?usage: install_modules.sh WORK_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
command -v node >/dev/null 2>&1 || fail "node not found: install Debian's nodejs (./dev test does)"
command -v npm >/dev/null 2>&1 || fail "npm not found: install Debian's npm (./dev test does)"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 18 ] || fail "node $(node --version) is older than 18 (Debian 12 has 18)"

mkdir -p "$WORK_DIR"
STAMP="$(cat "$HERE/package.json" "$HERE/package-lock.json" "$HERE/.npmrc" | sha256sum | cut -d' ' -f1) node $(node --version)"
exec 9>"$WORK_DIR/.lock"
flock -w 600 9 || fail "$WORK_DIR is locked by another run for 10 minutes"
if [ "$(cat "$WORK_DIR/.installed" 2>/dev/null)" != "$STAMP" ] || [ ! -d "$WORK_DIR/node_modules" ]; then
  rm -rf "$WORK_DIR/node_modules" "$WORK_DIR/.installed"
  cp "$HERE/package.json" "$HERE/package-lock.json" "$HERE/.npmrc" "$WORK_DIR/"
  echo "npm ci (tests/browser/package-lock.json) into $WORK_DIR"
  if ! (cd "$WORK_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 400 npm ci --no-audit --no-fund --prefer-offline \
          --loglevel=error) >"$TMP/npm.log" 2>&1; then
    cat "$TMP/npm.log" >&2
    fail "npm ci failed (see above): the browser test needs playwright-core from the npm registry once per build tree"
  fi
  echo "$STAMP" >"$WORK_DIR/.installed"
fi

#!/usr/bin/env bash
# ctest `ops_schemas`: validates k8s/ and docker/ against the schemas of the tools that read them
# (schemas/validate_ops.js says how), after proving each validator rejects broken copies.
# Usage: check_ops_schemas.sh SOURCE_DIR [WORK_DIR]
#   - installs the npm packages of schemas/package-lock.json with `npm ci` into
#     WORK_DIR/node_modules (default SOURCE_DIR/.cache/ops-schemas), once per lockfile and node
#     version: later runs reuse them without touching the network;
#   - renders k8s/base and every overlay with `kubectl kustomize`;
#   - runs schemas/validate_ops.js on the renderings, the Secret template, docker/compose.yaml and
#     docker/Dockerfile.
# Exits 77 (ctest: skipped) only when a tool cannot be had: kubectl (1.21+), node or npm not
# installed (./dev installs them; Debian 12's kubectl 1.20 is too old to render k8s/), or the npm
# registry unreachable. Every other problem fails, a kustomize warning included.
set -euo pipefail
ROOT=$(cd "${1:?usage: check_ops_schemas.sh SOURCE_DIR [WORK_DIR]}" && pwd)
WORK_DIR=${2:-$ROOT/.cache/ops-schemas}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

skip() { echo "SKIP: $*"; exit 77; }
command -v kubectl >/dev/null 2>&1 || skip "kubectl not found (Debian package kubernetes-client, which ./dev installs): nothing validated"
# shellcheck source=render_k8s.sh
. "$HERE/render_k8s.sh"
if too_old=$(kustomize_too_old); then skip "$too_old: nothing validated"; fi
command -v node >/dev/null 2>&1 || skip "node not found (Debian package nodejs, which ./dev installs): nothing validated"
command -v npm >/dev/null 2>&1 || skip "npm not found (Debian package npm, which ./dev installs): nothing validated"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 18 ] || skip "node $(node --version) is older than 18 (Debian 12 has 18): nothing validated"

# npm ci, unless this lockfile was already installed with this node. flock keeps two test runs
# from installing into the same folder at once.
mkdir -p "$WORK_DIR"
STAMP="$(cat "$HERE/schemas/package.json" "$HERE/schemas/package-lock.json" "$HERE/schemas/.npmrc" | sha256sum | cut -d' ' -f1) node $(node --version)"
exec 9>"$WORK_DIR/.lock"
flock -w 600 9 || { echo "FAIL: $WORK_DIR is locked by another run for 10 minutes"; exit 1; }
if [ "$(cat "$WORK_DIR/.installed" 2>/dev/null)" != "$STAMP" ] || [ ! -d "$WORK_DIR/node_modules" ]; then
  rm -rf "$WORK_DIR/node_modules" "$WORK_DIR/.installed"
  cp "$HERE/schemas/package.json" "$HERE/schemas/package-lock.json" "$HERE/schemas/.npmrc" "$WORK_DIR/"
  echo "npm ci (tests/ops/schemas/package-lock.json) into $WORK_DIR"
  if ! (cd "$WORK_DIR" && timeout 400 npm ci --no-audit --no-fund --prefer-offline --loglevel=error) >"$TMP/npm.log" 2>&1; then
    cat "$TMP/npm.log"
    # Unreachable, or reachable only through TLS this machine does not trust: cannot be installed.
    if grep -qE 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|CERT|network' "$TMP/npm.log"; then
      skip "the npm registry cannot be reached, so the validators cannot be installed: nothing validated"
    fi
    echo "FAIL: npm ci failed (see above)"
    exit 1
  fi
  echo "$STAMP" >"$WORK_DIR/.installed"
fi
flock -u 9

render_k8s "$ROOT" "$TMP/rendered" || exit 1
args=()
for f in "$TMP"/rendered/*.yaml; do
  name=$(basename "$f" .yaml)
  args+=(--k8s "${name//__//}=$f")
done
args+=(--k8s "base/secret.example.yaml=$ROOT/k8s/base/secret.example.yaml")
timeout 120 node "$HERE/schemas/validate_ops.js" --modules "$WORK_DIR/node_modules" "${args[@]}" \
  --compose "$ROOT/docker/compose.yaml" --dockerfile "$ROOT/docker/Dockerfile"

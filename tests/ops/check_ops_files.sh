#!/usr/bin/env bash
# ctest `ops_files`: checks k8s/ and docker/ without a cluster or a Docker engine (files are
# checked, not run). Usage: check_ops_files.sh SOURCE_DIR [DATAREFRESH_BINARY]
#   - check_ops_files.py: parsing, copies in sync, metric names and labels, Dockerfile packages
#     against ./dev and the binary, compose and Kubernetes wiring, `datarefresh check-config` of the
#     configuration each service gets (when the binary is there);
#   - `kubectl kustomize k8s` renders (when kubectl is installed);
#   - promtool: check rules (both copies), test rules (alerts_test.yaml), check config
#     (docker/monitoring/prometheus.yml). Without promtool (Debian package prometheus) the test
#     exits 77, which ctest reports as skipped, after the other checks ran.
set -euo pipefail
ROOT=$(cd "${1:?usage: check_ops_files.sh SOURCE_DIR [DATAREFRESH_BINARY]}" && pwd)
BINARY=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

PYTHON=
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import yaml' 2>/dev/null; then
    PYTHON=$candidate
    break
  fi
done
[ -n "$PYTHON" ] || { echo "FAIL: no python3 with the yaml module (Debian package python3-yaml)"; exit 1; }

args=(--root "$ROOT")
if [ -n "$BINARY" ] && [ -x "$BINARY" ]; then args+=(--binary "$BINARY"); fi
if command -v kubectl >/dev/null 2>&1; then
  if ! kubectl kustomize "$ROOT/k8s" >"$WORK/rendered.yaml" 2>"$WORK/kustomize.err"; then
    echo "FAIL: kubectl kustomize k8s:"; cat "$WORK/kustomize.err"; exit 1
  fi
  echo "kubectl kustomize k8s: rendered $(grep -c '^kind:' "$WORK/rendered.yaml") objects"
  args+=(--rendered "$WORK/rendered.yaml")
else
  echo "note: kubectl not found: the kustomization is checked file by file, not rendered"
fi
"$PYTHON" "$HERE/check_ops_files.py" "${args[@]}"

if ! command -v promtool >/dev/null 2>&1; then
  echo "SKIP: promtool not found (Debian package prometheus, which ./dev installs): alert rules and prometheus.yml not checked"
  exit 77
fi
promtool check rules "$ROOT/k8s/monitoring/alerts.yaml" "$ROOT/docker/monitoring/alerts.yaml"
promtool test rules "$HERE/alerts_test.yaml"
promtool check config "$ROOT/docker/monitoring/prometheus.yml"
echo "ops files: every check passed"

#!/usr/bin/env bash
# ctest `ops_files`: checks k8s/ and docker/ without a cluster or a Docker engine (files are
# checked, not run). Usage: check_ops_files.sh SOURCE_DIR [DATAREFRESH_BINARY]
#   - `kubectl kustomize` renders k8s/base and every overlay under k8s/overlays (when kubectl 1.21+
#     is installed; ctest `ops_schemas` then validates every rendered object against its schema);
#     a rendering that warns (a deprecated field) fails;
#   - check_ops_files.py: parsing, the PrometheusRule generated from the alert rules, metric names
#     and labels, Dockerfile packages against ./dev and the binary, compose and Kubernetes wiring
#     (probes, ports, the planner's API, NetworkPolicies, KEDA bounds, overlays, grace periods),
#     no kustomize field that v5 deprecates, `datarefresh check-config` of the configuration each
#     service gets (when the binary is there);
#   - promtool: check rules, test rules (alerts_test.yaml), check config (docker/monitoring/
#     prometheus.yml with the rules where compose mounts them). Without promtool (Debian package
#     prometheus) the test exits 77, which ctest reports as skipped, after the other checks ran.
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
# shellcheck source=render_k8s.sh
. "$HERE/render_k8s.sh"
if command -v kubectl >/dev/null 2>&1 && too_old=$(kustomize_too_old); then
  echo "note: $too_old: the kustomization files are checked, the objects they render are not"
elif command -v kubectl >/dev/null 2>&1; then
  render_k8s "$ROOT" "$WORK/rendered" || exit 1
  for f in "$WORK"/rendered/*.yaml; do
    name=$(basename "$f" .yaml)
    args+=(--rendered "${name//__//}=$f")
  done
else
  echo "note: kubectl not found (Debian package kubernetes-client, which ./dev installs): the kustomization files are checked, the objects they render are not"
fi
"$PYTHON" "$HERE/check_ops_files.py" "${args[@]}"

if ! command -v promtool >/dev/null 2>&1; then
  echo "SKIP: promtool not found (Debian package prometheus, which ./dev installs): alert rules and prometheus.yml not checked"
  exit 77
fi
promtool check rules "$ROOT/k8s/monitoring/alerts.yaml"
promtool test rules "$HERE/alerts_test.yaml"
# prometheus.yml as compose lays it out: the rules beside it, mounted from k8s/monitoring.
mkdir "$WORK/prometheus"
cp "$ROOT/docker/monitoring/prometheus.yml" "$ROOT/k8s/monitoring/alerts.yaml" "$WORK/prometheus/"
promtool check config "$WORK/prometheus/prometheus.yml"
echo "ops files: every check passed"

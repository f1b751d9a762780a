# Sourced by check_ops_files.sh and check_ops_schemas.sh.
# render_k8s ROOT OUT: renders k8s/base and every k8s/overlays/* with the installed
# `kubectl kustomize` into OUT/base.yaml, OUT/overlays__staging.yaml, ...; prints one line per
# rendering, and kubectl's errors and returns 1 if one fails. kustomize v5 warns on stderr about the
# fields kept for kubectl 1.20 (bases, patchesStrategicMerge): those warnings are dropped.
render_k8s() {
  local root=$1 out=$2 dir name
  mkdir -p "$out"
  for dir in "$root/k8s/base" "$root"/k8s/overlays/*/; do
    dir=${dir%/}
    name=${dir#"$root/k8s/"}
    if ! timeout 60 kubectl kustomize "$dir" >"$out/${name//\//__}.yaml" 2>"$out/${name//\//__}.err"; then
      echo "FAIL: kubectl kustomize k8s/$name:"
      cat "$out/${name//\//__}.err"
      return 1
    fi
    rm -f "$out/${name//\//__}.err"
    echo "kubectl kustomize k8s/$name: $(grep -c '^kind:' "$out/${name//\//__}.yaml") objects"
  done
}

# Sourced by check_ops_files.sh and check_ops_schemas.sh.
# kustomize_too_old: prints why the installed kubectl cannot render k8s/ and returns 0 when its
# kustomize predates v4 (kubectl 1.20, Debian 12's kubernetes-client, embeds v2.0.3: no directories
# under `resources`, no `patches`); returns 1 when it can.
kustomize_too_old() {
  local minor
  minor=$(kubectl version --client -o json 2>/dev/null | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' | head -n1)
  if [ -z "$minor" ] || [ "$minor" -lt 21 ]; then
    echo "kubectl $(kubectl version --client 2>/dev/null | head -n1) embeds a kustomize older than v4, which cannot read k8s/ (directories under resources, patches): install kubectl 1.21 or later"
    return 0
  fi
  return 1
}

# render_k8s ROOT OUT: renders k8s/base and every k8s/overlays/* with the installed
# `kubectl kustomize` into OUT/base.yaml, OUT/overlays__staging.yaml, ...; prints one line per
# rendering. Returns 1, printing kubectl's output, if one fails or writes anything on stderr: a
# warning (a deprecated field, say) is a failure too, so that none creeps back in.
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
    if [ -s "$out/${name//\//__}.err" ]; then
      echo "FAIL: kubectl kustomize k8s/$name wrote warnings (fix the kustomization; 'kustomize edit fix' rewrites deprecated fields):"
      cat "$out/${name//\//__}.err"
      return 1
    fi
    rm -f "$out/${name//\//__}.err"
    echo "kubectl kustomize k8s/$name: $(grep -c '^kind:' "$out/${name//\//__}.yaml") objects"
  done
}

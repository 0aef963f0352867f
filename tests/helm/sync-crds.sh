#!/usr/bin/env bash
# Keeps the Helm chart's CRD templates in step with crds/, the one source of truth for the API.
#
#   tests/helm/sync-crds.sh          regenerate helm/bursar/templates/crds/ from crds/*.yaml
#   tests/helm/sync-crds.sh --check  exit 1, with the diff and the command to fix it, when the
#                                    chart's copies differ from what crds/ would generate
#
# Helm templates cannot read files outside the chart, so the chart holds generated copies. Each
# copy is its source byte for byte, plus three things: a header saying where it came from, the
# `{{- if .Values.crds.enabled }}` guard around it, and `helm.sh/resource-policy: keep` inserted
# as the first key under metadata when `.Values.crds.keep` (Helm then leaves the CRD — and so
# every ComputeBudget — in place on `helm uninstall`). A source that already has
# metadata.annotations, or that contains "{{" (Helm would read it as template syntax), is
# refused rather than silently mangled.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SRC=$REPO/crds
DEST=$REPO/helm/bursar/templates/crds
FIX="tests/helm/sync-crds.sh"

die() {
  printf 'helm/sync-crds: error: %s\n' "$*" >&2
  exit 1
}

# generate SOURCE — prints the chart template for one CRD file.
generate() {
  local src=$1 rel=crds/${1##*/}
  grep -q '{{' "$src" && die "$rel contains '{{', which Helm would treat as template syntax"
  # The first "metadata:" at column 0 is the object's; the annotation goes right below it.
  awk -v rel="$rel" -v fix="$FIX" '
    BEGIN {
      print "{{- /* Generated from " rel " by " fix ": do not edit; edit " rel " and re-run. */}}"
      print "{{- if .Values.crds.enabled }}"
    }
    in_meta && /^  annotations:/ { bad = 1 }
    in_meta && /^[^ #]/ { in_meta = 0 }
    { print }
    !done && /^metadata:[[:space:]]*$/ {
      print "  {{- if .Values.crds.keep }}"
      print "  annotations:"
      print "    helm.sh/resource-policy: keep"
      print "  {{- end }}"
      done = 1
      in_meta = 1
    }
    END {
      print "{{- end }}"
      if (!done) { print "no top-level metadata: line in " rel > "/dev/stderr"; exit 2 }
      if (bad) { print rel " already has metadata.annotations; teach " fix " to merge them" > "/dev/stderr"; exit 3 }
    }
  ' "$src" || die "cannot generate the chart copy of $rel"
}

check=0
case ${1:-} in
  --check) check=1 ;;
  "") ;;
  *) die "unknown option '$1'; usage: sync-crds.sh [--check]" ;;
esac

shopt -s nullglob
sources=("$SRC"/*.yaml)
((${#sources[@]} > 0)) || die "no CRDs in $SRC"

if ((check == 0)); then
  mkdir -p "$DEST"
  rm -f "$DEST"/*.yaml
  for src in "${sources[@]}"; do
    generate "$src" >"$DEST/${src##*/}"
  done
  echo "helm/sync-crds: wrote ${#sources[@]} CRD templates to helm/bursar/templates/crds/" >&2
  exit 0
fi

# --check: generate into a scratch folder and compare the whole folder (extra or missing files
# count as drift too).
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for src in "${sources[@]}"; do
  generate "$src" >"$scratch/${src##*/}"
done
if ! diff -ru "$DEST" "$scratch" >"$scratch.diff" 2>&1; then
  # Relabel the sides so the diff reads "chart copy" vs "generated from crds/".
  sed -e "s#$scratch#generated-from-crds#g" -e "s#$REPO/##g" "$scratch.diff" >&2
  rm -f "$scratch.diff"
  echo "helm/sync-crds: helm/bursar/templates/crds/ differs from crds/ (diff above: - chart, + crds/)." >&2
  echo "helm/sync-crds: fix it with: $FIX" >&2
  exit 1
fi
rm -f "$scratch.diff"

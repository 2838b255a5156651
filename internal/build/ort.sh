#!/usr/bin/env bash
# onnxruntime for linux x64 and arm64 into .cache/onnxruntime/, unless there
# and as expected (part of ./build.sh deps).
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

# The official CPU builds of onnxruntime for linux x64 and arm64 ship inside
# the npm package onnxruntime-node; the npm registry is the one source we have.
fetch_ort() (
  if ort_ok x64 && ort_ok arm64; then
    exit 0
  fi
  command -v npm >/dev/null || die "npm is needed to fetch onnxruntime ($ORT_NPM_PACKAGE): apt-get install npm"
  say "fetching onnxruntime $ORT_VERSION from the npm package $ORT_NPM_PACKAGE"
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$ORT_NPM_PACKAGE" >/dev/null) || die "npm pack $ORT_NPM_PACKAGE failed (is the npm registry reachable?)"
  local arch want got
  for arch in x64 arm64; do
    tar -xzf "$tmp"/onnxruntime-node-*.tgz -C "$tmp" "package/bin/napi-v6/linux/$arch/libonnxruntime.so.1" ||
      die "$ORT_NPM_PACKAGE has no bin/napi-v6/linux/$arch/libonnxruntime.so.1"
    want=$(ort_sha256 "$arch")
    got=$(sha256sum "$tmp/package/bin/napi-v6/linux/$arch/libonnxruntime.so.1" | cut -d' ' -f1)
    [ "$got" = "$want" ] || die "libonnxruntime.so.1 ($arch) from $ORT_NPM_PACKAGE has sha256 $got, expected $want: refusing it"
    install -D -m 0644 "$tmp/package/bin/napi-v6/linux/$arch/libonnxruntime.so.1" "$(ort_lib "$arch")"
  done
  say "onnxruntime $ORT_VERSION in $ORT_DIR"
)

fetch_ort "$@"

#!/usr/bin/env bash
# ./build.sh bundle [--arch arm64|x64] [--model DIR]: the tarball to copy to a machine.
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

# What to copy to a machine: hrmd, the official CPU onnxruntime (the fallback:
# a Jetson wants a TensorRT build, see onnxruntime.library), the unit files,
# install.sh, optionally a model, and SHA256SUMS that install.sh checks.
cmd_bundle() (
  local arch=arm64 model=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --arch) need_value "$1" "${2:-}"; arch=$2; shift 2 ;;
      --model) need_value "$1" "${2:-}"; model=$(from_caller "$2"); shift 2 ;;
      *) die "bundle: unknown argument $1 (./build.sh bundle [--arch arm64|x64] [--model DIR])" ;;
    esac
  done
  check_bundle_args "$arch" "$model"
  local bin
  case "$arch" in
    arm64) job cross; bin=bin/linux-arm64/hrmd ;;
    x64) job build; bin=bin/hrmd ;;
  esac
  ort_ok "$arch" || die "$(ort_lib "$arch") is missing or not the one expected: run ./build.sh deps"
  local name out tmp
  name=$(bundle_name "$arch")
  out=dist/$name.tar.gz
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp" "$out.part"' EXIT
  say "bundling $name"
  bundle_tree "$tmp/$name" "$arch" "$bin" "$model"
  bundle_tar "$tmp" "$name" "$out"
  say "$out ($(du -h --apparent-size "$out" | cut -f1))"
)

# bundle_tree TOP ARCH BINARY MODEL: the bundle's files in the folder TOP,
# with their SHA256SUMS.
bundle_tree() {
  local top=$1 arch=$2 bin=$3 model=$4
  install -D -m 0755 "$bin" "$top/bin/hrmd"
  install -D -m 0644 "$(ort_lib "$arch")" "$top/lib/libonnxruntime.so.1"
  install -m 0755 systemd/install.sh "$top/install.sh"
  install -m 0644 systemd/hrmd.service systemd/hrmd.tmpfiles systemd/hrmd.yaml systemd/grafana-dashboard.json "$top/"
  if [ -n "$model" ]; then
    mkdir -p "$top/models"
    cp -RL "$model" "$top/models/default"
    find "$top/models" -type f -exec chmod 0644 {} +
  fi
  # The same modes whatever the umask.
  find "$top" -type d -exec chmod 0755 {} +
  (cd "$top" && find . -type f ! -path ./SHA256SUMS -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum >SHA256SUMS)
  chmod 0644 "$top/SHA256SUMS"
}

# bundle_tar DIR NAME OUT: DIR/NAME as the tarball OUT, the same bytes for
# the same files.
bundle_tar() {
  local dir=$1 name=$2 out=$3 mtime
  # The last commit's time, so the same commit gives the same tarball.
  mtime=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
  mkdir -p dist
  tar --sort=name --mtime="@$mtime" --owner=0 --group=0 --numeric-owner --format=gnu -C "$dir" -cf - "$name" |
    gzip -n >"$out.part"
  mv "$out.part" "$out"
}

cmd_bundle "$@"

#!/usr/bin/env bash
# ./build.sh deb [--arch arm64|amd64] [--model DIR]: the Debian packages.
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

# .deb packages for JetPack 6 (arm64) and Debian or Ubuntu (amd64), declared
# in systemd/deb/ and made by deb-package.sh; lintian checks them where it is
# installed (apt-get install lintian).
cmd_deb() {
  local model=engine/models/demo arch
  local -a arches=(arm64 amd64) debs=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --arch) need_value "$1" "${2:-}"; arches=("$2"); shift 2 ;;
      --model) need_value "$1" "${2:-}"; model=$(from_caller "$2"); shift 2 ;;
      *) die "deb: unknown argument $1 (./build.sh deb [--arch arm64|amd64] [--model DIR])" ;;
    esac
  done
  check_bundle_args x64 "$model"
  for arch in "${arches[@]}"; do
    case "$arch" in
      arm64) job cross ;;
      amd64) job build ;;
      *) die "deb --arch $arch: arm64 (the Jetson) or amd64" ;;
    esac
    debs+=("$(deb_package "$arch" "$model")")
  done
  if command -v lintian >/dev/null; then
    say "lintian ${debs[*]}"
    lintian --fail-on error,warning "${debs[@]}" ||
      die "lintian finds fault with the packages (above): fix it, or explain it in systemd/deb/lintian-overrides"
  else
    say "SKIPPED lintian: not installed (apt-get install lintian)"
  fi
  say "${debs[*]}"
}

cmd_deb "$@"

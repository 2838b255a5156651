# shellcheck shell=bash
# What every job of build.sh shares, sourced by each script in internal/build/
# before anything else: it moves to the repository root (remembering where the
# command was given), pins onnxruntime, and holds the helpers.
CALLER_DIR=$PWD # paths given on the command line are relative to it
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
ROOT=$PWD

ORT_VERSION=1.30.0
ORT_NPM_PACKAGE=onnxruntime-node@$ORT_VERSION
CACHE=$ROOT/.cache
ORT_DIR=$CACHE/onnxruntime/$ORT_VERSION
PY=/usr/bin/python3 # Debian's, with python3-torch and python3-onnx (not the python3 first on PATH)
export PATH="$CACHE/bin:$PATH"
# Go's own installer puts it here without touching PATH.
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
  export PATH="$PATH:/usr/local/go/bin"
fi

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# job NAME ARGS...: another of build.sh's commands (internal/build/NAME.sh),
# as ./build.sh NAME ARGS... runs it. deps runs once in a command: the jobs
# below one that ran it (./build.sh test runs build some dozen times, through
# torture, bundle and deploy) skip it.
job() {
  local name=$1
  shift
  if [ "$name" = deps ] && [ -n "${HRMD_BUILD_DEPS_DONE:-}" ]; then
    return 0
  fi
  "$ROOT/internal/build/$name.sh" "$@"
  [ "$name" != deps ] || export HRMD_BUILD_DEPS_DONE=1
}

host_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) die "no onnxruntime build for $(uname -m) in $ORT_NPM_PACKAGE (x86_64 and aarch64 only)" ;;
  esac
}

# sha256 of bin/napi-v6/linux/<arch>/libonnxruntime.so.1 in the npm package.
ort_sha256() {
  case "$1" in
    x64) echo ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23 ;;
    arm64) echo 1f549d46250b005580b597f4164984aaf75b3bcb9f3aeb07c7f8a8fe60b23c76 ;;
  esac
}

ort_lib() { echo "$ORT_DIR/linux-$1/libonnxruntime.so.1"; }

ort_ok() {
  local lib
  lib=$(ort_lib "$1")
  [ -f "$lib" ] && [ "$(sha256sum "$lib" | cut -d' ' -f1)" = "$(ort_sha256 "$1")" ]
}

# The version internal/tools/go.mod pins for the module $1 (a tool of ours).
tool_version() { awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$ROOT/internal/tools/go.mod"; }

have_torch() { [ -x "$PY" ] && "$PY" -c 'import torch, onnx, yaml' 2>/dev/null; }

version() { git describe --tags --always --dirty 2>/dev/null || echo dev; }

# A path from the command line, as seen from the repository root.
from_caller() {
  case "$1" in
    /*) echo "$1" ;;
    *) [ "$CALLER_DIR" = "$ROOT" ] && echo "$1" || echo "$CALLER_DIR/$1" ;;
  esac
}

# An option's value, or a stop that names the option.
need_value() { [ -n "${2:-}" ] || die "$1 needs a value (see ./build.sh help)"; }

# Words for a POSIX shell (dash on the far side of ssh reads these; bash's
# printf %q writes $'...', which dash does not).
shquote() {
  local s out=() IFS=' '
  for s in "$@"; do
    if [[ $s =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
      out+=("$s")
    else
      out+=("'${s//\'/\'\\\'\'}'")
    fi
  done
  printf '%s\n' "${out[*]}"
}

bundle_name() {
  local v
  v=$(version)
  echo "hrmd-${v//\//-}-linux-$1"
}

check_bundle_args() {
  case "$1" in
    arm64 | x64) ;;
    *) die "--arch $1: arm64 (the Jetson) or x64" ;;
  esac
  [ -z "$2" ] || [ -f "$2/hrm.yaml" ] || die "--model $2: there is no $2/hrm.yaml (a model bundle folder holds hrm.yaml, init.onnx and step.onnx)"
}

# write_proxies OUT "FORMAT ..." BUNDLE ...: OUT/<bundle folder's name>-<format>
# for each, by engine/export/simulate_precision.py.
write_proxies() {
  local into=$1 formats=$2 from format
  shift 2
  mkdir -p "$into"
  for from in "$@"; do
    for format in $formats; do
      "$PY" engine/export/simulate_precision.py --precision "$format" "$from" "$into/$(basename "$from")-$format" >/dev/null ||
        die "simulate_precision.py --precision $format $from failed (above)"
    done
  done
}

# deb_package ARCH MODEL: dist/hrmd_VERSION_ARCH.deb of the hrmd already
# built for ARCH (amd64: bin/hrmd; arm64: bin/linux-arm64/hrmd); prints its path.
deb_package() {
  local ort=x64 bin=bin/hrmd
  [ "$1" = amd64 ] || { ort=arm64; bin=bin/linux-arm64/hrmd; }
  ort_ok "$ort" || die "$(ort_lib "$ort") is missing or not the one expected: run ./build.sh deps"
  say "packaging hrmd for $1"
  "$ROOT/internal/build/deb-package.sh" --arch "$1" --bin "$bin" --ort "$(ort_lib "$ort")" --model "$2" --out dist
}

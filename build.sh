#!/usr/bin/env bash
# hrmd's one entry point for people and CI. `./build.sh help` lists the commands.
set -euo pipefail
CALLER_DIR=$PWD # paths given on the command line are relative to it
cd "$(dirname "$0")"
ROOT=$PWD

ORT_VERSION=1.30.0
ORT_NPM_PACKAGE=onnxruntime-node@$ORT_VERSION
# sha256 of bin/napi-v6/linux/<arch>/libonnxruntime.so.1 in that npm package
# (read as ${!want}, which shellcheck does not see).
# shellcheck disable=SC2034
ORT_SHA256_x64=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
# shellcheck disable=SC2034
ORT_SHA256_arm64=1f549d46250b005580b597f4164984aaf75b3bcb9f3aeb07c7f8a8fe60b23c76
STATICCHECK_VERSION=v0.8.2
# The JetStream server of the fleet test (issue 15): a binary built from
# source through the Go module proxy, not a dependency of hrmd's go.mod.
NATS_SERVER_VERSION=v2.15.3
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

host_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) die "no onnxruntime build for $(uname -m) in $ORT_NPM_PACKAGE (x86_64 and aarch64 only)" ;;
  esac
}

ort_lib() { echo "$ORT_DIR/linux-$1/libonnxruntime.so.1"; }

ort_ok() {
  local lib want
  lib=$(ort_lib "$1")
  want=ORT_SHA256_$1
  [ -f "$lib" ] && [ "$(sha256sum "$lib" | cut -d' ' -f1)" = "${!want}" ]
}

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
    want=ORT_SHA256_$arch
    got=$(sha256sum "$tmp/package/bin/napi-v6/linux/$arch/libonnxruntime.so.1" | cut -d' ' -f1)
    [ "$got" = "${!want}" ] || die "libonnxruntime.so.1 ($arch) from $ORT_NPM_PACKAGE has sha256 $got, expected ${!want}: refusing it"
    install -D -m 0644 "$tmp/package/bin/napi-v6/linux/$arch/libonnxruntime.so.1" "$(ort_lib "$arch")"
  done
  say "onnxruntime $ORT_VERSION in $ORT_DIR"
)

fetch_staticcheck() {
  if [ -x "$CACHE/bin/staticcheck" ] && [ "$(cat "$CACHE/bin/.staticcheck-version" 2>/dev/null)" = "$STATICCHECK_VERSION" ]; then
    return
  fi
  say "installing staticcheck $STATICCHECK_VERSION"
  GOBIN=$CACHE/bin go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
  echo "$STATICCHECK_VERSION" >"$CACHE/bin/.staticcheck-version"
}

fetch_nats_server() {
  if [ -x "$CACHE/bin/nats-server" ] && [ "$(cat "$CACHE/bin/.nats-server-version" 2>/dev/null)" = "$NATS_SERVER_VERSION" ]; then
    return
  fi
  say "installing nats-server $NATS_SERVER_VERSION (for the fleet test)"
  GOBIN=$CACHE/bin go install "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"
  echo "$NATS_SERVER_VERSION" >"$CACHE/bin/.nats-server-version"
}

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

cmd_deps() {
  command -v go >/dev/null || die "Go is needed: https://go.dev/doc/install (go 1.26 or newer)"
  fetch_ort
  go mod download
  fetch_staticcheck
  fetch_nats_server
}

cmd_build() {
  cmd_deps
  say "building bin/hrmd"
  CGO_ENABLED=1 go build -trimpath -ldflags "-X main.version=$(version)" -o bin/hrmd ./daemon/cmd/hrmd
}

cmd_fixtures() {
  have_torch || die "the exporter needs Debian's python3-torch, python3-onnx and python3-yaml: apt-get install python3-torch python3-onnx python3-yaml libopenblas0-pthread"
  say "regenerating engine/testdata/nova-tiny (tiny random nova, seed 1, with golden.json)"
  "$PY" engine/export/hrm_export.py --random tiny --seed 1 --out engine/testdata/nova-tiny
  say "regenerating engine/testdata/nova-zero (the same, its output forced to colour 0 whatever the input: Agent Zero)"
  "$PY" engine/export/hrm_export.py --random tiny --seed 1 --constant-output 0 --out engine/testdata/nova-zero
  say "regenerating engine/testdata/act-v1-tiny (tiny random sapient act-v1, seed 1, its 8-row puzzle table and golden.json)"
  "$PY" engine/export/hrm_export.py --family act-v1 --random tiny --seed 1 --out engine/testdata/act-v1-tiny
}

cmd_test() {
  cmd_deps
  export HRMD_ORT_LIB=${HRMD_ORT_LIB:-$(ort_lib "$(host_arch)")}
  say "gofmt"
  local unformatted
  unformatted=$(git ls-files -z --cached --others --exclude-standard '*.go' | xargs -0 -r gofmt -l)
  [ -z "$unformatted" ] || die "gofmt would change: $unformatted (run gofmt -w)"
  say "go mod tidy -diff"
  go mod tidy -diff || die "go.mod or go.sum is not tidy (the diff above): run go mod tidy and commit the result"
  say "go vet"
  go vet ./...
  say "staticcheck"
  staticcheck ./...
  local torch=""
  if have_torch; then
    torch=yes
  elif [ -n "${HRMD_REQUIRE_EXPORTER_TESTS:-}" ]; then
    die "the exporter tests must run here (HRMD_REQUIRE_EXPORTER_TESTS is set) but $PY lacks torch, onnx or yaml"
  fi
  if [ -n "$torch" ]; then
    # A full-size (6.95M) random nova bundle, exported afresh, with the PyTorch
    # reference for two inputs: the Go tests hold ONNX Runtime to it.
    local full=$CACHE/test/nova-full-random
    say "exporting a full-size random nova bundle with golden.json to $full"
    rm -rf "$full"
    "$PY" engine/export/hrm_export.py --random full --seed 1 --out "$full" --check-cases 2 >/dev/null
    export HRMD_FULL_BUNDLE=$full
    # The same for act-v1 (27.3M, 16 steps): one input, as each step costs 187 GFLOP.
    # test_act_v1.py holds its graphs to our module, the Go tests ONNX Runtime to its golden.json.
    local act_full=$CACHE/test/act-v1-full-random
    say "exporting a full-size random act-v1 bundle with golden.json to $act_full"
    rm -rf "$act_full"
    "$PY" engine/export/hrm_export.py --family act-v1 --random full --seed 1 --out "$act_full" --check-cases 1 >/dev/null
    export HRMD_ACT_FULL_BUNDLE=$act_full
    # Precision proxies (engine/export/simulate_precision.py): every tensor
    # stored as fp16 must pass hrmd verify, as e4m3 (fp8, the control) must
    # fail; the Go tests hold them to that (daemon/cmd/hrmd, TestVerifyProxies).
    local proxies=$CACHE/test/proxy
    say "writing precision proxies to $proxies: fp16 and fp8 of the demo and the tiny bundles, fp16 of the full-size ones"
    rm -rf "$proxies"
    write_proxies "$proxies" "fp16 fp8" engine/models/demo engine/testdata/nova-tiny engine/testdata/act-v1-tiny
    write_proxies "$proxies" fp16 "$full" "$act_full"
    export HRMD_PROXY_BUNDLES=$proxies
    [ -z "${HRMD_REQUIRE_EXPORTER_TESTS:-}" ] || export HRMD_REQUIRE_FULL_BUNDLE=1
  fi
  # The NATS cluster tests (internal/torture) start this nats-server.
  export HRMD_NATS_SERVER=$CACHE/bin/nats-server
  say "go test -race ./..."
  go test -race -count=1 ./...
  cmd_torture -short
  cmd_fleet_test
  if [ -n "$torch" ]; then
    say "exporter tests ($PY -m unittest discover -s engine/export)"
    "$PY" -m unittest discover -s engine/export || die "exporter tests failed"
  else
    say "SKIPPED the exporter tests and the full-size parity tests: $PY lacks torch, onnx or yaml (apt-get install python3-torch python3-onnx python3-yaml libopenblas0-pthread)"
  fi
  jetson_test "the arm64 smoke test under qemu" "gcc-aarch64-linux-gnu qemu-user-static" \
    cmd_qemu_smoke aarch64-linux-gnu-gcc qemu-aarch64-static unshare
  jetson_test "the deploy test over ssh" "openssh-server openssh-client file gcc-aarch64-linux-gnu util-linux" \
    cmd_deploy_test /usr/sbin/sshd ssh ssh-keygen file useradd systemd-tmpfiles aarch64-linux-gnu-gcc unshare
  jetson_test "the unit's sandbox and the .deb under a throwaway systemd" "systemd curl iproute2 adduser" \
    cmd_sandbox_test unshare findmnt curl ip useradd systemd-tmpfiles nsenter adduser
  say "all tests passed"
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

# The measurement behind the check's tau and delta (engine/checkjudge.go,
# docs/jetson.md "How fp16 was measured"): every bundle we have, stored in
# each format by a precision proxy, run through hrmd verify, as a table.
# -full adds the full-size random nova and act-v1 exports (minutes).
cmd_measure_precision() (
  have_torch || die "the precision proxy needs Debian's python3-onnx, python3-yaml (and python3-torch for -full): apt-get install python3-torch python3-onnx python3-yaml libopenblas0-pthread"
  cmd_build
  export HRMD_ORT_LIB=${HRMD_ORT_LIB:-$(ort_lib "$(host_arch)")}
  local measured=$CACHE/measure-precision formats="fp16 bf16 fp8 e4m2 e4m1 e4m0" from format name
  local -a measure=(engine/models/demo engine/testdata/nova-tiny engine/testdata/nova-zero engine/testdata/act-v1-tiny) reports=()
  rm -rf "$measured"
  mkdir -p "$measured/bundles"
  if [ "${1:-}" = -full ]; then
    say "exporting the full-size random nova (2 check cases) and act-v1 (1 case) bundles"
    "$PY" engine/export/hrm_export.py --random full --seed 1 --out "$measured/bundles/nova-full-random" --check-cases 2 >/dev/null
    "$PY" engine/export/hrm_export.py --family act-v1 --random full --seed 1 --out "$measured/bundles/act-v1-full-random" --check-cases 1 >/dev/null
    measure+=("$measured/bundles/nova-full-random" "$measured/bundles/act-v1-full-random")
  elif [ -n "${1:-}" ]; then
    die "measure-precision: unknown option $1 (-full or nothing)"
  fi
  for from in "${measure[@]}"; do
    say "$(basename "$from"): $formats"
    write_proxies "$measured/proxy" "$formats" "$from"
    for format in $formats; do
      name=$(basename "$from")-$format
      # Exit 1 is a proxy that misses its check: a result here (its error
      # line goes to NAME.log). A report that is not there is a failure.
      bin/hrmd verify --model "$measured/proxy/$name" --json >"$measured/$name.json" 2>"$measured/$name.log" || true
      [ -s "$measured/$name.json" ] || die "hrmd verify --model $measured/proxy/$name wrote no report: $(cat "$measured/$name.log")"
      reports+=("$measured/$name.json")
    done
  done
  "$PY" engine/export/precision_table.py "${reports[@]}"
)

# Runs a test that needs root and some tools where they are, else says how to
# get them; CI (HRMD_REQUIRE_JETSON_TESTS) requires it to run.
jetson_test() {
  local what=$1 packages=$2 fn=$3 tool
  shift 3
  local -a why=()
  [ "$(id -u)" = 0 ] || why+=("not root")
  for tool in "$@"; do
    command -v "$tool" >/dev/null || why+=("no $tool")
  done
  if [ ${#why[@]} = 0 ]; then
    # Not in a condition: set -e must hold inside it.
    "$fn"
  elif [ -n "${HRMD_REQUIRE_JETSON_TESTS:-}" ]; then
    die "$what must run here (HRMD_REQUIRE_JETSON_TESTS is set), but: ${why[*]} (apt-get install $packages; as root)"
  else
    say "SKIPPED $what: ${why[*]} (apt-get install $packages; as root)"
  fi
}

cmd_bench() {
  cmd_deps
  export HRMD_ORT_LIB=${HRMD_ORT_LIB:-$(ort_lib "$(host_arch)")}
  local full=$CACHE/models/nova-full-random
  if [ ! -f "$full/hrm.yaml" ] && have_torch; then
    say "exporting a random-init full-size nova bundle for benchmarks to $full"
    "$PY" engine/export/hrm_export.py --random full --seed 1 --out "$full"
  fi
  [ -f "$full/hrm.yaml" ] && export HRMD_BENCH_FULL_MODEL=$full
  local out
  out=$(go test -run '^$' -bench . -benchmem -benchtime "${BENCHTIME:-3x}" ./... | tee /dev/stderr)
  if have_torch && [ -f "$full/hrm.yaml" ]; then
    say "the PyTorch reference on the same model and inputs (engine/export/bench_torch.py)"
    local torch_line go_ns torch_ns
    torch_line=$("$PY" engine/export/bench_torch.py --random full --seed 1 --batch 1 --runs 2 --threads "$(nproc)")
    echo "$torch_line"
    go_ns=$(awk '/BenchmarkRun\/full\/batch1/ { for (i = 1; i <= NF; i++) if ($(i+1) == "ns/row") print $i }' <<<"$out")
    torch_ns=$(awk '{ for (i = 1; i <= NF; i++) if ($(i+1) == "ns/row") print $i }' <<<"$torch_line")
    awk -v g="$go_ns" -v p="$torch_ns" 'BEGIN { if (g > 0) printf "full nova, batch 1, 8 cycles: hrmd (onnxruntime CPU) %.0f ms, PyTorch %.0f ms: %.2fx faster\n", g / 1e6, p / 1e6, p / g }'
  fi
}

# Cross-compile for the Jetson (linux/arm64) with Debian's gcc-aarch64-linux-gnu.
cmd_cross() {
  cmd_deps
  command -v aarch64-linux-gnu-gcc >/dev/null || die "cross-compiling needs Debian's gcc-aarch64-linux-gnu: apt-get install gcc-aarch64-linux-gnu"
  say "building bin/linux-arm64/hrmd"
  CC=aarch64-linux-gnu-gcc CGO_ENABLED=1 GOOS=linux GOARCH=arm64 \
    go build -trimpath -ldflags "-X main.version=$(version)" -o bin/linux-arm64/hrmd ./daemon/cmd/hrmd
}

# An aarch64 /proc/cpuinfo, one entry per CPU the kernel may bring up. Under
# qemu-user the host's x86 one shows through, and onnxruntime's CPU detection
# crashes on it (SIGSEGV inside dlopen); it also wants every possible CPU listed.
arm64_cpuinfo() {
  local last n
  last=$(sed 's/.*-//' /sys/devices/system/cpu/possible)
  for n in $(seq 0 "$last"); do
    printf 'processor\t: %s\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd42\nCPU revision\t: 1\n\n' "$n"
  done
}

# The arm64 build, run under qemu-aarch64 on a real ARC task with the arm64
# onnxruntime, must answer exactly as the x64 build does.
cmd_qemu_smoke() (
  cmd_build
  cmd_cross
  command -v qemu-aarch64-static >/dev/null || die "the arm64 smoke test needs qemu-user-static: apt-get install qemu-user-static"
  [ "$(id -u)" = 0 ] || die "the arm64 smoke test bind-mounts an aarch64 /proc/cpuinfo in a private mount namespace (unshare -m): run it as root"
  local tmp task=${1:-testdata/arc/ARC-AGI-1/training/3631a71a.json} model=${2:-engine/testdata/nova-tiny}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  arm64_cpuinfo >"$tmp/cpuinfo"
  say "bin/linux-arm64/hrmd solve $task under qemu-aarch64"
  # Cortex-A76: the closest qemu 7.2 has to the Orin's Cortex-A78AE (ARMv8.2,
  # dot product, no SVE). With -cpu max qemu offers SVE, onnxruntime takes it,
  # and qemu emulates it so slowly that this one task takes over 10 minutes.
  # shellcheck disable=SC2016 # sh -c's own arguments
  HRMD_ORT_LIB=$(ort_lib arm64) QEMU_CPU=cortex-a76 unshare -m sh -c \
    'mount --bind "$1" /proc/cpuinfo && exec qemu-aarch64-static -L /usr/aarch64-linux-gnu bin/linux-arm64/hrmd solve "$2" --model "$3"' \
    sh "$tmp/cpuinfo" "$task" "$model" >"$tmp/arm64.json" || die "the arm64 build failed under qemu (see above)"
  HRMD_ORT_LIB=$(ort_lib x64) bin/hrmd solve "$task" --model "$model" >"$tmp/x64.json"
  # The answers, without runtime (device and latency differ by design).
  local a b
  a=$(grep -v '"runtime"' "$tmp/arm64.json" | sed -n '/"answers"/,/"model"/p' | grep -v latency)
  b=$(grep -v '"runtime"' "$tmp/x64.json" | sed -n '/"answers"/,/"model"/p' | grep -v latency)
  if [ -z "$a" ] || [ "$a" != "$b" ]; then
    diff "$tmp/x64.json" "$tmp/arm64.json" >&2
    die "the arm64 answer differs from the x64 answer (above)"
  fi
  say "arm64 under qemu answers $task with $model exactly as x64 does"
)

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
    arm64) cmd_cross; bin=bin/linux-arm64/hrmd ;;
    x64) cmd_build; bin=bin/hrmd ;;
  esac
  ort_ok "$arch" || die "$(ort_lib "$arch") is missing or not the one expected: run ./build.sh deps"
  local name out mtime tmp
  name=$(bundle_name "$arch")
  out=dist/$name.tar.gz
  # The last commit's time, so the same commit gives the same tarball.
  mtime=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp" "$out.part"' EXIT
  local top=$tmp/$name
  say "bundling $name"
  install -D -m 0755 "$bin" "$top/bin/hrmd"
  install -D -m 0644 "$(ort_lib "$arch")" "$top/lib/libonnxruntime.so.1"
  install -m 0755 systemd/install.sh "$top/install.sh"
  install -m 0644 systemd/hrmd.service systemd/hrmd.tmpfiles systemd/hrmd.yaml "$top/"
  if [ -n "$model" ]; then
    mkdir -p "$top/models"
    cp -RL "$model" "$top/models/default"
    find "$top/models" -type f -exec chmod 0644 {} +
  fi
  # The same modes whatever the umask.
  find "$top" -type d -exec chmod 0755 {} +
  (cd "$top" && find . -type f ! -path ./SHA256SUMS -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum >SHA256SUMS)
  chmod 0644 "$top/SHA256SUMS"
  mkdir -p dist
  tar --sort=name --mtime="@$mtime" --owner=0 --group=0 --numeric-owner --format=gnu -C "$tmp" -cf - "$name" |
    gzip -n >"$out.part"
  mv "$out.part" "$out"
  say "$out ($(du -h --apparent-size "$out" | cut -f1))"
)

# .deb packages for JetPack 6 (arm64) and Debian or Ubuntu (amd64), declared
# in systemd/deb/ and made by internal/build/deb.sh; lintian checks them where
# it is installed (apt-get install lintian).
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
      arm64) cmd_cross ;;
      amd64) cmd_build ;;
      *) die "deb --arch $arch: arm64 (the Jetson) or amd64" ;;
    esac
    debs+=("$(deb_package "$arch" "$model")")
  done
  if command -v lintian >/dev/null; then
    say "lintian ${debs[*]}"
    lintian --fail-on error,warning "${debs[@]}" || die "lintian finds fault with the packages (above): fix it, or explain it in systemd/deb/lintian-overrides"
  else
    say "SKIPPED lintian: not installed (apt-get install lintian)"
  fi
}

# deb_package ARCH MODEL: dist/hrmd_VERSION_ARCH.deb of the hrmd built for
# ARCH; prints its path.
deb_package() {
  local ort=x64 bin=bin/hrmd
  [ "$1" = amd64 ] || { ort=arm64; bin=bin/linux-arm64/hrmd; }
  ort_ok "$ort" || die "$(ort_lib "$ort") is missing or not the one expected: run ./build.sh deps"
  say "packaging hrmd for $1"
  internal/build/deb.sh --arch "$1" --bin "$bin" --ort "$(ort_lib "$ort")" --model "$2" --out dist
}

# shellcheck disable=SC2016 # these run on the target
# Run on the target by `sh -c` with the bundle on stdin: a fresh temporary
# folder holding the unpacked bundle, its path the one line printed.
DEPLOY_UNPACK='t=$(mktemp -d /tmp/hrmd-deploy.XXXXXX) || exit 1
if cat >"$t/$1" && tar -xzf "$t/$1" -C "$t" && rm -f "$t/$1"; then
  echo "$t"
else
  rm -rf "$t"
  exit 1
fi'

# shellcheck disable=SC2016
# Run on the target by `sh -c` with the folder, the bundle name and the --root
# folder (or ""): install.sh, as root, then the folder goes; without --root,
# wait for /readyz (a first TensorRT engine build takes minutes).
DEPLOY_INSTALL='t=$1 top=$2 root=$3
cleanup() { rm -rf "$t"; }
trap cleanup EXIT
trap "exit 130" HUP INT TERM
s=
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "deploy: $(id -un) is not root and $(uname -n) has no sudo: deploy as root@HOST, or install sudo there" >&2; exit 1; }
  s=sudo
fi
if [ -n "$root" ]; then
  $s sh "$t/$top/install.sh" --root "$root"
  exit
fi
if ! $s sh "$t/$top/install.sh"; then
  echo "deploy: install.sh failed (above); the service now:" >&2
  $s systemctl status hrmd --no-pager | head
  $s journalctl -u hrmd -n 50 --no-pager
  exit 1
fi
# Where /readyz is: http.listen of the config (kept across deploys), else the default.
listen=127.0.0.1:9464
if [ -f /etc/hrmd/hrmd.yaml ] && grep -q "^[[:space:]]*listen:" /etc/hrmd/hrmd.yaml; then
  listen=$(sed -n "s/^[[:space:]]*listen:[[:space:]]*//p" /etc/hrmd/hrmd.yaml | head -n 1 | sed "s/[[:space:]]*#.*//; s/^[\"\x27]//; s/[\"\x27]$//")
fi
if [ -z "$listen" ]; then
  # HTTP is off. Type=notify: the restart above returned once hrmd was ready.
  $s systemctl status hrmd --no-pager | head
  systemctl is-active --quiet hrmd
  exit
fi
case $listen in
  0.0.0.0:* | :*) listen=127.0.0.1:${listen##*:} ;;
  "[::]:"*) listen="[::1]:${listen##*:}" ;;
esac
url=http://$listen/readyz
if command -v curl >/dev/null 2>&1; then
  ready() { [ "$(curl -s -o "$t/readyz" -w "%{http_code}" --max-time 10 "$url")" = 200 ]; }
elif command -v wget >/dev/null 2>&1; then
  ready() { wget -q -O "$t/readyz" -T 10 "$url"; }
else
  echo "deploy: neither curl nor wget on $(uname -n) to ask $url (apt-get install curl there); systemd says:" >&2
  $s systemctl status hrmd --no-pager | head
  systemctl is-active --quiet hrmd
  exit
fi
answer() { a=$(cat "$t/readyz" 2>/dev/null); echo "${a:-no answer}"; }
start=$(date +%s) next=0
until ready; do
  waited=$(($(date +%s) - start)) why=
  if systemctl is-failed --quiet hrmd; then
    why="hrmd failed"
  elif [ "$waited" -ge 600 ]; then
    why="hrmd is not ready after 10 minutes"
  fi
  if [ -n "$why" ]; then
    echo "deploy: $why ($url: $(answer)); systemd and the last 50 log lines:" >&2
    $s systemctl status hrmd --no-pager | head
    $s journalctl -u hrmd -n 50 --no-pager
    exit 1
  fi
  if [ "$waited" -ge "$next" ]; then
    echo "deploy: waiting for $url (${waited}s): $(answer)"
    next=$((waited + 30))
  fi
  sleep 5
done
$s systemctl status hrmd --no-pager | head
echo "readyz: $(answer)"'

# The deploy helpers below read and set cmd_deploy's locals (bash scopes them
# dynamically): hosts and where (each host and where it was given), again (the
# options to repeat in a resume command), sshopts, term, bundle (the command
# that builds it), bundle_top, tarball, unpack and root.

# A host from the command line or a hosts file; $2 says where, for messages.
deploy_add_host() {
  local host=$1 at=$2 i
  [ -n "$host" ] || die "deploy: $at is an empty HOST (an unset variable?): give [USER@]HOST there, or leave it out"
  [[ $host != -* ]] || die "deploy: $at: $host starts with -, which ssh would read as an option: give [USER@]HOST"
  [[ $host =~ ^[^[:space:]]+$ ]] || die "deploy: $at: \"$host\" is not one [USER@]HOST (one host per argument or line; # starts a comment)"
  for i in "${!hosts[@]}"; do
    [ "${hosts[i]}" != "$host" ] || die "deploy: $host is given twice (${where[i]} and $at): a roll updates each host once; remove one"
  done
  hosts+=("$host")
  where+=("$at")
}

# --hosts FILE: one [USER@]HOST per line; # starts a comment; blank lines are skipped.
deploy_read_hosts() {
  local given=$1 file line n=0 before=${#hosts[@]}
  local -a words
  file=$(from_caller "$given")
  [ -e "$file" ] || die "deploy: --hosts $given: no such file (write one [USER@]HOST per line in it)"
  [ ! -d "$file" ] || die "deploy: --hosts $given is a folder: give the file that lists the hosts"
  [ -r "$file" ] || die "deploy: --hosts $given: cannot read it (check its permissions)"
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line=${line//$'\r'/}
    line=${line%%#*}
    read -r -a words <<<"$line" || true
    case ${#words[@]} in
      0) ;;
      1) deploy_add_host "${words[0]}" "$given line $n" ;;
      *) die "deploy: $given line $n holds ${#words[@]} words (${words[*]}): one [USER@]HOST per line (# starts a comment)" ;;
    esac
  done <"$file"
  [ "${#hosts[@]}" -gt "$before" ] ||
    die "deploy: --hosts $given names no host (only blank lines and # comments): write one [USER@]HOST per line"
}

# The command that runs install.sh on a host, from the temporary folder $1 there.
deploy_remote_install() { echo "sh -c $(shquote "$DEPLOY_INSTALL") sh $(shquote "$1" "$bundle_top" "$root")"; }

# --dry-run: a bash script of every command, local and remote, host after host.
# The temporary folder's name comes from the far side.
deploy_plan() {
  local i count=${#hosts[@]}
  echo "# ./build.sh deploy --dry-run: nothing was run. The commands, in order, as a bash script:"
  [ "$count" = 1 ] || echo "# $count hosts, one at a time: ${hosts[*]}"
  echo "set -e # stop at the first command that fails: the hosts after it are not touched"
  shquote cd "$ROOT"
  shquote "${bundle[@]}"
  for i in "${!hosts[@]}"; do
    [ "$count" = 1 ] || echo "# host $((i + 1)) of $count: ${hosts[i]}"
    echo "tmp=\$($(shquote ssh "${sshopts[@]}" "${hosts[i]}" "$unpack") <$(shquote "$tarball"))"
    shquote ssh "${term[@]}" "${sshopts[@]}" "${hosts[i]}" "$(deploy_remote_install @TMP@)" | sed "s|@TMP@|'\"\$tmp\"'|"
  done
}

# Copies the bundle to host number $1, installs it there and, without --root,
# waits until hrmd is ready. On failure it says why in failure and returns 1.
deploy_host() {
  local host=${hosts[$1]} at="" tmp
  [ "${#hosts[@]}" = 1 ] || at="[$(($1 + 1))/${#hosts[@]}] "
  say "${at}copying $tarball to $host and unpacking it in a temporary folder there"
  # shellcheck disable=SC2029 # the command is for the far side, quoted for it
  if ! tmp=$(ssh "${sshopts[@]}" "$host" "$unpack" <"$tarball"); then
    failure="could not copy the bundle to $host (above): check that $(shquote ssh "${sshopts[@]}" "$host" true) works (user, key, port, host key)"
    return 1
  fi
  if ! [[ $tmp =~ ^/tmp/hrmd-deploy\.[A-Za-z0-9]+$ ]]; then
    failure="$host answered \"$tmp\" for its temporary folder: is its shell printing extra lines (motd, .bashrc)?"
    return 1
  fi
  if [ -n "$root" ]; then
    say "${at}installing into $root on $host (no service started)"
    failure="installing into $root on $host failed (above)"
  else
    say "${at}installing on $host and restarting hrmd; waiting up to 10 minutes for it to be ready (a first TensorRT engine build takes minutes)"
    failure="installing on $host failed, or hrmd did not get ready there (above)"
  fi
  # shellcheck disable=SC2029 # the command is for the far side, quoted for it
  ssh "${term[@]}" "${sshopts[@]}" "$host" "$(deploy_remote_install "$tmp")" || return 1
  failure=""
  say "${at}deployed $bundle_top to $host${root:+ (into $root)}"
}

# The roll stopped at host number $1 for the reason $2: which hosts have the
# new bundle, which were not touched, and the command that resumes from it.
deploy_stopped() {
  local i=$1 failure=$2 self=$0
  [ "${#hosts[@]}" -gt 1 ] || die "$failure"
  [[ $self == */* ]] || self=./$self
  local updated="${hosts[*]:0:i}" left="${hosts[*]:i+1}"
  die "$failure
the roll stopped at ${hosts[i]}, host $((i + 1)) of ${#hosts[@]}:
  updated:     ${updated:-none (it was the first)}
  not touched: ${left:-none (it was the last)}
fix ${hosts[i]}, then resume from it (or leave it out to skip it):
  $(shquote "$self" deploy "${again[@]}" "${hosts[@]:i}")"
}

# Bundle once, then host after host: copy over ssh, install.sh there, and wait
# until hrmd is ready before the next, so a fleet never stops answering. The
# first host that fails stops the roll.
cmd_deploy() {
  local dry="" arch=arm64 model="" port="" identity="" root="" opt total=$#
  local -a opts=() hosts=() where=() again=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --dry-run) dry=yes; shift ;;
      --hosts) need_value "$1" "${2:-}"; deploy_read_hosts "$2"; shift 2 ;;
      --arch | --model | --port | --identity | --root | --ssh-option)
        need_value "$1" "${2:-}"
        again+=("$1" "$2")
        case "$1" in
          --arch) arch=$2 ;;
          --model) model=$(from_caller "$2") ;;
          --port) port=$2 ;;
          --identity) identity=$(from_caller "$2") ;;
          --root) root=$2 ;;
          --ssh-option) opts+=("$2") ;;
        esac
        shift 2
        ;;
      -*) die "deploy: unknown option $1 (see ./build.sh help)" ;;
      *) deploy_add_host "$1" "argument $((total - $# + 1)) after deploy"; shift ;;
    esac
  done
  [ "${#hosts[@]}" -gt 0 ] || die "deploy: which machines? ./build.sh deploy [USER@]HOST ... or --hosts FILE (see ./build.sh help)"
  check_bundle_args "$arch" "$model"
  [[ -z $port || $port =~ ^[0-9]+$ ]] || die "--port $port: a port number"
  [ -z "$identity" ] || [ -f "$identity" ] || die "--identity $identity: no such key file"
  [[ -z $root || $root == /* ]] || die "--root $root: an absolute path on the target"

  local -a sshopts=() term=(-n)
  [ -z "$port" ] || sshopts+=(-p "$port")
  # Only this key: ssh-agent's others would count against the server's MaxAuthTries.
  [ -z "$identity" ] || sshopts+=(-i "$identity" -o IdentitiesOnly=yes)
  for opt in "${opts[@]}"; do sshopts+=(-o "$opt"); done
  # sudo on the far side may ask for a password: it needs a terminal.
  [ ! -t 0 ] || term=(-t)
  local bundle_top tarball unpack
  bundle_top=$(bundle_name "$arch")
  tarball=dist/$bundle_top.tar.gz
  local -a bundle=(./build.sh bundle --arch "$arch")
  [ -z "$model" ] || bundle+=(--model "$model")
  unpack="sh -c $(shquote "$DEPLOY_UNPACK") sh $(shquote "$bundle_top.tar.gz")"

  if [ -n "$dry" ]; then
    deploy_plan
    return
  fi
  "${bundle[@]}"
  local i failure=""
  for i in "${!hosts[@]}"; do
    deploy_host "$i" || deploy_stopped "$i" "$failure"
  done
  [ "${#hosts[@]}" = 1 ] || say "rolled $bundle_top out to ${#hosts[@]} hosts, one at a time: ${hosts[*]}"
}

# ./build.sh deploy against a real sshd on 127.0.0.1 (root, key login), into a
# temporary root; a fleet of three more (deploy_test_fleet); then the arm64
# bundle's contents.
# shellcheck disable=SC2030 # its helpers (deploy_test_*) run inside it
cmd_deploy_test() (
  [ "$(id -u)" = 0 ] || die "deploy-test starts sshd and logs in as root over it: run it as root"
  local tool
  for tool in /usr/sbin/sshd ssh ssh-keygen file useradd systemd-tmpfiles aarch64-linux-gnu-gcc unshare; do
    command -v "$tool" >/dev/null ||
      die "deploy-test needs $tool: apt-get install openssh-server openssh-client file passwd systemd gcc-aarch64-linux-gnu util-linux"
  done
  tmp=$(mktemp -d)
  sshd_pids=()
  trap 'deploy_test_sshds_stop; rm -rf "$tmp"' EXIT
  local key=$tmp/id_ed25519 root=$tmp/root port=""
  ssh-keygen -q -t ed25519 -N '' -C hrmd-deploy-test -f "$key"
  ssh-keygen -q -t ed25519 -N '' -C hrmd-deploy-test-host -f "$tmp/host_ed25519"
  cp "$key.pub" "$tmp/authorized_keys"
  mkdir -p /run/sshd "$tmp/fleet" # sshd's privilege-separation folder; the fleet's mount point
  deploy_test_sshds
  say "sshd on 127.0.0.1 to 127.0.0.4, port $port (pids ${sshd_pids[*]}), logging in as root with a throwaway key"
  local -a ssh_args=(--port "$port" --identity "$key" --ssh-option StrictHostKeyChecking=no
    --ssh-option UserKnownHostsFile=/dev/null --ssh-option BatchMode=yes --ssh-option LogLevel=ERROR)

  # useradd --root and systemd-tmpfiles --root read users and groups from there.
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$tmp/etc.passwd"
  printf 'root:x:0:\nvideo:x:44:\n' >"$tmp/etc.group"
  mkdir -p "$root/etc"
  cp "$tmp/etc.passwd" "$root/etc/passwd"
  cp "$tmp/etc.group" "$root/etc/group"

  # What install.sh would touch without --root; deploying into $root must leave it as it is.
  host_state() {
    local f
    for f in /etc/passwd /etc/group /etc/shadow /etc/gshadow /usr/bin/hrmd /etc/hrmd /etc/systemd/system/hrmd.service \
      /usr/lib/tmpfiles.d/hrmd.conf /usr/lib/hrmd /usr/share/hrmd /var/lib/hrmd /var/cache/hrmd; do
      if [ -f "$f" ]; then
        echo "$f $(sha256sum <"$f")"
      elif [ -e "$f" ]; then
        echo "$f $(find "$f" -printf '%p %s %T@\n' | LC_ALL=C sort | sha256sum)"
      else
        echo "$f absent"
      fi
    done
    ls -d /tmp/hrmd-deploy.* 2>/dev/null || true
  }
  host_state >"$tmp/host.before"
  local leftovers
  leftovers=$(ls -d /tmp/hrmd-deploy.* 2>/dev/null || true)
  local -a deploy=(./build.sh deploy root@127.0.0.1 "${ssh_args[@]}" --arch x64 --model engine/models/demo --root "$root")
  local x64
  x64=dist/$(bundle_name x64).tar.gz

  say "deploy-test: ${deploy[*]}"
  "${deploy[@]}" </dev/null || { cat "$tmp/h1.log" >&2; die "the first deploy failed (above; sshd's log last)"; }
  local f
  for f in usr/bin/hrmd etc/systemd/system/hrmd.service usr/lib/tmpfiles.d/hrmd.conf etc/hrmd/hrmd.yaml \
    usr/lib/hrmd/libonnxruntime.so.1 usr/share/hrmd/models/default/hrm.yaml; do
    [ -f "$root/$f" ] || die "deploy did not install /$f (in $root)"
  done
  cmp -s "$root/usr/lib/hrmd/libonnxruntime.so.1" "$(ort_lib x64)" || die "/usr/lib/hrmd/libonnxruntime.so.1 is not the x64 onnxruntime"
  diff -r engine/models/demo "$root/usr/share/hrmd/models/default" >&2 || die "the installed model differs from engine/models/demo (above)"
  cmp -s systemd/hrmd.yaml "$root/etc/hrmd/hrmd.yaml" || die "/etc/hrmd/hrmd.yaml is not systemd/hrmd.yaml"
  local uid
  uid=$(awk -F: '$1 == "hrmd" { print $3 }' "$root/etc/passwd")
  [ -n "$uid" ] || die "no user hrmd in $root/etc/passwd"
  grep -q '^video:.*[:,]hrmd' "$root/etc/group" || die "hrmd is not in the video group of $root/etc/group"
  grep -q '^render:.*[:,]hrmd' "$root/etc/group" || die "hrmd is not in the render group of $root/etc/group"
  for f in inbox outbox work "done" failed; do
    [ "$(stat -c %u "$root/var/lib/hrmd/$f" 2>/dev/null)" = "$uid" ] || die "/var/lib/hrmd/$f is missing or not owned by hrmd (uid $uid) in $root"
  done
  [ -d "$root/var/cache/hrmd/trt" ] || die "/var/cache/hrmd/trt is missing in $root"
  # The library is found beside the binary (../lib/hrmd), as on the machine.
  local out
  out=$(env -u HRMD_ORT_LIB "$root/usr/bin/hrmd" version) || die "$root/usr/bin/hrmd version failed"
  grep -q "^onnxruntime .*($root/usr/lib/hrmd/libonnxruntime.so.1)" <<<"$out" ||
    die "hrmd version did not find the installed onnxruntime: $out"
  local first_tarball first_bin
  first_tarball=$(sha256sum <"$x64")
  first_bin=$(sha256sum <"$root/usr/bin/hrmd")

  say "deploy-test: again, with an edited /etc/hrmd/hrmd.yaml"
  printf 'inference: {max_batch: 8}\n' >"$root/etc/hrmd/hrmd.yaml"
  "${deploy[@]}" </dev/null || die "the second deploy failed (above)"
  [ "$(cat "$root/etc/hrmd/hrmd.yaml")" = "inference: {max_batch: 8}" ] || die "the second deploy did not keep the edited /etc/hrmd/hrmd.yaml"
  cmp -s systemd/hrmd.yaml "$root/etc/hrmd/hrmd.yaml.new" || die "the second deploy did not put the shipped config beside it as hrmd.yaml.new"
  [ "$(grep -c '^hrmd:' "$root/etc/passwd")" = 1 ] || die "the second deploy added the user hrmd again"
  # Same sources, same tarball (the binary may differ while others edit the tree).
  if [ "$(sha256sum <"$root/usr/bin/hrmd")" = "$first_bin" ] && [ "$(sha256sum <"$x64")" != "$first_tarball" ]; then
    die "the same hrmd gave two different tarballs: the bundle is not reproducible"
  fi

  say "deploy-test: --dry-run runs nothing"
  local logins state
  logins=$(grep -c 'Accepted publickey' "$tmp/h1.log" || true)
  state=$(find "$root" dist -printf '%p %s %T@\n' | LC_ALL=C sort | sha256sum)
  out=$("${deploy[@]}" --dry-run </dev/null) || die "deploy --dry-run failed"
  if ! grep -qx "./build.sh bundle --arch x64 --model engine/models/demo" <<<"$out" ||
    ! grep -q "^tmp=\$(ssh -p $port -i $key -o IdentitiesOnly=yes -o StrictHostKeyChecking=no .* root@127.0.0.1 'sh -c " <<<"$out" ||
    ! grep -q "^ssh -n -p $port -i $key .* root@127.0.0.1 'sh -c " <<<"$out"; then
    die "deploy --dry-run did not print the bundle, copy and install commands: $out"
  fi
  [ "$(grep -c 'Accepted publickey' "$tmp/h1.log" || true)" = "$logins" ] || die "deploy --dry-run logged in over ssh"
  [ "$(find "$root" dist -printf '%p %s %T@\n' | LC_ALL=C sort | sha256sum)" = "$state" ] || die "deploy --dry-run changed $root or dist/"
  # What it prints is quoted right when running it does the deploy.
  say "deploy-test: the --dry-run's commands, run by bash"
  rm "$root/usr/bin/hrmd"
  bash -euo pipefail -c "$out" </dev/null || die "the commands deploy --dry-run printed failed when run (above): $out"
  [ -x "$root/usr/bin/hrmd" ] || die "the commands deploy --dry-run printed did not install /usr/bin/hrmd"
  [ "$(ls -d /tmp/hrmd-deploy.* 2>/dev/null || true)" = "$leftovers" ] || die "deploy left its temporary folder: $(ls -d /tmp/hrmd-deploy.*)"

  deploy_test_fleet

  say "deploy-test: the default (arm64) bundle"
  ./build.sh bundle
  local name want got
  name=$(bundle_name arm64)
  want=$(printf '%s\n' "$name/" "$name/SHA256SUMS" "$name/bin/" "$name/bin/hrmd" "$name/hrmd.service" "$name/hrmd.tmpfiles" \
    "$name/hrmd.yaml" "$name/install.sh" "$name/lib/" "$name/lib/libonnxruntime.so.1" | LC_ALL=C sort)
  got=$(tar -tzf "dist/$name.tar.gz" | LC_ALL=C sort)
  [ "$got" = "$want" ] || die "dist/$name.tar.gz holds, sorted:
$got
expected:
$want"
  [ "$(tar --numeric-owner -tvzf "dist/$name.tar.gz" | awk '{ print $2 }' | sort -u)" = 0/0 ] || die "dist/$name.tar.gz has files not owned by 0/0"
  mkdir "$tmp/arm64"
  tar -xzf "dist/$name.tar.gz" -C "$tmp/arm64"
  file -b "$tmp/arm64/$name/bin/hrmd" | grep -q 'ARM aarch64' || die "bin/hrmd in the arm64 bundle is $(file -b "$tmp/arm64/$name/bin/hrmd")"
  (cd "$tmp/arm64/$name" && sha256sum -c --quiet SHA256SUMS) || die "the arm64 bundle's SHA256SUMS does not verify (above)"
  [ "$(cut -c67- "$tmp/arm64/$name/SHA256SUMS")" = "$(cd "$tmp/arm64/$name" && find . -type f ! -path ./SHA256SUMS -printf '%P\n' | LC_ALL=C sort)" ] ||
    die "the arm64 bundle's SHA256SUMS does not list exactly its other files"
  cmp -s "$tmp/arm64/$name/lib/libonnxruntime.so.1" "$(ort_lib arm64)" || die "the arm64 bundle's onnxruntime is not the arm64 one"
  # It installs too (over ssh, into a third root: nothing there can run it).
  local -a deploy_arm64=(./build.sh deploy root@127.0.0.1 "${ssh_args[@]}" --root "$tmp/root3")
  mkdir -p "$tmp/root3/etc" && cp "$root/etc/passwd" "$root/etc/group" "$tmp/root3/etc/"
  "${deploy_arm64[@]}" </dev/null || die "deploying the arm64 bundle into $tmp/root3 failed (above)"
  file -b "$tmp/root3/usr/bin/hrmd" | grep -q 'ARM aarch64' || die "the arm64 deploy installed $(file -b "$tmp/root3/usr/bin/hrmd")"
  cmp -s "$tmp/root3/usr/lib/hrmd/libonnxruntime.so.1" "$(ort_lib arm64)" || die "the arm64 deploy did not install the arm64 onnxruntime"
  # install.sh refuses a damaged bundle before touching anything.
  echo '# changed' >>"$tmp/arm64/$name/hrmd.yaml"
  mkdir -p "$tmp/root2/etc" && cp "$root/etc/passwd" "$root/etc/group" "$tmp/root2/etc/"
  if out=$(sh "$tmp/arm64/$name/install.sh" --root "$tmp/root2" 2>&1); then
    die "install.sh installed from a bundle whose hrmd.yaml does not match SHA256SUMS"
  fi
  grep -q 'do not match its SHA256SUMS' <<<"$out" || die "install.sh failed on a damaged bundle, but not saying so: $out"
  [ "$(find "$tmp/root2" | wc -l)" = 4 ] || die "install.sh touched $tmp/root2 from a damaged bundle"
  host_state >"$tmp/host.after"
  diff "$tmp/host.before" "$tmp/host.after" >&2 || die "deploying with --root changed this machine outside $root (above)"
  say "deploy over ssh into a temporary root, twice, --dry-run, a roll over three hosts and the arm64 bundle: as expected"
)

# deploy-test's hosts: sshd's on 127.0.0.1 to .4, one port. h1 is this
# machine; h2, h3 and h4 are each in a mount namespace of its own where
# $tmp/hN is mounted on $tmp/fleet, so that --root $tmp/fleet is a root of
# its own on each, as on machines. Their sessions are logged, begin and end
# with the exit status, in $tmp/order. Reads and sets cmd_deploy_test's tmp,
# port and sshd_pids.
# shellcheck disable=SC2031 # cmd_deploy_test (a subshell) sets tmp, port, sshd_pids and ssh_args, and runs this
deploy_test_sshds() {
  local attempt n up
  for attempt in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000)) up=yes
    for n in 1 2 3 4; do
      deploy_test_sshd "$n" || { up=""; break; }
    done
    [ -z "$up" ] || return 0
    deploy_test_sshds_stop
    [ "$attempt" = 5 ] || say "deploy-test: no sshd on 127.0.0.$n:$port (busy?), another port"
  done
  cat "$tmp/h$n.log" >&2
  die "sshd did not start on 127.0.0.$n:$port (its log above)"
}

# Starts host number $1's sshd; returns 1 when it does not listen.
# shellcheck disable=SC2031 # cmd_deploy_test (a subshell) sets tmp, port, sshd_pids and ssh_args, and runs this
deploy_test_sshd() {
  local n=$1 conf=$tmp/h$1.sshd_config
  ! (exec 3<>"/dev/tcp/127.0.0.$n/$port") 2>/dev/null || return 1
  cat >"$conf" <<EOC
Port $port
ListenAddress 127.0.0.$n
HostKey $tmp/host_ed25519
AuthorizedKeysFile $tmp/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
PidFile $tmp/h$n.pid
PrintMotd no
PrintLastLog no
EOC
  if [ "$n" = 1 ]; then
    /usr/sbin/sshd -D -e -f "$conf" 2>"$tmp/h$n.log" &
  else
    echo "ForceCommand echo h$n begin >>$tmp/order; sh -c \"\$SSH_ORIGINAL_COMMAND\"; rc=\$?; echo h$n end \$rc >>$tmp/order; exit \$rc" >>"$conf"
    mkdir -p "$tmp/h$n"
    # shellcheck disable=SC2016 # for that sh
    unshare -m sh -c 'mount --bind "$1" "$2" && exec /usr/sbin/sshd -D -e -f "$3"' sh "$tmp/h$n" "$tmp/fleet" "$conf" 2>"$tmp/h$n.log" &
  fi
  sshd_pids+=("$!")
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.$n/$port") 2>/dev/null && return 0
    kill -0 "$!" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

# shellcheck disable=SC2031 # cmd_deploy_test (a subshell) sets tmp, port, sshd_pids and ssh_args, and runs this
deploy_test_sshds_stop() {
  local pid
  for pid in "${sshd_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  sshd_pids=()
}

# The sessions in $tmp/order as HOST:STATUS words, one session after another;
# "overlap" where one began before the one before it had ended.
# shellcheck disable=SC2031 # cmd_deploy_test (a subshell) sets tmp, port, sshd_pids and ssh_args, and runs this
deploy_test_order() {
  awk '$2 == "begin" { if (open != "") print "overlap"; open = $1 }
    $2 == "end" { if ($1 != open) print "overlap"; print $1 ":" $3; open = "" }' "$tmp/order" | paste -sd ' '
}

# Runs a roll ($@) that must succeed over the hosts named in $1 (h2 ...),
# one after the other, each with the bundle's hrmd.
# shellcheck disable=SC2031 # cmd_deploy_test (a subshell) sets tmp, port, sshd_pids and ssh_args, and runs this
deploy_test_roll() {
  local names=$1 n want=""
  shift
  for n in $names; do want+="$n:0 $n:0 "; done
  : >"$tmp/order"
  "$@" </dev/null 2>"$tmp/roll.log" || { cat "$tmp/roll.log" >&2; die "the roll $* failed (above)"; }
  [ "$(deploy_test_order)" = "${want% }" ] ||
    die "the roll over $names went, as host:status per ssh session: $(deploy_test_order) (expected ${want% }, one host after the other)"
  for n in $names; do
    cmp -s bin/hrmd "$tmp/$n/usr/bin/hrmd" || die "the roll did not install the bundle's hrmd on $n ($tmp/$n/usr/bin/hrmd)"
  done
  [ -z "$(ls -A "$tmp/fleet")" ] || die "the roll installed into $tmp/fleet as this machine sees it, not into each host's own root"
}

# deploy with the arguments $2... must stop before doing anything, saying $1.
deploy_test_refused() {
  local want=$1 out
  shift
  if out=$(./build.sh deploy "$@" 2>&1 </dev/null); then
    die "deploy $* did not refuse: $out"
  fi
  grep -qF -- "$want" <<<"$out" || die "deploy $* refused, but without saying \"$want\": $out"
}

# Several hosts: hosts given wrong, a roll from a hosts file that stops at a
# failing host, its resume command, and a --dry-run plan.
# shellcheck disable=SC2031 # cmd_deploy_test (a subshell) sets tmp, port, sshd_pids and ssh_args, and runs this
deploy_test_fleet() {
  local h
  for h in h2 h3 h4; do mkdir -p "$tmp/$h/etc" && cp "$tmp/etc.passwd" "$tmp/$h/etc/passwd" && cp "$tmp/etc.group" "$tmp/$h/etc/group"; done
  local -a fleet=(./build.sh deploy "${ssh_args[@]}" --arch x64 --root "$tmp/fleet")
  printf '# deploy-test: three hosts\n\nroot@127.0.0.2   # the first\n\troot@127.0.0.3\nroot@127.0.0.4\n' >"$tmp/fleet.hosts"
  deploy_test_fleet_refusals

  say "deploy-test: a roll over the three hosts of a hosts file, the second failing, stops there"
  rm "$tmp/h3/etc/passwd" # install.sh refuses such a root
  : >"$tmp/order"
  local h4
  h4=$(find "$tmp/h4" -printf '%p %s %T@\n' | LC_ALL=C sort)
  if "${fleet[@]}" --hosts "$tmp/fleet.hosts" </dev/null 2>"$tmp/roll.log"; then
    die "the roll over three hosts succeeded with a second host whose install fails"
  fi
  [ "$(deploy_test_order)" = "h2:0 h2:0 h3:0 h3:1" ] || die "the failing roll went, as host:status per ssh session: $(deploy_test_order) (expected h2:0 h2:0 h3:0 h3:1)"
  cmp -s bin/hrmd "$tmp/h2/usr/bin/hrmd" || die "the failing roll did not install the bundle's hrmd on the first host"
  ! grep -q 'Accepted publickey' "$tmp/h4.log" || die "the failing roll logged in on the third host"
  [ "$(find "$tmp/h4" -printf '%p %s %T@\n' | LC_ALL=C sort)" = "$h4" ] || die "the failing roll changed the third host's root"
  if ! grep -qx 'the roll stopped at root@127.0.0.3, host 2 of 3:' "$tmp/roll.log" ||
    ! grep -qx '  updated:     root@127.0.0.2' "$tmp/roll.log" || ! grep -qx '  not touched: root@127.0.0.4' "$tmp/roll.log"; then
    die "the failing roll did not say where it stopped, what was updated and what was left: $(cat "$tmp/roll.log")"
  fi
  say "deploy-test: it stopped, saying:"
  tail -n 6 "$tmp/roll.log" >&2
  local resume
  resume=$(tail -n 1 "$tmp/roll.log")
  [[ $resume == "  ./build.sh deploy "*" root@127.0.0.3 root@127.0.0.4" ]] || die "the failing roll's last line is not the command that resumes it: $resume"

  say "deploy-test: fixed, the roll resumes with the command it printed: both hosts, one after the other, one bundle"
  cp "$tmp/etc.passwd" "$tmp/h3/etc/passwd"
  deploy_test_roll "h3 h4" bash -c "$resume"
  [ "$(grep -c '^==> bundling' "$tmp/roll.log")" = 1 ] || die "the roll did not build the bundle once: $(cat "$tmp/roll.log")"
  deploy_test_fleet_plan "${fleet[@]}"
}

# Hosts given wrong: deploy stops before it builds or logs in anywhere, and says where.
# shellcheck disable=SC2031 # cmd_deploy_test (a subshell) sets tmp, port, sshd_pids and ssh_args, and runs this
deploy_test_fleet_refusals() {
  deploy_test_refused "--hosts $tmp/none: no such file" --hosts "$tmp/none"
  printf '# nothing yet\n\n' >"$tmp/empty.hosts"
  deploy_test_refused "--hosts $tmp/empty.hosts names no host" --hosts "$tmp/empty.hosts"
  deploy_test_refused "root@127.0.0.3 is given twice ($tmp/fleet.hosts line 4 and argument 3 after deploy)" \
    --hosts "$tmp/fleet.hosts" root@127.0.0.3
  deploy_test_refused "argument 2 after deploy is an empty HOST" root@127.0.0.2 ""
  printf 'root@127.0.0.2 root@127.0.0.3\n' >"$tmp/one-line.hosts"
  deploy_test_refused "$tmp/one-line.hosts line 1 holds 2 words" --hosts "$tmp/one-line.hosts"
}

# --dry-run over several hosts ($@ is the roll without them) logs in nowhere
# and prints, host after host, commands that do the roll when run.
# shellcheck disable=SC2031 # cmd_deploy_test (a subshell) sets tmp, port, sshd_pids and ssh_args, and runs this
deploy_test_fleet_plan() {
  say "deploy-test: --dry-run over two hosts logs in nowhere; its plan, run by bash, rolls in the order given"
  local logins state out
  logins=$(cat "$tmp"/h?.log | grep -c 'Accepted publickey' || true)
  state=$(find "$tmp"/h? dist -printf '%p %s %T@\n' | LC_ALL=C sort | sha256sum)
  : >"$tmp/order"
  out=$("$@" root@127.0.0.4 root@127.0.0.2 --dry-run </dev/null) || die "deploy --dry-run over two hosts failed"
  if [ "$(cat "$tmp"/h?.log | grep -c 'Accepted publickey' || true)" != "$logins" ] || [ -s "$tmp/order" ]; then
    die "deploy --dry-run over two hosts logged in over ssh"
  fi
  [ "$(find "$tmp"/h? dist -printf '%p %s %T@\n' | LC_ALL=C sort | sha256sum)" = "$state" ] || die "deploy --dry-run over two hosts changed a root or dist/"
  # shellcheck disable=SC2016 # sed's $ and the shell's quotes, not expansions
  [ "$(sed -n 's/^tmp=\$(ssh .* \(root@127\.0\.0\.[0-9]\) '\''sh -c .*/\1/p; s/^ssh -n .* \(root@127\.0\.0\.[0-9]\) '\''sh -c .*/\1/p' <<<"$out" | paste -sd ' ')" = \
    "root@127.0.0.4 root@127.0.0.4 root@127.0.0.2 root@127.0.0.2" ] ||
    die "deploy --dry-run over two hosts did not print a copy and an install per host, in the order given: $out"
  rm "$tmp"/h[24]/usr/bin/hrmd
  deploy_test_roll "h4 h2" bash -euo pipefail -c "$out"
}

# The shipped unit under a real systemd: a throwaway one, PID 1 of its own pid,
# mount and cgroup namespaces, on an overlay of this machine's / (nothing here
# changes). The x64 bundle is installed there by its install.sh; hrmd must
# start inside the sandbox, answer a task, serve /metrics on loopback and be
# out of reach from this machine's other addresses. No GPU here: the device
# rules for it are only read, not used.
cmd_sandbox_test() (
  [ "$(id -u)" = 0 ] || die "sandbox-test runs a systemd of its own in new namespaces: run it as root"
  local tool systemd cgroot
  for tool in unshare findmnt curl ip nsenter adduser; do
    command -v "$tool" >/dev/null || die "sandbox-test needs $tool: apt-get install util-linux mount curl iproute2 adduser"
  done
  systemd=$(first_of /lib/systemd/systemd /usr/lib/systemd/systemd) || die "sandbox-test needs systemd: apt-get install systemd"
  cgroot=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
  [ -n "$cgroot" ] || die "sandbox-test needs a cgroup2 hierarchy: IPAddressDeny= and DevicePolicy= are BPF programs attached to one"
  cmd_bundle --arch x64 --model engine/models/demo
  local deb
  deb=$(deb_package amd64 engine/models/demo)
  # shellcheck source=internal/build/deb-test.sh
  . internal/build/deb-test.sh
  tmp=$(mktemp -d /tmp/hrmd-sandbox.XXXXXX)
  cg=$cgroot/hrmd-sandbox-test.$$
  bg="" pid1=""
  trap 'sandbox_stop; rm -rf "$tmp"' EXIT
  mkdir "$cg" || die "cannot create the cgroup $cg (a read-only cgroup2 in a container?): the throwaway systemd needs one of its own"
  tar -xzf "dist/$(bundle_name x64).tar.gz" -C "$tmp"
  local port f
  port=$((20000 + RANDOM % 40000))
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((20000 + RANDOM % 40000)); done
  # shellcheck disable=SC2016 # the inner bash's own arguments
  unshare -m --propagation private bash -c "set -euo pipefail; $(declare -f say die sandbox_boot); sandbox_boot \"\$@\"" \
    bash "$tmp" "$tmp/$(bundle_name x64)" "$systemd" "$cg" "$port" &
  bg=$!
  say "sandbox-test: hrmd.service under a throwaway systemd ($systemd), on 0.0.0.0:$port"
  local r="" hp="" deadline=$((SECONDS + 120))
  until curl -sf -m 2 -o /dev/null "http://127.0.0.1:$port/readyz"; do
    kill -0 "$bg" 2>/dev/null || sandbox_fail "systemd or hrmd stopped before hrmd was ready"
    [ $SECONDS -lt $deadline ] || sandbox_fail "hrmd was not ready within 120 s"
    sleep 0.5
  done
  pid1=$(pgrep -P "$bg" -x systemd) || sandbox_fail "no systemd below unshare ($bg)"
  r=/proc/$pid1/root
  hp=$(pgrep -P "$pid1" -x hrmd) || sandbox_fail "hrmd is ready, but not a child of the throwaway systemd"
  local status video render
  status=$(cat "/proc/$hp/status")
  video=$(awk -F: '$1 == "video" { print $3 }' "$r/etc/group")
  render=$(awk -F: '$1 == "render" { print $3 }' "$r/etc/group")
  [ -n "$video" ] && [ -n "$render" ] || sandbox_fail "install.sh left no video or render group in the installed root"
  for f in "CapEff:	0000000000000000" "CapBnd:	0000000000000000" "CapAmb:	0000000000000000" "NoNewPrivs:	1" "Seccomp:	2"; do
    grep -qx "$f" <<<"$status" || sandbox_fail "hrmd runs without $f (its /proc status: $(grep -E '^(Cap|NoNew|Seccomp)' <<<"$status" | tr '\n' ' '))"
  done
  grep -Eq "^Groups:.*\b$video\b" <<<"$status" || sandbox_fail "hrmd is not in the video group ($video), which opens a Jetson's GPU"
  grep -Eq "^Groups:.*\b$render\b" <<<"$status" || sandbox_fail "hrmd is not in the render group ($render), whose render node CUDA opens"
  cp testdata/arc/ARC-AGI-1/training/3631a71a.json "$r/var/lib/hrmd/inbox/t.json.tmp"
  mv "$r/var/lib/hrmd/inbox/t.json.tmp" "$r/var/lib/hrmd/inbox/t.json"
  deadline=$((SECONDS + 60))
  until [ -f "$r/var/lib/hrmd/outbox/t.json" ]; do
    [ ! -f "$r/var/lib/hrmd/failed/t.json" ] || sandbox_fail "the task failed: $(cat "$r/var/lib/hrmd/failed/t.error.json")"
    [ $SECONDS -lt $deadline ] || sandbox_fail "no answer in outbox/ within 60 s"
    sleep 0.2
  done
  [ "$(stat -c %a "$r/var/lib/hrmd/outbox/t.json")" = 640 ] || sandbox_fail "the answer is mode $(stat -c %a "$r/var/lib/hrmd/outbox/t.json"), not 640 (UMask=0027)"
  # /proc/cpuinfo and /proc/meminfo name the device: /proc is not hidden.
  grep -q '"device": *".*GiB memory' "$r/var/lib/hrmd/outbox/t.json" || sandbox_fail "the answer's runtime.device lacks the memory that /proc/meminfo gives"
  # The count follows the answer on disk (the input goes to done/ first):
  # wait for it, as for the answer.
  deadline=$((SECONDS + 30))
  until curl -sf -m 3 "http://127.0.0.1:$port/metrics" | grep -qx 'hrmd_puzzles_total{outcome="answered"} 1'; do
    [ $SECONDS -lt $deadline ] || sandbox_fail "/metrics over 127.0.0.1 does not count the answer within 30 s"
    sleep 0.2
  done
  local ip
  ip=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ sub("/.*", "", $4); print $4; exit }')
  if [ -z "$ip" ]; then
    say "sandbox-test: no address but loopback here: IPAddressDeny= not checked"
  elif curl -s -m 3 -o /dev/null "http://$ip:$port/healthz"; then
    sandbox_fail "hrmd answered on $ip: IPAddressDeny=any does not hold"
  fi
  say "sandbox-test: hrmd ran under the unit's sandbox (no capabilities, seccomp, the video and render groups), answered a task, served /metrics on loopback${ip:+ and not on $ip}"
  deb_test "$deb"
)

# Inside a private mount namespace: this machine's / under an overlay, the
# bundle installed there, then a systemd as PID 1 of new pid and cgroup
# namespaces, chrooted into it, starting hrmd.service alone.
sandbox_boot() {
  local tmp=$1 unpacked=$2 systemd=$3 cg=$4 port=$5
  local r=$tmp/root
  mkdir "$tmp/layers" "$r"
  mount -t tmpfs tmpfs "$tmp/layers"
  mkdir "$tmp/layers/upper" "$tmp/layers/work"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$tmp/layers/upper,workdir=$tmp/layers/work" "$r"
  grep -q '^video:' "$r/etc/group" || groupadd --root "$r" --system video
  sh "$unpacked/install.sh" --root "$r" >&2
  sed -i "s|^  listen: 127.0.0.1:9464|  listen: 0.0.0.0:$port|" "$r/etc/hrmd/hrmd.yaml"
  grep -q "listen: 0.0.0.0:$port" "$r/etc/hrmd/hrmd.yaml" || die "sandbox-test: hrmd.yaml has no 'listen: 127.0.0.1:9464' line to change"
  # Only where the output goes: no journald here.
  mkdir -p "$r/etc/systemd/system/hrmd.service.d"
  printf '[Service]\nStandardOutput=append:/var/log/hrmd.log\nStandardError=inherit\n' >"$r/etc/systemd/system/hrmd.service.d/log.conf"
  mount -t tmpfs tmpfs "$r/run"
  mount -t tmpfs tmpfs "$r/tmp"
  mount --rbind /dev "$r/dev"
  # systemd's own messages go to its console: a file, not this machine's.
  touch "$tmp/console"
  mount --bind "$tmp/console" "$r/dev/console"
  mount -t sysfs sysfs "$r/sys"
  echo "$BASHPID" >"$cg/cgroup.procs"
  # shellcheck disable=SC2016 # the inner bash's own arguments
  exec unshare --cgroup --pid --fork --mount-proc="$r/proc" bash -c \
    'mount -t cgroup2 cgroup2 "$1/sys/fs/cgroup" && exec chroot "$1" env container=hrmd-sandbox-test "$2" --unit=hrmd.service' \
    bash "$r" "$systemd"
}

sandbox_fail() {
  local r=/proc/${pid1:-0}/root
  { echo "--- systemd's console"; tail -n 30 "$tmp/console"; } >&2 2>/dev/null || true
  { echo "--- hrmd's log"; tail -n 30 "$r/var/log/hrmd.log"; } >&2 2>/dev/null || true
  die "sandbox-test: $1 (systemd's console and hrmd's log above)"
}

# Ends the throwaway systemd (its pid namespace with it) and, once its last
# process is gone, removes its cgroups.
sandbox_stop() {
  [ -n "$pid1" ] || [ -z "$bg" ] || pid1=$(pgrep -P "$bg" -x systemd) || true
  local deadline=$((SECONDS + 30))
  if [ -n "$pid1" ]; then
    # SIGRTMIN+4: power off, which stops hrmd as systemctl stop would.
    kill -s RTMIN+4 "$pid1" 2>/dev/null || true
    while kill -0 "$pid1" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    kill -9 "$pid1" 2>/dev/null || true
  fi
  [ -z "$bg" ] || wait "$bg" 2>/dev/null || true
  [ -d "$cg" ] || return 0
  deadline=$((SECONDS + 10))
  until grep -qx 'populated 0' "$cg/cgroup.events" || [ $SECONDS -ge $deadline ]; do sleep 0.1; done
  find "$cg" -depth -type d -exec rmdir {} + || say "sandbox-test: could not remove the cgroup $cg (above)"
}

first_of() {
  local f
  for f in "$@"; do
    [ ! -x "$f" ] || { echo "$f"; return 0; }
  done
  return 1
}

# The torture suite (internal/torture): the real daemon killed, shared,
# fed hostile entries, starved of disk, reloaded in a storm, held open and
# soaked, each time held to the spool's invariants. Its tmpfs scenario
# mounts in a private mount namespace: as root; CI
# (HRMD_REQUIRE_JETSON_TESTS) requires it to run.
cmd_torture() {
  cmd_build
  export HRMD_ORT_LIB=${HRMD_ORT_LIB:-$(ort_lib "$(host_arch)")}
  go build -o "$CACHE/bin/hrmd-torture" ./internal/torture
  local -a args=(-hrmd bin/hrmd -nats-server "$CACHE/bin/nats-server")
  [ -z "${HRMD_REQUIRE_JETSON_TESTS:-}" ] || args+=(-require-root)
  local mode=full
  [[ " $* " != *" -short "* ]] || mode=short
  say "torture ($mode): internal/torture"
  "$CACHE/bin/hrmd-torture" "${args[@]}" "$@" || die "the torture suite found the daemon breaking an invariant (above)"
}

# The long test of the demo's training script (engine/export/train_demo.py):
# trained from scratch it must learn; ./build.sh test runs it for 100 steps.
cmd_train_test() {
  have_torch || die "train-test needs $PY with torch, onnx and yaml (apt-get install python3-torch python3-onnx python3-yaml libopenblas0-pthread)"
  say "train-test: engine/export/test_train_demo.py with HRMD_TRAIN_TEST=1 (about 5 min)"
  HRMD_TRAIN_TEST=1 "$PY" -m unittest discover -s engine/export -p test_train_demo.py || die "the training test failed"
}

# The fleet test (issue 15): the torture suite's fleet scenario, a gateway
# and three workers over a three-server JetStream cluster on 127.0.0.1, 500
# real ARC tasks and 10 bad files, a worker, a server and the gateway
# killed with SIGKILL mid-run; and issue 22's fleet-key (the fleet's key
# revoked, then restored), fleet-hang (the gateway's server hung) and
# fleet-chmod (the gateway's work/ files changed under it). Short unless -full.
cmd_fleet_test() {
  local -a args=(-only "fleet,fleet-key,fleet-hang,fleet-chmod")
  [[ " $* " == *" -full "* ]] || args+=(-short)
  cmd_torture "${args[@]}" "$@"
}

# The demo: the real daemon on a temporary spool with the trained demo model
# (engine/models/demo), fed its family's examples, a real ARC task and a broken file.
cmd_demo() {
  cmd_build
  go build -o "$CACHE/bin/hrmd-demo" ./internal/demo
  say "running the demo (internal/demo/main.go)"
  "$CACHE/bin/hrmd-demo" -hrmd bin/hrmd "$@"
}

cmd_help() {
  cat <<EOH
usage: ./build.sh COMMAND

  cross     build bin/linux-arm64/hrmd for the Jetson (needs gcc-aarch64-linux-gnu)
  qemu-smoke [TASK [MODEL]]  the arm64 build under qemu on a real ARC task: its answer must equal x64's (root)
  bundle [--arch arm64|x64] [--model DIR]
            dist/hrmd-VERSION-linux-ARCH.tar.gz: hrmd, onnxruntime (CPU), the unit
            files, install.sh, the model as models/default, SHA256SUMS (default arm64)
  deb [--arch arm64|amd64] [--model DIR]
            dist/hrmd_VERSION_ARCH.deb for arm64 (JetPack 6) and amd64: hrmd, onnxruntime
            (CPU) in /usr/lib/hrmd, the unit, the model (default the demo's), the config
            as a conffile; lintian checks them where it is installed
  deploy [USER@]HOST ... [--hosts FILE] [--arch A] [--model DIR] [--port N]
         [--identity KEYFILE] [--root DIR] [--ssh-option OPT ...] [--dry-run]
            bundle, copy over ssh, run install.sh there (sudo unless root), wait up
            to 10 minutes for /readyz; with several hosts (arguments, and/or FILE:
            one [USER@]HOST a line, # comments), one bundle, one host at a time,
            each ready before the next; the first that fails stops the roll and
            prints the command that resumes it; --root DIR installs into DIR on
            each, starts nothing; --dry-run prints the commands and runs none
  deploy-test  deploy over throwaway sshd's on 127.0.0.1-4 into temporary roots
            (one, then a roll over three that stops at a failing one and resumes),
            and check the arm64 bundle (root; openssh-server, file, unshare)
  sandbox-test  the x64 bundle installed on an overlay of / and started under a
            throwaway systemd: hrmd must run and answer inside the unit's sandbox; then
            the amd64 .deb there: installed, upgraded, removed and purged (root)
  demo      build, then run hrmd on a temporary spool with the demo model and show its answers
  torture [-short] [-only NAMES] [-seed N] [-keep]
            the real hrmd through kill -9 at random moments, three daemons on one
            spool, hostile inbox entries, a full tmpfs (root), a SIGHUP storm, idle
            connections, a soak, the largest file and the spool's faults (crafted
            .error.json names, the outbox written under an answer, a stuck input
            removed, done/ or work/ removed, a bind mount over the inbox, many
            earlier files of one name): one line per scenario with
            lost, twice and overwritten (all 0); -short is the part test runs
            (the fleet scenario only with -only fleet: see fleet-test)
  fleet-test [-full] [-seed N] [-keep]
            a gateway and three workers over a three-server NATS JetStream cluster on
            127.0.0.1: 500 real ARC tasks and 10 bad files, a worker, a server and the
            gateway killed with SIGKILL and restarted; every file answered or failed
            exactly once; the numbers, and the same 500 with one worker (-full: longer)
  deps      fetch onnxruntime $ORT_VERSION (linux x64 and arm64, from npm) into .cache/, Go modules, staticcheck,
            nats-server $NATS_SERVER_VERSION (go install, for the fleet test)
  build     build bin/hrmd (with the version stamped in)
  fixtures  regenerate the tiny test bundles engine/testdata/{nova-tiny,nova-zero,act-v1-tiny} (needs python3-torch)
  test      gofmt, go vet, staticcheck, go test -race, torture -short, fleet-test, the exporter's
            tests, qemu-smoke, deploy-test and sandbox-test with the .deb (each where it can run;
            all in CI)
  train-test  the demo's training script for 700 steps from scratch: the model must
            learn the halo rule (10 of 50 fresh puzzles or more) and export (about 5 min;
            test runs a 100-step version)
  bench     Go benchmarks (with a full-size random bundle when python3-torch is there)
  measure-precision [-full]
            every committed bundle (-full: and full-size random nova and act-v1 exports)
            stored as fp16, bf16 and e4m3 to e4m0 by a precision proxy, through hrmd verify:
            the table behind the check's tau and delta (docs/jetson.md)
EOH
}

main() {
  local cmd=${1:-help}
  shift || true
  case "$cmd" in
    demo | deps | build | cross | bundle | deb | deploy | fixtures | test | bench | torture | help) "cmd_$cmd" "$@" ;;
    qemu-smoke) cmd_qemu_smoke "$@" ;;
    fleet-test) cmd_fleet_test "$@" ;;
    deploy-test) cmd_deploy_test "$@" ;;
    sandbox-test) cmd_sandbox_test "$@" ;;
    measure-precision) cmd_measure_precision "$@" ;;
    train-test) cmd_train_test "$@" ;;
    -h | --help) cmd_help ;;
    *) cmd_help >&2; die "unknown command: $cmd" ;;
  esac
}

main "$@"

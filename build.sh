#!/usr/bin/env bash
# hrmd's one entry point for people and CI. `./build.sh help` lists the commands.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD

ORT_VERSION=1.30.0
ORT_NPM_PACKAGE=onnxruntime-node@$ORT_VERSION
# sha256 of bin/napi-v6/linux/<arch>/libonnxruntime.so.1 in that npm package.
ORT_SHA256_x64=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
ORT_SHA256_arm64=1f549d46250b005580b597f4164984aaf75b3bcb9f3aeb07c7f8a8fe60b23c76
STATICCHECK_VERSION=v0.8.2
CACHE=$ROOT/.cache
ORT_DIR=$CACHE/onnxruntime/$ORT_VERSION
PY=/usr/bin/python3 # Debian's, with python3-torch and python3-onnx (not the python3 first on PATH)
MODULE=github.com/hrmd/hrmd
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

have_torch() { [ -x "$PY" ] && "$PY" -c 'import torch, onnx, yaml' 2>/dev/null; }

version() { git describe --tags --always --dirty 2>/dev/null || echo dev; }

cmd_deps() {
  command -v go >/dev/null || die "Go is needed: https://go.dev/doc/install (go 1.26 or newer)"
  fetch_ort
  go mod download
  fetch_staticcheck
}

cmd_build() {
  cmd_deps
  say "building bin/hrmd"
  CGO_ENABLED=1 go build -trimpath -ldflags "-X $MODULE/daemon.Version=$(version)" -o bin/hrmd ./daemon/cmd/hrmd
}

cmd_fixtures() {
  have_torch || die "the exporter needs Debian's python3-torch, python3-onnx and python3-yaml: apt-get install python3-torch python3-onnx python3-yaml libopenblas0-pthread"
  say "regenerating engine/testdata/nova-tiny (tiny random nova, seed 1, with golden.json)"
  "$PY" engine/export/hrm_export.py --random tiny --seed 1 --out engine/testdata/nova-tiny --golden
}

cmd_test() {
  cmd_deps
  export HRMD_ORT_LIB=${HRMD_ORT_LIB:-$(ort_lib "$(host_arch)")}
  say "gofmt"
  local unformatted
  unformatted=$(gofmt -l $(git ls-files --cached --others --exclude-standard '*.go'))
  [ -z "$unformatted" ] || die "gofmt would change: $unformatted (run gofmt -w)"
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
    "$PY" engine/export/hrm_export.py --random full --seed 1 --out "$full" --golden --golden-cases 2 >/dev/null
    export HRMD_FULL_BUNDLE=$full
    [ -z "${HRMD_REQUIRE_EXPORTER_TESTS:-}" ] || export HRMD_REQUIRE_FULL_BUNDLE=1
  fi
  say "go test -race ./..."
  go test -race -count=1 ./...
  if [ -n "$torch" ]; then
    say "exporter tests ($PY -m unittest discover -s engine/export)"
    "$PY" -m unittest discover -s engine/export || die "exporter tests failed"
  else
    say "SKIPPED the exporter tests and the full-size parity tests: $PY lacks torch, onnx or yaml (apt-get install python3-torch python3-onnx python3-yaml libopenblas0-pthread)"
  fi
  say "all tests passed"
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
    go build -trimpath -ldflags "-X $MODULE/daemon.Version=$(version)" -o bin/linux-arm64/hrmd ./daemon/cmd/hrmd
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
  local tmp task=${1:-../shared/arc/ARC-AGI-1/training/3631a71a.json} model=${2:-engine/testdata/nova-tiny}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  arm64_cpuinfo >"$tmp/cpuinfo"
  say "bin/linux-arm64/hrmd solve $task under qemu-aarch64"
  HRMD_ORT_LIB=$(ort_lib arm64) QEMU_CPU=max unshare -m sh -c \
    'mount --bind "$1" /proc/cpuinfo && exec qemu-aarch64-static -L /usr/aarch64-linux-gnu bin/linux-arm64/hrmd solve "$2" --model "$3"' \
    sh "$tmp/cpuinfo" "$task" "$model" >"$tmp/arm64.json" || die "the arm64 build failed under qemu (see above)"
  HRMD_ORT_LIB=$(ort_lib x64) bin/hrmd solve "$task" --model "$model" >"$tmp/x64.json"
  # The answers, without runtime (device and latency differ by design).
  local a b
  a=$(grep -v '"runtime"' "$tmp/arm64.json" | sed -n '/"answers"/,/"model"/p' | grep -v latency)
  b=$(grep -v '"runtime"' "$tmp/x64.json" | sed -n '/"answers"/,/"model"/p' | grep -v latency)
  [ -n "$a" ] && [ "$a" = "$b" ] || { diff "$tmp/x64.json" "$tmp/arm64.json" >&2; die "the arm64 answer differs from the x64 answer (above)"; }
  say "arm64 under qemu answers $task with $model exactly as x64 does"
)

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
  demo      build, then run hrmd on a temporary spool with the demo model and show its answers
  deps      fetch onnxruntime $ORT_VERSION (linux x64 and arm64, from npm) into .cache/, Go modules, staticcheck
  build     build bin/hrmd (with the version stamped in)
  fixtures  regenerate the tiny test bundle engine/testdata/nova-tiny (needs python3-torch)
  test      gofmt, go vet, staticcheck, go test -race, and the exporter's tests
  bench     Go benchmarks (with a full-size random bundle when python3-torch is there)
EOH
}

main() {
  local cmd=${1:-help}
  shift || true
  case "$cmd" in
    demo | deps | build | cross | fixtures | test | bench | help) "cmd_$cmd" "$@" ;;
    qemu-smoke) cmd_qemu_smoke "$@" ;;
    -h | --help) cmd_help ;;
    *) cmd_help >&2; die "unknown command: $cmd" ;;
  esac
}

main "$@"

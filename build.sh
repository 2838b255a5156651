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
    demo | deps | build | fixtures | test | bench | help) "cmd_$cmd" "$@" ;;
    -h | --help) cmd_help ;;
    *) cmd_help >&2; die "unknown command: $cmd" ;;
  esac
}

main "$@"

#!/usr/bin/env bash
# ./build.sh test: every check and test of the repository, each where it can
# run (all of them in CI).
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

cmd_test() {
  job deps
  export HRMD_ORT_LIB=${HRMD_ORT_LIB:-$(ort_lib "$(host_arch)")}
  test_static
  local torch=""
  if have_torch; then
    torch=yes
  elif [ -n "${HRMD_REQUIRE_EXPORTER_TESTS:-}" ]; then
    die "the exporter tests must run here (HRMD_REQUIRE_EXPORTER_TESTS is set) but $PY lacks torch, onnx or yaml"
  fi
  [ -z "$torch" ] || test_exports
  # The NATS cluster tests (internal/torture) start this nats-server.
  export HRMD_NATS_SERVER=$CACHE/bin/nats-server
  say "go test -race ./..."
  go test -race -count=1 ./...
  job torture -short
  job fleet-test
  test_exporter "$torch"
  test_jetson
  say "all tests passed"
}

# What reads the sources without running them.
test_static() {
  say "gofmt"
  local unformatted
  unformatted=$(git ls-files -z --cached --others --exclude-standard '*.go' | xargs -0 -r gofmt -l)
  [ -z "$unformatted" ] || die "gofmt would change: $unformatted (run gofmt -w)"
  say "go mod tidy -diff"
  go mod tidy -diff || die "go.mod or go.sum is not tidy (the diff above): run go mod tidy and commit the result"
  (cd internal/tools && go mod tidy -diff) ||
    die "internal/tools/go.mod or go.sum is not tidy (the diff above): run go mod tidy in internal/tools and commit the result"
  say "go vet"
  go vet ./...
  say "staticcheck"
  staticcheck ./...
  test_shellcheck
}

# Every shell script, at shellcheck's default severity (style included).
test_shellcheck() {
  command -v shellcheck >/dev/null || die "shellcheck is needed: apt-get install shellcheck"
  local -a scripts
  mapfile -d '' -t scripts < <(shell_scripts)
  say "shellcheck (${#scripts[@]} scripts)"
  shellcheck -x "${scripts[@]}" || die "shellcheck found the problems above: fix them (a disable comment must say why)"
}

# The shell scripts here, NUL-terminated: *.sh, and the files without an
# extension whose first line runs sh or bash (.ci/run).
shell_scripts() {
  local f first
  while IFS= read -r -d '' f; do
    case "${f##*/}" in
      *.sh) printf '%s\0' "$f" ;;
      *.*) ;;
      *)
        first=""
        read -r first <"$f" 2>/dev/null || true
        if [[ $first =~ ^#!.*[/\ ](ba|da)?sh(\ .*)?$ ]]; then printf '%s\0' "$f"; fi
        ;;
    esac
  done < <(git ls-files -z --cached --others --exclude-standard)
}

# With torch: full-size random bundles with their PyTorch reference, and
# precision proxies, which the Go tests hold ONNX Runtime to.
test_exports() {
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
  # A full-size random Sudoku act-v1 with sapient's Full Sudoku-Hard recipe's learned
  # positions and 8 steps (81 cells: a step costs a tenth of ARC's), two inputs. A maze's
  # full size is ARC's graph but for its vocabulary, so none is exported here.
  local act_sudoku=$CACHE/test/act-v1-sudoku-full-random
  say "exporting a full-size random act-v1 Sudoku bundle (learned positions) with golden.json to $act_sudoku"
  rm -rf "$act_sudoku"
  "$PY" engine/export/hrm_export.py --family act-v1 --random full --task sudoku --arch pos_encodings=learned \
    --arch halt_max_steps=8 --seed 1 --out "$act_sudoku" --check-cases 2 >/dev/null
  export HRMD_ACT_SUDOKU_FULL_BUNDLE=$act_sudoku
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
}

# The exporter's own tests, where $1 says torch is there.
test_exporter() {
  if [ -n "$1" ]; then
    say "exporter tests ($PY -m unittest discover -s engine/export)"
    "$PY" -m unittest discover -s engine/export || die "exporter tests failed"
  else
    say "SKIPPED the exporter tests and the full-size parity tests: $PY lacks torch, onnx or yaml (apt-get install python3-torch python3-onnx python3-yaml libopenblas0-pthread)"
  fi
}

# The tests of the Jetson side that need root.
test_jetson() {
  jetson_test "the arm64 smoke test under qemu" "gcc-aarch64-linux-gnu qemu-user-static" \
    qemu-smoke aarch64-linux-gnu-gcc qemu-aarch64-static unshare
  jetson_test "the deploy test over ssh" "openssh-server openssh-client file gcc-aarch64-linux-gnu util-linux" \
    deploy-test /usr/sbin/sshd ssh ssh-keygen file useradd systemd-tmpfiles aarch64-linux-gnu-gcc unshare
  jetson_test "the unit's sandbox and the .deb under a throwaway systemd" "systemd curl iproute2 adduser" \
    sandbox-test unshare findmnt curl ip useradd systemd-tmpfiles nsenter adduser
}

# Runs a test (one of build.sh's commands) that needs root and some tools
# where they are, else says how to get them; CI (HRMD_REQUIRE_JETSON_TESTS)
# requires it to run.
jetson_test() {
  local what=$1 packages=$2 name=$3 tool
  shift 3
  local -a why=()
  [ "$(id -u)" = 0 ] || why+=("not root")
  for tool in "$@"; do
    command -v "$tool" >/dev/null || why+=("no $tool")
  done
  if [ ${#why[@]} = 0 ]; then
    # Not in a condition: set -e must hold inside it.
    job "$name"
  elif [ -n "${HRMD_REQUIRE_JETSON_TESTS:-}" ]; then
    die "$what must run here (HRMD_REQUIRE_JETSON_TESTS is set), but: ${why[*]} (apt-get install $packages; as root)"
  else
    say "SKIPPED $what: ${why[*]} (apt-get install $packages; as root)"
  fi
}

cmd_test "$@"

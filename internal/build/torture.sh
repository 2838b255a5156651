#!/usr/bin/env bash
# ./build.sh torture [-short] [-only NAMES] [-seed N] [-keep]: the torture suite.
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

# The torture suite (internal/torture): the real daemon killed, shared,
# fed hostile entries, starved of disk, reloaded in a storm, held open and
# soaked, each time held to the spool's invariants. Its tmpfs scenario
# mounts in a private mount namespace: as root; CI
# (HRMD_REQUIRE_JETSON_TESTS) requires it to run.
cmd_torture() {
  job build
  export HRMD_ORT_LIB=${HRMD_ORT_LIB:-$(ort_lib "$(host_arch)")}
  go build -o "$CACHE/bin/hrmd-torture" ./internal/torture
  local -a args=(-hrmd bin/hrmd -nats-server "$CACHE/bin/nats-server")
  [ -z "${HRMD_REQUIRE_JETSON_TESTS:-}" ] || args+=(-require-root)
  local mode=full
  [[ " $* " != *" -short "* ]] || mode=short
  say "torture ($mode): internal/torture"
  "$CACHE/bin/hrmd-torture" "${args[@]}" "$@" || die "the torture suite found the daemon breaking an invariant (above)"
}

cmd_torture "$@"

#!/usr/bin/env bash
# ./build.sh fleet-test [-full] [-seed N] [-keep]: the torture suite's fleet scenarios.
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

# The fleet test (issue 15): the torture suite's fleet scenario, a gateway
# and three workers over a three-server JetStream cluster on 127.0.0.1, 500
# real ARC tasks and 10 bad files, a worker, a server and the gateway
# killed with SIGKILL mid-run; and issue 22's fleet-key (the fleet's key
# revoked, then restored), fleet-hang (the gateway's server hung) and
# fleet-chmod (the gateway's work/ files changed under it). Short unless -full.
cmd_fleet_test() {
  local -a args=(-only "fleet,fleet-key,fleet-hang,fleet-chmod")
  [[ " $* " == *" -full "* ]] || args+=(-short)
  job torture "${args[@]}" "$@"
}

cmd_fleet_test "$@"

#!/usr/bin/env bash
# ./build.sh demo [flags of internal/demo]: the README's first command.
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

# The demo: the real daemon on a temporary spool with the trained demo model
# (engine/models/demo), fed its family's examples, a real ARC task and a broken file.
cmd_demo() {
  job build
  go build -o "$CACHE/bin/hrmd-demo" ./internal/demo
  say "running the demo (internal/demo/main.go)"
  "$CACHE/bin/hrmd-demo" -hrmd bin/hrmd "$@"
}

cmd_demo "$@"

#!/usr/bin/env bash
# ./build.sh build: bin/hrmd, with the version (git describe) stamped in.
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

cmd_build() {
  job deps
  say "building bin/hrmd"
  CGO_ENABLED=1 go build -trimpath -ldflags "-X main.version=$(version)" -o bin/hrmd ./daemon/cmd/hrmd
}

cmd_build "$@"

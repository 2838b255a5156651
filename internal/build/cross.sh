#!/usr/bin/env bash
# ./build.sh cross: bin/linux-arm64/hrmd for the Jetson.
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

# Cross-compile for the Jetson (linux/arm64) with Debian's gcc-aarch64-linux-gnu.
cmd_cross() {
  job deps
  command -v aarch64-linux-gnu-gcc >/dev/null || die "cross-compiling needs Debian's gcc-aarch64-linux-gnu: apt-get install gcc-aarch64-linux-gnu"
  say "building bin/linux-arm64/hrmd"
  CC=aarch64-linux-gnu-gcc CGO_ENABLED=1 GOOS=linux GOARCH=arm64 \
    go build -trimpath -ldflags "-X main.version=$(version)" -o bin/linux-arm64/hrmd ./daemon/cmd/hrmd
}

cmd_cross "$@"

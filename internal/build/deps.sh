#!/usr/bin/env bash
# ./build.sh deps: onnxruntime, Go modules, and the tools pinned in
# internal/tools/go.mod (staticcheck, nats-server) built into .cache/bin.
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

cmd_deps() {
  command -v go >/dev/null || die "Go is needed: https://go.dev/doc/install (go 1.26 or newer)"
  job ort
  go mod download
  fetch_tools
}

# The tools are a module of their own (internal/tools), so that their
# dependencies stay out of hrmd's go.mod: `go install tool` builds each `tool`
# line of its go.mod at the version pinned there. A stamp of that go.mod and
# go.sum skips the build while they are unchanged.
fetch_tools() {
  local stamp name missing=""
  stamp=$(cat internal/tools/go.mod internal/tools/go.sum | sha256sum | cut -d' ' -f1)
  for name in $(tool_names); do
    [ -x "$CACHE/bin/$name" ] || missing=yes
  done
  if [ -z "$missing" ] && [ "$(cat "$CACHE/bin/.tools-stamp" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  say "installing $(tool_names | paste -sd ' ') into .cache/bin at the versions internal/tools/go.mod pins"
  (cd internal/tools && GOBIN=$CACHE/bin go install tool)
  echo "$stamp" >"$CACHE/bin/.tools-stamp"
}

# The binaries `go install tool` makes: each tool's last path element that is
# not a major version (github.com/nats-io/nats-server/v2: nats-server).
tool_names() {
  awk '/^tool \($/ { block = 1; next }
    block && /^\)/ { block = 0 }
    block || /^tool [^(]/ {
      n = split(block ? $1 : $2, part, "/"); name = part[n]
      if (name ~ /^v[0-9]+$/) name = part[n - 1]
      print name
    }' internal/tools/go.mod
}

cmd_deps "$@"

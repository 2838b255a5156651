#!/usr/bin/env bash
# ./build.sh sandbox-test: the shipped unit's sandbox under a throwaway systemd (root).
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

# The shipped unit under a real systemd: a throwaway one, PID 1 of its own pid,
# mount and cgroup namespaces, on an overlay of this machine's / (nothing here
# changes). The x64 bundle is installed there by its install.sh; hrmd must
# start inside the sandbox, answer a task, serve /metrics on loopback and be
# out of reach from this machine's other addresses. No GPU here: the device
# rules for it are only read, not used.
cmd_sandbox_test() {
  [ "$(id -u)" = 0 ] || die "sandbox-test runs a systemd of its own in new namespaces: run it as root"
  local tool systemd cgroot
  for tool in unshare findmnt curl ip nsenter adduser; do
    command -v "$tool" >/dev/null || die "sandbox-test needs $tool: apt-get install util-linux mount curl iproute2 adduser"
  done
  systemd=$(first_of /lib/systemd/systemd /usr/lib/systemd/systemd) || die "sandbox-test needs systemd: apt-get install systemd"
  cgroot=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
  [ -n "$cgroot" ] || die "sandbox-test needs a cgroup2 hierarchy: IPAddressDeny= and DevicePolicy= are BPF programs attached to one"
  job bundle --arch x64 --model engine/models/demo
  local deb
  deb=$(deb_package amd64 engine/models/demo)
  # shellcheck source=internal/build/deb-test.sh
  source "$ROOT/internal/build/deb-test.sh"
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
  { [ -n "$video" ] && [ -n "$render" ]; } || sandbox_fail "install.sh left no video or render group in the installed root"
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
}

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

cmd_sandbox_test "$@"

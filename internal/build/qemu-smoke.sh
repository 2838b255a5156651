#!/usr/bin/env bash
# ./build.sh qemu-smoke [TASK [MODEL]]: the arm64 build under qemu-aarch64
# must answer a task exactly as the x64 build does.
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

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
  job build
  job cross
  command -v qemu-aarch64-static >/dev/null || die "the arm64 smoke test needs qemu-user-static: apt-get install qemu-user-static"
  [ "$(id -u)" = 0 ] || die "the arm64 smoke test bind-mounts an aarch64 /proc/cpuinfo in a private mount namespace (unshare -m): run it as root"
  local tmp task=${1:-testdata/arc/ARC-AGI-1/training/3631a71a.json} model=${2:-engine/testdata/nova-tiny}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  arm64_cpuinfo >"$tmp/cpuinfo"
  say "bin/linux-arm64/hrmd solve $task under qemu-aarch64"
  # Cortex-A76: the closest qemu 7.2 has to the Orin's Cortex-A78AE (ARMv8.2,
  # dot product, no SVE). With -cpu max qemu offers SVE, onnxruntime takes it,
  # and qemu emulates it so slowly that this one task takes over 10 minutes.
  # shellcheck disable=SC2016 # sh -c's own arguments
  HRMD_ORT_LIB=$(ort_lib arm64) QEMU_CPU=cortex-a76 unshare -m sh -c \
    'mount --bind "$1" /proc/cpuinfo && exec qemu-aarch64-static -L /usr/aarch64-linux-gnu bin/linux-arm64/hrmd solve "$2" --model "$3"' \
    sh "$tmp/cpuinfo" "$task" "$model" >"$tmp/arm64.json" || die "the arm64 build failed under qemu (see above)"
  HRMD_ORT_LIB=$(ort_lib x64) bin/hrmd solve "$task" --model "$model" >"$tmp/x64.json"
  # The answers, without runtime (device and latency differ by design).
  local a b
  a=$(grep -v '"runtime"' "$tmp/arm64.json" | sed -n '/"answers"/,/"model"/p' | grep -v latency)
  b=$(grep -v '"runtime"' "$tmp/x64.json" | sed -n '/"answers"/,/"model"/p' | grep -v latency)
  if [ -z "$a" ] || [ "$a" != "$b" ]; then
    diff "$tmp/x64.json" "$tmp/arm64.json" >&2
    die "the arm64 answer differs from the x64 answer (above)"
  fi
  say "arm64 under qemu answers $task with $model exactly as x64 does"
)

cmd_qemu_smoke "$@"

#!/usr/bin/env bash
# hrmd's one entry point for people and CI. `./build.sh help` lists the
# commands. Each is a script of its own, internal/build/NAME.sh for the
# command NAME (sharing internal/build/lib.sh), run with the arguments that
# follow the name; each runs directly too (docs/build.md, "Where the scripts live").
set -euo pipefail
jobs=$(dirname "$0")/internal/build

die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

cmd_help() (
  # shellcheck source=internal/build/lib.sh
  source "$jobs/lib.sh"
  cat <<EOH
usage: ./build.sh COMMAND

  cross     build bin/linux-arm64/hrmd for the Jetson (needs gcc-aarch64-linux-gnu)
  qemu-smoke [TASK [MODEL]]  the arm64 build under qemu on a real ARC task: its answer must equal x64's (root)
  bundle [--arch arm64|x64] [--model DIR]
            dist/hrmd-VERSION-linux-ARCH.tar.gz: hrmd, onnxruntime (CPU), the unit
            files, install.sh, the model as models/default, SHA256SUMS (default arm64)
  deploy [USER@]HOST ... [--hosts FILE] [--arch A] [--model DIR] [--port N]
         [--identity KEYFILE] [--root DIR] [--ssh-option OPT ...] [--dry-run]
            bundle, copy over ssh, run install.sh there (sudo unless root), wait up
            to 10 minutes for /readyz; with several hosts (arguments, and/or FILE:
            one [USER@]HOST a line, # comments), one bundle, one host at a time,
            each ready before the next; the first that fails stops the roll and
            prints the command that resumes it; --root DIR installs into DIR on
            each, starts nothing; --dry-run prints the commands and runs none
  deploy-test  deploy over throwaway sshd's on 127.0.0.1-4 into temporary roots
            (one, then a roll over three that stops at a failing one and resumes),
            and check the arm64 bundle (root; openssh-server, file, unshare)
  sandbox-test  the x64 bundle installed on an overlay of / and started under a
            throwaway systemd: hrmd must run and answer inside the unit's sandbox; then
            the amd64 .deb there: installed, upgraded, removed and purged (root)
  deb [--arch arm64|amd64] [--model DIR]
            dist/hrmd_VERSION_ARCH.deb for arm64 (JetPack 6) and amd64 (dpkg-deb): hrmd,
            onnxruntime (CPU) in /usr/lib/hrmd, the unit, the model (default the demo's),
            the config as a conffile; lintian checks them where it is installed
  demo      build, then run hrmd on a temporary spool with the demo model and show its answers
  torture [-short] [-only NAMES] [-seed N] [-keep]
            the real hrmd through kill -9 at random moments, three daemons on one
            spool, hostile inbox entries, a full tmpfs (root), a SIGHUP storm, idle
            connections, a soak, the largest file and the spool's faults (crafted
            .error.json names, the outbox written under an answer, a stuck input
            removed, done/ or work/ removed, a bind mount over the inbox, many
            earlier files of one name): one line per scenario with
            lost, twice and overwritten (all 0); -short is the part test runs
            (the fleet scenario only with -only fleet: see fleet-test)
  fleet-test [-full] [-seed N] [-keep]
            a gateway and three workers over a three-server NATS JetStream cluster on
            127.0.0.1: 500 real ARC tasks and 10 bad files, a worker, a server and the
            gateway killed with SIGKILL and restarted; every file answered or failed
            exactly once; the numbers, and the same 500 with one worker (-full: longer)
  deps      fetch onnxruntime $ORT_VERSION (linux x64 and arm64, from npm) into .cache/, Go modules, and the
            tools internal/tools/go.mod pins into .cache/bin: staticcheck $(tool_version honnef.co/go/tools),
            nats-server $(tool_version github.com/nats-io/nats-server/v2) (for the fleet test)
  build     build bin/hrmd (with the version stamped in)
  fixtures  regenerate engine/testdata's tiny bundles: nova, act-v1 for ARC, Sudoku and maze (needs python3-torch)
  test      gofmt, go vet, staticcheck, shellcheck, go test -race, torture -short, fleet-test, the exporter's
            tests, qemu-smoke, deploy-test and sandbox-test with the .deb (each where it can run;
            all in CI)
  train-test  the demo's training script for 700 steps from scratch: the model must
            learn the halo rule (10 of 50 fresh puzzles or more) and export (about 5 min;
            test runs a 100-step version)
  bench     Go benchmarks (with a full-size random bundle when python3-torch is there)
  measure-precision [-full]
            every committed bundle (-full: and full-size random nova and act-v1 exports)
            stored as fp16, bf16 and e4m3 to e4m0 by a precision proxy, through hrmd verify:
            the table behind the check's tau and delta (docs/jetson.md)
EOH
)

main() {
  local cmd=${1:-help}
  shift || true
  case "$cmd" in
    help | -h | --help) cmd_help ;;
    deps | build | cross | qemu-smoke | bundle | deploy | deploy-test | sandbox-test | deb | demo | torture | \
      fleet-test | fixtures | test | train-test | bench | measure-precision)
      # How it was called, for the commands deploy prints to run again.
      HRMD_BUILD_SH=$0 exec "$jobs/$cmd.sh" "$@"
      ;;
    *) cmd_help >&2; die "unknown command: $cmd" ;;
  esac
}

main "$@"

#!/usr/bin/env bash
# ./build.sh train-test: the demo's training script, 700 steps from scratch.
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

# The long test of the demo's training script (engine/export/train_demo.py):
# trained from scratch it must learn; ./build.sh test runs it for 100 steps.
cmd_train_test() {
  have_torch || die "train-test needs $PY with torch, onnx and yaml (apt-get install python3-torch python3-onnx python3-yaml libopenblas0-pthread)"
  say "train-test: engine/export/test_train_demo.py with HRMD_TRAIN_TEST=1 (about 5 min)"
  HRMD_TRAIN_TEST=1 "$PY" -m unittest discover -s engine/export -p test_train_demo.py || die "the training test failed"
}

cmd_train_test "$@"

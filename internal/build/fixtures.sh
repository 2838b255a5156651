#!/usr/bin/env bash
# ./build.sh fixtures: the tiny test bundles of engine/testdata, exported afresh.
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

cmd_fixtures() {
  have_torch || die "the exporter needs Debian's python3-torch, python3-onnx and python3-yaml: apt-get install python3-torch python3-onnx python3-yaml libopenblas0-pthread"
  say "regenerating engine/testdata/nova-tiny (tiny random nova, seed 1, with golden.json)"
  "$PY" engine/export/hrm_export.py --random tiny --seed 1 --out engine/testdata/nova-tiny
  say "regenerating engine/testdata/nova-zero (the same, its output forced to colour 0 whatever the input: Agent Zero)"
  "$PY" engine/export/hrm_export.py --random tiny --seed 1 --constant-output 0 --out engine/testdata/nova-zero
  say "regenerating engine/testdata/act-v1-tiny (tiny random sapient act-v1, seed 1, its 8-row puzzle table and golden.json)"
  "$PY" engine/export/hrm_export.py --family act-v1 --random tiny --seed 1 --out engine/testdata/act-v1-tiny
  # The seeds give check sets that stop both ways (sudoku) and decode to a grid or to none (both).
  say "regenerating engine/testdata/act-v1-sudoku-tiny (tiny random act-v1 for Sudoku, seed 6, the testdata/sudoku inputs)"
  "$PY" engine/export/hrm_export.py --family act-v1 --random tiny --task sudoku --seed 6 --out engine/testdata/act-v1-sudoku-tiny
  say "regenerating engine/testdata/act-v1-maze-tiny (tiny random act-v1 for mazes, seed 41, the testdata/maze inputs)"
  "$PY" engine/export/hrm_export.py --family act-v1 --random tiny --task maze --seed 41 --out engine/testdata/act-v1-maze-tiny
}

cmd_fixtures "$@"

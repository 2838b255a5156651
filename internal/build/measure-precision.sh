#!/usr/bin/env bash
# ./build.sh measure-precision [-full]: the table behind the check's tau and delta.
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

# The measurement behind the check's tau and delta (engine/checkjudge.go,
# docs/jetson.md "How fp16 was measured"): every bundle we have, stored in
# each format by a precision proxy, run through hrmd verify, as a table.
# -full adds the full-size random nova and act-v1 exports (minutes).
cmd_measure_precision() (
  have_torch || die "the precision proxy needs Debian's python3-onnx, python3-yaml (and python3-torch for -full): apt-get install python3-torch python3-onnx python3-yaml libopenblas0-pthread"
  job build
  export HRMD_ORT_LIB=${HRMD_ORT_LIB:-$(ort_lib "$(host_arch)")}
  local measured=$CACHE/measure-precision formats="fp16 bf16 fp8 e4m2 e4m1 e4m0" from format name
  local -a measure=(engine/models/demo engine/testdata/nova-tiny engine/testdata/nova-zero engine/testdata/act-v1-tiny) reports=()
  rm -rf "$measured"
  mkdir -p "$measured/bundles"
  if [ "${1:-}" = -full ]; then
    say "exporting the full-size random nova (2 check cases) and act-v1 (1 case) bundles"
    "$PY" engine/export/hrm_export.py --random full --seed 1 --out "$measured/bundles/nova-full-random" --check-cases 2 >/dev/null
    "$PY" engine/export/hrm_export.py --family act-v1 --random full --seed 1 --out "$measured/bundles/act-v1-full-random" --check-cases 1 >/dev/null
    measure+=("$measured/bundles/nova-full-random" "$measured/bundles/act-v1-full-random")
  elif [ -n "${1:-}" ]; then
    die "measure-precision: unknown option $1 (-full or nothing)"
  fi
  for from in "${measure[@]}"; do
    say "$(basename "$from"): $formats"
    write_proxies "$measured/proxy" "$formats" "$from"
    for format in $formats; do
      name=$(basename "$from")-$format
      # Exit 1 is a proxy that misses its check: a result here (its error
      # line goes to NAME.log). A report that is not there is a failure.
      bin/hrmd verify --model "$measured/proxy/$name" --json >"$measured/$name.json" 2>"$measured/$name.log" || true
      [ -s "$measured/$name.json" ] || die "hrmd verify --model $measured/proxy/$name wrote no report: $(cat "$measured/$name.log")"
      reports+=("$measured/$name.json")
    done
  done
  "$PY" engine/export/precision_table.py "${reports[@]}"
)

cmd_measure_precision "$@"

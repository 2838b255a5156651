#!/usr/bin/env bash
# ./build.sh bench: the Go benchmarks, and the PyTorch reference beside them.
set -euo pipefail
# shellcheck source=internal/build/lib.sh
source "$(dirname "$0")/lib.sh"

cmd_bench() {
  job deps
  export HRMD_ORT_LIB=${HRMD_ORT_LIB:-$(ort_lib "$(host_arch)")}
  local full=$CACHE/models/nova-full-random
  if [ ! -f "$full/hrm.yaml" ] && have_torch; then
    say "exporting a random-init full-size nova bundle for benchmarks to $full"
    "$PY" engine/export/hrm_export.py --random full --seed 1 --out "$full"
  fi
  [ -f "$full/hrm.yaml" ] && export HRMD_BENCH_FULL_MODEL=$full
  local out
  out=$(go test -run '^$' -bench . -benchmem -benchtime "${BENCHTIME:-3x}" ./... | tee /dev/stderr)
  if have_torch && [ -f "$full/hrm.yaml" ]; then
    say "the PyTorch reference on the same model and inputs (engine/export/bench_torch.py)"
    local torch_line go_ns torch_ns
    torch_line=$("$PY" engine/export/bench_torch.py --random full --seed 1 --batch 1 --runs 2 --threads "$(nproc)")
    echo "$torch_line"
    go_ns=$(awk '/BenchmarkRun\/full\/batch1/ { for (i = 1; i <= NF; i++) if ($(i+1) == "ns/row") print $i }' <<<"$out")
    torch_ns=$(awk '{ for (i = 1; i <= NF; i++) if ($(i+1) == "ns/row") print $i }' <<<"$torch_line")
    awk -v g="$go_ns" -v p="$torch_ns" 'BEGIN { if (g > 0) printf "full nova, batch 1, 8 cycles: hrmd (onnxruntime CPU) %.0f ms, PyTorch %.0f ms: %.2fx faster\n", g / 1e6, p / 1e6, p / g }'
  fi
}

cmd_bench "$@"

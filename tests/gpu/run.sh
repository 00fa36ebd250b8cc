#!/usr/bin/env bash
# The GPU check, on an NVIDIA machine without .NET or network (see tests/gpu/README.md). Each call unpacks
# the payload parts present under tests/gpu/payload/ into $MEDLM_GPU_DIR (default /tmp/medlm-gpu); once all
# parts are there it runs the check and writes results to $OUT (or $MEDLM_GPU_DIR/results), summary.txt first:
#   1. the decoder golden cases (tests/golden/medlm-tiny) with `medlm golden` on the CPU and on CUDA (TF32 off,
#      the default): CUDA must give the reference's tokens, i.e. the CPU's;
#   2. the bundled model re-exported on the device in the reduced output forms (export/make_reduced_fixture.py):
#      golden cases on CUDA with the argmax edit head;
#   3. `medlm bench --device cuda --bare-forward`: tokens/s, the share of time outside ONNX Runtime, host bytes
#      per position per pass, and a MeDlm step against a bare ONNX Runtime forward at the same shape (target
#      1.1x); full and reduced outputs, shape buckets on and off alternating;
#   4. a synthetic LLaDA-8B-shaped checkpoint (export/rehearsal.py, full widths, $MEDLM_SYNTH_LAYERS layers)
#      exported on the device by export/stream_export.py at fp16 and int4 (top-K denoiser, argmax edit head),
#      `medlm forward --batch 1,4,8 --seq 640`: seconds per pass and model FLOP utilisation against the
#      measured bf16 matrix rate ($MEDLM_PEAK_TFLOPS, default 790).
# Steps past the time budget ($MEDLM_GPU_BUDGET_S, default 400 s) are skipped and say so.
#   --cpu-only  the CPU half (golden cases and bench on the CPU) from the payload, on a development machine
#   --dry-run   print every step's command and run none (no payload needed)
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${MEDLM_GPU_DIR:-/tmp/medlm-gpu}
RES=${OUT:-$DIR/results}
MODE=gpu
case "${1:-}" in
  --cpu-only) MODE=cpu ;;
  --dry-run) MODE=dry ;;
  "") ;;
  *) echo "usage: tests/gpu/run.sh [--cpu-only | --dry-run]" >&2; exit 2 ;;
esac
BUDGET=${MEDLM_GPU_BUDGET_S:-400}
LAYERS=${MEDLM_SYNTH_LAYERS:-2}
PEAK=${MEDLM_PEAK_TFLOPS:-790}
START=$(date +%s)
FAILED=0
GOLDEN=tests/golden/medlm-tiny/decoders.json
MEDLM="$DIR/medlm/MeDlm.Cli"
MODEL="$DIR/medlm-tiny"
REDUCED="$DIR/reduced"
SYNTH="$DIR/synth"

elapsed() { echo $(( $(date +%s) - START )); }

# step NAME MIN_SECONDS_LEFT COMMAND...: runs COMMAND with its output in $RES/NAME.txt (dry run: prints it).
step() {
  local name=$1 need=$2
  shift 2
  echo "== $name: $*"
  [ $MODE = dry ] && return 0
  if [ $(( BUDGET - $(elapsed) )) -lt "$need" ]; then
    echo "   skipped: $(elapsed) s of the $BUDGET s budget spent, this step needs about $need s" | tee -a "$RES/summary.txt"
    return 0
  fi
  local t0 rc=0
  t0=$(date +%s)
  "$@" > "$RES/$name.txt" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    FAILED=$((FAILED + 1))
    echo "   FAILED (exit $rc) after $(( $(date +%s) - t0 )) s; last lines of $RES/$name.txt:"
    tail -n 5 "$RES/$name.txt" | sed 's/^/   /'
    echo "$name: FAILED (exit $rc)" >> "$RES/summary.txt"
    return 0
  fi
  echo "   $(( $(date +%s) - t0 )) s"
  tail -n 3 "$RES/$name.txt" | sed 's/^/   /'
}

# note LINE...: one line of the summary.
note() { [ $MODE = dry ] || echo "$*" >> "$RES/summary.txt"; }

if [ $MODE != dry ]; then
  mkdir -p "$DIR" "$RES"
  : > "$RES/summary.txt"
  P=tests/gpu/payload
  [ -f $P/part-1.tar.xz ] && [ ! -x "$MEDLM" ] && tar -C "$DIR" -xJf $P/part-1.tar.xz
  for f in $P/provider.xz.part-*; do [ -f "$f" ] && cp "$f" "$DIR/"; done
  [ -f $P/SHA256SUMS ] && cp $P/SHA256SUMS "$DIR/"
  [ -x "$MEDLM" ] || { echo "part 1 (medlm) not unpacked yet"; exit 2; }
fi

if [ $MODE = gpu ] && [ ! -f "$DIR/medlm/libonnxruntime_providers_cuda.so" ]; then
  want=$(grep -c 'provider.xz.part-' "$DIR/SHA256SUMS" || true)
  have=$(ls "$DIR"/provider.xz.part-* 2>/dev/null | wc -l)
  [ "$have" -ge "$want" ] && [ "$want" -gt 0 ] || { echo "have $have of $want provider parts; send the next part"; exit 2; }
  (cd "$DIR" && grep provider SHA256SUMS | sha256sum -c --quiet)
  cat "$DIR"/provider.xz.part-* | xz -d > "$DIR/medlm/libonnxruntime_providers_cuda.so"
fi

echo "-- CPU"
step golden-cpu 30 "$MEDLM" golden "$GOLDEN" --model "$MODEL" --device cpu --out "$RES/golden-cpu.json"
step bench-cpu 30 "$MEDLM" bench --model "$MODEL" --device cpu --no-reference --count 16 --batch-size 1 --bare-forward
if [ $MODE = cpu ]; then
  {
    grep -h "cases token-identical" "$RES/golden-cpu.txt" || true
    grep -hE "^C# |^host bytes|^bare ONNX" "$RES/bench-cpu.txt" || true
  } >> "$RES/summary.txt"
  cat "$RES/summary.txt"
  exit $(( FAILED > 0 ))
fi

if [ $MODE = gpu ]; then
  SITE=$(python3 -c 'import site; print(site.getsitepackages()[0])')
  LD_LIBRARY_PATH="$(ls -d "$SITE"/nvidia/*/lib | tr '\n' ':')${LD_LIBRARY_PATH:-}"
  export LD_LIBRARY_PATH
  nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv > "$RES/gpu.txt" 2>&1 || true
  note "gpu: $(tail -n 1 "$RES/gpu.txt")"
fi

echo "-- 1. golden decoder cases on CUDA (TF32 off) vs the reference and the CPU"
step golden-cuda 40 "$MEDLM" golden "$GOLDEN" --model "$MODEL" --device cuda --out "$RES/golden-cuda.json"
step golden-compare 5 python3 -c '
import json, sys
cpu, cuda = (json.load(open(p))["cases"] for p in sys.argv[1:3])
same = [c for c in cpu if cpu[c] == cuda.get(c)]
print(f"cuda vs cpu: {len(same)}/{len(cpu)} cases with the same response tokens")
sys.exit(0 if len(same) == len(cpu) else 1)' "$RES/golden-cpu.json" "$RES/golden-cuda.json"

echo "-- 2. reduced output forms, exported on the device"
step reduced-export 40 python3 export/make_reduced_fixture.py --out "$REDUCED"
step golden-cuda-argmax 40 "$MEDLM" golden "$GOLDEN" --model "$REDUCED/medlm-tiny-argmax" --device cuda

echo "-- 3. bench on CUDA: outside ONNX Runtime, host bytes, bare forward; shape buckets on (64) / off alternating"
step bench-cuda-b1 40 "$MEDLM" bench --model "$MODEL" --device cuda --no-reference --count 16 --batch-size 1 --bare-forward
step bench-cuda-reduced-b1 40 "$MEDLM" bench --model "$REDUCED/medlm-tiny-reduced" --device cuda --no-reference --count 16 --batch-size 1 --bare-forward
for round in 1 2; do
  step "bench-cuda-reduced-b8-buckets-$round" 40 "$MEDLM" bench --model "$REDUCED/medlm-tiny-reduced" --device cuda --no-reference --count 32 --batch-size 8 --bare-forward
  step "bench-cuda-reduced-b8-exact-$round" 40 "$MEDLM" bench --model "$REDUCED/medlm-tiny-reduced" --device cuda --no-reference --count 32 --batch-size 8 --bare-forward --shape-bucket 0
done
step bench-cuda-reduced-b8-graphs 40 "$MEDLM" bench --model "$REDUCED/medlm-tiny-reduced" --device cuda --no-reference --count 32 --batch-size 8 --cuda-graphs

echo "-- 4. synthetic LLaDA-8B-shaped model ($LAYERS layers at full width), exported on the device"
step synth-write 120 python3 export/rehearsal.py write --out "$SYNTH" --layers "$LAYERS"
# int4 quantizes the layers' linear maps (MatMulNBits, block 32); the two vocabulary heads stay fp16 to keep
# the export inside the budget.
for w in float int4; do
  heads=(); [ "$w" = int4 ] && heads=(--float-heads)
  step "synth-export-$w" 100 python3 export/stream_export.py --hf-checkpoint "$SYNTH" --out "$SYNTH-$w" --dtype float16 \
    --weights "$w" "${heads[@]}" --topk 16 --edit-outputs argmax --max-seq-len 1024
  step "synth-forward-$w" 60 "$MEDLM" forward --model "$SYNTH-$w" --device cuda --batch 1,4,8 --seq 640 --passes 5 --warmup 2 \
    --edit-head --peak-tflops "$PEAK"
done

if [ $MODE = dry ]; then
  echo "dry run: nothing was run; results would be in $RES (summary.txt first)"
  exit 0
fi
rm -rf "$SYNTH" "$SYNTH-float" "$SYNTH-int4"
{
  for f in golden-cpu golden-cuda golden-cuda-argmax; do [ -f "$RES/$f.txt" ] && echo "$f: $(tail -n 1 "$RES/$f.txt")"; done
  [ -f "$RES/golden-compare.txt" ] && tail -n 1 "$RES/golden-compare.txt"
  for f in "$RES"/bench-*.txt; do
    [ -f "$f" ] || continue
    echo "$(basename "$f" .txt):"
    grep -E "^C# |^host bytes|^bare ONNX" "$f" | sed 's/^/  /'
  done
  for f in "$RES"/synth-forward-*.txt; do [ -f "$f" ] && { echo "$(basename "$f" .txt):"; sed 's/^/  /' "$f"; }; done
  echo "total $(elapsed) s, $FAILED failed steps"
} >> "$RES/summary.txt"
cat "$RES/summary.txt"
exit $(( FAILED > 0 ))

#!/usr/bin/env bash
# The GPU check, on an NVIDIA machine without .NET or network (see tests/gpu/README.md). Each call unpacks
# the payload parts present under tests/gpu/payload/ into $MEDLM_GPU_DIR (default /tmp/medlm-gpu); once all
# parts are there it runs the check and writes results to $OUT (or $MEDLM_GPU_DIR/results):
#   golden decoder cases: cuda (TF32 off) vs cpu tokens, `medlm bench --device cuda` vs cpu.
#   --cpu-only  run the CPU half only (on a development machine, without the provider parts)
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${MEDLM_GPU_DIR:-/tmp/medlm-gpu}
RES=${OUT:-$DIR/results}
CPU_ONLY=0
[ "${1:-}" = "--cpu-only" ] && CPU_ONLY=1
mkdir -p "$DIR" "$RES"
P=tests/gpu/payload
[ -f $P/part-1.tar.xz ] && [ ! -x "$DIR/medlm/MeDlm.Cli" ] && tar -C "$DIR" -xJf $P/part-1.tar.xz
for f in $P/provider.xz.part-*; do [ -f "$f" ] && cp "$f" "$DIR/"; done
[ -f $P/SHA256SUMS ] && cp $P/SHA256SUMS "$DIR/"
[ -x "$DIR/medlm/MeDlm.Cli" ] || { echo "part 1 (medlm) not unpacked yet"; exit 2; }
MEDLM="$DIR/medlm/MeDlm.Cli"
MODEL="$DIR/medlm-tiny"

"$MEDLM" generate --model "$MODEL" --device cpu "def add(a, b):" > "$RES/generate-cpu.txt"
"$MEDLM" bench --model "$MODEL" --device cpu > "$RES/bench-cpu.txt" 2>&1 || true
echo "cpu: $(wc -c < "$RES/generate-cpu.txt") bytes of generate output; bench in $RES/bench-cpu.txt"
[ $CPU_ONLY = 1 ] && exit 0

if [ ! -f "$DIR/medlm/libonnxruntime_providers_cuda.so" ]; then
  want=$(grep -c 'provider.xz.part-' "$DIR/SHA256SUMS" || true)
  have=$(ls "$DIR"/provider.xz.part-* 2>/dev/null | wc -l)
  [ "$have" -ge "$want" ] && [ "$want" -gt 0 ] || { echo "have $have of $want provider parts; send the next part"; exit 2; }
  (cd "$DIR" && grep provider SHA256SUMS | sha256sum -c --quiet)
  cat "$DIR"/provider.xz.part-* | xz -d > "$DIR/medlm/libonnxruntime_providers_cuda.so"
fi
SITE=$(python3 -c 'import site; print(site.getsitepackages()[0])')
export LD_LIBRARY_PATH="$(ls -d "$SITE"/nvidia/*/lib | tr '\n' ':')${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,compute_cap,memory.total --format=csv > "$RES/gpu.txt" || true
"$MEDLM" generate --model "$MODEL" --device cuda "def add(a, b):" > "$RES/generate-cuda.txt"
if cmp -s "$RES/generate-cpu.txt" "$RES/generate-cuda.txt"; then echo "cuda == cpu: same answer"; else echo "cuda != cpu" ; fi
"$MEDLM" bench --model "$MODEL" --device cuda > "$RES/bench-cuda.txt" 2>&1
echo "results in $RES"

#!/usr/bin/env bash
# Rebuild the bundled model onnx/medlm-tiny from scratch (seeded; CPU; about 1.5-2 hours on 2 cores):
# train both stages, export the graphs and manifest, write the held-out set, evaluate, write the model
# card and the golden files the C# tests pin the runtime to. Resumes from checkpoints in export/runs/tiny.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
RUN=export/runs/tiny
PKG=onnx/medlm-tiny
start=$(date +%s)
mkdir -p "$RUN" "$PKG"
$PY export/train.py mask --out "$RUN"
$PY export/train.py edit --out "$RUN"
$PY export/heldout.py "$PKG/heldout.jsonl"
$PY export/export_onnx.py --checkpoint "$RUN/edit.pt" --tokenizer "$RUN/tokenizer.json" --out "$PKG" --name medlm-tiny \
    --verify --golden tests/golden/medlm-tiny/logits.json
$PY export/golden.py --package "$PKG" --checkpoint "$RUN/edit.pt" --out tests/golden/medlm-tiny/decoders.json
$PY export/evaluate.py --checkpoint "$RUN/edit.pt" --tokenizer "$PKG/tokenizer.json" --heldout "$PKG/heldout.jsonl" \
    --json "$PKG/eval.json"
$PY export/model_card.py --package "$PKG" --eval "$PKG/eval.json" --log "$RUN/log.txt" \
    --build-minutes "$(( ($(date +%s) - start) / 60 ))"
echo "built $PKG in $(( ($(date +%s) - start) / 60 )) minutes"

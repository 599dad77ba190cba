#!/usr/bin/env bash
# Rebuild the shipped pre-trained model src/codec2vec/pretrained/synth-recon-4x256 and its results.
#   bash recipes/shipped_model.sh --stage 1 --stop-stage 4
# About 15 minutes on a 2-core CPU. Stages skip themselves when done (recipes/lib.sh).
#   1 corpus     the 2 h synthetic corpus (configs/corpus/synth-small.yaml) and its unit stores
#   2 pretrain   reconstruction targets, 4 x 256 Transformer, 1000 steps (configs/pretrain/shipped.yaml)
#   3 ship       export in float16 into the package, with its model card
#   4 evaluate   the offline suite of the shipped weights (benchmarks/results/shipped_model/)
set -euo pipefail
cd "$(dirname "$0")/.."
EXP=${EXP:-exp/shipped-model}
NAME=synth-recon-4x256
source recipes/lib.sh

corpus() {
  $C2V corpus synth --config configs/corpus/synth-small.yaml --quiet
  for manifest in data/synth-small/*.jsonl; do
    $C2V extract --corpus "$manifest" --out "data/synth-small-units/$(basename "$manifest" .jsonl)" --quiet
  done
}
pretrain() { $C2V pretrain --config configs/pretrain/shipped.yaml --out "runs/$NAME" --quiet; }
ship() { $C2V export "runs/$NAME" --out "src/codec2vec/pretrained/$NAME" --dtype float16 --no-code \
  --card recipes/shipped_model.md; }
evaluate() {
  $C2V benchmark --config configs/eval/offline.yaml --models "$NAME" --out benchmarks/results/shipped_model --quiet
}

stage 1 corpus corpus
stage 2 pretrain pretrain
stage 3 ship ship
stage 4 evaluate evaluate

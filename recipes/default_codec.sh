#!/usr/bin/env bash
# Rebuild the shipped default codec (src/codec2vec/codecs/default/) and its evaluation tables.
#   bash recipes/default_codec.sh                          # stages 1-4
#   bash recipes/default_codec.sh --stage 3 --stop-stage 4
# Stages skip themselves when done (recipes/lib.sh); each command inside resumes its own work.
# On a 2-core CPU, stage 2 takes about an hour (docs/codecs.md); on a GPU, minutes.
#   1 data       training audio (seeded), held-out voices, real clips
#   2 train      the codec (configs/codec/default.yaml)
#   3 ship       the transformers DAC folder plus its training record into the package
#   4 evaluate   round-trip quality against Opus and Codec 2
set -euo pipefail
cd "$(dirname "$0")/.."
EXP=${EXP:-exp/default-codec}
source recipes/lib.sh

data() {
  $C2V corpus synth --config configs/corpus/codec-train.yaml --quiet
  $C2V corpus synth --config configs/corpus/codec-heldout.yaml --quiet
  make real-en
}
train() { $C2V codec train --config configs/codec/default.yaml; }
ship() {
  mkdir -p src/codec2vec/codecs/default
  cp runs/default-codec/codec/{config.json,model.safetensors,training.json} src/codec2vec/codecs/default/
}
evaluate() {
  $C2V codec eval --corpus data/real-en/real-en.jsonl --out benchmarks/results/codec_eval_real_en limit=120
  $C2V codec eval --corpus data/codec-heldout/read.jsonl --out benchmarks/results/codec_eval_heldout_voices
}

stage 1 data data
stage 2 train train
stage 3 ship ship
stage 4 evaluate evaluate

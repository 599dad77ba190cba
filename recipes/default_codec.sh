#!/usr/bin/env bash
# Rebuild the shipped default codec (src/codec2vec/codecs/default/) and its evaluation tables.
#   bash recipes/default_codec.sh            # stages 1-4
#   STAGE=3 bash recipes/default_codec.sh    # start at stage 3
# Every stage is resumable: rerunning a stage finishes it without redoing what is done.
# On a 2-core CPU, stage 2 takes about an hour (docs/codecs.md); on a GPU, minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
C2V=${C2V:-.venv/bin/codec2vec}
STAGE=${STAGE:-1}

if [ "$STAGE" -le 1 ]; then  # training audio (seeded), held-out voices, real clips
  $C2V corpus synth --config configs/corpus/codec-train.yaml --quiet
  $C2V corpus synth --config configs/corpus/codec-heldout.yaml --quiet
  make real-en
fi
if [ "$STAGE" -le 2 ]; then  # training
  $C2V codec train --config configs/codec/default.yaml
fi
if [ "$STAGE" -le 3 ]; then  # ship: the transformers DAC folder plus its training record
  mkdir -p src/codec2vec/codecs/default
  cp runs/default-codec/codec/{config.json,model.safetensors,training.json} src/codec2vec/codecs/default/
fi
if [ "$STAGE" -le 4 ]; then  # round-trip quality against Opus and Codec 2
  $C2V codec eval --corpus data/real-en/real-en.jsonl --out benchmarks/results/codec_eval_real_en limit=120
  $C2V codec eval --corpus data/codec-heldout/read.jsonl --out benchmarks/results/codec_eval_heldout_voices
fi

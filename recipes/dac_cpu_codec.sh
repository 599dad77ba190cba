#!/usr/bin/env bash
# Rebuild the codec shipped as `dac-cpu` (src/codec2vec/codecs/dac-cpu/; the default until 2026-12-07,
# kept for comparison; recipes/spectral_codec.sh builds today's default) and its evaluation tables.
#   bash recipes/dac_cpu_codec.sh                          # stages 1-5
#   bash recipes/dac_cpu_codec.sh --stage 4 --stop-stage 5
# Stages skip themselves when done (recipes/lib.sh); each command inside resumes its own work.
# On a 2-core CPU, stage 2 takes about two hours (docs/codecs.md); on a GPU, minutes.
#   1 data       synthetic training audio and held-out voices (seeded); real speech from Debian packages
#   2 train      the codec (configs/codec/dac-cpu.yaml), STOI on held-out real clips at each checkpoint
#   3 ship       the transformers DAC folder plus its training record into the package
#   4 evaluate   round-trip quality against Opus and Codec 2; the training curve
#   5 extract    extraction throughput (benchmarks/extract_throughput.py)
# Knobs (environment), for smaller runs: HOURS (synthetic hours), DATA (where stage 1 writes the
# synthetic corpora and stage 4 reads them; another place than data/ needs manifests=[...] in
# CODEC_ARGS), REAL=0 (no Debian speech: then give manifests=[...] and validation_manifest=... in
# CODEC_ARGS), CODEC_ARGS (key=value overrides of the codec config), SHIP_TO and EVAL_CODEC (where
# stage 3 ships the codec, and its name for stage 4), RESULTS (where stages 3-5 write), EVAL_ARGS
# (overrides of codec eval), BENCH_ARGS (options of benchmarks/extract_throughput.py).
set -euo pipefail
cd "$(dirname "$0")/.."
EXP=${EXP:-exp/dac-cpu-codec}
HOURS=${HOURS:-}
DATA=${DATA:-data}
REAL=${REAL:-1}
CODEC_ARGS=${CODEC_ARGS:-}
SHIP_TO=${SHIP_TO:-src/codec2vec/codecs/dac-cpu}
RESULTS=${RESULTS:-benchmarks/results}
EVAL_CODEC=${EVAL_CODEC:-dac-cpu}
EVAL_ARGS=${EVAL_ARGS:-limit=120}
BENCH_ARGS=${BENCH_ARGS:-}
source recipes/lib.sh
RUN=$($PYTHON -c "from codec2vec.config import load_config; from codec2vec.codecs.train import CodecTrainConfig; \
print(load_config(CodecTrainConfig, 'configs/codec/dac-cpu.yaml', '$CODEC_ARGS'.split()).out)")

data() {
  $C2V corpus synth --config configs/corpus/codec-train.yaml --quiet out="$DATA/codec-train" ${HOURS:+hours=$HOURS}
  $C2V corpus synth --config configs/corpus/codec-heldout.yaml --quiet out="$DATA/codec-heldout" ${HOURS:+hours=$HOURS}
  if [ "$REAL" = 1 ]; then make real-en packaged-speech; fi
}
train() { $C2V codec train --config configs/codec/dac-cpu.yaml $CODEC_ARGS; }
ship() {
  mkdir -p "$SHIP_TO"
  cp "$RUN"/codec/{config.json,model.safetensors,training.json} "$SHIP_TO"/
  mkdir -p "$RESULTS/default_codec_training"
  cp "$RUN"/train_log.jsonl "$RESULTS/default_codec_training/"
}
evaluate() {
  if [ "$REAL" = 1 ]; then
    $C2V codec eval --corpus data/real-en/real-en.jsonl --codec "$EVAL_CODEC" --out "$RESULTS/codec_eval_real_en" \
      $EVAL_ARGS
  fi
  $C2V codec eval --corpus "$DATA/codec-heldout/read.jsonl" --codec "$EVAL_CODEC" \
    --out "$RESULTS/codec_eval_heldout_voices" $EVAL_ARGS
  $PYTHON benchmarks/codec_training_curve.py "$RESULTS/default_codec_training/train_log.jsonl" \
    --out "$RESULTS/default_codec_training/curve.png"
}
extract() { $PYTHON benchmarks/extract_throughput.py --out "$RESULTS/extract_throughput_cpu.json" $BENCH_ARGS; }

stage 1 data data
stage 2 train train
stage 3 ship ship
stage 4 evaluate evaluate
stage 5 extract extract

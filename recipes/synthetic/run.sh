#!/usr/bin/env bash
# The offline recipe: everything from the synthetic corpus and the shipped default codec, no
# download. Sized to take about 20 minutes on one GPU (an estimate: no GPU has timed it yet); the
# same stages run on a CPU with smaller settings (`make demo` is this pipeline at laptop size).
#
#   bash recipes/synthetic/run.sh                            # every stage
#   bash recipes/synthetic/run.sh --stage 4 --stop-stage 4   # one stage
#   HOURS=2 STEPS=150 bash recipes/synthetic/run.sh          # smaller
#
# Stages (finished ones are skipped on a rerun; see recipes/lib.sh):
#   1 corpus     synthesize $HOURS h of labelled speech from every installed voice
#   2 extract    every subset into unit stores with the default codec
#   3 kmeans1    k-means (100) of the codec latent of the pre-training units
#   4 pretrain   reconstruction, online, HuBERT iteration 1, and the waveform baseline (online targets)
#   5 hubert2    k-means (500) of iteration 1's middle layer, then HuBERT iteration 2
#   6 benchmark  the offline suite for every model, FBANK and the codec latent, one report
set -euo pipefail
cd "$(dirname "$0")/../.."

EXP=${EXP:-exp/synthetic}
HOURS=${HOURS:-10}
WORKERS=${WORKERS:-$(nproc)}              # synthesis processes
PRESET=${PRESET:-small}
STEPS=${STEPS:-2000}
NPROC=${NPROC:-1}                         # processes (GPUs) for pre-training
PRETRAIN_ARGS=${PRETRAIN_ARGS:-}          # key=value overrides for every pre-training
KMEANS_ARGS=${KMEANS_ARGS:-}
BENCH_ARGS=${BENCH_ARGS:-}
source recipes/lib.sh

CORPUS=$EXP/corpus
UNITS=$EXP/units
RUNS=$EXP/runs

corpus() { $C2V corpus synth --out "$CORPUS" --hours "$HOURS" --voices 0 --workers "$WORKERS" --quiet; }

extract() {
  for manifest in "$CORPUS"/*.jsonl; do
    $C2V extract --codec default --corpus "$manifest" --out "$UNITS/$(basename "$manifest" .jsonl)" --quiet
  done
}

kmeans1() { $C2V kmeans --units "$UNITS/pretrain" --model codec --clusters 100 --out "$RUNS/kmeans1" --quiet $KMEANS_ARGS; }

pretrain() {  # pretrain RUN_NAME [options...]
  local name=$1; shift
  c2v_ranks pretrain --config configs/pretrain/small.yaml --units "$UNITS/pretrain" --audio "$CORPUS/pretrain.jsonl" \
    --preset "$PRESET" --steps "$STEPS" --out "$RUNS/$name" --quiet "$@" \
    data.max_frames=4000 optim.warmup_steps=$((STEPS / 10)) objective.ema_anneal_steps="$STEPS" $PRETRAIN_ARGS
}

pretrain_all() {
  pretrain recon --objective reconstruction
  pretrain online --objective online
  pretrain hubert1 --objective kmeans --labels "$RUNS/kmeans1/labels/pretrain"
  pretrain waveform-online --objective online --input waveform
}

hubert2() {
  $C2V kmeans --units "$UNITS/pretrain" --model "$RUNS/hubert1/model" --clusters 500 --out "$RUNS/kmeans2" --quiet \
    $KMEANS_ARGS
  pretrain hubert2 --objective kmeans --labels "$RUNS/kmeans2/labels/pretrain"
}

benchmark() {
  $C2V benchmark --config configs/eval/offline.yaml --corpus "$CORPUS" --units "$UNITS" --real "" --quiet \
    --models fbank codec:default "$RUNS/recon" "$RUNS/online" "$RUNS/hubert1" "$RUNS/hubert2" "$RUNS/waveform-online" \
    --out "$EXP/benchmark" $BENCH_ARGS
}

stage 1 corpus corpus
stage 2 extract extract
stage 3 kmeans1 kmeans1
stage 4 pretrain pretrain_all
stage 5 hubert2 hubert2
stage 6 benchmark benchmark

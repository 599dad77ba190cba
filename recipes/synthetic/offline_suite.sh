#!/usr/bin/env bash
# The offline suite of RESULTS.md, from nothing: the 2 h synthetic benchmark corpus, the four small
# pre-trainings at the budget the table reports (150 steps; the waveform baseline 40), and
# `codec2vec benchmark` over them, FBANK and the codec latent. About 1.5 h on 2 CPU cores.
# Run it again after a change to the training or the evaluation code to see what moved what
# (same corpus, seeds and budget; compare $EXP/bench/report.md with
# benchmarks/results/offline_suite_cpu/).
#
#   bash recipes/synthetic/offline_suite.sh                   # every stage
#   EXP=exp/suite-b PRETRAIN_ARGS="objective.teacher_input=full" bash recipes/synthetic/offline_suite.sh
#
# Stages (finished ones are skipped on a rerun; see recipes/lib.sh):
#   1 corpus     configs/corpus/synth-small.yaml (2 h, 24 voices, seed 1); real-en clips if `make real-en` made them
#   2 extract    the pre-training subset into a unit store with the default codec
#   3 kmeans1    k-means (100) of the codec latent: HuBERT iteration 1's labels
#   4 pretrain   reconstruction, k-means, online (150 steps); waveform + online (40 steps)
#   5 benchmark  every task and unit quality for the six upstreams, one report
set -euo pipefail
cd "$(dirname "$0")/../.."

EXP=${EXP:-exp/offline-suite}
STEPS=${STEPS:-150}
WAVEFORM_STEPS=${WAVEFORM_STEPS:-40}   # the waveform model is ~5x slower per step on a CPU
PRETRAIN_ARGS=${PRETRAIN_ARGS:-}       # key=value overrides for every pre-training
BENCH_ARGS=${BENCH_ARGS:-}
NPROC=1
source recipes/lib.sh

CORPUS=$EXP/corpus
UNITS=$EXP/units
RUNS=$EXP/runs

corpus() { $C2V corpus synth --config configs/corpus/synth-small.yaml --out "$CORPUS" --quiet; }

extract() { $C2V extract --codec default --corpus "$CORPUS/pretrain.jsonl" --out "$UNITS/pretrain" --quiet; }

kmeans1() { $C2V kmeans --units "$UNITS/pretrain" --model codec --clusters 100 --out "$RUNS/kmeans1" --quiet; }

pretrain() {  # pretrain RUN_NAME [options...]
  local name=$1; shift
  $C2V pretrain --config configs/pretrain/small.yaml --units "$UNITS/pretrain" --audio "$CORPUS/pretrain.jsonl" \
    --out "$RUNS/$name" --quiet "$@" $PRETRAIN_ARGS
}

pretrain_all() {
  pretrain small-reconstruction --objective reconstruction --steps "$STEPS"
  pretrain small-kmeans --objective kmeans --labels "$RUNS/kmeans1/labels/pretrain" --steps "$STEPS"
  pretrain small-online --objective online --steps "$STEPS"
  pretrain small-waveform-online --objective online --input waveform --steps "$WAVEFORM_STEPS"
}

benchmark() {
  local real=""
  [ -f data/real-en/corpus.json ] && real=data/real-en || echo "no data/real-en (make real-en): PNMI on real clips left out"
  $C2V benchmark --config configs/eval/offline.yaml --corpus "$CORPUS" --units "$EXP/bench-units" --real "$real" \
    --out "$EXP/bench" --quiet real_units="$EXP/real-en-units" $BENCH_ARGS --models fbank codec:default "$RUNS/small-reconstruction" "$RUNS/small-kmeans" "$RUNS/small-online" \
    "$RUNS/small-waveform-online"
}

stage 1 corpus corpus
stage 2 extract extract
stage 3 kmeans1 kmeans1
stage 4 pretrain pretrain_all
stage 5 benchmark benchmark

#!/usr/bin/env bash
# Ship the offline proof's best unit model inside the package (issue 17: the shipped model and the
# demo follow the proof's winner), with its model card and its offline-suite scores.
#
#   bash recipes/shipped_model.sh                    # after recipes/offline_proof.sh (stage 9 names the winner)
#   PRETRAINED=online bash recipes/shipped_model.sh  # another of the proof's unit models
#
# Stages (finished ones are skipped on a rerun; see recipes/lib.sh):
#   1 ship      export $PROOF/runs/$PRETRAINED/model in float16 into $PACKAGE/synth-<run>-<L>x<W>
#               with recipes/shipped_model.md as its card; the package ships one model, so any other is removed
#   2 evaluate  the shipped weights on the proof's benchmark (every task, $SEEDS head seeds; REAL=1: real
#               speakers too) -> $RESULTS
# Knobs (environment): PROOF (the offline proof's folder), PRETRAINED (one of its runs; default: the
# best_unit_model of $PROOF/goals/goals.json), PACKAGE, RESULTS, and the proof's EVAL, REAL, SEEDS, ASR_SEEDS,
# BENCH_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."

PROOF=${PROOF:-exp/offline-proof}
RESULTS=${RESULTS:-benchmarks/results/shipped_model}
PACKAGE=${PACKAGE:-src/codec2vec/pretrained}  # the package's folder of shipped models
source recipes/lib.sh
source recipes/proof_common.sh

SHIP=$($PYTHON recipes/tools/proof_goals.py "$PROOF" --ship "${PRETRAINED:-}")  # "RUN NAME", or it says why not
PRETRAINED=${SHIP% *}
NAME=${SHIP#* }
MODEL=$PROOF/runs/$PRETRAINED/model
EXP=$PROOF/shipped/$NAME  # this recipe's done-markers: one set per shipped model

ship() {
  local old
  for old in "$PACKAGE"/*/; do
    if [ -f "$old/config.json" ] && [ "$(basename "$old")" != "$NAME" ]; then
      echo "removing the model shipped before, $old"
      rm -rf "$old"
    fi
  done
  rm -rf "$RESULTS"  # the scores of the model shipped before
  $C2V export "$MODEL" --out "$PACKAGE/$NAME" --dtype float16 --no-code --card recipes/shipped_model.md
  echo "shipped $MODEL as $NAME ($PACKAGE/$NAME)"
}
evaluate() { proof_benchmark "$RESULTS" "$PACKAGE/$NAME"; }

stage 1 ship ship
stage 2 evaluate evaluate

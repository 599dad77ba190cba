#!/usr/bin/env bash
# Which encoder size for the offline proof (issue 17): the most audio seen per CPU-hour that still
# learns. Each size pre-trains with the same objective, on the proof's pool, for the same wall-clock
# budget (its steps measured by a short timed run, as the proof's stage 4 does), and its final
# model is probed on phone recognition.
#
#   bash recipes/encoder_size.sh             # after offline_proof.sh's stages 1-2 (its pool and units)
#   SIZES="2x128 4x256" BUDGET_MIN=5 bash recipes/encoder_size.sh
#
# Stages (finished ones are skipped on a rerun; see recipes/lib.sh):
#   1 budget    $CAL_STEPS timed steps of each size -> $EXP/budget/<size> (steps for $BUDGET_MIN minutes).
#               Time it on a quiet machine: another job beside it makes its steps look slower.
#   2 pretrain  every size for its budget
#   3 probe     the final models on $PROBE_TASKS (benchmarks/probe_curve.py) -> $EXP/probe
# Knobs (environment): EXP, PROOF (the offline proof's folder), EVAL, SIZES (LAYERSxWIDTH; heads =
# width/64, FFN = 4 x width, as the presets), OBJECTIVE, BUDGET_MIN, CAL_STEPS, PROBE_TASKS, PROBE_ARGS,
# PRETRAIN_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."

EXP=${EXP:-exp/encoder-size}
PROOF=${PROOF:-exp/offline-proof}
SIZES=${SIZES:-"2x128 4x256 6x384"}
OBJECTIVE=${OBJECTIVE:-online}
BUDGET_MIN=${BUDGET_MIN:-10}
CAL_STEPS=${CAL_STEPS:-20}
PROBE_TASKS=${PROBE_TASKS:-pr}
PROBE_ARGS=${PROBE_ARGS:-seed=1 head.max_epochs.pr=20}
PRETRAIN_ARGS=${PRETRAIN_ARGS:-}
source recipes/lib.sh
source recipes/proof_common.sh

UNITS=$PROOF/units
POOL=$PROOF/pool/pool.jsonl
if [ ! -f "$POOL" ] || [ ! -f "$UNITS/pool/header.json" ]; then
  echo "no pool at $POOL with units in $UNITS/pool: run recipes/offline_proof.sh --stop-stage 2 first" >&2
  exit 1
fi

encoder() {  # encoder LAYERSxWIDTH -> the model.encoder settings
  local layers=${1%x*} width=${1#*x}
  echo "model.encoder.preset=tiny model.encoder.layers=$layers model.encoder.width=$width" \
    "model.encoder.heads=$((width / 64)) model.encoder.ffn=$((4 * width))"
}

budget() {
  mkdir -p "$EXP/budget"
  for size in $SIZES; do
    ENCODER=$(encoder "$size") pretrain "$EXP/calibrate/$size" "$CAL_STEPS" "--objective $OBJECTIVE" \
      log_every=1 save_every=100000
    $PYTHON recipes/tools/budget_steps.py "$EXP/calibrate/$size" "$BUDGET_MIN" > "$EXP/budget/$size"
    echo "$size: $(cat "$EXP/budget/$size") steps in $BUDGET_MIN min"
  done
}

pretrain_all() {
  for size in $SIZES; do
    local steps=$(( $(cat "$EXP/budget/$size") / 10 * 10 ))  # a multiple of log_every: the last snapshot is logged
    steps=$(( steps < 10 ? 10 : steps ))
    ENCODER=$(encoder "$size") pretrain "$EXP/runs/$size" "$steps" "--objective $OBJECTIVE" keep_every="$steps"
  done
}

probe() {
  local runs=()
  for size in $SIZES; do runs+=("$EXP/runs/$size"); done
  $PYTHON benchmarks/probe_curve.py "${runs[@]}" --corpus "$EVAL" --units "$PROOF/eval-units" \
    --tasks "$PROBE_TASKS" --out "$EXP/probe" $PROBE_ARGS
}

stage 1 budget budget
stage 2 pretrain pretrain_all
stage 3 probe probe

#!/usr/bin/env bash
# The offline proof (issue 17): does pre-training on codec units give better representations than
# the units themselves, on a 2-core CPU? Every model gets the same wall-clock budget of pre-training
# (measured, not assumed: stage 4 times a few steps of each), keeps snapshots along the way, and is
# evaluated on the evaluation corpus with intervals; snapshots give probe curves (score vs audio seen).
#
#   bash recipes/offline_proof.sh                     # every stage; resumable (rerun after a stop)
#   BUDGET_MIN=10 bash recipes/offline_proof.sh       # a shorter proof
#
# Stages (finished ones are skipped on a rerun; see recipes/lib.sh):
#   1 corpus     synthetic pre-training speech ($HOURS h, configs/corpus/synth-pretrain.yaml's voices),
#                the evaluation corpus ($EVAL, configs/corpus/synth-eval.yaml) and, with REAL=1, the
#                real speech of Debian packages (`make packaged-speech real-en`)
#   2 pool       one pre-training manifest (synthetic + real speech: `corpus merge`), its unit store
#   3 kmeans1    k-means ($CLUSTERS1) of the codec latent: HuBERT iteration 1's labels
#   4 budget     $CAL_STEPS steps of each model, timed; steps for $BUDGET_MIN minutes each -> $EXP/budget/
#   5 pretrain   reconstruction, online, HuBERT iteration 1 (units); waveform and log-mel (online
#                targets, as the unit model they compare with), each for its budget, $SNAPSHOTS snapshots
#   6 hubert2    k-means ($CLUSTERS2) of iteration 1's layer $LAYER2 (default: the Transformer layer whose k-means units
#                carry the most phone information on $EVAL's dev split, recipes/tools/best_layer.py), then iteration 2
#                for its budget
#   7 probe      every snapshot on $PROBE_TASKS (benchmarks/probe_curve.py): score vs audio seen
#   8 benchmark  the final models, FBANK and the codec latent on every task, $SEEDS head seeds ($ASR_SEEDS for
#                ASR), one report;
#                with REAL=1 also SID on real speakers (data/packaged-speech's sid subset), a report of its own
#   9 goals      issue 17's goals checked against stages 7-8 (recipes/tools/proof_goals.py) -> $EXP/goals/goals.md
#  10 publish    the results without features, weights or corpora (a few MB, for git) -> $PUBLISH
# Knobs (environment): EXP, PUBLISH, HOURS, EVAL, EVAL_HOURS, REAL, BUDGET_MIN, CAL_STEPS, SNAPSHOTS, ENCODER (key=value
# of model.encoder), PRETRAIN_ARGS, KMEANS_ARGS, CLUSTERS1, CLUSTERS2, LAYER2, PROBE_TASKS, PROBE_ARGS,
# SEEDS, ASR_SEEDS, BENCH_ARGS. Six models at the default 35 minutes: 3.5 h of pre-training on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

EXP=${EXP:-exp/offline-proof}
PROOF=$EXP  # the folder proof_benchmark reads its unit stores from
PUBLISH=${PUBLISH:-benchmarks/results/offline_proof}
HOURS=${HOURS:-8}
EVAL_HOURS=${EVAL_HOURS:-}                  # when stage 1 makes $EVAL: its hours (default the config's 5.5)
BUDGET_MIN=${BUDGET_MIN:-35}
CAL_STEPS=${CAL_STEPS:-30}
SNAPSHOTS=${SNAPSHOTS:-5}
# 2 x 128: the size that learned most in 10 minutes of recipes/encoder_size.sh (docs/offline-proof.md)
ENCODER=${ENCODER:-"model.encoder.preset=tiny model.encoder.layers=2 model.encoder.width=128 model.encoder.heads=2 model.encoder.ffn=512"}
PRETRAIN_ARGS=${PRETRAIN_ARGS:-}
KMEANS_ARGS=${KMEANS_ARGS:-}
CLUSTERS1=${CLUSTERS1:-100}
CLUSTERS2=${CLUSTERS2:-500}
LAYER2=${LAYER2:-}                          # default: iteration 1's layer with the best dev PNMI (best_layer.py)
PROBE_TASKS=${PROBE_TASKS:-pr,ks}
# KS with three head seeds: the three seeds' KS points lay up to 6.9 points apart (the 2026-11-27 run);
# PR keeps one (its intervals are narrow, and its head costs 36 s a snapshot against KS's 1 s)
PROBE_ARGS=${PROBE_ARGS:-seed=1 head.max_epochs.pr=20 head.seeds=3 head.task_seeds.pr=1}
NPROC=1
source recipes/lib.sh
source recipes/proof_common.sh

CORPUS=$EXP/corpus
POOL=$EXP/pool/pool.jsonl
UNITS=$EXP/units
RUNS=$EXP/runs
# name: options of the five models trained in stage 5 (hubert2, stage 6, is timed as hubert1)
MODELS=(recon online hubert1 waveform-online logmel-online)
declare -A OPTIONS=(
  [recon]="--objective reconstruction"
  [online]="--objective online"
  [hubert1]="--objective kmeans --labels $RUNS/kmeans1/labels/pool"
  [waveform-online]="--objective online --input waveform"
  [logmel-online]="--objective online --input logmel"
)

corpus() {
  $C2V corpus synth --config configs/corpus/synth-pretrain.yaml out="$CORPUS" hours="$HOURS" --quiet
  if [ ! -f "$EVAL/corpus.json" ]; then
    $C2V corpus synth --config configs/corpus/synth-eval.yaml out="$EVAL" ${EVAL_HOURS:+hours=$EVAL_HOURS} --quiet
  fi
  if [ "$REAL" = 1 ]; then make packaged-speech real-en; fi
}

pool() {
  local real=()
  if [ "$REAL" = 1 ]; then real=(data/packaged-speech/packaged-speech.jsonl); fi
  $C2V corpus merge "$CORPUS/pretrain.jsonl" "${real[@]}" --out "$POOL"
  $C2V extract --codec default --corpus "$POOL" --out "$UNITS/pool" --quiet
}

kmeans1() { $C2V kmeans --units "$UNITS/pool" --model codec --clusters "$CLUSTERS1" --out "$RUNS/kmeans1" --quiet $KMEANS_ARGS; }

budget() {
  mkdir -p "$EXP/budget"
  for name in "${MODELS[@]}"; do
    pretrain "$EXP/calibrate/$name" "$CAL_STEPS" "${OPTIONS[$name]}" log_every=1 save_every=100000
    $PYTHON recipes/tools/budget_steps.py "$EXP/calibrate/$name" "$BUDGET_MIN" > "$EXP/budget/$name"
    echo "$name: $(cat "$EXP/budget/$name") steps in $BUDGET_MIN min"
  done
}

# Snapshots every keep_every steps (a multiple of log_every, at least 10) and the run ends on one, so
# the last probe point is the final model: the budget's steps rounded to the nearest SNAPSHOTS x
# keep_every (rounding down gave the slowest model, 348 budget steps, 300: 86 % of its budget).
keep_every() { local k=$(( ($(cat "$EXP/budget/$1") + SNAPSHOTS * 5) / SNAPSHOTS / 10 * 10 )); echo $(( k < 10 ? 10 : k )); }
steps_of() { echo $(( $(keep_every "$1") * SNAPSHOTS )); }

pretrain_all() {
  for name in "${MODELS[@]}"; do
    pretrain "$RUNS/$name" "$(steps_of "$name")" "${OPTIONS[$name]}" keep_every="$(keep_every "$name")"
  done
}

hubert2() {
  local layer=$LAYER2
  if [ -z "$layer" ]; then
    layer=$($PYTHON recipes/tools/best_layer.py "$RUNS/hubert1/model" --corpus "$EVAL" --units "$EXP/eval-units" \
      --out "$RUNS/kmeans2-layer")
    echo "iteration 1's Transformer layer with the best dev PNMI: $layer ($RUNS/kmeans2-layer/layer_pnmi.json)"
  fi
  $C2V kmeans --units "$UNITS/pool" --model "$RUNS/hubert1/model" --layer "$layer" --clusters "$CLUSTERS2" \
    --out "$RUNS/kmeans2" --quiet $KMEANS_ARGS
  pretrain "$RUNS/hubert2" "$(steps_of hubert1)" "--objective kmeans --labels $RUNS/kmeans2/labels/pool" \
    keep_every="$(keep_every hubert1)"
}

probe() {
  $PYTHON benchmarks/probe_curve.py "$RUNS"/{recon,online,hubert1,hubert2,waveform-online,logmel-online} \
    --corpus "$EVAL" --units "$EXP/eval-units" --tasks "$PROBE_TASKS" --out "$EXP/probe" $PROBE_ARGS
}

benchmark() {
  proof_benchmark "$EXP/benchmark" fbank codec:default "$RUNS"/{recon,online,hubert1,hubert2,waveform-online,logmel-online}
}

goals() { $PYTHON recipes/tools/proof_goals.py "$EXP"; }

# Results, reports, run configs and metrics; not feature caches, snapshots, models, labels or event files.
publish() {
  local dest
  dest=$(realpath -m "$PUBLISH")
  rm -rf "$dest" && mkdir -p "$dest"
  (cd "$EXP" && find budget goals probe benchmark runs \( -name feature-cache -o -name snapshots -o -name model \
    -o -name labels -o -name tb \) -prune -o -type f \( -name '*.json' -o -name '*.jsonl' -o -name '*.md' \
    -o -name '*.png' -o -name '*.yaml' -o -path 'budget/*' \) -print0 | xargs -0 cp --parents -t "$dest")
  echo "published $(find "$dest" -type f | wc -l) files, $(du -sh "$dest" | cut -f1), to $PUBLISH"
}

stage 1 corpus corpus
stage 2 pool pool
stage 3 kmeans1 kmeans1
stage 4 budget budget
stage 5 pretrain pretrain_all
stage 6 hubert2 hubert2
stage 7 probe probe
stage 8 benchmark benchmark
stage 9 goals goals
stage 10 publish publish

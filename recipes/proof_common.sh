# Shared by the recipes built on the offline proof (sourced, after lib.sh): one pre-training run on the
# proof's pool, and the proof's benchmark, with the proof's settings.

# The proof's evaluation settings; a recipe or the environment may set them first.
EVAL=${EVAL:-data/synth-eval}
REAL=${REAL:-1}
SEEDS=${SEEDS:-3}
ASR_SEEDS=${ASR_SEEDS:-1}  # ASR's BiLSTM costs 5.8 min a seed, the other six heads 0.7 together
BENCH_ARGS=${BENCH_ARGS:-}

# Needs UNITS, POOL, ENCODER and PRETRAIN_ARGS set by the recipe.
pretrain() {  # pretrain OUT STEPS "OPTIONS" [key=value ...]: the caller's key=value settings come last
  local out=$1 steps=$2 options=$3; shift 3
  $C2V pretrain --config configs/pretrain/small.yaml --units "$UNITS/pool" --audio "$POOL" --steps "$steps" \
    --out "$out" --quiet $options $ENCODER data.max_frames=2000 data.crop_frames=250 log_every=10 \
    optim.warmup_steps=$((steps / 10 + 1)) objective.ema_anneal_steps="$steps" objective.top_k=2 $PRETRAIN_ARGS "$@"
}

# Every task on $EVAL with $SEEDS head seeds ($ASR_SEEDS for ASR), and with REAL=1 PNMI on real English and
# SID on real speakers (data/packaged-speech's sid subset), unit stores kept in the proof's folder $PROOF.
proof_benchmark() {  # proof_benchmark OUT MODEL...
  local out=$1 real=data/real-en
  shift
  if [ "$REAL" != 1 ]; then real=""; fi
  $C2V benchmark --config configs/eval/offline.yaml --corpus "$EVAL" --units "$PROOF/eval-units" --real "$real" \
    --quiet --models "$@" --out "$out" real_units="$PROOF/real-units" real_sid="${real:+data/packaged-speech}" \
    real_sid_units="$PROOF/real-sid-units" head.seeds="$SEEDS" head.task_seeds.asr="$ASR_SEEDS" \
    $BENCH_ARGS
}

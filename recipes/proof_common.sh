# Shared by recipes/offline_proof.sh and recipes/encoder_size.sh (sourced, after lib.sh): one
# pre-training run on the proof's pool, with the proof's settings. Needs UNITS, POOL, ENCODER and
# PRETRAIN_ARGS set by the recipe.

pretrain() {  # pretrain OUT STEPS "OPTIONS" [key=value ...]: the caller's key=value settings come last
  local out=$1 steps=$2 options=$3; shift 3
  $C2V pretrain --config configs/pretrain/small.yaml --units "$UNITS/pool" --audio "$POOL" --steps "$steps" \
    --out "$out" --quiet $options $ENCODER data.max_frames=2000 data.crop_frames=250 log_every=10 \
    optim.warmup_steps=$((steps / 10 + 1)) objective.ema_anneal_steps="$steps" objective.top_k=2 $PRETRAIN_ARGS "$@"
}

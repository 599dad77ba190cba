# Shared by the staged recipes (sourced, not run). A recipe defines its stages as shell functions
# and calls `stage N name function` for each; this file parses --stage/--stop-stage and keeps the
# done-markers. A finished stage leaves $EXP/.done/N-name and is skipped when the recipe is rerun;
# an interrupted stage is simply run again (every codec2vec command inside it resumes its own work).
#
# Several nodes: run the same recipe on every node with NNODES, NODE_RANK, MASTER_ADDR (and a
# shared file system for $EXP). `torchrun` stages run on all nodes together; single-process stages
# run on node 0 while the other nodes wait for its done-marker.

STAGE=${STAGE:-1}
STOP_STAGE=${STOP_STAGE:-100}
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) STAGE=$2; shift 2 ;;
    --stop-stage) STOP_STAGE=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -n '/^#/p'; exit 0 ;;
    *) echo "unknown option '$1' (use --stage N --stop-stage M)" >&2; exit 2 ;;
  esac
done

NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
MASTER_PORT=${MASTER_PORT:-29500}
PYTHON=${PYTHON:-.venv/bin/python}
C2V="$PYTHON -m codec2vec.cli"

# `codec2vec` under torchrun: NPROC processes on each of NNODES nodes (DDP; gloo on CPU, nccl on GPU).
c2v_ranks() {
  "$PYTHON" -m torch.distributed.run --nnodes "$NNODES" --node_rank "$NODE_RANK" --nproc_per_node "$NPROC" \
    --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT" -m codec2vec.cli "$@"
}

# stage NUMBER NAME FUNCTION [all-nodes]: run FUNCTION if NUMBER is in range and not done yet.
# Its locals carry a prefix: bash's locals are visible to the functions it calls, and a stage's own
# loop variable (`for name in ...`) would otherwise overwrite them.
stage() {
  local _stage_number=$1 _stage_fn=$3 _stage_where=${4:-node0}
  local _stage="stage $1 ($2)" _stage_marker="$EXP/.done/$1-$2"
  if [ "$_stage_number" -lt "$STAGE" ] || [ "$_stage_number" -gt "$STOP_STAGE" ]; then
    return 0
  fi
  if [ -f "$_stage_marker" ]; then
    echo "=== $_stage: done earlier ($_stage_marker); skipped"
    return 0
  fi
  if [ "$_stage_where" = node0 ] && [ "$NODE_RANK" != 0 ]; then
    echo "=== $_stage: runs on node 0; waiting for $_stage_marker"
    while [ ! -f "$_stage_marker" ]; do sleep 30; done
    return 0
  fi
  echo "=== $_stage: started $(date -u +%FT%TZ)"
  local _stage_t0=$SECONDS
  "$_stage_fn"
  if [ "$NODE_RANK" = 0 ]; then
    mkdir -p "$EXP/.done"
    echo "finished $(date -u +%FT%TZ) after $((SECONDS - _stage_t0)) s" > "$_stage_marker"
  fi
  echo "=== $_stage: done in $((SECONDS - _stage_t0)) s"
}

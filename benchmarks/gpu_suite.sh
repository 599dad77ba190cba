#!/usr/bin/env bash
# Every GPU figure of codec2vec in one short run (about 9 min; one H100/H200), with the peer
# anchors on the same card. Writes one JSON and prints a table.
#
#   bash benchmarks/gpu_suite.sh --prepare          # here (registry access): wheels the GPU machine lacks -> .whl/,
#                                                   #   the peer anchors (../shared/anchors) -> .anchors/, git revision
#   bash benchmarks/gpu_suite.sh [--out DIR]        # on the GPU machine (no registry): installs .whl/, runs every step;
#                                                   #   writes DIR/gpu_suite.json and .log (DIR: benchmarks/results/gpu)
#   bash benchmarks/gpu_suite.sh --smoke [--out DIR]  # the same steps on CPU at tiny size (tests/test_gpu_suite.py)
#   SUITE_ONLY="corpus real_steps real_steps_fft" REAL_STEPS=60 bash benchmarks/gpu_suite.sh --out DIR
#                                                   # only the named steps (a short rerun of what a budget cut off)
#
# Steps, most important first; each has a time limit and is skipped when the budget
# (SUITE_BUDGET seconds, default 570) would be overrun, so a run always ends with its JSON
# (SUITE_ONLY="step ..." runs only the named steps: corpus, real_steps, ... as in the log):
#   1. pre-training throughput, Base, units / waveform / log-mel, eager and compiled, bf16, batch sweep,
#      MFU against the card's measured bf16 matmul peak, peak memory (benchmarks/pretrain_throughput.py);
#      then the units step with online targets, and with padded batches (what the whole loop adds)
#   2. a small synthetic corpus regenerated from its seed, encoded with the default codec on the GPU
#   3. 200 real pre-training steps (Base, online targets) through torchrun on 1 GPU (NCCL + DDP): loss must fall;
#      then again with model.encoder.pos_conv=fft, with model.encoder.attention=efficient, and with
#      cudnn_benchmark=true data.pad_multiple=64
#   4. the whole training loop end to end from disk, units vs waveform vs log-mel (pipeline_throughput.py)
#   5. extraction throughput: the DAC 16 kHz architecture, the default codec, the extract pipeline
#   6. the peer anchors: gpu_limit.py (matmul peak, plain encoder) and gpu_anchor.py (torchaudio HuBERT-Base)
set -uo pipefail
cd "$(dirname "$0")/.."

MODE=gpu OUT_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prepare) MODE=prepare ;;
    --smoke) MODE=smoke ;;
    --out) OUT_DIR="$2"; shift ;;
    *) echo "usage: $0 [--prepare | --smoke] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done

# Packages the GPU image lacks (its list: ../.library/device/KINDS.md); the rest it has.
WHEELS="soundfile cffi pycparser soxr omegaconf espeakng-loader jiwer rapidfuzz"

if [ "$MODE" = prepare ]; then
  mkdir -p .whl .anchors
  grep -qx '/.anchors/' .git/info/exclude 2>/dev/null || echo '/.anchors/' >> .git/info/exclude
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl $WHEELS || exit 1
  cp ../shared/anchors/*.py .anchors/ 2>/dev/null || echo "no ../shared/anchors here: the anchors step will be skipped"
  git rev-parse HEAD > .whl/git-revision
  git status --porcelain --untracked-files=no | grep -q . && sed -i 's/$/+dirty/' .whl/git-revision
  du -sh .whl .anchors
  echo "carry .whl and .anchors to the GPU machine; run: bash benchmarks/gpu_suite.sh --out \$OUT"
  exit 0
fi

PY=${PYTHON:-python3}
[ "$MODE" = smoke ] && [ -x .venv/bin/python ] && PY=${PYTHON:-.venv/bin/python}
WORK=$(mktemp -d -t c2v-gpu-suite-XXXX)
[ "$MODE" = gpu ] && OUT_DIR=${OUT_DIR:-benchmarks/results/gpu}
OUT_DIR=${OUT_DIR:-$WORK/out}
mkdir -p "$OUT_DIR" "$WORK/json" "$WORK/logs"
LOG="$OUT_DIR/gpu_suite.log"
BUDGET=${SUITE_BUDGET:-570}
START=$SECONDS
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1 && ! $PY -c "import soundfile, soxr, omegaconf" 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$WORK/site" .whl/*.whl || exit 1
  export PYTHONPATH="$WORK/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}"
[ -f .whl/git-revision ] && export CODEC2VEC_GIT_REVISION=$(cat .whl/git-revision)
C2V="$PY -m codec2vec.cli"

if [ "$MODE" = smoke ]; then
  DEVICE=cpu PRESET=tiny HOURS=0.03 WORKERS=1 REAL_STEPS=${REAL_STEPS:-10}
  THROUGHPUT_ARGS="--preset tiny --kinds units waveform --batch 2 --compile both --steps 2 --warmup 1"
  PIPELINE_ARGS="--preset tiny --steps 10 --log-every 5 --workers 1"
  EXTRACT_ARGS="--seconds 2 --batch 1 --pipeline-hours 0.02"
  DIAGNOSIS_ARGS="--preset tiny --kinds units --batch 2 --steps 2 --warmup 1"
else
  DEVICE=cuda PRESET=base HOURS=0.3 WORKERS=8 REAL_STEPS=${REAL_STEPS:-200}
  THROUGHPUT_ARGS="--preset base --batch 16 64 --compile both --compile-batch 64 --steps 10 --warmup 3"
  PIPELINE_ARGS="--preset base --steps 40 --log-every 10 --workers 8 --max-frames 4400 --crop-frames 500"
  EXTRACT_ARGS="--seconds 10 --batch 32 --pipeline-hours 0.1"
  DIAGNOSIS_ARGS="--preset base --kinds units --batch 64 --steps 10 --warmup 3"
fi

# run NAME LIMIT COMMAND...: the step's output goes to the log; its status and time to the JSON folder.
run() {
  local name=$1 limit=$2; shift 2
  if [ -n "${SUITE_ONLY:-}" ] && [[ " $SUITE_ONLY " != *" $name "* ]]; then
    echo "{\"step\": \"$name\", \"status\": \"skipped: not in SUITE_ONLY\"}" > "$WORK/json/step-$name.json"
    echo "== $name: skipped (not in SUITE_ONLY)" | tee -a "$LOG"; return 1
  fi
  local left=$((BUDGET - (SECONDS - START)))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 20 ]; then
    echo "{\"step\": \"$name\", \"status\": \"skipped: time budget\"}" > "$WORK/json/step-$name.json"
    echo "== $name: skipped (time budget)" | tee -a "$LOG"; return 1
  fi
  echo "== $name (limit ${limit}s) $(date -u +%H:%M:%S)" | tee -a "$LOG"
  local t0=$SECONDS
  timeout -k 10 "$limit" "$@" > "$WORK/logs/$name.log" 2>&1
  local rc=$?
  cat "$WORK/logs/$name.log" >> "$LOG"
  local status=ok; [ $rc -ne 0 ] && status="failed (exit $rc$([ $rc -eq 124 ] && echo ', time limit'))"
  echo "{\"step\": \"$name\", \"status\": \"$status\", \"seconds\": $((SECONDS - t0))}" > "$WORK/json/step-$name.json"
  echo "   $name: $status in $((SECONDS - t0)) s" | tee -a "$LOG"
  return $rc
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null || echo "no nvidia-smi"
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"; } >> "$LOG" 2>&1

run throughput 270 $PY benchmarks/pretrain_throughput.py --device $DEVICE $THROUGHPUT_ARGS \
  --out "$WORK/json/pretrain_throughput.json"
# Why the whole loop is slower than the step: the same units step with online targets, then with padded batches.
run step_online 60 $PY benchmarks/pretrain_throughput.py --device $DEVICE $DIAGNOSIS_ARGS --objective online \
  --out "$WORK/json/pretrain_throughput_online.json"
run step_ragged 60 $PY benchmarks/pretrain_throughput.py --device $DEVICE $DIAGNOSIS_ARGS --ragged \
  --out "$WORK/json/pretrain_throughput_ragged.json"

# real_run NAME LIMIT [key=value ...]: REAL_STEPS pre-training steps (Base, online targets) through
# torchrun on one GPU (NCCL, DDP), from the corpus's unit store; its metrics go to the JSON folder.
real_run() {
  local name=$1 limit=$2; shift 2
  run "$name" "$limit" $PY -m torch.distributed.run --standalone --nproc_per_node 1 -m codec2vec.cli pretrain \
    --units "$WORK/units" --objective online --preset $PRESET --out "$WORK/$name" \
    optim.steps=$REAL_STEPS optim.warmup_steps=$((REAL_STEPS / 10)) data.workers=$WORKERS log_every=10 \
    save_every=$REAL_STEPS device=$DEVICE "$@" \
  && cp "$WORK/$name/metrics.jsonl" "$WORK/json/${name}_metrics.jsonl"
}

run corpus 90 bash -c "$C2V corpus synth --out $WORK/corpus --hours $HOURS --seed 1 --workers $WORKERS --engines espeak --quiet \
  && $C2V extract --codec default --corpus $WORK/corpus/pretrain.jsonl --out $WORK/units --device $DEVICE" \
  && real_run real_steps 120
# The positional convolution through FFTs, all 16 groups in one batched matmul (the profile of c1bf3bb:
# cuDNN ran them one group at a time on real batches, half the step).
[ -d "$WORK/units" ] && real_run real_steps_fft 150 model.encoder.pos_conv=fft
# The same real run with SDPA's memory-efficient kernel instead of cuDNN's (cuDNN's host time per
# call in the profile of c1bf3bb); then with cuDNN's algorithm search on 8 batch shapes (its heuristic
# ran the positional convolution one group at a time, half the step). data.pad_multiple=64 alone
# was measured here too (H100, 2026-11-26): no gain.
[ -d "$WORK/units" ] && real_run real_steps_efficient 150 model.encoder.attention=efficient
[ -d "$WORK/units" ] && real_run real_steps_cudnn 150 data.pad_multiple=64 cudnn_benchmark=true

[ -d "$WORK/corpus" ] && run pipeline 150 $PY benchmarks/pipeline_throughput.py --device $DEVICE $PIPELINE_ARGS \
  --corpus "$WORK/corpus" --work "$WORK/pipeline" --out "$WORK/json/pipeline_throughput.json"

run extract 150 $PY benchmarks/extract_throughput.py --device $DEVICE $EXTRACT_ARGS \
  --out "$WORK/json/extract_throughput.json"

if [ "$MODE" = gpu ] && [ -f .anchors/gpu_limit.py ]; then
  run anchor_limit 70 env OUT="$WORK/json" $PY .anchors/gpu_limit.py
  run anchor_hubert 110 env OUT="$WORK/json" $PY .anchors/gpu_anchor.py
fi

$PY benchmarks/gpu_suite_report.py "$WORK/json" --logs "$WORK/logs" --log "$LOG" --mode "$MODE" --seconds $((SECONDS - START)) \
  --out "$OUT_DIR/gpu_suite.json"
rc=$?
rm -rf "$WORK/corpus" "$WORK/units" "$WORK"/real_steps* "$WORK/pipeline" "$WORK/site"  # every real_run's folder
exit $rc

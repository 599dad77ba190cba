"""What a codec's units carry, frame by frame: a linear phone probe (issue 35's first measure).

    .venv/bin/python benchmarks/frame_phone_probe.py --corpus data/synth-eval --subset read \
        --feature logmel --feature codec:default --feature codec:runs/spectral-codec/codec \
        --out benchmarks/results/frame_phone_probe.json

Every utterance of the subset is cut into the codec grid's 20 ms frames (50 frames/s); each frame is
labelled with the phone at its centre (the corpus's phone times, 'sil' between phones) and
described by one feature:
- `logmel`: the pre-training models' log-mel input (80 bins every 10 ms, pairs stacked: 160 values);
- `codec:NAME`: the codec's quantized latent, the sum of the frame's codebook vectors (the codec
  latent upstream of the benchmark; what the decoder receives); `codec:NAME@N` keeps the first N
  codebooks only.
A multinomial logistic regression (scikit-learn, standardised inputs, seed 0) is fit on up to
`--max-train-frames` frames of the train split and scored on the `--eval-splits` frames. The 95 %
interval is a bootstrap over evaluation utterances (1,000 resamples, the same for every feature, so
each feature's difference from the first one gets an interval too). Utterances are encoded one at a
time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from codec2vec.codecs import load_codec
from codec2vec.data.corpus import corpus_manifest
from codec2vec.data.phones import PHONES
from codec2vec.eval.pnmi import frame_phones
from codec2vec.models.inputs import InputConfig, LogMelInput
from codec2vec.provenance import provenance

FRAME_RATE = 50


def logmel_features(manifest, rows) -> list[np.ndarray]:
    frontend = LogMelInput(InputConfig(kind="logmel"))
    out = []
    for row in rows:
        audio = torch.from_numpy(manifest.load_audio(row, 16000))[None]
        t = -(-audio.shape[1] // 320)
        out.append(frontend(audio, torch.tensor([t]), t)[0].numpy())
    return out


def codec_features(spec: str, manifest, rows) -> list[np.ndarray]:
    name, _, prefix = spec.partition("@")
    codec = load_codec(name)
    if codec.frame_rate != FRAME_RATE:
        raise SystemExit(f"codec {name}: {codec.frame_rate} frames/s; this probe labels 50 frames/s")
    vectors = codec.codebook_vectors().float().numpy()[: int(prefix) if prefix else None]
    out = []
    for row in rows:
        audio = torch.from_numpy(manifest.load_audio(row, codec.sample_rate))[None]
        codes, frames = codec.encode(audio, [audio.shape[1]])
        codes = codes[0, : len(vectors), : int(frames[0])].numpy()
        out.append(vectors[np.arange(len(codes))[:, None], codes].sum(0))  # [frames, D]
    return out


def labels(rows) -> list[np.ndarray]:
    index = {p: i for i, p in enumerate(PHONES)}
    return [np.array([index[p] for p in frame_phones(r.phonemes, -(-int(round(r.duration * 16000)) // 320),
                                                     FRAME_RATE)]) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="data/synth-eval")
    parser.add_argument("--subset", default="read", help="a subset with phone times")
    parser.add_argument("--feature", action="append", required=True,
                        help="logmel | codec:NAME | codec:NAME@N (repeatable; the first is the reference)")
    parser.add_argument("--eval-splits", default="test", help="comma-separated splits scored")
    parser.add_argument("--max-train-frames", type=int, default=60000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    manifest = corpus_manifest(args.corpus, args.subset)
    train = [r for r in manifest.rows if r.split == "train" and r.phonemes]
    evaluate = [r for r in manifest.rows if r.split in args.eval_splits.split(",") and r.phonemes]
    if not train or not evaluate:
        raise SystemExit(f"{args.corpus}/{args.subset}: needs phone-timed utterances in train and {args.eval_splits}")
    y_train, y_eval = labels(train), labels(evaluate)
    draws = np.random.default_rng(0).integers(0, len(evaluate), size=(1000, len(evaluate)))
    pick = np.random.default_rng(0).permutation(sum(map(len, y_train)))[: args.max_train_frames]
    results, reference = {}, None
    for feature in args.feature:
        started = time.monotonic()
        extract = logmel_features if feature == "logmel" else (
            lambda m, r: codec_features(feature.removeprefix("codec:"), m, r))
        x_train, x_eval = extract(manifest, train), extract(manifest, evaluate)
        for x, y, row in zip(x_train + x_eval, y_train + y_eval, train + evaluate):
            if len(x) != len(y):
                raise SystemExit(f"{feature}: {row.id} has {len(x)} feature frames but {len(y)} phone frames")
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=0))
        probe.fit(np.concatenate(x_train)[pick], np.concatenate(y_train)[pick])
        correct = np.array([(probe.predict(x) == y).sum() for x, y in zip(x_eval, y_eval)])
        frames = np.array([len(y) for y in y_eval])
        accuracy = 100 * correct.sum() / frames.sum()
        resampled = 100 * correct[draws].sum(1) / frames[draws].sum(1)
        entry = {"frame_accuracy": round(float(accuracy), 2),
                 "interval": [round(float(v), 2) for v in np.percentile(resampled, [2.5, 97.5])],
                 "dim": int(x_train[0].shape[1]), "seconds": round(time.monotonic() - started, 1)}
        if reference is None:
            reference = resampled
        else:
            entry["minus_first_interval"] = [round(float(v), 2) for v in np.percentile(resampled - reference, [2.5, 97.5])]
        results[feature] = entry
        print(feature, json.dumps(entry), flush=True)
    record = {"corpus": args.corpus, "subset": args.subset, "eval_splits": args.eval_splits,
              "train_utterances": len(train), "train_frames_used": int(len(pick)),
              "eval_utterances": len(evaluate), "eval_frames": int(sum(map(len, y_eval))),
              "results": results, "provenance": provenance()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

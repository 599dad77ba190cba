"""Padding: the share of padded frames in the batches each stage builds, for a corpus's lengths.

    .venv/bin/python benchmarks/padding.py --corpus data/synth [--out FILE]

Computed from the batching functions themselves (no model runs): pre-training micro-batches
(`train.data.epoch_batches`: length-sorted, token budget, crops) at several budgets, and the
length-sorted batches of extraction and of evaluation's feature cache
(`units.extract.length_sorted_batches`) for every subset of a `corpus synth` folder (or any
folder of manifests). Writes benchmarks/results/padding.json.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from codec2vec.data.manifest import read_manifest
from codec2vec.provenance import provenance
from codec2vec.train.data import epoch_batches
from codec2vec.units.extract import length_sorted_batches

FRAME_RATE, SAMPLE_RATE = 50, 16000


def padded_share(batches, lengths: np.ndarray) -> float:
    real = sum(int(lengths[b].sum()) for b in batches)
    padded = sum(len(b) * int(lengths[b].max()) for b in batches)
    return round(1.0 - real / padded, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="a folder of manifests (*.jsonl)")
    parser.add_argument("--pretrain-budgets", type=int, nargs="+", default=[1000, 2000, 4400, 16000],
                        help="pre-training token budgets (frames per micro-batch)")
    parser.add_argument("--crop-frames", type=int, default=500)
    parser.add_argument("--extract-seconds", type=float, default=60.0, help="extract's max_batch_seconds")
    parser.add_argument("--feature-frames", type=int, default=20000, help="the feature cache's frames per batch")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "padding.json"))
    args = parser.parse_args()
    subsets = {}
    for manifest in sorted(Path(args.corpus).glob("*.jsonl")):
        rows = read_manifest(manifest, check_files=False).rows
        samples = np.array([round(r.duration * SAMPLE_RATE) for r in rows])
        frames = np.array([max(1, math.ceil(s / 320)) for s in samples])
        entry = {"utterances": len(rows), "hours": round(samples.sum() / SAMPLE_RATE / 3600, 3),
                 "extract": padded_share(length_sorted_batches(samples.tolist(), int(args.extract_seconds
                                                                                      * SAMPLE_RATE)), samples),
                 "feature_cache": padded_share(length_sorted_batches(frames.tolist(), args.feature_frames), frames)}
        if manifest.stem == "pretrain":
            cropped = np.minimum(frames, args.crop_frames)
            entry["pretrain"] = {str(budget): padded_share(epoch_batches(cropped, budget, 1, 0), cropped)
                                 for budget in args.pretrain_budgets}
        subsets[manifest.stem] = entry
        print(manifest.stem, json.dumps(entry))
    report = {"benchmark": "padding", "corpus": str(args.corpus), "crop_frames": args.crop_frames,
              "extract_max_batch_seconds": args.extract_seconds, "feature_cache_frames": args.feature_frames,
              "subsets": subsets, **provenance()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

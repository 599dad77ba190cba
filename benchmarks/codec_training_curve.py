"""The codec's training curve from its train_log.jsonl: losses and held-out STOI against steps.

    .venv/bin/python benchmarks/codec_training_curve.py runs/default-codec/train_log.jsonl --out curve.png

Top: the multi-scale mel loss (a moving average over 10 log records) and, when the run had a
discriminator, the feature-matching loss. Bottom: STOI and mel distance of the held-out clips
resynthesised at each checkpoint (`validation_manifest`). Prints the validation rows as a table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def read_log(path: Path) -> tuple[list[dict], list[dict]]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    # A resumed run repeats the steps after its last checkpoint: the later record of a step wins.
    train = {r["step"]: r for r in records if "loss" in r}
    validation = {r["step"]: r for r in records if "val_stoi" in r}
    return [train[k] for k in sorted(train)], [validation[k] for k in sorted(validation)]


def moving_average(values: list[float], width: int = 10) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.size < width:
        return values
    return np.convolve(values, np.ones(width) / width, mode="valid")


def plot(train: list[dict], validation: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    steps = [r["step"] for r in train]
    mel = moving_average([r["mel"] for r in train])
    top.plot(steps[len(steps) - len(mel):], mel, label="mel loss (train)")
    if train and "feature_matching" in train[0]:
        fm = moving_average([r["feature_matching"] for r in train])
        top.plot(steps[len(steps) - len(fm):], fm, label="feature matching (train)")
    top.set_ylabel("loss")
    top.legend()
    if validation:
        vsteps = [r["step"] for r in validation]
        bottom.plot(vsteps, [r["val_stoi"] for r in validation], "o-", label="STOI (held-out)")
        twin = bottom.twinx()
        twin.plot(vsteps, [r["val_mel"] for r in validation], "s--", color="tab:red", label="mel distance (held-out)")
        twin.set_ylabel("mel distance")
        twin.legend(loc="lower right")
    bottom.set_ylabel("STOI")
    bottom.set_xlabel("step")
    bottom.legend(loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    train, validation = read_log(args.log)
    if not train:
        raise SystemExit(f"{args.log}: no training records")
    plot(train, validation, args.out)
    print("| step | STOI | mel distance |\n| --- | --- | --- |")
    for r in validation:
        print(f"| {r['step']} | {r['val_stoi']:.3f} | {r['val_mel']:.3f} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

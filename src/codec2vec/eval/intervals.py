"""Per-item outcomes of a scored split, and 95 % bootstrap intervals of the metrics over them.

A downstream metric is a function of per-item outcomes: error rates of (errors, reference length)
per utterance (corpus PER/WER/CER = sum of errors / sum of reference lengths, as jiwer computes
them), accuracy of per-utterance right/wrong, EER of per-trial (score, label). Keeping the outcomes
in the result files lets an interval be computed for any metric, and results be compared later.

The interval is a percentile bootstrap over test items: each resample draws every fold's test
items with replacement (stratified by fold), takes the metric of every head seed on that same
draw, and averages over seeds and then folds, exactly as the reported value is averaged.
scipy.stats.bootstrap resamples one sample or paired samples; this nested, fold-stratified draw
is not one of its modes, hence the few lines here.
"""

from __future__ import annotations

import numpy as np

from codec2vec.eval.metrics import equal_error_rate

CONFIDENCE = 0.95
RESAMPLES = 1000


def errors_outcome(errors: list[int], reference: list[int]) -> dict:
    return {"kind": "errors", "errors": [int(e) for e in errors], "reference": [int(r) for r in reference]}


def correct_outcome(correct: list[bool]) -> dict:
    return {"kind": "correct", "correct": [int(bool(c)) for c in correct]}


def trials_outcome(scores, labels) -> dict:
    return {"kind": "trials", "scores": [round(float(s), 6) for s in scores], "labels": [int(x) for x in labels]}


def size(outcome: dict) -> int:
    return len(outcome[{"errors": "errors", "correct": "correct", "trials": "labels"}[outcome["kind"]]])


def metric_value(outcome: dict, index: np.ndarray | None = None) -> float:
    """The metric of the items `index` (all items when None; repeats count, as in a resample)."""
    kind = outcome["kind"]
    if kind == "errors":
        errors, reference = np.asarray(outcome["errors"]), np.asarray(outcome["reference"])
        if index is not None:
            errors, reference = errors[index], reference[index]
        return float(errors.sum() / max(1, reference.sum()))
    if kind == "correct":
        correct = np.asarray(outcome["correct"], dtype=np.float64)
        return float(correct.mean() if index is None else correct[index].mean()) if correct.size else 0.0
    if kind == "trials":
        scores, labels = np.asarray(outcome["scores"]), np.asarray(outcome["labels"])
        if index is not None:
            scores, labels = scores[index], labels[index]
        return equal_error_rate(scores, labels) if labels.min() != labels.max() else float("nan")
    raise ValueError(f"unknown outcome kind '{kind}'")


def _resampled(outcome: dict, draws: np.ndarray) -> np.ndarray:
    """The metric of each row of `draws` ([resamples, items] indices), vectorised where it can be."""
    kind = outcome["kind"]
    if kind == "errors":
        errors, reference = np.asarray(outcome["errors"]), np.asarray(outcome["reference"])
        return errors[draws].sum(1) / np.maximum(1, reference[draws].sum(1))
    if kind == "correct":
        return np.asarray(outcome["correct"], dtype=np.float64)[draws].mean(1)
    return np.array([metric_value(outcome, row) for row in draws])


def bootstrap_interval(folds: list[list[dict]], confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                       seed: int = 0) -> list[float]:
    """[low, high] of the metric averaged over head seeds and folds; folds[f][s] is the outcome of
    fold f's test items under seed s (the same items, in the same order, for every seed)."""
    rng = np.random.default_rng(seed)
    per_fold = []
    for seeds in folds:
        n = size(seeds[0])
        if any(size(o) != n for o in seeds):
            raise ValueError("every seed of a fold must score the same test items")
        draws = rng.integers(0, n, size=(resamples, n))
        per_fold.append(np.mean([_resampled(o, draws) for o in seeds], axis=0))  # NaN where one trial class
    values = np.mean(per_fold, axis=0)
    values = values[np.isfinite(values)]  # an EER resample with one trial class has no value
    tail = 100 * (1 - confidence) / 2
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def separated(a: list[float] | None, b: list[float] | None) -> bool:
    """Whether two intervals do not overlap."""
    return a is not None and b is not None and (a[1] < b[0] or b[1] < a[0])

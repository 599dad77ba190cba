"""Downstream and unit-quality metrics, each checked against hand-computed values in the tests.

Error rates are Levenshtein edits over tokens (rapidfuzz, the engine jiwer uses) pooled over a
corpus: word, character, and phone error rate; per-utterance counts (`edit_counts`) feed the
bootstrap intervals (codec2vec.eval.intervals). The equal error rate comes from scikit-learn's ROC
curve; purity and PNMI follow the HuBERT paper's definitions over the joint distribution of phones
and units per frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Levenshtein


def edit_counts(reference: Sequence, hypothesis: Sequence) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference length) between two token sequences."""
    return int(Levenshtein.distance(list(reference), list(hypothesis))), len(reference)


def _pooled(pairs) -> float:
    edits, lengths = zip(*pairs) if pairs else ((), ())
    return float(sum(edits) / max(1, sum(lengths)))


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER: (substitutions + deletions + insertions) / reference words, over all pairs."""
    return _pooled([edit_counts(r.split(), h.split()) for r, h in zip(references, hypotheses)])


def char_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus CER over characters, spaces between words included (ends stripped, as jiwer's)."""
    return _pooled([edit_counts(r.strip(), h.strip()) for r, h in zip(references, hypotheses)])


def phone_error_rate(references: list[list[str]], hypotheses: list[list[str]]) -> float:
    """PER: edits over phone tokens (an empty hypothesis deletes every phone)."""
    return _pooled([edit_counts(r, h) for r, h in zip(references, hypotheses)])


def ctc_greedy(ids: list[int], blank: int = 0) -> list[int]:
    """Best-path CTC decoding: merge repeated ids, then drop blanks."""
    out, previous = [], None
    for i in ids:
        if i != previous and i != blank:
            out.append(i)
        previous = i
    return out


def equal_error_rate(scores: np.ndarray, labels: np.ndarray) -> float:
    """EER of a verification score set (label 1 = same speaker): where the false-rejection and
    false-acceptance rates cross on the ROC curve, interpolated linearly between its points."""
    from sklearn.metrics import roc_curve

    labels = np.asarray(labels)
    if labels.min() == labels.max():
        raise ValueError("the equal error rate needs both target and non-target trials")
    fpr, tpr, _ = roc_curve(labels, np.asarray(scores, dtype=np.float64))
    fnr = 1.0 - tpr
    i = int(np.argmax(fnr <= fpr))  # first ROC point where false rejection no longer exceeds false acceptance
    if i == 0:
        return float(fpr[0])
    # Lines through the two neighbouring points: FPR rises by dp, FNR falls by dn; they meet at t.
    dp, dn = fpr[i] - fpr[i - 1], fnr[i - 1] - fnr[i]
    t = (fnr[i - 1] - fpr[i - 1]) / (dp + dn) if dp + dn > 0 else 0.0
    return float(fpr[i - 1] + t * dp)


@dataclass
class UnitQuality:
    phone_purity: float  # E over units of the most frequent phone's share: how phone-like a unit is
    cluster_purity: float  # E over phones of the most frequent unit's share: how unit-like a phone is
    pnmi: float  # I(phone; unit) / H(phone): phone information a unit carries, 0..1


def unit_quality(phones: np.ndarray, units: np.ndarray) -> UnitQuality:
    """Purity and phone-normalised mutual information of frame-aligned phone and unit ids."""
    phones, units = np.asarray(phones), np.asarray(units)
    if phones.shape != units.shape or phones.size == 0:
        raise ValueError(f"phones {phones.shape} and units {units.shape} must be equal-length, non-empty frame ids")
    _, y = np.unique(phones, return_inverse=True)
    _, z = np.unique(units, return_inverse=True)
    joint = np.zeros((y.max() + 1, z.max() + 1))
    np.add.at(joint, (y, z), 1.0)
    joint /= joint.sum()
    p_y, p_z = joint.sum(1), joint.sum(0)
    nonzero = joint > 0
    mutual = float((joint[nonzero] * np.log(joint[nonzero] / np.outer(p_y, p_z)[nonzero])).sum())
    entropy = float(-(p_y * np.log(p_y)).sum())
    return UnitQuality(phone_purity=float(joint.max(0).sum()), cluster_purity=float(joint.max(1).sum()),
                       pnmi=mutual / entropy if entropy > 0 else 0.0)

"""Downstream and unit-quality metrics, each checked against hand-computed values in the tests.

Error rates come from jiwer (word, character, and phone error rate as a word error rate over
phone tokens); the equal error rate from scikit-learn's ROC curve; purity and PNMI follow the
HuBERT paper's definitions over the joint distribution of phones and units per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codec2vec.errors import DependencyError


def _jiwer():
    try:
        import jiwer
    except ImportError:
        raise DependencyError("error rates need jiwer: pip install jiwer (or the 'eval' extra)") from None
    return jiwer


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER: (substitutions + deletions + insertions) / reference words, over all pairs."""
    return float(_jiwer().wer(references, hypotheses))


def char_error_rate(references: list[str], hypotheses: list[str]) -> float:
    return float(_jiwer().cer(references, hypotheses))


def phone_error_rate(references: list[list[str]], hypotheses: list[list[str]]) -> float:
    """PER: the word error rate over phone tokens (an empty hypothesis deletes every phone)."""
    return word_error_rate([" ".join(r) for r in references], [" ".join(h) for h in hypotheses])


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

"""Span masking over codec frames (HuBERT / wav2vec 2.0 style), drawn from an explicit generator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MaskConfig:
    prob: float = 0.8  # spans per utterance = prob * frames / span; after overlaps ~50% of frames are masked
    span: int = 10  # frames per masked span
    min_masks: int = 2  # spans per utterance at least (HuBERT: 2)


def span_mask(frames: list[int], total: int, cfg: MaskConfig, rng: np.random.Generator) -> np.ndarray:
    """bool [len(frames), total]: True where a frame is masked; padding is never masked.

    Each utterance of n frames gets int(prob * n / span + u) spans (u uniform in [0, 1)), at least
    min_masks, with distinct start frames; overlapping spans merge, as in fairseq.
    """
    mask = np.zeros((len(frames), total), dtype=bool)
    for row, n in enumerate(frames):
        span = max(1, min(cfg.span, n - 1))
        count = max(cfg.min_masks, int(cfg.prob * n / span + rng.random()))
        starts_available = max(1, n - span)
        count = min(count, starts_available)
        starts = rng.choice(starts_available, count, replace=False)
        mask[row, (starts[:, None] + np.arange(span)[None, :]).ravel()] = True
        mask[row, n:] = False
    return mask

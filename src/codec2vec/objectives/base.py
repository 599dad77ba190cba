"""What every target strategy returns to the trainer."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


@dataclass
class ObjectiveOutput:
    loss: torch.Tensor  # summed over masked frames; each frame's loss averaged over its targets
    correct: dict[str, torch.Tensor]  # name -> masked frames whose target was predicted (a count)
    stats: dict[str, torch.Tensor] = field(default_factory=dict)  # other figures (codebook usage), 0-dim


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """logits [N, G, C], targets [N, G] over N masked frames and G target groups (codebooks,
    layers) -> (loss summed over frames of the mean over groups, correct predictions per group [G])."""
    n, g, c = logits.shape
    ce = F.cross_entropy(logits.float().reshape(n * g, c), targets.reshape(n * g), reduction="none")
    correct = (logits.argmax(-1) == targets).sum(0)
    return ce.view(n, g).mean(1).sum(), correct

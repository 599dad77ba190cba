"""Reconstruction targets: predict each masked frame's own codec units, one classifier per codebook."""

from __future__ import annotations

import torch
from torch import nn

from codec2vec.objectives.base import ObjectiveOutput, masked_cross_entropy


class Reconstruction(nn.Module):
    def __init__(self, width: int, n_codebooks: int, codebook_size: int):
        super().__init__()
        self.n_codebooks, self.codebook_size = n_codebooks, codebook_size
        self.head = nn.Linear(width, n_codebooks * codebook_size)

    def forward(self, model, batch: dict, mask: torch.Tensor, kept_layers=None) -> ObjectiveOutput:
        x, padding = model.features(batch)
        hidden = model.encode(x, padding, mask, kept_layers)
        logits = self.head(hidden[-1][mask]).view(-1, self.n_codebooks, self.codebook_size)
        targets = batch["units"][..., : mask.shape[1]].transpose(1, 2)[mask]  # [N, n_codebooks]
        loss, correct = masked_cross_entropy(logits, targets)
        return ObjectiveOutput(loss, {"acc": correct.sum() / self.n_codebooks, "acc_codebook1": correct[0]})

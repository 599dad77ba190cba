"""SUPERB's featurizer: a learnable softmax-weighted sum of a frozen upstream's hidden states."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WeightedLayerSum(nn.Module):
    """hidden states (L of [B, T, D]) -> [B, T, D]. Weights start uniform; with `layer_norm` each
    state is normalised over its features first (s3prl's option), so no layer wins by scale alone."""

    def __init__(self, n_layers: int, layer_norm: bool = False):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_layers))
        self.layer_norm = layer_norm

    def forward(self, hidden: list[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        stacked = torch.stack(list(hidden)) if not isinstance(hidden, torch.Tensor) else hidden
        if stacked.shape[0] != self.logits.numel():
            raise ValueError(f"expected {self.logits.numel()} hidden states, got {stacked.shape[0]}")
        if self.layer_norm:
            stacked = F.layer_norm(stacked, stacked.shape[-1:])
        weights = torch.softmax(self.logits, 0).to(stacked.dtype)
        return torch.einsum("l,l...->...", weights, stacked)

    def layer_weights(self) -> list[float]:
        """The learned weight of each hidden state (they sum to 1): what gets saved and plotted."""
        return torch.softmax(self.logits.detach().float(), 0).tolist()

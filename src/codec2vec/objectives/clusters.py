"""HuBERT targets: predict the k-means cluster id of each masked frame (labels from `codec2vec kmeans`).

As HuBERT: the last hidden state is projected, and logits are cosine similarities with one learned
embedding per cluster divided by a temperature (0.1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from codec2vec.objectives.base import ObjectiveOutput, masked_cross_entropy


class ClusterPrediction(nn.Module):
    def __init__(self, width: int, n_clusters: int, proj_dim: int = 256, temperature: float = 0.1):
        super().__init__()
        self.n_clusters, self.temperature = n_clusters, temperature
        self.proj = nn.Linear(width, proj_dim)
        self.cluster_embeddings = nn.Parameter(torch.randn(n_clusters, proj_dim) * proj_dim ** -0.5)

    def forward(self, model, batch: dict, mask: torch.Tensor, kept_layers=None) -> ObjectiveOutput:
        x, padding = model.features(batch)
        hidden = model.encode(x, padding, mask, kept_layers)
        projected = F.normalize(self.proj(hidden[-1][mask]).float(), dim=-1)
        logits = projected @ F.normalize(self.cluster_embeddings.float(), dim=-1).T / self.temperature
        targets = batch["labels"][:, : mask.shape[1]][mask]
        loss, correct = masked_cross_entropy(logits.unsqueeze(1), targets.unsqueeze(1))
        return ObjectiveOutput(loss, {"acc": correct[0]})

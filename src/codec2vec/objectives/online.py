"""DinoSR targets: online clustering of an EMA teacher's layers.

The teacher is an exponential moving average of the student's Transformer encoder (decay annealed
from 0.999 to 0.9999) and reads the same input features unmasked. Its targets are, for each of its
top-K layers, the FFN output before dropout and the residual add (data2vec's and DinoSR's
`layer_results[i][2]`), instance-normalised over each utterance's valid frames and assigned to the
nearest codeword of that layer's codebook; the student predicts those ids at masked frames from its
last layer, one linear head per teacher layer. As in DinoSR, only the masked frames' targets move
the codebooks, and only the codewords they hit: an EMA (decay 0.9) of the vectors assigned to a
codeword and of their count; an idle codeword keeps both. The statistics are summed over every
micro-batch of a step and over all ranks, so the update is the same on one process or many. From
`freeze_teacher_step` on (DinoSR's option) the teacher stops following the student and the input
layers they share stop training, so the targets stay fixed.
"""

from __future__ import annotations

import copy

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from codec2vec.models.encoder import Encoder
from codec2vec.objectives.base import ObjectiveOutput, masked_cross_entropy

TEACHER_INPUTS = ("student", "full")


def instance_norm(h: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Normalise each utterance's channels over its valid frames. h [B, T, W], valid [B, T]."""
    w = valid.unsqueeze(-1).to(h.dtype)
    n = w.sum(1, keepdim=True).clamp_min(1.0)
    mean = (h * w).sum(1, keepdim=True) / n
    var = ((h - mean) ** 2 * w).sum(1, keepdim=True) / n
    return (h - mean) / torch.sqrt(var + 1e-5)


class OnlineClustering(nn.Module):
    def __init__(self, encoder: Encoder, top_k: int = 8, codebook_size: int = 256, codebook_decay: float = 0.9,
                 ema_start: float = 0.999, ema_end: float = 0.9999, ema_anneal_steps: int = 30000,
                 freeze_teacher_step: int = 0, teacher_input: str = "student"):
        super().__init__()
        if teacher_input not in TEACHER_INPUTS:
            raise ValueError(f"objective.teacher_input must be one of {', '.join(TEACHER_INPUTS)}, "
                             f"got '{teacher_input}'")
        width = encoder.width
        self.top_k = min(top_k, encoder.n_layers)
        self.codebook_size, self.codebook_decay = codebook_size, codebook_decay
        self.ema_start, self.ema_end, self.ema_anneal_steps = ema_start, ema_end, max(1, ema_anneal_steps)
        self.freeze_teacher_step, self.teacher_input = freeze_teacher_step, teacher_input
        self.teacher_frozen = False  # set by at_step()
        self.teacher = copy.deepcopy(encoder).requires_grad_(False).eval()
        self.heads = nn.ModuleList(nn.Linear(width, codebook_size) for _ in range(self.top_k))
        # DinoSR's initialisation: random vectors normalised per channel across the codewords.
        codewords = F.instance_norm(torch.randn(self.top_k, width, codebook_size)).transpose(1, 2)
        self.register_buffer("codewords", codewords.contiguous())  # [K, V, W], fp32
        self.register_buffer("counts", torch.ones(self.top_k, codebook_size))
        self._sums: torch.Tensor | None = None  # this step's assigned-vector sums [K, V, W]
        self._hits: torch.Tensor | None = None  # ... and counts [K, V]

    def train(self, mode: bool = True) -> "OnlineClustering":
        super().train(mode)
        self.teacher.eval()  # the teacher never uses dropout
        return self

    def at_step(self, step: int) -> None:
        """Called before each optimizer step (0-based): from freeze_teacher_step on, the teacher and
        the input layers stay as they are."""
        self.teacher_frozen = 0 < self.freeze_teacher_step <= step

    @torch.no_grad()
    def _targets(self, x: torch.Tensor, padding: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Codeword ids [B, T, K] of the teacher's top-K layers. Accumulates codebook statistics of
        the masked frames (of every valid frame without a mask; the caller may discard them)."""
        ffn_outputs: list[torch.Tensor] = []
        self.teacher(x, padding, ffn_outputs=ffn_outputs)
        valid = ~padding
        # Every frame is assigned; frames outside the mask weigh 0 in the statistics: selecting them
        # instead would make the host wait for the GPU at each layer (boolean indexing, bincount).
        weight = (valid if mask is None else mask & valid).reshape(-1, 1).float()
        if self._sums is None:
            self._sums = torch.zeros_like(self.codewords)
            self._hits = torch.zeros_like(self.counts)
        ids = []
        for k, h in enumerate(ffn_outputs[-self.top_k:]):
            z = instance_norm(h.float(), valid).reshape(-1, h.shape[-1])  # [B*T, W]
            nearest = torch.cdist(z, self.codewords[k]).argmin(-1)
            ids.append(nearest)
            self._sums[k].index_add_(0, nearest, z * weight)
            self._hits[k].index_add_(0, nearest, weight[:, 0])
        return torch.stack(ids, dim=-1).view(*padding.shape, self.top_k)

    def forward(self, model, batch: dict, mask: torch.Tensor, kept_layers=None) -> ObjectiveOutput:
        x, padding = model.features(batch)
        if self.teacher_frozen:  # DinoSR's freeze_pre_enc_modules: the shared input layers stop training
            x = x.detach()
            model.feature_penalty = None  # nor does the waveform model's feature penalty train them
        # The teacher reads the student's input (after quantizer dropout) or every codebook of it.
        full = self.teacher_input == "full" and model.kind == "units"
        teacher_x = model.features(batch, quantizer_dropout=False)[0] if full else x
        ids = self._targets(teacher_x.detach(), padding, mask)
        hidden = model.encode(x, padding, mask, kept_layers)
        last = hidden[-1][mask]
        logits = torch.stack([head(last) for head in self.heads], dim=1)  # [N, K, V]
        loss, correct = masked_cross_entropy(logits, ids[mask])
        valid = (~padding).reshape(-1, 1).float().expand(-1, self.top_k)  # [B*T, K]
        histogram = torch.zeros_like(self.counts).scatter_add_(1, ids.reshape(-1, self.top_k).T, valid.T)
        p = histogram / histogram.sum(1, keepdim=True).clamp_min(1.0)
        perplexity = torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum(1))
        stats = {"codebook_usage": (histogram > 0).float().mean(), "codebook_perplexity": perplexity.mean()}
        return ObjectiveOutput(loss, {"acc": correct.sum() / self.top_k, "acc_top_layer": correct[-1]}, stats)

    def ema_decay(self, step: int) -> float:
        if step >= self.ema_anneal_steps:
            return self.ema_end
        return self.ema_start + (self.ema_end - self.ema_start) * step / self.ema_anneal_steps

    @torch.no_grad()
    def update(self, student: Encoder, step: int) -> None:
        """After an optimizer step: move the codebooks by this step's assignments, then the teacher."""
        if self._sums is not None:
            if dist.is_available() and dist.is_initialized():
                dist.all_reduce(self._sums)
                dist.all_reduce(self._hits)
            tau = self.codebook_decay
            hit = self._hits > 0  # DinoSR moves only the codewords hit in this step
            counts = torch.where(hit, tau * self.counts + (1 - tau) * self._hits, self.counts)
            moved = (tau * self.counts.unsqueeze(-1) * self.codewords + (1 - tau) * self._sums)
            moved = moved / counts.clamp_min(1e-20).unsqueeze(-1)
            self.codewords.copy_(torch.where(hit.unsqueeze(-1), moved, self.codewords))
            self.counts.copy_(counts)
        self.discard_statistics()
        if not self.teacher_frozen:
            decay = self.ema_decay(step)
            torch._foreach_lerp_(list(self.teacher.parameters()), [p.detach() for p in student.parameters()],
                                 1.0 - decay)

    def discard_statistics(self) -> None:
        self._sums = self._hits = None

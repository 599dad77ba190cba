"""Stage 4 targets: span masking and the three target strategies of Codec2Vec.

reconstruction: the masked frames' own codec units. kmeans: HuBERT's offline cluster ids (labels
written by `codec2vec kmeans`). online: DinoSR's online clustering of an EMA teacher.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from codec2vec.objectives.base import ObjectiveOutput
from codec2vec.objectives.clusters import ClusterPrediction
from codec2vec.objectives.masking import MaskConfig, span_mask
from codec2vec.objectives.online import OnlineClustering
from codec2vec.objectives.reconstruction import Reconstruction

OBJECTIVES = ("reconstruction", "kmeans", "online")


@dataclass
class ObjectiveConfig:
    name: str = "reconstruction"  # reconstruction | kmeans | online
    labels: str = ""  # kmeans: label store of the training utterances (from `codec2vec kmeans`)
    proj_dim: int = 256  # kmeans: HuBERT's projection before cosine logits
    temperature: float = 0.1  # kmeans: logit temperature
    top_k: int = 8  # online: teacher layers clustered (DinoSR: 8; capped at the layer count)
    codebook_size: int = 256  # online: codewords per layer
    codebook_decay: float = 0.9  # online: EMA decay of the codewords
    ema_start: float = 0.999  # online: teacher EMA decay, annealed linearly ...
    ema_end: float = 0.9999  # ... to this ...
    ema_anneal_steps: int = 30000  # ... over this many steps
    freeze_teacher_step: int = 0  # online: from this step on, teacher and input layers stay fixed (DinoSR; 0: never)
    teacher_input: str = "student"  # online: the teacher reads the student's input (after quantizer dropout) or "full"
    collapse_threshold: float = 0.1  # online: warn when fewer than this fraction of codewords is used


def build_objective(cfg: ObjectiveConfig, model, n_codebooks: int, codebook_size: int,
                    n_clusters: int = 0) -> nn.Module:
    if cfg.name == "reconstruction":
        return Reconstruction(model.width, n_codebooks, codebook_size)
    if cfg.name == "kmeans":
        return ClusterPrediction(model.width, n_clusters, cfg.proj_dim, cfg.temperature)
    if cfg.name == "online":
        return OnlineClustering(model.encoder, cfg.top_k, cfg.codebook_size, cfg.codebook_decay,
                                cfg.ema_start, cfg.ema_end, cfg.ema_anneal_steps, cfg.freeze_teacher_step,
                                cfg.teacher_input)
    raise ValueError(f"objective.name must be one of {', '.join(OBJECTIVES)}, got '{cfg.name}'")


__all__ = ["OBJECTIVES", "ObjectiveConfig", "ObjectiveOutput", "MaskConfig", "span_mask", "build_objective",
           "Reconstruction", "ClusterPrediction", "OnlineClustering"]

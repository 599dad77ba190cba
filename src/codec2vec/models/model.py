"""Codec2Vec: an input layer, a learned mask embedding and the Transformer encoder.

The same class is the waveform and log-mel baselines (`input.kind`), so every comparison between
them differs only in the input layer. Saved model folders are models/saved.py's.

This module, encoder.py, inputs.py and hf.py import only torch, numpy, transformers and each other
(relatively): `export` copies them verbatim as an export's remote code, so transformers loads
the model where codec2vec is not installed (tests/test_interop.py checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .encoder import Block, Encoder, EncoderConfig
from .inputs import INPUT_KINDS, InputConfig, LogMelInput, UnitInput, WaveformInput, batch_frames


@dataclass
class ModelConfig:
    input: InputConfig = field(default_factory=InputConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        """A saved config.json's "model" (written by dataclasses.asdict); keys it lacks take defaults."""
        return cls(InputConfig(**values.get("input", {})), EncoderConfig(**values.get("encoder", {})))


class Codec2Vec(nn.Module):
    """batch -> every hidden state [B, T, width] on the codec frame grid, and the padding mask.

    A batch is a dict with "frames" [B] (true lengths) and "units" [B, n_codebooks, T] (unit input)
    or "audio" [B, samples] at 16 kHz (baselines).
    """

    def __init__(self, cfg: ModelConfig, n_codebooks: int, codebook_size: int,
                 codebook_vectors: torch.Tensor | None = None):
        super().__init__()
        kind = cfg.input.kind
        if kind not in INPUT_KINDS:
            raise ValueError(f"input.kind must be one of {', '.join(INPUT_KINDS)}, got '{kind}'")
        self.kind = kind
        if kind == "units":
            self.frontend = UnitInput(cfg.input, n_codebooks, codebook_size, codebook_vectors)
        elif kind == "waveform":
            self.frontend = WaveformInput(cfg.input)
        else:
            self.frontend = LogMelInput(cfg.input)
        self.encoder = Encoder(cfg.encoder)
        self.width = self.encoder.width
        self.feature_norm = nn.LayerNorm(self.frontend.out_dim)
        self.project = nn.Linear(self.frontend.out_dim, self.width)
        self.mask_embedding = nn.Parameter(torch.empty(self.width).uniform_())
        self.feature_grad_mult, self.feature_penalty_weight = cfg.input.feature_grad_mult, cfg.input.feature_penalty
        self.feature_penalty: torch.Tensor | None = None  # the last training batch's, for the trainer's loss

    @property
    def n_hidden(self) -> int:
        return self.encoder.n_layers + 1

    def features(self, batch: dict, quantizer_dropout: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected input features [B, T, width] and the padding mask [B, T] (True = padding).
        `quantizer_dropout=False` reads every codebook even in training."""
        frames = batch["frames"]
        # The batch's width, not the longest utterance (`data.pad_multiple` may pad past it; reading
        # the shape also costs no host synchronisation).
        if self.kind == "units":
            t = batch["units"].shape[-1]
            x = self.frontend(batch["units"], quantizer_dropout)
        else:
            t = batch_frames(batch["audio"])
            x = self.frontend(batch["audio"], frames, t)
        padding = torch.arange(t, device=frames.device)[None, :] >= frames[:, None]
        if self.kind == "waveform" and self.training:  # HuBERT's treatment of its CNN
            valid = (~padding).unsqueeze(-1).to(x.dtype)
            self.feature_penalty = (x.float().pow(2) * valid).sum() / (valid.sum() * x.shape[-1]).clamp_min(1.0)
            if self.feature_grad_mult != 1.0:  # fairseq's GradMultiply: same values, scaled gradient
                x = x * self.feature_grad_mult + x.detach() * (1.0 - self.feature_grad_mult)
        return self.project(self.feature_norm(x)), padding

    def encode(self, x: torch.Tensor, padding: torch.Tensor, mask: torch.Tensor | None = None,
               kept_layers: list[bool] | None = None) -> list[torch.Tensor]:
        if mask is not None:
            x = torch.where(mask.unsqueeze(-1), self.mask_embedding.to(x.dtype), x)
        return self.encoder(x, padding, kept_layers)

    def forward(self, batch: dict, mask: torch.Tensor | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        x, padding = self.features(batch)
        return self.encode(x, padding, mask), padding


def build_model(cfg: ModelConfig, n_codebooks: int, codebook_size: int,
                codebook_vectors: torch.Tensor | None = None) -> Codec2Vec:
    """Build from a config; with codebook vectors, input.embed_dim becomes their width, and the
    preset's normalisation choices are written into the config (both recorded)."""
    cfg.encoder.norm_first, cfg.encoder.ffn_dropout = cfg.encoder.resolved_norm()
    if codebook_vectors is not None:
        cfg.input.embed_dim = int(codebook_vectors.shape[-1])
    return Codec2Vec(cfg, n_codebooks, codebook_size, codebook_vectors)


def compile_regions(module: nn.Module) -> None:
    """torch.compile, in place, every Transformer block and the waveform CNN inside `module`
    (PyTorch's "regional compilation"): all blocks share one compiled graph, so compiling costs one
    block rather than the whole model, and state-dict keys do not change. What depends on the data
    (lengths, masking, the objective's loss) stays eager."""
    import torch._dynamo

    if tuple(int(v) for v in torch.__version__.split(".")[:2]) < (2, 5):  # on by default from 2.5
        torch._dynamo.config.inline_inbuilt_nn_modules = True  # else each block is its own cache entry
    for sub in module.modules():
        if isinstance(sub, (Block, WaveformInput)):
            sub.compile()

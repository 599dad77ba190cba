"""The Transformer encoder shared by Codec2Vec and the continuous-input baselines.

HuBERT's encoder with two departures chosen for stable training at every size: pre-layer-norm
blocks (HuBERT Large's choice; HuBERT Base is post-LN) and a final layer norm. Relative position
comes from a grouped convolution over time added to the input, as in HuBERT/wav2vec 2.0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

PRESETS = {
    # name: (layers, width, heads, ffn)
    "base": (12, 768, 12, 3072),  # HuBERT Base, ~95 M parameters with the unit input layer
    "small": (6, 384, 6, 1536),
    "tiny": (2, 64, 4, 256),
}


@dataclass
class EncoderConfig:
    preset: str = "small"  # base | small | tiny; the four sizes below override it when > 0
    layers: int = 0
    width: int = 0
    heads: int = 0
    ffn: int = 0
    dropout: float = 0.1  # residual, attention and FFN dropout during training
    layerdrop: float = 0.0  # probability of skipping a whole layer in training (HuBERT Base: 0.05)
    pos_conv_kernel: int = 128  # HuBERT: 128 frames
    pos_conv_groups: int = 16

    def resolved(self) -> tuple[int, int, int, int]:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown encoder preset '{self.preset}' (known: {', '.join(PRESETS)})")
        sizes = [own or preset for own, preset in zip((self.layers, self.width, self.heads, self.ffn),
                                                       PRESETS[self.preset])]
        layers, width, heads, ffn = sizes
        if width % heads:
            raise ValueError(f"encoder width {width} is not divisible by {heads} heads")
        return layers, width, heads, ffn


class PositionalConv(nn.Module):
    """Convolutional relative position embedding (HuBERT): grouped conv over time, weight-normed."""

    def __init__(self, width: int, kernel: int, groups: int):
        super().__init__()
        groups = groups if width % groups == 0 else 1
        conv = nn.Conv1d(width, width, kernel, padding=kernel // 2, groups=groups)
        nn.init.normal_(conv.weight, mean=0.0, std=(4.0 / (kernel * width)) ** 0.5)
        nn.init.zeros_(conv.bias)
        self.conv = nn.utils.parametrizations.weight_norm(conv, name="weight", dim=2)
        self.trim = 1 if kernel % 2 == 0 else 0  # an even kernel yields one extra frame

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x.transpose(1, 2))
        if self.trim:
            y = y[..., :-self.trim]
        return F.gelu(y).transpose(1, 2)


class Block(nn.Module):
    def __init__(self, width: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.attn_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.ffn_norm = nn.LayerNorm(width)
        self.ffn = nn.Sequential(nn.Linear(width, ffn), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn, width))
        self.dropout = nn.Dropout(dropout)
        self.attn_dropout = dropout

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None,
                ffn_outputs: list[torch.Tensor] | None = None) -> torch.Tensor:
        """`ffn_outputs`, if given, receives the FFN's output before dropout and the residual add
        (data2vec's and DinoSR's teacher target, `layer_results[i][2]` in fairseq)."""
        b, t, w = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                           dropout_p=self.attn_dropout if self.training else 0.0)
        x = x + self.dropout(self.out(a.transpose(1, 2).reshape(b, t, w)))
        ffn = self.ffn(self.ffn_norm(x))
        if ffn_outputs is not None:
            ffn_outputs.append(ffn)
        return x + self.dropout(ffn)


class Encoder(nn.Module):
    """[B, T, width] features + padding mask -> every hidden state (input after position conv, then
    each layer's output; the last has the final layer norm applied)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.n_layers, self.width, heads, ffn = cfg.resolved()
        self.layerdrop = cfg.layerdrop
        self.pos_conv = PositionalConv(self.width, cfg.pos_conv_kernel, cfg.pos_conv_groups)
        self.input_norm = nn.LayerNorm(self.width)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(Block(self.width, heads, ffn, cfg.dropout) for _ in range(self.n_layers))
        self.final_norm = nn.LayerNorm(self.width)

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None,
                kept_layers: list[bool] | None = None,
                ffn_outputs: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """`padding` [B, T] is True at padded frames. `kept_layers` (training only) drops layers:
        the caller draws it so that every rank drops the same ones. `ffn_outputs`, if given,
        receives each layer's FFN output (see Block)."""
        if padding is not None:
            x = x.masked_fill(padding.unsqueeze(-1), 0.0)
        x = self.dropout(self.input_norm(x + self.pos_conv(x)))
        # Boolean mask, True = may attend; padded keys are hidden from every query.
        attn_mask = None if padding is None or not padding.any() else ~padding[:, None, None, :]
        hidden = [x]
        for i, layer in enumerate(self.layers):
            if kept_layers is None or kept_layers[i] or not self.training:
                x = layer(x, attn_mask, ffn_outputs)
            hidden.append(self.final_norm(x) if i == self.n_layers - 1 else x)
        return hidden

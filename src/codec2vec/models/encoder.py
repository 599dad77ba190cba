"""The Transformer encoder shared by Codec2Vec and the continuous-input baselines.

HuBERT's encoder. Relative position comes from a grouped convolution over time added to the input,
then a layer norm, as in HuBERT/wav2vec 2.0. The `base` preset is HuBERT Base's: post-layer-norm
blocks, no final norm, no dropout inside the FFN. The small presets use pre-layer-norm blocks
(HuBERT Large's choice, stable at every size) with a final layer norm; unlike HuBERT Large they
keep the input layer norm (the shipped model was trained so).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

PRESETS = {
    # name: (layers, width, heads, ffn)
    "base": (12, 768, 12, 3072),  # HuBERT Base, ~95 M parameters with the unit input layer
    "small": (6, 384, 6, 1536),
    "tiny": (2, 64, 4, 256),
}
POST_LN_PRESETS = ("base",)  # HuBERT Base: post-LN, FFN inner dropout 0 (fairseq's activation_dropout)


@dataclass
class EncoderConfig:
    preset: str = "small"  # base | small | tiny; the four sizes below override it when > 0
    layers: int = 0
    width: int = 0
    heads: int = 0
    ffn: int = 0
    dropout: float = 0.1  # residual and attention dropout during training (HuBERT Base: 0.1)
    norm_first: bool | None = None  # pre-LN blocks; None: the preset's (base: False, as HuBERT Base)
    ffn_dropout: float | None = None  # dropout inside the FFN; None: the preset's (base: 0.0, others: dropout)
    init: str = "torch"  # torch (PyTorch's default initialisation) | fairseq (BERT's: normal(0, 0.02), zero biases)
    layerdrop: float = 0.0  # probability of skipping a whole layer in training (HuBERT Base: 0.05)
    pos_conv_kernel: int = 128  # HuBERT: 128 frames
    pos_conv_groups: int = 16
    # how the position convolution is computed (same weights, same function to float rounding): direct
    # (the library's grouped convolution) | fft (products of spectra, all groups in one batched matmul) |
    # auto: fft on a CPU (a 2 x 128 unit model's step 1.6x faster on 2 cores, docs/performance.md),
    # direct elsewhere until the GPU suite's real_steps_fft measures it
    pos_conv: str = "auto"
    # scaled_dot_product_attention's kernel on CUDA: auto (PyTorch's choice: cuDNN's on recent GPUs with
    # a padding mask), efficient (the memory-efficient kernel), cudnn, math; ignored on CPU
    attention: str = "auto"

    def resolved(self) -> tuple[int, int, int, int]:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown encoder preset '{self.preset}' (known: {', '.join(PRESETS)})")
        sizes = [own or preset for own, preset in zip((self.layers, self.width, self.heads, self.ffn),
                                                       PRESETS[self.preset])]
        layers, width, heads, ffn = sizes
        if width % heads:
            raise ValueError(f"encoder width {width} is not divisible by {heads} heads")
        return layers, width, heads, ffn

    def attention_backends(self) -> list | None:
        """The SDPA backends allowed on CUDA; None: PyTorch's own choice."""
        choices = {"auto": None, "efficient": [SDPBackend.EFFICIENT_ATTENTION], "cudnn": [SDPBackend.CUDNN_ATTENTION],
                   "math": [SDPBackend.MATH]}
        if self.attention not in choices:
            raise ValueError(f"encoder.attention must be one of {', '.join(choices)}, got '{self.attention}'")
        return choices[self.attention]

    def resolved_norm(self) -> tuple[bool, float]:
        """(norm_first, ffn_dropout) with the preset's choice where not set."""
        post_ln = self.preset in POST_LN_PRESETS
        norm_first = (not post_ln) if self.norm_first is None else self.norm_first
        ffn_dropout = (0.0 if post_ln else self.dropout) if self.ffn_dropout is None else self.ffn_dropout
        return norm_first, ffn_dropout


def fft_size(n: int) -> int:
    """The smallest length >= n with no prime factor above 5: fast in every FFT library."""
    while True:
        rest = n
        for p in (2, 3, 5):
            while rest % p == 0:
                rest //= p
        if rest == 1:
            return n
        n += 1


class PositionalConv(nn.Module):
    """Convolutional relative position embedding (HuBERT): grouped conv over time, weight-normed.

    method "fft" computes the same convolution from the spectra of the input and the kernel. On an H200
    cuDNN ran HuBERT's 16 groups one at a time, half of a Base pre-training step on real batches
    (docs/performance.md); here every group is one slice of a single batched matmul. "auto" takes it
    on a CPU, where it measured faster, and the grouped convolution elsewhere."""

    def __init__(self, width: int, kernel: int, groups: int, method: str = "auto"):
        super().__init__()
        groups = groups if width % groups == 0 else 1
        conv = nn.Conv1d(width, width, kernel, padding=kernel // 2, groups=groups)
        nn.init.normal_(conv.weight, mean=0.0, std=(4.0 / (kernel * width)) ** 0.5)
        nn.init.zeros_(conv.bias)
        self.conv = nn.utils.parametrizations.weight_norm(conv, name="weight", dim=2)
        self.method = method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.shape[1]
        fft = self.method == "fft" or (self.method == "auto" and x.device.type == "cpu")
        y = self._fft_conv(x) if fft else self.conv(x.transpose(1, 2))[..., :frames]  # an even kernel adds one
        return F.gelu(y).transpose(1, 2)

    def _fft_conv(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, C] -> [B, C, T], in float32 (FFTs of bf16 are not supported on every length)."""
        with torch.autocast(x.device.type, enabled=False):
            weight, bias = self.conv.weight.float(), self.conv.bias.float()  # [C, C / groups, K]
            channels, per_group, kernel = weight.shape
            groups, (batch, frames, _) = channels // per_group, x.shape
            n = fft_size(frames + kernel - 1)  # no wrap-around: a linear convolution
            # spectra as [groups, frequencies, rows, columns]; the kernel flipped, as a conv layer correlates
            xf = torch.fft.rfft(x.float().transpose(1, 2).reshape(batch, groups, per_group, frames), n=n)
            wf = torch.fft.rfft(weight.flip(-1).reshape(groups, per_group, per_group, kernel), n=n)
            yf = torch.matmul(xf.permute(1, 3, 0, 2), wf.permute(0, 3, 2, 1)).permute(2, 0, 3, 1)
            start = kernel - 1 - kernel // 2  # the direct layer pads kernel // 2 frames on either side
            y = torch.fft.irfft(yf, n=n)[..., start:start + frames]
            return y.reshape(batch, channels, frames) + bias[:, None]


class Block(nn.Module):
    """A Transformer layer. Pre-LN: x + f(norm(x)). Post-LN (HuBERT Base): norm(x + f(x)); the two
    norms keep their names (fairseq's self_attn_layer_norm and final_layer_norm)."""

    def __init__(self, width: int, heads: int, ffn: int, dropout: float, norm_first: bool = True,
                 ffn_dropout: float | None = None):
        super().__init__()
        self.heads, self.norm_first = heads, norm_first
        self.attn_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.ffn_norm = nn.LayerNorm(width)
        inner = dropout if ffn_dropout is None else ffn_dropout
        self.ffn = nn.Sequential(nn.Linear(width, ffn), nn.GELU(), nn.Dropout(inner), nn.Linear(ffn, width))
        self.dropout = nn.Dropout(dropout)
        self.attn_dropout = dropout

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None,
                ffn_outputs: list[torch.Tensor] | None = None) -> torch.Tensor:
        """`ffn_outputs`, if given, receives the FFN's output before dropout and the residual add
        (data2vec's and DinoSR's teacher target, `layer_results[i][2]` in fairseq)."""
        b, t, w = x.shape
        h = self.attn_norm(x) if self.norm_first else x
        q, k, v = self.qkv(h).view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                           dropout_p=self.attn_dropout if self.training else 0.0)
        x = x + self.dropout(self.out(a.transpose(1, 2).reshape(b, t, w)))
        if not self.norm_first:
            x = self.attn_norm(x)
        ffn = self.ffn(self.ffn_norm(x) if self.norm_first else x)
        if ffn_outputs is not None:
            ffn_outputs.append(ffn)
        x = x + self.dropout(ffn)
        return x if self.norm_first else self.ffn_norm(x)


def _bert_init(module: nn.Module) -> None:
    """fairseq's init_bert_params for the layers' linear maps: normal(0, 0.02) weights, zero biases
    (the position convolution keeps its own initialisation, as in fairseq)."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class Encoder(nn.Module):
    """[B, T, width] features + padding mask -> every hidden state (input after position conv, then
    each layer's output; the last has the final layer norm applied)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.n_layers, self.width, heads, ffn = cfg.resolved()
        norm_first, ffn_dropout = cfg.resolved_norm()
        self.layerdrop = cfg.layerdrop
        self.attention_backends = cfg.attention_backends()
        if cfg.pos_conv not in ("auto", "direct", "fft"):
            raise ValueError(f"encoder.pos_conv must be auto, direct or fft, got '{cfg.pos_conv}'")
        self.pos_conv = PositionalConv(self.width, cfg.pos_conv_kernel, cfg.pos_conv_groups, cfg.pos_conv)
        self.input_norm = nn.LayerNorm(self.width)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(Block(self.width, heads, ffn, cfg.dropout, norm_first, ffn_dropout)
                                    for _ in range(self.n_layers))
        # Pre-LN leaves the residual stream unnormalised: a final norm (HuBERT Large); post-LN has none.
        self.final_norm = nn.LayerNorm(self.width) if norm_first else nn.Identity()
        if cfg.init == "fairseq":
            self.apply(_bert_init)
        elif cfg.init != "torch":
            raise ValueError(f"encoder.init must be torch or fairseq, got '{cfg.init}'")

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
        with (sdpa_kernel(self.attention_backends) if self.attention_backends and x.is_cuda
              else contextlib.nullcontext()):
            for i, layer in enumerate(self.layers):
                if kept_layers is None or kept_layers[i] or not self.training:
                    x = layer(x, attn_mask, ffn_outputs)
                hidden.append(self.final_norm(x) if i == self.n_layers - 1 else x)
        return hidden

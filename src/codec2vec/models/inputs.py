"""Input layers: what turns a batch into frame features on the codec's frame grid.

`units` is Codec2Vec's: one embedding table per codebook, summed (or concatenated). The
continuous-input baselines read audio: `waveform` through HuBERT's 7-layer CNN (stride 320) and
`logmel` through 80 log-mel bins every 10 ms stacked in pairs (MelHuBERT). At 16 kHz all three give
50 frames/s and the same frame count, ceil(samples / 320), so one mask and one target tensor fit all.
Each ends with layer norm and a projection to the encoder width, as HuBERT's post-extract projection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

INPUT_KINDS = ("units", "waveform", "logmel")
AUDIO_RATE = 16000  # the baselines' sample rate
AUDIO_HOP = 320  # samples per frame: 50 frames/s


@dataclass
class InputConfig:
    kind: str = "units"  # units | waveform | logmel
    combine: str = "sum"  # units: sum the codebook embeddings (paper) or concat them and project
    init_from_codec: bool = True  # units: start the tables from the codec's codebook vectors
    embed_dim: int = 256  # units: table width when not initialised from the codec
    quantizer_dropout: float = 0.5  # units, training: chance an utterance keeps only its first n codebooks
    min_codebooks: int = 1  # ... with n uniform in [min_codebooks, all]
    conv_channels: int = 512  # waveform CNN width (HuBERT: 512)
    feature_grad_mult: float = 0.1  # waveform, training: the gradient reaching the CNN is scaled by this (HuBERT: 0.1)
    feature_penalty: float = 10.0  # waveform, training: weight of the CNN output's mean square in the loss (HuBERT: 10)
    n_mels: int = 80  # logmel bins


def pad_codes(codes: list[np.ndarray]) -> tuple[torch.Tensor, list[int]]:
    """Codes [streams, T_i] per utterance -> a zero-padded int64 batch [B, streams, max T_i] and the T_i."""
    frames = [c.shape[1] for c in codes]
    units = torch.zeros(len(codes), codes[0].shape[0], max(frames), dtype=torch.long)
    for row, c in enumerate(codes):
        units[row, :, : c.shape[1]] = torch.from_numpy(c.astype(np.int64))
    return units, frames


def frames_for_samples(samples: torch.Tensor) -> torch.Tensor:
    return torch.clamp((samples + AUDIO_HOP - 1) // AUDIO_HOP, min=1)


def batch_frames(audio: torch.Tensor) -> int:
    """Frames of an audio batch [B, samples]: its width, not its longest utterance (no host sync)."""
    return max(1, -(-audio.shape[-1] // AUDIO_HOP))


class UnitInput(nn.Module):
    """codes [B, n_codebooks, T] -> features [B, T, D]."""

    def __init__(self, cfg: InputConfig, n_codebooks: int, codebook_size: int,
                 codebook_vectors: torch.Tensor | None = None):
        super().__init__()
        if cfg.combine not in ("sum", "concat"):
            raise ValueError(f"input.combine must be sum or concat, got '{cfg.combine}'")
        dim = codebook_vectors.shape[-1] if codebook_vectors is not None else cfg.embed_dim
        self.n_codebooks, self.codebook_size, self.combine = n_codebooks, codebook_size, cfg.combine
        self.quantizer_dropout, self.min_codebooks = cfg.quantizer_dropout, max(1, cfg.min_codebooks)
        # One table holding every codebook's rows; code c of codebook q is row q * size + c.
        self.table = nn.Embedding(n_codebooks * codebook_size, dim)
        if codebook_vectors is not None:
            if tuple(codebook_vectors.shape[:2]) != (n_codebooks, codebook_size):
                raise ValueError(f"codebook vectors {tuple(codebook_vectors.shape)} do not fit "
                                 f"{n_codebooks} codebooks x {codebook_size}")
            with torch.no_grad():
                self.table.weight.copy_(codebook_vectors.reshape(-1, dim))
        else:
            nn.init.normal_(self.table.weight, std=dim ** -0.5)
        self.register_buffer("offsets", torch.empty(n_codebooks, dtype=torch.long), persistent=False)
        self.reset_buffers()
        self.out_dim = dim * (n_codebooks if cfg.combine == "concat" else 1)

    def reset_buffers(self) -> None:
        """(Re)compute the non-persistent buffers, which no checkpoint holds (transformers builds a
        model on the meta device and loads only saved tensors: codec2vec.models.hf calls this)."""
        self.offsets = torch.arange(self.n_codebooks, device=self.offsets.device) * self.codebook_size

    def forward(self, codes: torch.Tensor, quantizer_dropout: bool = True) -> torch.Tensor:
        b, q, t = codes.shape
        if q != self.n_codebooks:
            raise ValueError(f"expected codes with {self.n_codebooks} codebooks, got {q}")
        rows = (codes + self.offsets.view(1, q, 1)).transpose(1, 2).reshape(b * t, q)  # [B*T, Q]
        keep = None
        if self.training and quantizer_dropout and self.quantizer_dropout > 0:
            # Zero the dropped codebooks rather than skipping them: every table stays in the graph,
            # which distributed training needs.
            keep_n = torch.randint(self.min_codebooks, q + 1, (b,), device=codes.device)
            dropped = torch.rand(b, device=codes.device) >= self.quantizer_dropout
            keep_n = torch.where(dropped, torch.full_like(keep_n, q), keep_n)
            keep = (torch.arange(q, device=codes.device)[None, :] < keep_n[:, None]).to(self.table.weight.dtype)
        if self.combine == "sum":
            # One fused gather-and-sum: the [B, Q, T, D] stack of looked-up rows is never built
            # (2.4 GB at 96 x 10 s with 1024-wide tables, and as much again for its gradient).
            weights = None if keep is None else keep[:, None, :].expand(b, t, q).reshape(b * t, q)
            summed = nn.functional.embedding_bag(rows, self.table.weight, mode="sum", per_sample_weights=weights)
            return summed.view(b, t, -1)
        vectors = self.table(rows).view(b, t, q, -1)
        if keep is not None:
            vectors = vectors * keep[:, None, :, None]
        return vectors.reshape(b, t, -1)


class WaveformInput(nn.Module):
    """HuBERT's CNN: audio [B, L] at 16 kHz -> features [B, T, 512], T = ceil(L / 320).

    The first layer's group norm (one group per channel, normalised over time) only counts each
    utterance's own samples, so a padded batch gives what each utterance gives alone.
    """

    LAYERS = [(10, 5)] + [(3, 2)] * 4 + [(2, 2)] * 2  # (kernel, stride): receptive field 400, hop 320

    def __init__(self, cfg: InputConfig):
        super().__init__()
        channels = cfg.conv_channels
        convs, in_channels = [], 1
        for kernel, stride in self.LAYERS:
            conv = nn.Conv1d(in_channels, channels, kernel, stride=stride, bias=False)
            nn.init.kaiming_normal_(conv.weight)
            convs.append(conv)
            in_channels = channels
        self.convs = nn.ModuleList(convs)
        self.first_norm = nn.GroupNorm(channels, channels)
        self.out_dim = channels

    def forward(self, audio: torch.Tensor, frames: torch.Tensor, t: int) -> torch.Tensor:
        """`audio` is zero past each utterance's end; `frames` [B] are the utterances' frame counts;
        `t` the frames wanted (at least the longest utterance's)."""
        # Pad so the CNN yields exactly t outputs: (t - 1) * 320 + 400 samples.
        need = (t - 1) * AUDIO_HOP + 400
        audio = nn.functional.pad(audio, (0, need - audio.shape[1])) if audio.shape[1] < need else audio[:, :need]
        x = self.convs[0](audio.unsqueeze(1))  # [B, C, L0]
        kernel, stride = self.LAYERS[0]
        valid = ((frames - 1) * AUDIO_HOP + 400 - kernel) // stride + 1  # what each utterance alone would see
        # masked mean and variance over each utterance's own samples as products with the mask (no
        # masked copies of the model's largest activation), then normalise and scale in one pass
        inside = (torch.arange(x.shape[-1], device=x.device)[None, :] < valid[:, None]).to(x.dtype).unsqueeze(-1)
        count = valid.to(x.dtype).view(-1, 1, 1)
        mean = torch.bmm(x, inside) / count  # [B, C, 1]
        var = torch.bmm((x - mean).square(), inside) / count
        scale = self.first_norm.weight.view(1, -1, 1) * torch.rsqrt(var + self.first_norm.eps)
        x = nn.functional.gelu(torch.addcmul(self.first_norm.bias.view(1, -1, 1) - mean * scale, x, scale))
        for conv in self.convs[1:]:
            x = nn.functional.gelu(conv(x))
        return x.transpose(1, 2)


class LogMelInput(nn.Module):
    """audio [B, L] at 16 kHz -> log-mel [B, T, 2 * n_mels]: 25 ms windows every 10 ms, pairs stacked."""

    def __init__(self, cfg: InputConfig):
        super().__init__()
        self.n_fft, self.hop, self.n_mels = 400, AUDIO_HOP // 2, cfg.n_mels
        self.register_buffer("filters", torch.empty(self.n_fft // 2 + 1, cfg.n_mels), persistent=False)
        self.register_buffer("window", torch.empty(self.n_fft), persistent=False)
        self.reset_buffers()
        self.out_dim = 2 * cfg.n_mels

    def reset_buffers(self) -> None:
        """(Re)compute the mel filters and the window (non-persistent; see UnitInput.reset_buffers)."""
        from transformers.audio_utils import mel_filter_bank

        filters = mel_filter_bank(num_frequency_bins=self.n_fft // 2 + 1, num_mel_filters=self.n_mels,
                                  min_frequency=20.0, max_frequency=AUDIO_RATE / 2, sampling_rate=AUDIO_RATE,
                                  norm="slaney", mel_scale="slaney")
        device = self.filters.device
        self.filters = torch.from_numpy(filters.astype(np.float32)).to(device)
        self.window = torch.hann_window(self.n_fft, device=device)

    def forward(self, audio: torch.Tensor, frames: torch.Tensor, t: int) -> torch.Tensor:
        """`audio` is zero past each utterance's end; windows are centred with zero padding, so a
        padded batch gives what each utterance gives alone. `t`: the frames wanted."""
        audio = audio[:, : t * AUDIO_HOP]
        audio = nn.functional.pad(audio, (self.n_fft // 2, t * AUDIO_HOP - audio.shape[1] + self.n_fft // 2))
        with torch.autocast(audio.device.type, enabled=False):  # the FFT wants fp32
            spec = torch.stft(audio.float(), self.n_fft, self.hop, window=self.window, center=False,
                              return_complex=True).abs().pow(2)  # [B, F, 2t + 1]
            mel = torch.log(torch.matmul(spec.transpose(1, 2), self.filters) + 1e-6)[:, : 2 * t]
        return mel.reshape(audio.shape[0], t, self.out_dim)

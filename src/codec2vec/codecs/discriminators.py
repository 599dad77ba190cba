"""DAC's discriminator and GAN losses (Kumar et al. 2023; descript-audio-codec's discriminator.py and
nn/loss.py), for `codec2vec codec train`.

- Multi-period discriminator (MPD, from HiFi-GAN): the waveform folded into [T / p, p] images for
  periods 2, 3, 5, 7, 11, then 2-D convolutions over time only.
- Multi-band multi-scale STFT discriminator (DAC's "MRD"): the complex STFT (real and imaginary as two
  channels) at windows 2048, 1024, 512, split into 5 frequency bands that each get their own convolution
  stack; the bands are joined for the output layer.
- Input preprocessing as DAC's: DC removed, peak-normalised to 0.8.
- Least-squares GAN losses and L1 feature matching on every layer but the output.

One departure, for CPU budgets: `width` scales every channel count (DAC's is 1.0: MPD 32-128-512-1024-1024,
MRD 32). The STFT is torch.stft with centred frames instead of audiotools' match_stride padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

BANDS = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))


def _conv2d(cin: int, cout: int, kernel, stride, padding) -> nn.Conv2d:
    return weight_norm(nn.Conv2d(cin, cout, kernel, stride, padding))


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


class PeriodDiscriminator(nn.Module):
    def __init__(self, period: int, width: float = 1.0):
        super().__init__()
        self.period = period
        ch = [1] + [_scaled(c, width) for c in (32, 128, 512, 1024, 1024)]
        strides = (3, 3, 3, 3, 1)
        self.convs = nn.ModuleList(
            _conv2d(ch[i], ch[i + 1], (5, 1), (strides[i], 1), (2, 0)) for i in range(5))
        self.conv_post = _conv2d(ch[-1], 1, (3, 1), 1, (1, 0))

    def forward(self, audio: torch.Tensor) -> list[torch.Tensor]:
        """audio [B, 1, L] -> feature maps of every layer, the output (logits) last."""
        length = audio.shape[-1]
        x = F.pad(audio, (0, self.period - length % self.period), mode="reflect")
        x = x.reshape(x.shape[0], 1, -1, self.period)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            features.append(x)
        features.append(self.conv_post(x))
        return features


class BandSTFTDiscriminator(nn.Module):
    def __init__(self, window: int, width: float = 1.0, bands=BANDS):
        super().__init__()
        self.window = window
        bins = window // 2 + 1
        self.bands = [(int(lo * bins), int(hi * bins)) for lo, hi in bands]
        ch = _scaled(32, width)

        def stack() -> nn.ModuleList:
            return nn.ModuleList([
                _conv2d(2, ch, (3, 9), (1, 1), (1, 4)),
                _conv2d(ch, ch, (3, 9), (1, 2), (1, 4)),
                _conv2d(ch, ch, (3, 9), (1, 2), (1, 4)),
                _conv2d(ch, ch, (3, 9), (1, 2), (1, 4)),
                _conv2d(ch, ch, (3, 3), (1, 1), (1, 1)),
            ])

        self.band_convs = nn.ModuleList(stack() for _ in self.bands)
        self.conv_post = _conv2d(ch, 1, (3, 3), (1, 1), (1, 1))
        self.register_buffer("hann", torch.hann_window(window), persistent=False)

    def forward(self, audio: torch.Tensor) -> list[torch.Tensor]:
        spec = torch.stft(audio[:, 0], n_fft=self.window, hop_length=self.window // 4, window=self.hann,
                          return_complex=True)
        x = torch.view_as_real(spec).permute(0, 3, 2, 1)  # [B, 2 (real, imaginary), frames, bins]
        features, outputs = [], []
        for (lo, hi), stack in zip(self.bands, self.band_convs):
            band = x[..., lo:hi]
            for conv in stack:
                band = F.leaky_relu(conv(band), 0.1)
                features.append(band)
            outputs.append(band)
        features.append(self.conv_post(torch.cat(outputs, dim=-1)))
        return features


class Discriminator(nn.Module):
    """DAC's discriminator: MPDs at `periods` and band-split STFT discriminators at `windows`."""

    def __init__(self, periods=(2, 3, 5, 7, 11), windows=(2048, 1024, 512), width: float = 1.0):
        super().__init__()
        self.discriminators = nn.ModuleList(
            [PeriodDiscriminator(p, width) for p in periods] + [BandSTFTDiscriminator(w, width) for w in windows])

    def forward(self, audio: torch.Tensor) -> list[list[torch.Tensor]]:
        """audio [B, L] -> per sub-discriminator, its feature maps with the logits last."""
        x = audio[:, None]
        x = x - x.mean(dim=-1, keepdim=True)
        x = 0.8 * x / (x.abs().amax(dim=-1, keepdim=True) + 1e-9)
        return [d(x) for d in self.discriminators]


def discriminator_loss(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]]) -> torch.Tensor:
    """Least squares: real logits toward 1, fake toward 0 (fake computed from detached audio)."""
    return sum(torch.mean(f[-1] ** 2) + torch.mean((1 - r[-1]) ** 2) for f, r in zip(fake, real))


def generator_losses(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(adversarial, feature matching): fake logits toward 1; L1 between the fake and the (detached)
    real feature maps of every layer but the output."""
    adversarial = sum(torch.mean((1 - f[-1]) ** 2) for f in fake)
    matching = sum(F.l1_loss(ff, rf.detach()) for f, r in zip(fake, real) for ff, rf in zip(f[:-1], r[:-1]))
    return adversarial, matching

"""Reconstruction loss for codec training: L1 between log mel spectrograms at several resolutions
(the multi-scale mel loss of DAC, Kumar et al. 2023: short windows judge timing, long ones pitch)."""

from __future__ import annotations

import torch
from torch import nn
from transformers.audio_utils import mel_filter_bank


class MultiScaleMelLoss(nn.Module):
    def __init__(self, sample_rate: int, window_lengths: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048),
                 n_mels: tuple[int, ...] = (5, 10, 20, 40, 80, 160, 320), eps: float = 1e-5):
        super().__init__()
        if len(window_lengths) != len(n_mels):
            raise ValueError("window_lengths and n_mels must have the same length")
        self.window_lengths = tuple(window_lengths)
        self.eps = eps
        for window, mels in zip(window_lengths, n_mels):
            fb = mel_filter_bank(num_frequency_bins=window // 2 + 1, num_mel_filters=mels, min_frequency=0.0,
                                 max_frequency=sample_rate / 2, sampling_rate=sample_rate, norm="slaney",
                                 mel_scale="slaney")
            self.register_buffer(f"fb_{window}", torch.tensor(fb, dtype=torch.float32).T, persistent=False)
            self.register_buffer(f"win_{window}", torch.hann_window(window), persistent=False)

    def log_mel(self, audio: torch.Tensor, window: int) -> torch.Tensor:
        spec = torch.stft(audio, n_fft=window, hop_length=window // 4, window=getattr(self, f"win_{window}"),
                          return_complex=True).abs()
        mel = getattr(self, f"fb_{window}") @ spec
        return torch.log10(mel.clamp(min=self.eps))

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """prediction, target: [B, L] audio. Returns the sum over scales of mean |log mel difference|."""
        return sum((self.log_mel(prediction, w) - self.log_mel(target, w)).abs().mean() for w in self.window_lengths)

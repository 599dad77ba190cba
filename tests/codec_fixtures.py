"""Tiny random-weight codecs of each architecture (same code paths as the real ones, fast on CPU)."""

from __future__ import annotations

from pathlib import Path

import torch


def tiny_dac():
    from transformers import DacConfig, DacModel

    torch.manual_seed(0)
    return DacModel(DacConfig(encoder_hidden_size=4, decoder_hidden_size=16, hidden_size=32,
                              downsampling_ratios=[2, 4, 5, 8], upsampling_ratios=[8, 5, 4, 2], hop_length=320,
                              n_codebooks=12, codebook_size=1024, codebook_dim=8, sampling_rate=16000))


def tiny_encodec():
    from transformers import EncodecConfig, EncodecModel

    torch.manual_seed(0)
    return EncodecModel(EncodecConfig(num_filters=4, hidden_size=32, codebook_dim=32, num_lstm_layers=1))


def tiny_mimi():
    from transformers import MimiConfig, MimiModel

    torch.manual_seed(0)
    return MimiModel(MimiConfig(hidden_size=64, num_filters=4, num_hidden_layers=2, num_attention_heads=4,
                                num_key_value_heads=4, intermediate_size=128, codebook_dim=32, head_dim=16,
                                upsample_groups=64, vector_quantization_hidden_dimension=32))


def save_tiny_dac(folder: Path) -> Path:
    tiny_dac().save_pretrained(folder)
    return folder

"""Adapters for the codec architectures that `transformers` implements: DAC, EnCodec, Mimi."""

from __future__ import annotations

import math
from fractions import Fraction

import torch
from torch import nn

from codec2vec.codecs.base import Codec


class DacCodec(Codec):
    """Descript Audio Codec (and the shipped default codec, which has the same architecture)."""

    architecture = "dac"

    def __init__(self, model: nn.Module, codec_id: str):
        c = model.config
        super().__init__(model, codec_id, c.sampling_rate, Fraction(c.sampling_rate, c.hop_length),
                         c.n_codebooks, c.codebook_size)

    def _encode_padded(self, audio: torch.Tensor) -> torch.Tensor:
        return self.model.encode(audio[:, None]).audio_codes

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decode(audio_codes=codes).audio_values

    @torch.no_grad()
    def codebook_vectors(self) -> torch.Tensor:
        # In DAC a code's contribution is its codebook row projected by that quantizer's out_proj.
        return torch.stack([
            q.out_proj(q.codebook.weight.T[None])[0].T for q in self.model.quantizer.quantizers
        ]).cpu()


class EncodecCodec(Codec):
    """Meta's EnCodec; the number of codebooks follows from the bandwidth (default 6 kbit/s, 8 codebooks)."""

    architecture = "encodec"

    def __init__(self, model: nn.Module, codec_id: str, bandwidth: float | None = None):
        c = model.config
        if bandwidth is None:
            bandwidth = 6.0 if 6.0 in c.target_bandwidths else max(c.target_bandwidths)
        self.bandwidth = bandwidth
        if self.bandwidth not in c.target_bandwidths:
            raise ValueError(f"{codec_id}: bandwidth {self.bandwidth} kbit/s is not one of {c.target_bandwidths}")
        hop = math.prod(c.upsampling_ratios)
        frame_rate = Fraction(c.sampling_rate, hop)
        bits = math.ceil(math.log2(c.codebook_size))
        n_codebooks = int(Fraction(str(self.bandwidth)) * 1000 / (frame_rate * bits))
        super().__init__(model, codec_id, c.sampling_rate, frame_rate, n_codebooks, c.codebook_size)

    def _encode_padded(self, audio: torch.Tensor) -> torch.Tensor:
        out = self.model.encode(audio[:, None], bandwidth=self.bandwidth)
        if out.audio_codes.shape[0] != 1:
            raise RuntimeError(f"{self.info.codec_id}: chunked EnCodec models are not supported")
        return out.audio_codes[0]

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decode(codes[None], [None]).audio_values[:, 0]

    @torch.no_grad()
    def codebook_vectors(self) -> torch.Tensor:
        layers = self.model.quantizer.layers[: self.n_codebooks]
        return torch.stack([layer.codebook.embed for layer in layers]).cpu()


class MimiCodec(Codec):
    """Kyutai's Mimi: one semantic codebook then acoustic ones, 12.5 frames/s."""

    architecture = "mimi"

    def __init__(self, model: nn.Module, codec_id: str, n_codebooks: int = 8):
        c = model.config
        if not 1 <= n_codebooks <= c.num_quantizers:
            raise ValueError(f"{codec_id}: n_codebooks must be 1..{c.num_quantizers}, got {n_codebooks}")
        super().__init__(model, codec_id, c.sampling_rate, Fraction(str(c.frame_rate)), n_codebooks, c.codebook_size)

    def _encode_padded(self, audio: torch.Tensor) -> torch.Tensor:
        return self.model.encode(audio[:, None], num_quantizers=self.n_codebooks).audio_codes

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decode(codes).audio_values[:, 0]

    @torch.no_grad()
    def codebook_vectors(self) -> torch.Tensor:
        q = self.model.quantizer
        n_semantic = q.num_semantic_quantizers
        rows = []
        for i in range(self.n_codebooks):
            rvq = q.semantic_residual_vector_quantizer if i < n_semantic else q.acoustic_residual_vector_quantizer
            layer = rvq.layers[i if i < n_semantic else i - n_semantic]
            # Each group projects its codewords back to the latent (no bias, so the sum is exact).
            rows.append(rvq.output_proj(layer.codebook.embed.T[None])[0].T)
        return torch.stack(rows).cpu()


ADAPTERS: dict[str, type[Codec]] = {"dac": DacCodec, "encodec": EncodecCodec, "mimi": MimiCodec}


def wrap_model(model: nn.Module, codec_id: str, **options) -> Codec:
    """Wrap a loaded `transformers` codec model in the adapter for its architecture."""
    from codec2vec.codecs.spectral import MODEL_TYPE, SpectralCodec  # it builds on DacCodec, defined here

    model_type = model.config.model_type
    if model_type == MODEL_TYPE:
        return SpectralCodec(model, codec_id, **options)
    if model_type not in ADAPTERS:
        raise ValueError(f"{codec_id}: no adapter for model type '{model_type}' (known: {', '.join(ADAPTERS)})")
    return ADAPTERS[model_type](model, codec_id, **options)

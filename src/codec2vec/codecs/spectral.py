"""The spectral codec: a log-mel front-end instead of a learned waveform analysis (issue 35).

Spectral codecs (Langman et al. 2024, NeMo's mel codec) encode a mel spectrogram rather than
learning their own analysis from the waveform, and Vocos (Siuzdak 2023) decodes with a ConvNeXt
stack that predicts STFT magnitude and phase, turned into audio by an inverse STFT. Both are cheap
at 50 frames/s, which is what a 2-core CPU can train. Between them sits DAC 16 kHz's quantizer
(12 residual codebooks x 1024, factorised 8-dimensional cosine lookup, quantizer dropout), taken
from `transformers`' DAC itself, so codes, `codebook_vectors()` and the input layer's codec
initialisation mean exactly what they mean for DAC.

    audio -> log-mel (25 ms windows every 10 ms, 80 bins; pairs of frames stacked: 50 frames/s, as
             the log-mel input of the pre-training models) -> ConvNeXt encoder -> latent [B, D, T]
          -> residual VQ -> quantized latent -> ConvNeXt decoder -> magnitude and phase -> iSTFT

The model is a plain `nn.Module` saved as `config.json` (model_type "codec2vec_spectral") plus
`model.safetensors`; `SpectralCodecModel` mirrors the part of DacModel's interface that the
codec training loop and the adapter use (encoder, quantizer, decoder, encode, decode).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from codec2vec.codecs.hf import DacCodec

MODEL_TYPE = "codec2vec_spectral"


@dataclass
class SpectralCodecConfig:
    sampling_rate: int = 16000
    hop_length: int = 320  # samples per code frame; the mel front-end steps half of it
    n_mels: int = 80
    encoder_hidden_size: int = 256
    encoder_layers: int = 4
    hidden_size: int = 256  # the latent the codebooks sum to
    n_codebooks: int = 12
    codebook_size: int = 1024
    codebook_dim: int = 8
    quantizer_dropout: float = 0.5
    decoder_hidden_size: int = 384
    decoder_layers: int = 8
    n_fft: int = 1280  # the decoder's inverse STFT (Vocos: four hops)
    model_type: str = MODEL_TYPE

    def __post_init__(self):
        problems = []
        if self.hop_length % 2:
            problems.append(f"hop_length {self.hop_length} must be even (two mel frames per code frame)")
        if self.n_fft < self.hop_length or self.n_fft % 2:
            problems.append(f"n_fft {self.n_fft} must be even and at least hop_length {self.hop_length}")
        if self.codebook_size & (self.codebook_size - 1):
            problems.append(f"codebook_size {self.codebook_size} must be a power of 2")
        for name in ("n_mels", "encoder_hidden_size", "encoder_layers", "hidden_size", "n_codebooks",
                     "codebook_dim", "decoder_hidden_size", "decoder_layers"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.quantizer_dropout <= 1:
            problems.append(f"quantizer_dropout must be in [0, 1], got {self.quantizer_dropout}")
        if self.model_type != MODEL_TYPE:
            problems.append(f"model_type must be {MODEL_TYPE!r}, got {self.model_type!r}")
        if problems:
            raise ValueError("spectral codec config: " + "; ".join(problems))

    @property
    def mel_hop(self) -> int:
        return self.hop_length // 2

    @property
    def mel_window(self) -> int:
        return round(0.025 * self.sampling_rate)


class ConvNeXtBlock(nn.Module):
    """Vocos's block: depthwise convolution (kernel 7), LayerNorm, pointwise MLP (x3), layer scale."""

    def __init__(self, dim: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 3 * dim)
        self.pwconv2 = nn.Linear(3 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T]
        # The depthwise convolution as a 2-D one of height 1: the same weights and sums, and PyTorch's CPU
        # kernels run it about 3x faster than conv1d's depthwise path (measured on 2 cores).
        y = nn.functional.conv2d(x[:, :, None], self.dwconv.weight[:, :, None], self.dwconv.bias, padding=(0, 3),
                                 groups=x.shape[1])[:, :, 0].transpose(1, 2)
        y = self.pwconv2(nn.functional.gelu(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class ConvNeXtStack(nn.Module):
    """in_dim -> embedding convolution (kernel 7) -> LayerNorm -> blocks -> LayerNorm, [B, C, T] throughout."""

    def __init__(self, in_dim: int, dim: int, layers: int):
        super().__init__()
        self.embed = nn.Conv1d(in_dim, dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.ModuleList([ConvNeXtBlock(dim, 1.0 / layers) for _ in range(layers)])
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.embed(x).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        return self.final_norm(x.transpose(1, 2)).transpose(1, 2)


class MelEncoder(nn.Module):
    """audio [B, 1, T * hop] -> latent [B, hidden_size, T]. Windows are centred with zero padding and
    every layer is a convolution over frames, so an utterance's codes do not depend on its batch."""

    def __init__(self, config: SpectralCodecConfig):
        super().__init__()
        from transformers.audio_utils import mel_filter_bank

        self.hop, self.window_length = config.mel_hop, config.mel_window
        filters = mel_filter_bank(num_frequency_bins=self.window_length // 2 + 1, num_mel_filters=config.n_mels,
                                  min_frequency=20.0, max_frequency=config.sampling_rate / 2,
                                  sampling_rate=config.sampling_rate, norm="slaney", mel_scale="slaney")
        self.register_buffer("filters", torch.from_numpy(filters.astype(np.float32)), persistent=False)
        self.register_buffer("window", torch.hann_window(self.window_length), persistent=False)
        self.stack = ConvNeXtStack(2 * config.n_mels, config.encoder_hidden_size, config.encoder_layers)
        self.proj = nn.Conv1d(config.encoder_hidden_size, config.hidden_size, kernel_size=1)

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, 1, T * hop] -> [B, 2 * n_mels, T]: frames 2t and 2t + 1 (centred at t * hop and
        t * hop + hop / 2) stacked, as the pre-training models' log-mel input does."""
        audio = audio[:, 0].float()
        frames = audio.shape[-1] // (2 * self.hop)
        half = self.window_length // 2
        audio = nn.functional.pad(audio, (half, half))
        spec = torch.stft(audio, self.window_length, self.hop, window=self.window, center=False,
                          return_complex=True).abs().pow(2)[..., : 2 * frames]  # [B, F, 2T]
        mel = torch.log(torch.matmul(spec.transpose(1, 2), self.filters) + 1e-6)  # [B, 2T, n_mels]
        return mel.reshape(mel.shape[0], frames, -1).transpose(1, 2)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.proj(self.stack(self.log_mel(audio)))


class ISTFTDecoder(nn.Module):
    """latent [B, hidden_size, T] -> audio [B, 1, T * hop]: a ConvNeXt stack predicts each frame's
    log-magnitude and phase (Vocos), an inverse STFT with centred windows makes the waveform."""

    def __init__(self, config: SpectralCodecConfig):
        super().__init__()
        self.n_fft, self.hop = config.n_fft, config.hop_length
        self.stack = ConvNeXtStack(config.hidden_size, config.decoder_hidden_size, config.decoder_layers)
        self.head = nn.Linear(config.decoder_hidden_size, config.n_fft + 2)
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        x = self.head(self.stack(latent).transpose(1, 2)).transpose(1, 2).float()  # [B, n_fft + 2, T]
        log_magnitude, phase = x.chunk(2, dim=1)
        magnitude = torch.exp(log_magnitude).clamp(max=1e2)  # Vocos's bound: no overflow early in training
        spectrum = torch.polar(magnitude, phase)
        audio = torch.istft(spectrum, self.n_fft, self.hop, window=self.window, center=True,
                            length=latent.shape[-1] * self.hop)
        return audio[:, None]


@dataclass
class EncodeOutput:
    quantized_representation: torch.Tensor
    audio_codes: torch.Tensor
    projected_latents: torch.Tensor


@dataclass
class DecodeOutput:
    audio_values: torch.Tensor


class SpectralCodecModel(nn.Module):
    def __init__(self, config: SpectralCodecConfig):
        super().__init__()
        from transformers.models.dac.modeling_dac import DacResidualVectorQuantizer

        self.config = config
        self.encoder = MelEncoder(config)
        self.quantizer = DacResidualVectorQuantizer(config)  # reads the same fields as DacConfig's
        self.decoder = ISTFTDecoder(config)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # Vocos's initialisation: truncated normal (std 0.02) weights and zero biases.
        if isinstance(module, (nn.Conv1d, nn.Linear)):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    @property
    def receptive_frames(self) -> int:
        """How many code frames either side a code depends on: the mel windows reach one frame into
        the next, the embedding convolution and each block's depthwise one three frames each way."""
        return 1 + 3 * (1 + self.config.encoder_layers)

    def apply_weight_norm(self) -> None:
        """As DAC trains its quantizer's projections (the convolutions here carry LayerNorms instead)."""
        for q in self.quantizer.quantizers:
            nn.utils.parametrizations.weight_norm(q.in_proj)
            nn.utils.parametrizations.weight_norm(q.out_proj)

    def encode(self, input_values: torch.Tensor) -> EncodeOutput:
        latent = self.encoder(input_values)
        if self.training:
            quantized, codes, projected, _, _ = self.quantizer(latent)
            return EncodeOutput(quantized, codes, projected)
        return self._quantize_for_inference(latent)

    def _quantize_for_inference(self, latent: torch.Tensor, rows: int = 1024) -> EncodeOutput:
        """DAC's residual lookup without its training-time work: DAC scores a code by the distance of
        unit vectors, whose largest value is the largest cosine, so only the cosines are computed, a
        block of frames at a time (the [frames, 1024] scores of a whole batch fill memory bandwidth,
        not the cores), on frames as rows (the projections as matrix products, not convolutions).
        Same codes as the quantizer's forward (tests)."""
        batch, _, frames = latent.shape
        residual = latent.transpose(1, 2).reshape(batch * frames, -1)
        quantized, codes, projected = torch.zeros_like(residual), [], []
        for q in self.quantizer.quantizers:
            p = nn.functional.linear(residual, q.in_proj.weight[:, :, 0], q.in_proj.bias)  # [N, codebook_dim]
            vectors = nn.functional.normalize(p, dim=1)
            codebook = nn.functional.normalize(q.codebook.weight, dim=1)
            index = torch.cat([(vectors[i: i + rows] @ codebook.T).argmax(1) for i in range(0, len(vectors), rows)])
            step = nn.functional.linear(q.codebook.weight[index], q.out_proj.weight[:, :, 0], q.out_proj.bias)
            quantized, residual = quantized + step, residual - step
            codes.append(index.view(batch, frames))
            projected.append(p.view(batch, frames, -1).transpose(1, 2))
        quantized = quantized.view(batch, frames, -1).transpose(1, 2)
        return EncodeOutput(quantized, torch.stack(codes, dim=1), torch.cat(projected, dim=1))

    def decode(self, quantized_representation: torch.Tensor | None = None,
               audio_codes: torch.Tensor | None = None) -> DecodeOutput:
        if audio_codes is not None:
            quantized_representation = self.quantizer.from_codes(audio_codes)[0]
        if quantized_representation is None:
            raise ValueError("decode needs quantized_representation or audio_codes")
        return DecodeOutput(self.decoder(quantized_representation)[:, 0])

    def save_pretrained(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(dataclasses.asdict(self.config), indent=2) + "\n",
                                            encoding="utf-8")
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(folder / "model.safetensors"))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "SpectralCodecModel":
        from safetensors.torch import load_file

        folder = Path(folder)
        values = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        known = {f.name for f in dataclasses.fields(SpectralCodecConfig)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{folder / 'config.json'}: unknown spectral codec keys {unknown}")
        model = cls(SpectralCodecConfig(**values))
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
        return model.eval()


def is_spectral_folder(folder: Path) -> bool:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type") == MODEL_TYPE
    except (OSError, ValueError, AttributeError):
        return False


class SpectralCodec(DacCodec):
    """The pipeline's view of a SpectralCodecModel: its interface, quantizer and config fields are
    DAC's, so DAC's adapter serves it; what differs is the architecture recorded with codes and that
    utterances of any lengths share a forward pass (`Codec.context_frames`)."""

    architecture = "spectral"

    def __init__(self, model: SpectralCodecModel, codec_id: str):
        super().__init__(model, codec_id)
        # An utterance's codes are those of its audio followed by silence: any lengths share a pass.
        self.context_frames = model.receptive_frames

    def compile(self) -> "SpectralCodec":
        """Stays eager (same codes either way). Measured on one thread beside a training run, over
        batches of varied shapes (2026-12-06): compiled 184-203 audio-s/s against eager 190-215,
        after 19-34 s of compiling. Inductor has no code for the STFT's complex operators, the
        quantizer lookup's loop over blocks of frames makes one graph per block count, and the
        ConvNeXt alone gains nothing."""
        return self

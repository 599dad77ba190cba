"""Upstreams: frozen models that turn a batch into every hidden state on a known frame grid.

Three kinds, one interface (s3prl's upstream): `hidden(batch)` -> list of [B, T, D] and the true
lengths [B].
- a model folder this project trained (units, waveform or log-mel input; any objective);
- `codec:<name>`: the codec's quantized latent (the sum of each frame's codebook vectors, what a
  unit model's input layer starts from), no pre-training;
- `fbank`: 80 log-mel bins every 10 ms, two frames stacked per 20 ms so it shares the 50 Hz grid.

A unit upstream reads codes made by its own codec (checked by weights hash): downstream audio is
discretized with the same codec before the model sees it, as in the paper.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from codec2vec.codecs.base import CodecInfo
from codec2vec.errors import ConfigError
from codec2vec.models.inputs import (AUDIO_HOP, AUDIO_RATE, InputConfig, LogMelInput, UnitInput, batch_frames,
                                     frames_for_samples)
from codec2vec.units.store import file_sha256

FRAME_RATE = AUDIO_RATE / AUDIO_HOP  # 50 Hz: every upstream here shares the codec frame grid


class Upstream(torch.nn.Module):
    """input: "units" (batch["units"] [B, Q, T] from `codec`) or "audio" (batch["audio"] at 16 kHz)."""

    input: str
    codec: CodecInfo | None = None
    codec_source: str | None = None  # where its codec loads from, when not by codec.codec_id (an export's codec/)
    max_batch_frames: int | None = None  # a cap on frames per forward pass, for upstreams heavy in memory

    def __init__(self, name: str, identity: dict, device: str | torch.device):
        super().__init__()
        self.name = name
        self.device = torch.device(device)
        self.identity = identity  # what the features depend on: recorded in caches and results

    @property
    def key(self) -> str:
        """A short hash of the identity: the feature cache's folder name."""
        text = json.dumps(self.identity, sort_keys=True)
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"

    @property
    def pre_layer_norm(self) -> bool:
        """Whether its hidden states come from pre-LN blocks (unnormalised, growing with depth)."""
        return False

    @property
    def frame_rate(self) -> float:
        """Hidden states per second: the codec's frame rate for unit input (75 for EnCodec), else 50."""
        return float(self.codec.frame_rate) if self.codec is not None else FRAME_RATE

    @property
    def n_hidden(self) -> int:
        raise NotImplementedError

    def hidden(self, batch: dict) -> list[torch.Tensor]:
        raise NotImplementedError

    def embed(self, audio: list[np.ndarray] | np.ndarray, sample_rate: int = AUDIO_RATE) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Every hidden state [B, T, D] and the frame counts [B] for raw audio (one array or a list,
        mono float). A unit upstream first discretizes it with its own codec, as extraction would."""
        import soxr

        clips = [audio] if isinstance(audio, np.ndarray) and audio.ndim == 1 else list(audio)
        rate = self.codec.sample_rate if self.input == "units" else AUDIO_RATE
        clips = [torch.from_numpy(np.asarray(soxr.resample(c, sample_rate, rate) if sample_rate != rate else c,
                                             dtype=np.float32)) for c in clips]
        lengths = torch.tensor([len(c) for c in clips])
        padded = torch.zeros(len(clips), int(lengths.max()))  # zero past each end: batch == single
        for i, c in enumerate(clips):
            padded[i, : len(c)] = c
        if self.input == "units":
            codes, frames = self._codec().encode(padded, lengths)
            batch = {"units": codes.to(self.device), "frames": frames.to(self.device)}
        else:
            batch = {"audio": padded.to(self.device), "frames": frames_for_samples(lengths).to(self.device)}
        return self.hidden(batch), batch["frames"]

    def _codec(self):
        """The codec that made this upstream's units, loaded once and refused unless its weights match."""
        if getattr(self, "_loaded_codec", None) is None:
            from codec2vec.codecs import load_codec

            codec = load_codec(self.codec_source or self.codec.codec_id).to(self.device)
            diff = self.codec.differences(codec.info, "trained on", "loaded")
            if diff:
                raise ConfigError(f"codec '{self.codec.codec_id}' as loaded here differs from the one {self.name} "
                                  f"was trained on ({'; '.join(diff)})")
            self._loaded_codec = codec
        return self._loaded_codec


class ModelUpstream(Upstream):
    """A saved codec2vec model (`RUN/model` or the run folder itself): all L + 1 hidden states."""

    def __init__(self, folder: str | Path, device: str | torch.device = "cpu"):
        from codec2vec.models import load_pretrained
        from codec2vec.models.export import CODEC_FOLDER, resolve_model

        name = upstream_name(str(folder))
        folder = resolve_model(str(folder))
        model, config = load_pretrained(folder, device)  # checks the weights against config's weights_sha256
        weights_sha256 = config.get("weights_sha256") or file_sha256(folder / "model.safetensors")
        super().__init__(name, {"upstream": "model", "model_sha256": weights_sha256,
                                "codec": config.get("codec"), "objective": config.get("objective"),
                                "step": config.get("step")}, device)
        self.model, self.folder = model, folder
        self.input = "units" if model.kind == "units" else "audio"
        if model.kind == "waveform":  # the CNN's 512 x 3200/s first-layer activations: ~1.5 GB per 60 s batch
            self.max_batch_frames = 3000
        if self.input == "units":
            if not config.get("codec"):
                raise ConfigError(f"{folder}: a unit model whose config.json names no codec")
            self.codec = CodecInfo.from_header(config["codec"])
            if (folder / CODEC_FOLDER / "config.json").is_file():  # an export carries its codec
                self.codec_source = str(folder / CODEC_FOLDER)

    @property
    def n_hidden(self) -> int:
        return self.model.n_hidden

    @property
    def pre_layer_norm(self) -> bool:
        return bool(self.model.encoder.layers) and self.model.encoder.layers[0].norm_first

    @torch.inference_mode()
    def hidden(self, batch: dict) -> list[torch.Tensor]:
        hidden, _ = self.model(batch)
        return hidden


class CodecLatentUpstream(Upstream):
    """The codec's own quantized latent: one hidden state, the sum of the frame's codebook vectors."""

    input = "units"

    def __init__(self, codec_name: str, device: str | torch.device = "cpu"):
        from codec2vec.codecs import load_codec

        codec = load_codec(codec_name)
        super().__init__(upstream_name(f"codec:{codec_name}"), {"upstream": "codec-latent", "codec": codec.info.to_header()},
                         device)
        self.codec = codec.info
        vectors = codec.codebook_vectors().detach().float().cpu()
        self.latent = UnitInput(InputConfig(), codec.info.n_codebooks, codec.info.codebook_size, vectors).to(device).eval()

    @property
    def n_hidden(self) -> int:
        return 1

    @torch.inference_mode()
    def hidden(self, batch: dict) -> list[torch.Tensor]:
        t = int(batch["frames"].max())
        return [self.latent(batch["units"][..., :t])]


class FbankUpstream(Upstream):
    """Log-mel filterbank features (SUPERB's FBANK reference, without deltas), no learning at all."""

    input = "audio"

    def __init__(self, device: str | torch.device = "cpu"):
        super().__init__("fbank", {"upstream": "fbank", "n_mels": 80, "window_ms": 25, "hop_ms": 10, "stacked": 2},
                         device)
        self.logmel = LogMelInput(InputConfig(n_mels=80)).to(device)

    @property
    def n_hidden(self) -> int:
        return 1

    @torch.inference_mode()
    def hidden(self, batch: dict) -> list[torch.Tensor]:
        return [self.logmel(batch["audio"], batch["frames"], batch_frames(batch["audio"]))]


def upstream_name(spec: str) -> str:
    """What results and reports call an upstream: 'fbank', 'codec-<name>', or the run folder's name."""
    if spec == "fbank":
        return spec
    if spec.startswith("codec:"):
        return f"codec-{Path(spec.removeprefix('codec:') or 'default').name}"
    path = Path(spec)
    return path.parent.name if path.name == "model" else path.name


def load_upstream(spec: str, device: str | torch.device = "cpu") -> Upstream:
    """`fbank`, `codec:<codec name, hub id or folder>`, a shipped model's name, or a model folder
    (a run folder, an export)."""
    if spec == "fbank":
        return FbankUpstream(device)
    if spec.startswith("codec:"):
        return CodecLatentUpstream(spec.removeprefix("codec:") or "default", device)
    from codec2vec.models.export import pretrained_models

    if not Path(spec).exists() and spec not in pretrained_models():
        raise ConfigError(f"upstream '{spec}' not found: give a model folder (RUN/model), a shipped model "
                          f"({', '.join(pretrained_models()) or 'none'}), 'fbank' or 'codec:<name>'")
    return ModelUpstream(spec, device)

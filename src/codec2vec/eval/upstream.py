"""Upstreams: frozen models that turn a batch into every hidden state on a known frame grid.

Four kinds, one interface (s3prl's upstream): `hidden(batch)` -> list of [B, T, D] and the true
lengths [B].
- a model folder this project trained (units, waveform or log-mel input; any objective);
- `codec:<name>`: the codec's quantized latent (the sum of each frame's codebook vectors, what a
  unit model's input layer starts from), no pre-training;
- `fbank`: 80 log-mel bins every 10 ms, two frames stacked per 20 ms so it shares the 50 Hz grid;
- `fbank-kaldi`: s3prl's FBANK baseline (Kaldi fbank, deltas, per-utterance CMVN), likewise stacked;
- `hf:<hub id or folder>`: a transformers speech encoder on waveform (HuBERT, wav2vec 2.0, WavLM):
  the reference upstreams of the paper's comparison.

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
from codec2vec.errors import ConfigError, DependencyError
from codec2vec.hub import is_hub_id
from codec2vec.models.inputs import (AUDIO_HOP, AUDIO_RATE, InputConfig, LogMelInput, UnitInput, batch_frames,
                                     frames_for_samples)
from codec2vec.provenance import cpu_info
from codec2vec.units.store import file_sha256

FRAME_RATE = AUDIO_RATE / AUDIO_HOP  # 50 Hz: every upstream here shares the codec frame grid
PRECISIONS = ("fp32", "bf16")


def native_bf16(device: str | torch.device) -> bool:
    """Whether bf16 arithmetic is native here: CUDA, or a CPU with AVX-512 BF16 or AMX (Linux's
    /proc/cpuinfo; elsewhere assumed not). Without it bf16 autocast is emulated and slower than fp32."""
    if torch.device(device).type == "cuda":
        return True
    return bool({"avx512_bf16", "amx_bf16"} & set(cpu_info("flags").split()))


class Upstream(torch.nn.Module):
    """input: "units" (batch["units"] [B, Q, T] from `codec`) or "audio" (batch["audio"] at 16 kHz)."""

    input: str
    codec: CodecInfo | None = None
    codec_source: str | None = None  # where its codec loads from, when not by codec.codec_id (an export's codec/ or codec_hub)
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
        batch = self.batch_for(audio, sample_rate)
        return self.hidden(batch), batch["frames"]

    def batch_for(self, audio: list[np.ndarray] | np.ndarray, sample_rate: int = AUDIO_RATE) -> dict:
        """The input batch `hidden` takes, for raw audio: units from its own codec, or padded 16 kHz audio."""
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
            return {"units": codes.to(self.device), "frames": frames.to(self.device)}
        return {"audio": padded.to(self.device), "frames": frames_for_samples(lengths).to(self.device),
                "samples": lengths.to(self.device)}

    def _codec(self):
        """The codec that made this upstream's units, loaded once and refused unless its weights match."""
        if getattr(self, "_loaded_codec", None) is None:
            from codec2vec.codecs import load_codec
            from codec2vec.codecs.registry import renamed_hint

            codec = load_codec(self.codec_source or self.codec.codec_id).to(self.device)
            diff = self.codec.differences(codec.info, "trained on", "loaded")
            if diff:
                raise ConfigError(f"codec '{self.codec.codec_id}' as loaded here differs from the one {self.name} "
                                  f"was trained on ({'; '.join(diff)})"
                                  + renamed_hint(self.codec.codec_id, self.codec.weights_hash))
            self._loaded_codec = codec
        return self._loaded_codec


class ModelUpstream(Upstream):
    """A saved codec2vec model (`RUN/model` or the run folder itself): all L + 1 hidden states."""

    def __init__(self, folder: str | Path, device: str | torch.device = "cpu", precision: str = "fp32"):
        from codec2vec.models import load_pretrained
        from codec2vec.models.export import CODEC_FOLDER, resolve_model

        name = upstream_name(str(folder))
        folder = resolve_model(str(folder))
        model, config = load_pretrained(folder, device)  # checks the weights against config's weights_sha256
        weights_sha256 = config.get("weights_sha256") or file_sha256(folder / "model.safetensors")
        super().__init__(name, {"upstream": "model", "model_sha256": weights_sha256,
                                "codec": config.get("codec"), "objective": config.get("objective"),
                                "step": config.get("step"),
                                # bf16 features are other numbers: their own cache entries and results
                                **({"precision": precision} if precision != "fp32" else {})}, device)
        self.model, self.folder, self.precision = model, folder, precision
        self.input = "units" if model.kind == "units" else "audio"
        if model.kind == "waveform":  # the CNN's 512 x 3200/s first-layer activations: ~1.5 GB per 60 s batch
            self.max_batch_frames = 3000
        if self.input == "units":
            if not config.get("codec"):
                raise ConfigError(f"{folder}: a unit model whose config.json names no codec")
            self.codec = CodecInfo.from_header(config["codec"])
            if (folder / CODEC_FOLDER / "config.json").is_file():  # an export carries its codec
                self.codec_source = str(folder / CODEC_FOLDER)
            elif config.get("codec_hub"):  # or names its commit on the Hub
                self.codec_source = config["codec_hub"]

    @property
    def n_hidden(self) -> int:
        return self.model.n_hidden

    @property
    def pre_layer_norm(self) -> bool:
        return bool(self.model.encoder.layers) and self.model.encoder.layers[0].norm_first

    def autocast(self):
        """The forward pass's precision: bf16 autocast, or nothing (fp32)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    @torch.inference_mode()
    def hidden(self, batch: dict) -> list[torch.Tensor]:
        with self.autocast():
            hidden, _ = self.model(batch)
        return [h.float() for h in hidden]


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


class KaldiFbankUpstream(Upstream):
    """s3prl's FBANK baseline (upstream/baseline/fbank.yaml): Kaldi fbank (80 bins, 25 ms windows
    every 10 ms, no dither; kaldi-native-fbank, the same computation as the torchaudio.compliance.kaldi
    function s3prl calls), deltas and delta-deltas (window 5, edges replicated, as torchaudio's
    ComputeDeltas) and per-utterance mean and variance normalisation: 240 dimensions at 100 Hz, two
    frames stacked per 20 ms (480 at 50 Hz). The grid's last frames are filled as HfUpstream's."""

    input = "audio"

    def __init__(self, device: str | torch.device = "cpu"):
        try:
            import kaldi_native_fbank
        except ImportError:
            raise DependencyError("fbank-kaldi needs kaldi-native-fbank: pip install kaldi-native-fbank "
                                  "(or the 'eval' extra)") from None
        super().__init__("fbank-kaldi", {"upstream": "fbank-kaldi", "n_mels": 80, "window_ms": 25, "hop_ms": 10,
                                         "deltas": 2, "cmvn": "utterance", "stacked": 2}, device)
        self.options = kaldi_native_fbank.FbankOptions()
        self.options.frame_opts.dither = 0.0
        self.options.frame_opts.snip_edges = True
        self.options.mel_opts.num_bins = 80
        self._fbank = kaldi_native_fbank.OnlineFbank

    @property
    def n_hidden(self) -> int:
        return 1

    def features(self, audio: np.ndarray) -> np.ndarray:
        """One utterance at 16 kHz -> [frames at 50 Hz, 480]."""
        fbank = self._fbank(self.options)
        fbank.accept_waveform(AUDIO_RATE, audio.tolist())
        fbank.input_finished()
        x = np.array([fbank.get_frame(i) for i in range(fbank.num_frames_ready)], dtype=np.float64).reshape(-1, 80)
        x = np.concatenate([x, deltas(x), deltas(deltas(x))], axis=1)
        if len(x) > 1:
            x = (x - x.mean(0)) / (1e-10 + x.std(0, ddof=1))
        pairs = len(x) // 2
        return x[: 2 * pairs].reshape(pairs, 2 * x.shape[1]).astype(np.float32)

    @torch.inference_mode()
    def hidden(self, batch: dict) -> list[torch.Tensor]:
        t = batch_frames(batch["audio"])
        audio = batch["audio"].cpu().numpy()
        return [torch.stack([_fill_grid(torch.from_numpy(self.features(a[: int(n)])), t)
                             for a, n in zip(audio, batch["samples"].tolist())]).to(self.device)]


def deltas(x: np.ndarray, window: int = 5) -> np.ndarray:
    """Regression deltas over time of x [T, D], edges replicated (torchaudio's ComputeDeltas)."""
    n = (window - 1) // 2
    padded = np.pad(x, ((n, n), (0, 0)), mode="edge")
    return sum(i * (padded[n + i: n + i + len(x)] - padded[n - i: n - i + len(x)]) for i in range(1, n + 1)) / (
        2 * sum(i * i for i in range(1, n + 1)))


class HfUpstream(Upstream):
    """A transformers speech encoder with a 320-sample frame stride (HuBERT, wav2vec 2.0, WavLM, ...):
    its CNN features' projection and every Transformer layer, L + 1 hidden states.

    As its own feature extractor prepares input: each utterance normalised to zero mean and unit
    variance over its true samples when the model's preprocessor says `do_normalize`. Models whose
    CNN uses group norm (HuBERT Base, wav2vec 2.0 Base: `feat_extract_norm="group"`) were trained
    without padding and normalise over the whole time axis, so padding would change their output:
    they run one utterance at a time; the others get an attention mask and batches. Their frame count
    (floor((L - 400) / 320) + 1) is one or two less than the shared grid's ceil(L / 320): the last
    frame is repeated to fill the grid, so every upstream's frames line up with the labels.
    """

    input = "audio"

    def __init__(self, source: str, device: str | torch.device = "cpu"):
        from codec2vec.integrity import tensors_digest

        model, preprocessor = _load_hf(source)
        stride = int(np.prod(getattr(model.config, "conv_stride", [0])))
        if stride != AUDIO_HOP:
            raise ConfigError(f"hf:{source}: its frame stride is {stride} samples; the harness's grid is {AUDIO_HOP} "
                              "(16 kHz, 50 frames/s): only 320-sample-stride speech encoders are supported")
        super().__init__(upstream_name(f"hf:{source}"), {
            "upstream": "hf", "source": source, "model_type": model.config.model_type,
            "weights_sha256": tensors_digest(sorted(model.state_dict().items()))}, device)
        self.model = model.to(self.device).eval()
        self.normalize = bool(getattr(preprocessor, "do_normalize", False))
        self.batched = getattr(model.config, "feat_extract_norm", "layer") != "group"

    @property
    def n_hidden(self) -> int:
        return self.model.config.num_hidden_layers + 1

    @property
    def pre_layer_norm(self) -> bool:
        return bool(getattr(self.model.config, "do_stable_layer_norm", False))

    @torch.inference_mode()
    def hidden(self, batch: dict) -> list[torch.Tensor]:
        audio, samples, t = batch["audio"], batch["samples"], batch_frames(batch["audio"])
        if self.normalize:
            audio = torch.stack([_zero_mean_unit_var(a, int(n)) for a, n in zip(audio, samples)])
        if self.batched:
            mask = (torch.arange(audio.shape[-1], device=audio.device)[None] < samples[:, None]).long()
            states = self.model(audio, attention_mask=mask, output_hidden_states=True).hidden_states
            parts = [[h[i] for h in states] for i in range(len(audio))]
        else:
            parts = [[h[0] for h in self.model(a[None, : int(n)], output_hidden_states=True).hidden_states]
                     for a, n in zip(audio, samples)]
        lengths = self.model._get_feat_extract_output_lengths(samples).tolist()
        return [torch.stack([_fill_grid(p[layer][: int(n)], t) for p, n in zip(parts, lengths)])
                for layer in range(len(parts[0]))]


def _zero_mean_unit_var(audio: torch.Tensor, n: int) -> torch.Tensor:
    """Wav2Vec2FeatureExtractor's normalisation over the first n samples; the padding stays zero."""
    valid = audio[:n]
    out = torch.zeros_like(audio)
    out[:n] = (valid - valid.mean()) / torch.sqrt(valid.var(unbiased=False) + 1e-7)
    return out


def _fill_grid(frames: torch.Tensor, t: int) -> torch.Tensor:
    """frames [n, D] -> [t, D]: cut, or the last frame repeated (an utterance shorter than the CNN's
    receptive field has no frame at all: zeros)."""
    if frames.shape[0] >= t:
        return frames[:t]
    if frames.shape[0] == 0:
        return frames.new_zeros(t, frames.shape[-1])
    return torch.cat([frames, frames[-1:].expand(t - frames.shape[0], -1)])


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def _load_hf(source: str):
    """AutoModel and (when it has one) AutoFeatureExtractor of a folder, or of a hub id (from the
    local cache first, then the network). Every failure names the folder or file and the cause."""
    from transformers import AutoFeatureExtractor, AutoModel

    folder = Path(source).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ConfigError(f"hf:{source}: no config.json in {folder}: not a model folder saved by save_pretrained")
        if not any((folder / name).is_file() for name in WEIGHT_FILES):
            raise ConfigError(f"hf:{source}: {folder} has a config.json but no weights ({' or '.join(WEIGHT_FILES[::2])})")
        try:
            model = AutoModel.from_pretrained(folder)
        except Exception as e:  # safetensors, torch and transformers each raise their own kinds for a bad file
            weights = next(folder / name for name in WEIGHT_FILES if (folder / name).is_file())
            raise ConfigError(f"hf:{source}: cannot load {weights} ({type(e).__name__}: "
                              f"{(str(e).splitlines() or [''])[0][:200]}); the file is damaged or incomplete, or "
                              "not a checkpoint of this config: save or download it again") from None
        preprocessor = _optional(AutoFeatureExtractor.from_pretrained, folder)
        return model, preprocessor
    if not is_hub_id(source):
        raise ConfigError(f"hf:{source}: no such folder here, and not a hub id (owner/name)")
    try:
        try:
            model = AutoModel.from_pretrained(source, local_files_only=True)
        except OSError:
            model = AutoModel.from_pretrained(source)
    except (OSError, ValueError) as e:
        raise ConfigError(f"hf:{source}: cannot load it ({str(e).splitlines()[0]}); give a folder saved by "
                          "save_pretrained, or a hub id (without network: one already in the local Hugging Face "
                          f"cache, e.g. from `huggingface-cli download {source}` elsewhere)") from None
    preprocessor = (_optional(AutoFeatureExtractor.from_pretrained, source, local_files_only=True)
                    or _optional(AutoFeatureExtractor.from_pretrained, source))
    return model, preprocessor


def _optional(load, *args, **kwargs):
    """A preprocessor, or None where there is none (no preprocessor_config.json: raw waveform, as the
    model's config implies)."""
    try:
        return load(*args, **kwargs)
    except (OSError, ValueError):
        return None


def upstream_name(spec: str) -> str:
    """What results and reports call an upstream: 'fbank', 'codec-<name>', or the run folder's name."""
    if spec in ("fbank", "fbank-kaldi"):
        return spec
    if spec.startswith("hf:"):
        return f"hf-{Path(spec.removeprefix('hf:').rstrip('/')).name}"
    if spec.startswith("codec:"):
        return f"codec-{Path(spec.removeprefix('codec:') or 'default').name}"
    path = Path(spec.rstrip("/"))
    return path.parent.name if path.name == "model" else path.name


def load_upstream(spec: str, device: str | torch.device = "cpu", precision: str = "fp32") -> Upstream:
    """`fbank`, `fbank-kaldi`, `codec:<codec name, hub id or folder>`, `hf:<hub id or folder>`, a shipped model's
    name, a model folder (a run folder, an export), or the Hub id of an uploaded export. `precision` (fp32,
    bf16) is a codec2vec model's forward pass; FBANK, the codec latent and hf: upstreams always run in fp32."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision '{precision}': choose from {', '.join(PRECISIONS)}")
    if spec == "fbank":
        return FbankUpstream(device)
    if spec == "fbank-kaldi":
        return KaldiFbankUpstream(device)
    if spec.startswith("hf:"):
        return HfUpstream(spec.removeprefix("hf:"), device)
    if spec.startswith("codec:"):
        return CodecLatentUpstream(spec.removeprefix("codec:") or "default", device)
    from codec2vec.models.export import pretrained_models

    if not Path(spec).exists() and spec not in pretrained_models() and not is_hub_id(spec):
        raise ConfigError(f"upstream '{spec}' not found: give a model folder (RUN/model), a shipped model "
                          f"({', '.join(pretrained_models()) or 'none'}), 'fbank', 'fbank-kaldi', 'codec:<name>' or 'hf:<hub id or folder>'")
    return ModelUpstream(spec, device, precision)

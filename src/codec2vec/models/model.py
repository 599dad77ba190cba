"""Codec2Vec: an input layer, a learned mask embedding and the Transformer encoder.

The same class is the waveform and log-mel baselines (`input.kind`), so every comparison between
them differs only in the input layer. A saved model is a folder: config.json (the model config, the
codec of its units, what trained it) and model.safetensors (weights only, nothing executable).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from codec2vec.atomic import atomic_path, atomic_write_text
from codec2vec.errors import Codec2VecError
from codec2vec.integrity import file_sha256
from codec2vec.models.encoder import Block, Encoder, EncoderConfig
from codec2vec.models.inputs import INPUT_KINDS, InputConfig, LogMelInput, UnitInput, WaveformInput, batch_frames

MODEL_FORMAT = "codec2vec-model"


@dataclass
class ModelConfig:
    input: InputConfig = field(default_factory=InputConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)


class Codec2Vec(nn.Module):
    """batch -> every hidden state [B, T, width] on the codec frame grid, and the padding mask.

    A batch is a dict with "frames" [B] (true lengths) and "units" [B, n_codebooks, T] (unit input)
    or "audio" [B, samples] at 16 kHz (baselines).
    """

    def __init__(self, cfg: ModelConfig, n_codebooks: int, codebook_size: int,
                 codebook_vectors: torch.Tensor | None = None):
        super().__init__()
        kind = cfg.input.kind
        if kind not in INPUT_KINDS:
            raise ValueError(f"input.kind must be one of {', '.join(INPUT_KINDS)}, got '{kind}'")
        self.kind = kind
        if kind == "units":
            self.frontend = UnitInput(cfg.input, n_codebooks, codebook_size, codebook_vectors)
        elif kind == "waveform":
            self.frontend = WaveformInput(cfg.input)
        else:
            self.frontend = LogMelInput(cfg.input)
        self.encoder = Encoder(cfg.encoder)
        self.width = self.encoder.width
        self.feature_norm = nn.LayerNorm(self.frontend.out_dim)
        self.project = nn.Linear(self.frontend.out_dim, self.width)
        self.mask_embedding = nn.Parameter(torch.empty(self.width).uniform_())
        self.feature_grad_mult, self.feature_penalty_weight = cfg.input.feature_grad_mult, cfg.input.feature_penalty
        self.feature_penalty: torch.Tensor | None = None  # the last training batch's, for the trainer's loss

    @property
    def n_hidden(self) -> int:
        return self.encoder.n_layers + 1

    def features(self, batch: dict, quantizer_dropout: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected input features [B, T, width] and the padding mask [B, T] (True = padding).
        `quantizer_dropout=False` reads every codebook even in training."""
        frames = batch["frames"]
        # The batch's width, not the longest utterance (`data.pad_multiple` may pad past it; reading
        # the shape also costs no host synchronisation).
        if self.kind == "units":
            t = batch["units"].shape[-1]
            x = self.frontend(batch["units"], quantizer_dropout)
        else:
            t = batch_frames(batch["audio"])
            x = self.frontend(batch["audio"], frames, t)
        padding = torch.arange(t, device=frames.device)[None, :] >= frames[:, None]
        if self.kind == "waveform" and self.training:  # HuBERT's treatment of its CNN
            valid = (~padding).unsqueeze(-1).to(x.dtype)
            self.feature_penalty = (x.float().pow(2) * valid).sum() / (valid.sum() * x.shape[-1]).clamp_min(1.0)
            if self.feature_grad_mult != 1.0:  # fairseq's GradMultiply: same values, scaled gradient
                x = x * self.feature_grad_mult + x.detach() * (1.0 - self.feature_grad_mult)
        return self.project(self.feature_norm(x)), padding

    def encode(self, x: torch.Tensor, padding: torch.Tensor, mask: torch.Tensor | None = None,
               kept_layers: list[bool] | None = None) -> list[torch.Tensor]:
        if mask is not None:
            x = torch.where(mask.unsqueeze(-1), self.mask_embedding.to(x.dtype), x)
        return self.encoder(x, padding, kept_layers)

    def forward(self, batch: dict, mask: torch.Tensor | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        x, padding = self.features(batch)
        return self.encode(x, padding, mask), padding


def build_model(cfg: ModelConfig, n_codebooks: int, codebook_size: int,
                codebook_vectors: torch.Tensor | None = None) -> Codec2Vec:
    """Build from a config; with codebook vectors, input.embed_dim becomes their width, and the
    preset's normalisation choices are written into the config (both recorded)."""
    cfg.encoder.norm_first, cfg.encoder.ffn_dropout = cfg.encoder.resolved_norm()
    if codebook_vectors is not None:
        cfg.input.embed_dim = int(codebook_vectors.shape[-1])
    return Codec2Vec(cfg, n_codebooks, codebook_size, codebook_vectors)


def compile_regions(module: nn.Module) -> None:
    """torch.compile, in place, every Transformer block and the waveform CNN inside `module`
    (PyTorch's "regional compilation"): all blocks share one compiled graph, so compiling costs one
    block rather than the whole model, and state-dict keys do not change. What depends on the data
    (lengths, masking, the objective's loss) stays eager."""
    import torch._dynamo

    if tuple(int(v) for v in torch.__version__.split(".")[:2]) < (2, 5):  # on by default from 2.5
        torch._dynamo.config.inline_inbuilt_nn_modules = True  # else each block is its own cache entry
    for sub in module.modules():
        if isinstance(sub, (Block, WaveformInput)):
            sub.compile()


def save_pretrained(folder: str | Path, model: Codec2Vec, cfg: ModelConfig, meta: dict) -> Path:
    """Write model.safetensors, then config.json (last: a folder with config.json is complete).

    `meta` holds the codec header of the units ("codec"), "n_codebooks", "codebook_size" and what
    trained it (objective, step, run config, provenance).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(state, str(tmp))
    config = {"codec2vec": MODEL_FORMAT, "version": 1, "model": dataclasses.asdict(cfg), **meta,
              "weights_sha256": file_sha256(folder / "model.safetensors")}
    atomic_write_text(folder / "config.json", json.dumps(config, indent=2) + "\n")
    return folder


def weights_problem(folder: Path, config: dict) -> str:
    """Why model.safetensors cannot be trusted ('' if it matches config.json's weights_sha256, or if
    the folder predates that record)."""
    weights = folder / "model.safetensors"
    if not weights.is_file():
        return f"{folder}: model.safetensors is missing"
    recorded = config.get("weights_sha256")
    if recorded and file_sha256(weights) != recorded:
        return f"{weights}: damaged or replaced (its sha256 differs from config.json's weights_sha256)"
    return ""


def load_pretrained(folder: str | Path, device: str | torch.device = "cpu") -> tuple[Codec2Vec, dict]:
    """Load a saved model folder -> (model in eval mode, its config.json)."""
    from codec2vec.config import load_config

    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise Codec2VecError(f"{folder}: not a codec2vec model folder (no config.json)")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("codec2vec") != MODEL_FORMAT:
        raise Codec2VecError(f"{config_path}: not a codec2vec model config")
    problem = weights_problem(folder, config)
    if problem:
        raise Codec2VecError(problem)
    weights = folder / "model.safetensors"
    cfg = load_config(ModelConfig, values=config["model"])
    model = Codec2Vec(cfg, config["n_codebooks"], config["codebook_size"])
    state = load_file(str(weights))
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise Codec2VecError(f"{folder}: weights do not fit the config ({str(e).splitlines()[0]})") from None
    return model.to(device).eval(), config

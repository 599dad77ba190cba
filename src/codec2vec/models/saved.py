"""Saved model folders: config.json (the model config, the codec of its units, what trained it)
and model.safetensors (weights only, nothing executable), written and read with their weights hash."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from codec2vec.atomic import atomic_path, atomic_write_text
from codec2vec.errors import Codec2VecError
from codec2vec.integrity import file_sha256
from codec2vec.models.model import Codec2Vec, ModelConfig

MODEL_FORMAT = "codec2vec-model"


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

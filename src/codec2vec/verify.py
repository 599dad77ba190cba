"""`codec2vec verify`: check every byte of an artifact, whatever its kind, with its stage's own check.

Unit and label stores carry sha256 per shard and crc32 per utterance (units/verify.py); feature
caches the sha256 of features.bin (eval/features.py); model folders the sha256 of
model.safetensors (models/model.py); checkpoints a digest of their whole content (integrity.py).
This module sits above the stages, beside the CLI, so the stages never import it.
"""

from __future__ import annotations

import json
from pathlib import Path

from codec2vec.errors import Codec2VecError
from codec2vec.eval.features import verify_features
from codec2vec.integrity import load_checkpoint
from codec2vec.models.saved import MODEL_FORMAT, weights_problem
from codec2vec.units.verify import verify_store


def verify_artifact(path: str | Path) -> tuple[str, list[str]]:
    """Check every byte of an artifact -> (what it is, the problems found; empty when whole).

    Unit or label store, feature cache entry or a folder of them, model folder, pre-training run."""
    path = Path(path)
    if not path.exists():
        return "nothing", [f"{path}: no such file or folder"]
    if (path / "header.json").is_file() or (path / "extract-run.json").is_file():
        return "unit or label store", verify_store(path)
    if (path / "index.json").is_file():
        return "feature cache entry", verify_features(path)
    if (path / "checkpoint.pt").is_file() or (path / "model" / "config.json").is_file():
        problems = []
        if (path / "checkpoint.pt").is_file():
            try:
                load_checkpoint(path / "checkpoint.pt")
            except Codec2VecError as e:
                problems.append(str(e))
        if (path / "model" / "config.json").is_file():
            problems += _verify_model(path / "model")
        return "pre-training run", problems
    if (path / "config.json").is_file() and _is_model(path):
        return "model folder", _verify_model(path)
    entries = sorted(p.parent for p in path.glob("**/index.json"))
    if entries:
        return f"feature cache ({len(entries)} entries)", [p for e in entries for p in verify_features(e)]
    return "unknown", [f"{path}: not a unit or label store, feature cache, codec2vec model or run folder"]


def _is_model(folder: Path) -> bool:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("codec2vec") == MODEL_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _verify_model(folder: Path) -> list[str]:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("weights_sha256") is None:
        return [f"{folder}: config.json records no weights_sha256 (written by an older codec2vec)"]
    problem = weights_problem(folder, config)
    return [problem] if problem else []

"""Checksums that make damage visible: content digests of tensors and checkpoints, and
`verify_artifact`, the `codec2vec verify` of every artifact kind.

Unit and label stores carry sha256 per shard and crc32 per utterance (units/verify.py); feature
caches the sha256 of features.bin; model folders the sha256 of model.safetensors; checkpoints a
digest of their whole content, stored inside them and checked on every load (torch.load itself
reads a flipped byte in a tensor without complaint).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

import torch

from codec2vec.atomic import atomic_path
from codec2vec.errors import Codec2VecError

DIGEST_KEY = "content_sha256"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _update_tensor(h, name: str, tensor: torch.Tensor) -> None:
    t = tensor.detach().cpu().contiguous()
    h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
    if t.numel():
        h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))


def tensors_digest(named: Iterable[tuple[str, torch.Tensor]]) -> str:
    """sha256 over (name, shape, dtype, bytes) of each tensor, in the order given."""
    h = hashlib.sha256()
    for name, tensor in named:
        _update_tensor(h, name, tensor)
    return h.hexdigest()


def state_digest(state) -> str:
    """sha256 of a nested checkpoint (dicts, lists, tensors, plain values), independent of file layout."""
    h = hashlib.sha256()

    def walk(path: str, value) -> None:
        if isinstance(value, torch.Tensor):
            _update_tensor(h, path, value)
        elif isinstance(value, dict):
            for key in sorted(value, key=str):
                walk(f"{path}/{key}", value[key])
        elif isinstance(value, (list, tuple)):
            h.update(f"{path}[{len(value)}]".encode())
            for i, item in enumerate(value):
                walk(f"{path}/{i}", item)
        else:
            h.update(f"{path}={json.dumps(value, sort_keys=True, default=str)}".encode())

    walk("", state)
    return h.hexdigest()


def save_checkpoint(state: dict, path: Path) -> None:
    """torch.save with the content digest inside, written to a temporary name and renamed."""
    with atomic_path(path) as tmp:
        torch.save({**state, DIGEST_KEY: state_digest(state)}, tmp)


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """torch.load without executing code (weights_only), refusing content that differs from its digest."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # a damaged or foreign file: say which and what to do
        raise Codec2VecError(f"{path}: cannot be loaded as a checkpoint ({str(e).splitlines()[0]}); "
                             "delete it to restart the run") from None
    if not isinstance(state, dict):
        raise Codec2VecError(f"{path}: not a codec2vec checkpoint")
    recorded = state.pop(DIGEST_KEY, None)
    if recorded is not None and recorded != state_digest(state):
        raise Codec2VecError(f"{path}: damaged (its content differs from the digest written with it); "
                             "delete it to restart from scratch, or restore it from a copy")
    return state


def verify_artifact(path: str | Path) -> tuple[str, list[str]]:
    """Check every byte of an artifact -> (what it is, the problems found; empty when whole).

    Unit or label store, feature cache entry or a folder of them, model folder, pre-training run."""
    from codec2vec.eval.features import verify_features
    from codec2vec.units.verify import verify_store

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
    from codec2vec.models.model import MODEL_FORMAT

    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("codec2vec") == MODEL_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _verify_model(folder: Path) -> list[str]:
    from codec2vec.models.model import weights_problem

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("weights_sha256") is None:
        return [f"{folder}: config.json records no weights_sha256 (written by an older codec2vec)"]
    problem = weights_problem(folder, config)
    return [problem] if problem else []

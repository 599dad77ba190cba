"""Checksums that make damage visible: content digests of files, tensors and checkpoints.

Checkpoints carry a digest of their whole content, stored inside them and checked on every load
(torch.load itself reads a flipped byte in a tensor without complaint). This module sits on the
ground floor: every stage uses it and it imports none of them (`codec2vec verify` dispatches to
each stage's own checks from codec2vec/verify.py).
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

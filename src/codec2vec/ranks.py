"""Where this process stands under torchrun (extraction, k-means and pre-training all read it)."""

from __future__ import annotations

import os

import torch


def torchrun_ranks() -> tuple[int, int, int]:
    """(rank, world size, rank on this node) from torchrun's environment; (0, 1, 0) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def rank_device(spec: str) -> torch.device:
    """The device a `device=` setting means for this process: "auto" is this node rank's GPU when
    there is one, else the CPU; "cuda" without an index is this node rank's GPU (so torchrun ranks
    do not all land on GPU 0); anything else as written."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda":
        return torch.device(f"cuda:{torchrun_ranks()[2] % torch.cuda.device_count()}")
    return torch.device(spec)

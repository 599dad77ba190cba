"""Where this process stands under torchrun (extraction, k-means and pre-training all read it)."""

from __future__ import annotations

import os


def torchrun_ranks() -> tuple[int, int, int]:
    """(rank, world size, rank on this node) from torchrun's environment; (0, 1, 0) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))

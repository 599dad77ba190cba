"""Where this process stands under torchrun (extraction, k-means and pre-training all read it)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

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


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[None]:
    """torchrun's process group for the block (NCCL for a CUDA device, gloo otherwise), destroyed on
    leaving it, worker threads and all."""
    import torch.distributed as dist
    # torch.distributed.nn.functional takes the world group as a default argument of its functions when
    # it is first imported, and DistributedDataParallel imports it. Imported while a group exists, those
    # defaults hold the group after destroy_process_group: its gloo worker threads then live on into
    # interpreter shutdown, where one still releasing a collective's tensor aborts the process (SIGABRT,
    # "terminate called without an active exception"; about one 2-rank CPU run in 20 on a busy 2-core VM,
    # torch 2.13). Imported before the group exists, the defaults are None and the group ends here.
    import torch.distributed.nn.functional  # noqa: F401

    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()

"""Keep a long run's peak memory that of one batch (glibc's malloc; elsewhere these do nothing).

Two ways glibc let extraction's peak RSS creep up with the number of batches (631 MiB at 1 h of
audio, 899 MiB at 10 h, benchmarks/memory_bounds.py):
- memory a batch freed stays in the heap, in gaps that later batches do not always reuse:
  `release_free_memory` (malloc_trim) after each batch returns the free pages;
- glibc raises its mmap threshold to the largest block freed so far (up to 32 MiB), so a codec's
  10-30 MB activations are soon carved from the heap, where they fragment it further:
  `map_large_blocks` fixes the threshold at 4 MiB, so such blocks get mappings of their own that go
  back to the system when freed (extraction only: the codec's activations are the big blocks).
  Cost, measured on 0.1 h: within noise for the default codec, whose encoder is compute-bound;
  about 2x for the 4-channel test codec of the memory benchmark, which is all memory traffic.
"""

from __future__ import annotations

import ctypes
import functools

_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
LARGE_BLOCK_BYTES = 4 << 20


@functools.lru_cache(maxsize=1)
def _libc():
    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def release_free_memory() -> None:
    """Return the C heap's free pages to the system."""
    if _libc() is not None:
        _libc().malloc_trim(0)


def map_large_blocks() -> None:
    """From now on, blocks of LARGE_BLOCK_BYTES and more are mapped on their own and unmapped when freed."""
    if _libc() is not None:
        _libc().mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)

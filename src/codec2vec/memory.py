"""Keep a long run's peak memory that of one batch (glibc's malloc; elsewhere these do nothing).

Two ways glibc let extraction's peak RSS creep up with the number of batches (631 MiB at 1 h of
audio, 899 MiB at 10 h, benchmarks/memory_bounds.py):
- memory a batch freed stays in the heap, in gaps that later batches do not always reuse:
  `release_free_memory` (malloc_trim) after each batch returns the free pages;
- glibc raises its mmap threshold to the largest block freed so far (up to 32 MiB), so a codec's
  10-30 MB activations are soon carved from the heap, where they fragment it further:
  `large_blocks_mapped` fixes the threshold at 4 MiB while extraction runs, so such blocks get
  mappings of their own that go back to the system when freed (the codec's activations are the big
  blocks). glibc cannot go back to its dynamic rule once a threshold is set, so on leaving it sets
  the values that rule reaches in a long run (mmap at 32 MiB, trim at 64 MiB): the stages that run
  after extraction in the same process (the demo, evaluation) allocate as they would have anyway.
  Before, the 4 MiB threshold stayed for the rest of the process and pre-training ran 10 % slower.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Iterator

_M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
LARGE_BLOCK_BYTES = 4 << 20
DYNAMIC_MMAP_CEILING = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit; its rule trims at twice that


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


@contextlib.contextmanager
def large_blocks_mapped() -> Iterator[None]:
    """Within: blocks of LARGE_BLOCK_BYTES and more are mapped on their own and unmapped when freed.
    After: glibc's long-run values (see the module's docstring)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)
    try:
        yield
    finally:
        if libc is not None:
            libc.mallopt(_M_MMAP_THRESHOLD, DYNAMIC_MMAP_CEILING)
            libc.mallopt(_M_TRIM_THRESHOLD, 2 * DYNAMIC_MMAP_CEILING)

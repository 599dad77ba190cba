"""Keep a long run's peak memory that of one batch, without paying for it in page faults (glibc's
malloc; elsewhere these do nothing).

- Memory a batch freed stays in the heap, in gaps that later batches do not always reuse:
  `release_free_memory` (malloc_trim) after each batch returns the free pages.
- glibc maps every block above its mmap threshold (at most 32 MiB by its dynamic rule) on its own
  and unmaps it when freed, so each batch's large activations (a 60 s window of the default codec
  holds several of 61 MiB) were faulted in page by page again: extracting a 10-minute file spent
  22.6 s in the kernel against 14.9 s of user time (13.1 M minor faults), a 0.26 h corpus of short
  files 12.0 s against 23.1 s. An earlier setting (every block of 4 MiB and more mapped, to bound
  heap growth) made it worse. `reused_heap` takes blocks up to 512 MiB from the heap and trims its
  free top only past 1 GiB while extraction runs, so the next window or batch reuses pages already
  mapped: 0.8 s and 3.9 s of kernel time, 2.5x and 1.3x faster, at a peak RSS of 1,108 and
  971 MiB instead of 756 and 740 (docs/reliability.md; benchmarks/memory_bounds.py checks that
  the peak stays flat as the corpus grows). glibc cannot go back to its dynamic rule once a
  threshold is set, so on leaving it sets the values that rule reaches in a long run (mmap at
  32 MiB, trim at 64 MiB): later stages in the same process allocate as they would have anyway.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from collections.abc import Iterator

_M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
HEAP_BLOCK_BYTES = 512 << 20
HEAP_KEEP_BYTES = 1 << 30
DYNAMIC_MMAP_CEILING = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit; its rule trims at twice that


@functools.lru_cache(maxsize=1)
def _libc():
    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def huge_pages() -> bool:
    """Whether PyTorch's CPU allocator uses transparent huge pages (codec2vec turns it on on import)."""
    return os.environ.get("THP_MEM_ALLOC_ENABLE") == "1"


def release_free_memory() -> None:
    """Return the C heap's free pages to the system."""
    if _libc() is not None:
        _libc().malloc_trim(0)


@contextlib.contextmanager
def reused_heap() -> Iterator[None]:
    """Within: blocks up to HEAP_BLOCK_BYTES come from the heap, whose free top is kept up to
    HEAP_KEEP_BYTES. After: glibc's long-run values (see the module's docstring)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, HEAP_BLOCK_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, HEAP_KEEP_BYTES)
    try:
        yield
    finally:
        if libc is not None:
            libc.mallopt(_M_MMAP_THRESHOLD, DYNAMIC_MMAP_CEILING)
            libc.mallopt(_M_TRIM_THRESHOLD, 2 * DYNAMIC_MMAP_CEILING)

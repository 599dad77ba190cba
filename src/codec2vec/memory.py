"""Keep a long run's peak memory that of one batch, without paying for it in page faults.

The CLI runs under Microsoft's mimalloc on Linux (`allocator_environment`, below): it keeps the
pages a step freed for the next step. Under glibc's malloc, each training step of the waveform model
mapped its large activations afresh and the kernel zeroed them again: 29.6 s of kernel time in 40
bf16 steps against 2.4 s under mimalloc as the CLI sets it, at the same peak memory
(docs/performance.md). For glibc
(a library user's own process, or `CODEC2VEC_ALLOCATOR=system`), the tools below:

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
import importlib.metadata
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from codec2vec.errors import ConfigError

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


ALLOCATOR_ENV = "CODEC2VEC_ALLOCATOR"  # "system" keeps glibc's malloc
# Freed memory stays with the process for reuse (never purged back to the system); large OS pages on.
MIMALLOC_SETTINGS = {"MIMALLOC_PURGE_DELAY": "-1", "MIMALLOC_ALLOW_LARGE_OS_PAGES": "1"}


def mimalloc_library() -> Path | None:
    """The shared library of the installed cmeel-mimalloc wheel, or None."""
    try:
        dist = importlib.metadata.distribution("cmeel-mimalloc")
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or []:
        if file.name.startswith("libmimalloc.so.") and file.name.count(".") == 2:  # libmimalloc.so.N
            path = Path(dist.locate_file(file))
            return path if path.is_file() else None
    return None


def preloaded_allocator() -> str:
    """"mimalloc" when this process runs under it (mapped into it: a library that failed to preload is
    not), else "system"."""
    try:
        maps = Path("/proc/self/maps").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "system"
    return "mimalloc" if "libmimalloc" in maps else "system"


def allocator_environment() -> dict[str, str] | None:
    """The environment that runs a new process of this program under mimalloc, or None where that does
    not apply: not Linux, mimalloc not installed, already asked for (LD_PRELOAD names it: restarted once,
    never again, even where the loader refused it), or CODEC2VEC_ALLOCATOR=system."""
    if not sys.platform.startswith("linux") or "libmimalloc" in os.environ.get("LD_PRELOAD", ""):
        return None
    choice = os.environ.get(ALLOCATOR_ENV, "mimalloc")
    if choice not in ("mimalloc", "system"):
        raise ConfigError(f"{ALLOCATOR_ENV}={choice!r}: choose mimalloc or system")
    library = mimalloc_library() if choice == "mimalloc" else None
    if library is None:
        return None
    preload = " ".join(filter(None, [str(library), os.environ.get("LD_PRELOAD", "")]))
    return {**os.environ, **{k: os.environ.get(k, v) for k, v in MIMALLOC_SETTINGS.items()}, "LD_PRELOAD": preload}


def restart_under_preferred_allocator() -> None:
    """Replace this process by the same command line under mimalloc, where `allocator_environment`
    applies (the CLI, and benchmarks that time what the CLI does, call it first)."""
    env = allocator_environment()
    if env is not None and sys.executable:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, sys.orig_argv, env)  # the same PID: torchrun's agent keeps track of it

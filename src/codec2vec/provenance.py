"""What every result file records about the software that made it."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from codec2vec import __version__
from codec2vec.memory import preloaded_allocator

_TRACKED_PACKAGES = ("numpy", "soundfile", "soxr", "torch", "transformers", "omegaconf")


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The commit of the source tree codec2vec runs from, '+dirty' if modified; None outside git.
    CODEC2VEC_GIT_REVISION, when set, wins: a copy of the tree on another machine (the GPU suite's)
    may sit in a git folder of another commit, so the revision is recorded where the copy was made."""
    if os.environ.get("CODEC2VEC_GIT_REVISION"):
        return os.environ["CODEC2VEC_GIT_REVISION"]
    src = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=src, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "codec2vec": __version__}
    for name in _TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def machine() -> str:
    """The hardware a measurement ran on, in words: the GPU if torch uses one, else the CPU cores."""
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    # the CPU model: timings and, through its float kernels, the last digits of results differ between
    # models of one architecture
    model = cpu_info("model name")
    # the allocator moves kernel time and speed (codec2vec.memory): named when it is not the system's
    allocator = ", mimalloc" if preloaded_allocator() == "mimalloc" else ""
    return f"{os.cpu_count()}-core {platform.machine()} CPU{f' ({model})' if model else ''}, no GPU " \
           f"(torch {torch.__version__}{allocator})"


def cpu_info(field: str) -> str:
    """The first CPU's `field` in Linux's /proc/cpuinfo ("model name", "flags"); "" elsewhere."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines if line.split(":", 1)[0].strip() == field), "")


def provenance() -> dict:
    return {"versions": package_versions(), "git_revision": git_revision()}

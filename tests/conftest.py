from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def benchmark_module(name: str):
    """benchmarks/NAME.py imported as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sine(seconds: float = 0.5, rate: int = 16000, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    x = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return x if channels == 1 else np.stack([x * (c + 1) / channels for c in range(channels)], axis=1)


def write_wav(path: Path, seconds: float = 0.5, rate: int = 16000, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), sine(seconds, rate), rate, **kw)
    return path


@pytest.fixture(autouse=True, scope="session")
def _feature_cache_in_a_temporary_folder(tmp_path_factory):
    """`evaluate` caches features under $CODEC2VEC_CACHE by default: the tests' own, not the user's."""
    import os

    os.environ["CODEC2VEC_CACHE"] = str(tmp_path_factory.mktemp("codec2vec-cache"))


@pytest.fixture
def wav_factory(tmp_path):
    def make(rel: str, seconds: float = 0.5, rate: int = 16000, **kw) -> Path:
        return write_wav(tmp_path / rel, seconds, rate, **kw)

    return make

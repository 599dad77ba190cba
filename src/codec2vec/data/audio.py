"""Read any common audio file as mono float32 at a target rate; write FLAC atomically.

soundfile (libsndfile) decodes WAV/FLAC/OGG/MP3 in any sample format; soxr resamples.
Every problem raises AudioError naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import soundfile as sf
import soxr

from codec2vec.atomic import atomic_path
from codec2vec.errors import AudioError


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    frames: int
    channels: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if not path.is_file():
        raise AudioError(f"{path}: not a regular file")


def audio_info(path: str | Path) -> AudioInfo:
    """Sample rate, length and channel count from the file header (no decoding)."""
    path = Path(path)
    _check_exists(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioError(f"{path}: not a readable audio file ({e})") from None
    if info.frames <= 0:
        raise AudioError(f"{path}: empty audio (0 samples)")
    return AudioInfo(sample_rate=int(info.samplerate), frames=int(info.frames), channels=int(info.channels))


def resample(audio: np.ndarray, from_rate: int | float, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return audio
    return soxr.resample(audio, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


BLOCK_SECONDS = 10.0  # decoded per step by stream_audio
SEGMENT_OVERRUN = 0.02  # seconds a segment's end may pass the file's (times rounded to 10 ms frames)


def stream_audio(
    path: str | Path,
    sample_rate: int | None = 16000,
    start: float | None = None,
    end: float | None = None,
    native: Callable[[np.ndarray], object] | None = None,
) -> Iterator[np.ndarray]:
    """Decode `path` (optionally the [start, end) seconds segment) block by block, mixed to mono and
    resampled: memory is one block (BLOCK_SECONDS), whatever the file's length. `native`, if given,
    also receives each mono block at the file's own rate (extraction sizes the audio as FLAC with it).

    The blocks joined are exactly load_audio's samples (soxr's stream resampler gives the one-shot
    result). Raises AudioError for missing, corrupt, empty or non-finite audio; an error in a later
    block is raised when that block is reached.
    """
    path = Path(path)
    info = audio_info(path)
    first = 0 if start is None else int(round(start * info.sample_rate))
    last = info.frames if end is None else int(round(end * info.sample_rate))
    if first < 0 or first >= min(last, info.frames):
        raise AudioError(f"{path}: segment [{start}, {end}) s is empty or outside the file ({info.duration:.3f} s)")
    if last > info.frames + SEGMENT_OVERRUN * info.sample_rate:
        raise AudioError(f"{path}: segment [{start}, {end}) s runs past the file's end ({info.duration:.3f} s)")
    last = min(last, info.frames)  # an end rounded past the last sample
    target = info.sample_rate if sample_rate is None else sample_rate
    resampler = None if target == info.sample_rate else \
        soxr.ResampleStream(info.sample_rate, target, 1, dtype="float32", quality="HQ")
    decoded = 0
    try:
        with sf.SoundFile(str(path)) as f:
            f.seek(first)
            blocks = f.blocks(blocksize=max(1, int(BLOCK_SECONDS * info.sample_rate)), frames=last - first,
                              dtype="float32", always_2d=True)
            for data in blocks:
                if not np.isfinite(data).all():
                    raise AudioError(f"{path}: audio contains NaN or Inf samples")
                decoded += data.shape[0]
                mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else np.ascontiguousarray(data[:, 0])
                if native is not None:
                    native(mono)
                yield mono if resampler is None else resampler.resample_chunk(mono)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise AudioError(f"{path}: cannot decode audio ({e})") from None
    if decoded == 0:
        raise AudioError(f"{path}: empty audio (0 samples decoded)")
    if resampler is not None:
        yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)


def load_audio(
    path: str | Path,
    sample_rate: int | None = 16000,
    start: float | None = None,
    end: float | None = None,
    native: Callable[[np.ndarray], object] | None = None,
) -> np.ndarray:
    """Decode `path` (optionally the [start, end) seconds segment), mix to mono, resample.

    Returns float32 samples in [-1, 1]-scale at `sample_rate` (the file's own rate if None).
    Raises AudioError for missing, corrupt, empty or non-finite audio. `native`: as in stream_audio.
    """
    return np.concatenate(list(stream_audio(path, sample_rate, start, end, native)))


def save_flac(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit FLAC atomically (a crash never leaves a truncated file under `path`)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise AudioError(f"{path}: refusing to write {audio.shape} samples (need non-empty mono audio)")
    if not np.isfinite(audio).all():
        raise AudioError(f"{path}: refusing to write NaN or Inf samples")
    with atomic_path(path, suffix=".flac") as tmp:
        sf.write(str(tmp), np.clip(audio, -1.0, 1.0), sample_rate, format="FLAC", subtype="PCM_16")

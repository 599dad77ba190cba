"""Classical speech codecs as round-trip peers for `codec2vec codec eval`: Opus and Codec 2.

Each peer takes 16 kHz mono float audio and returns (decoded 16 kHz audio, bits per second actually
used, container overhead included).
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import soundfile as sf

from codec2vec.data.audio import resample
from codec2vec.errors import DependencyError

OPUS_MIN_BITRATE, OPUS_MAX_BITRATE = 6000, 256000
CODEC2_MODES = (3200, 2400, 1600, 1400, 1300, 1200)


def opus_roundtrip(audio: np.ndarray, sample_rate: int, bitrate: int) -> tuple[np.ndarray, float]:
    """Opus in Ogg through libsndfile. libsndfile sets the bitrate through its compression level,
    which maps linearly onto Opus's 6-256 kbit/s range (1.0 = 6 kbit/s)."""
    if not OPUS_MIN_BITRATE <= bitrate <= OPUS_MAX_BITRATE:
        raise ValueError(f"Opus bitrate must be {OPUS_MIN_BITRATE}..{OPUS_MAX_BITRATE} bit/s, got {bitrate}")
    level = (OPUS_MAX_BITRATE - bitrate) / (OPUS_MAX_BITRATE - OPUS_MIN_BITRATE)
    buffer = io.BytesIO()
    sf.write(buffer, audio, sample_rate, format="OGG", subtype="OPUS", compression_level=level)
    size = buffer.tell()
    buffer.seek(0)
    decoded, rate = sf.read(buffer, dtype="float32")
    return _fit(resample(decoded, rate, sample_rate), audio.size), 8 * size / (audio.size / sample_rate)


def codec2_roundtrip(audio: np.ndarray, sample_rate: int, mode: int = 3200) -> tuple[np.ndarray, float]:
    """Codec 2 (narrowband, 8 kHz) through Debian's c2enc/c2dec; the result is resampled back."""
    if mode not in CODEC2_MODES:
        raise ValueError(f"Codec 2 mode must be one of {CODEC2_MODES}, got {mode}")
    if not (shutil.which("c2enc") and shutil.which("c2dec")):
        raise DependencyError("the Codec 2 peer needs c2enc/c2dec: `sudo apt-get install codec2` "
                              "(or leave codec2 out of peers=[...])")
    narrow = resample(audio, sample_rate, 8000)
    pcm = (np.clip(narrow, -1, 1) * 32767).astype("<i2").tobytes()
    bits = subprocess.run(["c2enc", str(mode), "-", "-"], input=pcm, capture_output=True, check=True).stdout
    decoded = subprocess.run(["c2dec", str(mode), "-", "-"], input=bits, capture_output=True, check=True).stdout
    wide = resample(np.frombuffer(decoded, dtype="<i2").astype(np.float32) / 32768, 8000, sample_rate)
    return _fit(wide, audio.size), 8 * len(bits) / (audio.size / sample_rate)


def _fit(audio: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad a decoded signal to the reference length (codecs add a little delay padding)."""
    out = np.zeros(length, dtype=np.float32)
    out[: min(length, audio.size)] = audio[:length]
    return out

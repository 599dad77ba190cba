"""flite (Debian package `flite`) as a subprocess; -psdur gives phone end times."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from functools import lru_cache

import soundfile as sf

from codec2vec.data.phones import festvox_to_arpabet
from codec2vec.data.tts.base import Speech, Voice, segments_from_ends
from codec2vec.errors import Codec2VecError

# flite's general-domain voices and the person behind each (kal and kal16 are one speaker).
_PERSONS = {"kal16": "kal", "awb": "awb", "rms": "rms", "slt": "slt"}


@lru_cache(maxsize=1)
def _installed() -> tuple[str, ...]:
    exe = shutil.which("flite")
    if exe is None:
        return ()
    listing = subprocess.run([exe, "-lv"], capture_output=True, text=True, timeout=30).stdout
    return tuple(v for v in listing.split(":", 1)[-1].split() if v in _PERSONS)


def voices() -> list[Voice]:
    return [Voice(speaker=_PERSONS[v], engine="flite", name=v) for v in sorted(_installed())]


def synthesize(voice_name: str, text: str, rate: float, pitch: float, pitch_range: float, seed: int) -> Speech:
    """flite has no pitch control that works for all its voices: pitch offsets are ignored.
    It is deterministic and runs in a fresh process each time, so the seed is not needed."""
    with tempfile.TemporaryDirectory(prefix="codec2vec-flite-") as tmp:
        wav = os.path.join(tmp, "out.wav")
        result = subprocess.run(
            ["flite", "-voice", voice_name, "--setf", f"duration_stretch={1.0 / rate:.4f}", "-psdur", "-t", text, "-o", wav],
            capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0 or not os.path.exists(wav):
            raise Codec2VecError(f"flite failed on voice {voice_name} text {text!r}: {result.stderr.strip()}")
        audio, sample_rate = sf.read(wav, dtype="float32")
    pairs = (item.rsplit(":", 1) for item in result.stdout.split())  # "PHONE:END_TIME"
    ends = [(festvox_to_arpabet(phone), float(end)) for phone, end in pairs]
    return Speech(audio, sample_rate, segments_from_ends(ends, len(audio) / sample_rate))

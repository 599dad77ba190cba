"""Speech Commands v0.01 as SUPERB uses it for keyword spotting (12 classes).

--src holds both archives unpacked: speech_commands_v0.01/ (train and dev, by validation_list.txt)
and speech_commands_test_set_v0.01/ (the test split). Words other than the 10 keywords become
_unknown_; _background_noise_ recordings are cut into 1 s _silence_ clips (written to --out,
every 10th to dev).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codec2vec.data.audio import load_audio, save_flac
from codec2vec.data.manifest import Utterance
from codec2vec.data.prepare.common import SkipReport, Subset, require, utterance
from codec2vec.data.text import KEYWORDS, SILENCE_LABEL, UNKNOWN_LABEL
from codec2vec.errors import AudioError

TRAIN_DIR, TEST_DIR = "speech_commands_v0.01", "speech_commands_test_set_v0.01"
NOISE_DIR = "_background_noise_"
_SAMPLE_RATE = 16000


def _speaker(path: Path) -> str:
    return path.stem.split("_nohash_")[0] if "_nohash_" in path.stem else "_noise_"


def _silence_clips(noise_dir: Path, out: Path, report: SkipReport) -> list[Utterance]:
    rows = []
    for wav in sorted(noise_dir.glob("*.wav")):
        try:
            audio = load_audio(wav, _SAMPLE_RATE)
        except AudioError as e:
            report.fail(str(wav), str(e).removeprefix(f"{wav}: "), AudioError)
            continue
        for k in range(len(audio) // _SAMPLE_RATE):
            rel = f"silence/{wav.stem}-{k:03d}.flac"
            if not (out / rel).exists():
                save_flac(out / rel, audio[k * _SAMPLE_RATE:(k + 1) * _SAMPLE_RATE].astype(np.float32), _SAMPLE_RATE)
            rows.append(Utterance(id=f"sc-silence-{wav.stem}-{k:03d}", audio=rel, duration=1.0, sample_rate=_SAMPLE_RATE,
                                  speaker="_noise_", split="dev" if k % 10 == 0 else "train", keyword=SILENCE_LABEL))
    return rows


def prepare(src: Path, out: Path, report: SkipReport) -> list[Subset]:
    train_root = require(src / TRAIN_DIR, f"the unpacked {TRAIN_DIR}.tar.gz")
    test_root = require(src / TEST_DIR, f"the unpacked {TEST_DIR}.tar.gz")
    lists = {}
    for name in ("validation_list.txt", "testing_list.txt"):
        lists[name] = set(require(train_root / name, name).read_text().split())
    subset = Subset("speech-commands", ["ks"])
    for wav in sorted(train_root.glob("*/*.wav")):
        word = wav.parent.name
        if word == NOISE_DIR:
            continue
        rel = f"{word}/{wav.name}"
        if rel in lists["testing_list.txt"]:
            continue  # SUPERB tests on the separate test set
        split = "dev" if rel in lists["validation_list.txt"] else "train"
        label = word if word in KEYWORDS else UNKNOWN_LABEL
        row = utterance(wav, report, id=f"sc-{split}-{word}-{wav.stem}", speaker=_speaker(wav), split=split,
                        text=word, keyword=label)
        if row:
            subset.rows.append(row)
    subset.rows.extend(_silence_clips(require(train_root / NOISE_DIR, NOISE_DIR), out, report))
    for wav in sorted(test_root.glob("*/*.wav")):
        label = wav.parent.name
        if label not in KEYWORDS and label not in (UNKNOWN_LABEL, SILENCE_LABEL):
            report.fail(str(wav), f"unexpected label folder '{label}' in the test set")
            continue
        row = utterance(wav, report, id=f"sc-test-{label}-{wav.stem}", speaker=_speaker(wav), split="test", keyword=label)
        if row:
            subset.rows.append(row)
    return [subset]

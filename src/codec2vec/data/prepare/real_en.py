"""real-en: the small real English recordings that ship in Debian packages (evaluation only).

--src is a root folder holding the packages' files: '/' where they are installed, or a folder
made with `dpkg-deb -x PKG.deb DIR` (`make real-en` does this without root). Sources:
  asterisk-core-sounds-en-wav: 568 prompts, one female speaker, 8 kHz (resampled, flagged)
  pocketsphinx-testdata: 5 LibriVox utterances and 5 card phrases, 16 kHz
  alsa-utils: 8 spoken channel names, 48 kHz (resampled, flagged); Noise.wav is noise, left out
All audio is written to --out as 16 kHz mono FLAC; source_sample_rate marks resampled rows.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from codec2vec.data.prepare.common import SkipReport, Subset, converted_utterance
from codec2vec.errors import ManifestError

_SAMPLE_RATE = 16000
_ASTERISK = "usr/share/asterisk/sounds/en_US_f_Allison"
_ASTERISK_TEXT = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
_SPHINX = "usr/share/pocketsphinx/test/data"
_ALSA = "usr/share/sounds/alsa"
_SPHINX_LINE = re.compile(r"^<s>\s*(.*?)\s*</s>\s*\((\S+)\)$")


def _asterisk(src: Path, out: Path, report: SkipReport) -> list:
    sounds, text_file = src / _ASTERISK, src / _ASTERISK_TEXT
    if not sounds.is_dir() or not text_file.is_file():
        return []
    rows = []
    for line in gzip.open(text_file, "rt", encoding="utf-8", errors="replace"):
        name, sep, text = line.partition(":")
        text = text.strip()
        wav = sounds / f"{name.strip()}.wav"
        if not sep or not text or text.startswith("[") or not wav.is_file():
            continue  # comments, tones and prompts without a recording
        key = name.strip().replace("/", "-")
        row = converted_utterance(wav, out, f"audio/asterisk/{key}.flac", _SAMPLE_RATE, report,
                                  id=f"asterisk-{key}", speaker="asterisk-allison", split="test", text=text)
        if row:
            rows.append(row)
    return rows


def _pocketsphinx(src: Path, out: Path, report: SkipReport) -> list:
    rows = []
    for folder, transcript, speaker in (("librivox", "transcription", "librivox-austen"),
                                        ("cards", "cards.transcription", "sphinx-cards")):
        text_file = src / _SPHINX / folder / transcript
        if not text_file.is_file():
            continue
        for line in text_file.read_text(encoding="utf-8").splitlines():
            m = _SPHINX_LINE.match(line.strip())
            if not m:
                continue
            text, stem = m.group(1), m.group(2)
            row = converted_utterance(src / _SPHINX / folder / f"{stem}.wav", out, f"audio/{folder}/{stem}.flac",
                                      _SAMPLE_RATE, report, id=f"{folder}-{stem}", speaker=speaker, split="test",
                                      text=text)
            if row:
                rows.append(row)
    return rows


def _alsa(src: Path, out: Path, report: SkipReport) -> list:
    rows = []
    for wav in sorted((src / _ALSA).glob("*.wav")):
        if wav.stem == "Noise":
            continue  # a noise test signal, not speech
        row = converted_utterance(wav, out, f"audio/alsa/{wav.stem}.flac", _SAMPLE_RATE, report,
                                  id=f"alsa-{wav.stem}", speaker="alsa", split="test",
                                  text=wav.stem.replace("_", " ").lower())
        if row:
            rows.append(row)
    return rows


def prepare(src: Path, out: Path, report: SkipReport) -> list[Subset]:
    rows = _asterisk(src, out, report) + _pocketsphinx(src, out, report) + _alsa(src, out, report)
    if not rows:
        raise ManifestError(
            f"{src}: none of the real-en sources found (looked for {_ASTERISK}, {_SPHINX}, {_ALSA}); "
            "install asterisk-core-sounds-en-wav asterisk-core-sounds-en pocketsphinx-testdata alsa-utils, "
            "or run `make real-en` to unpack them without root"
        )
    notes = "Real recordings for evaluation only; rows with source_sample_rate were resampled to 16 kHz."
    return [Subset("real-en", ["pr", "asr"], rows, notes)]

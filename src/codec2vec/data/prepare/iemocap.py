"""IEMOCAP emotion recognition as SUPERB uses it: 4 classes (excited merged into happy), other
labels dropped; split = session1..session5, the 5 folds (test on one session, train on the rest)."""

from __future__ import annotations

import re
from pathlib import Path

from codec2vec.data.prepare.common import SkipReport, Subset, require, utterance

_LABELS = {"neu": "neutral", "hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry"}
_EVALUATION = re.compile(r"^\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\t(\S+)\t(\S+)\t")
_TRANSCRIPT = re.compile(r"^(\S+)\s+\[[^\]]*\]:\s*(.*)$")


def _transcripts(session: Path) -> dict[str, str]:
    texts = {}
    for path in sorted((session / "dialog" / "transcriptions").glob("*.txt")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            m = _TRANSCRIPT.match(line.strip())
            if m:
                texts[m.group(1)] = m.group(2).strip()
    return texts


def prepare(src: Path, out: Path, report: SkipReport) -> list[Subset]:
    subset = Subset("iemocap", ["er"])
    for n in range(1, 6):
        session = require(src / f"Session{n}", f"Session{n}/ of IEMOCAP_full_release")
        texts = _transcripts(session)
        evaluations = sorted(require(session / "dialog" / "EmoEvaluation", "dialog/EmoEvaluation/").glob("*.txt"))
        for path in evaluations:
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                m = _EVALUATION.match(line)
                if not m or m.group(2) not in _LABELS:
                    continue
                utt = m.group(1)
                dialog = utt.rsplit("_", 1)[0]
                wav = session / "sentences" / "wav" / dialog / f"{utt}.wav"
                speaker = utt[:5] + utt.rsplit("_", 1)[1][0]  # Ses01F_impro01_M003 -> Ses01M
                row = utterance(wav, report, id=utt, speaker=speaker, split=f"session{n}",
                                text=texts.get(utt), emotion=_LABELS[m.group(2)])
                if row:
                    subset.rows.append(row)
    return [subset]

"""LibriSpeech: SPLIT/SPEAKER/CHAPTER/SPEAKER-CHAPTER-UTT.flac with SPEAKER-CHAPTER.trans.txt.

One subset 'librispeech' for pre-training, PR and ASR; `split` keeps LibriSpeech's own names
(train-clean-100, dev-clean, ...) so recipes choose 100 h or 960 h themselves.
"""

from __future__ import annotations

from pathlib import Path

from codec2vec.data.prepare.common import SkipReport, Subset, utterance
from codec2vec.errors import ManifestError

SPLITS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other", "test-clean", "test-other")


def prepare(src: Path, out: Path, report: SkipReport) -> list[Subset]:
    root = src / "LibriSpeech" if (src / "LibriSpeech").is_dir() else src
    present = [s for s in SPLITS if (root / s).is_dir()]
    if not present:
        raise ManifestError(f"{src}: no LibriSpeech split folders (expected some of {', '.join(SPLITS)})")
    subset = Subset("librispeech", ["pretrain", "pr", "asr"])
    for split in present:
        for trans in sorted((root / split).glob("*/*/*.trans.txt")):
            for number, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                utt_id, _, text = line.partition(" ")
                if not text.strip() or utt_id.count("-") != 2:
                    report.fail(f"{trans}:{number}", f"malformed transcript line {line!r}")
                    continue
                audio = trans.parent / f"{utt_id}.flac"
                row = utterance(audio, report, id=utt_id, speaker=utt_id.split("-")[0], split=split, text=text.strip())
                if row:
                    subset.rows.append(row)
    return [subset]

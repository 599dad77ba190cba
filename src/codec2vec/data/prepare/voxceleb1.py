"""VoxCeleb1 speaker identification: iden_split.txt (1 train, 2 dev, 3 test) and wav/ID/VIDEO/N.wav."""

from __future__ import annotations

from pathlib import Path

from codec2vec.data.prepare.common import SkipReport, Subset, require, utterance

_SPLITS = {"1": "train", "2": "dev", "3": "test"}


def prepare(src: Path, out: Path, report: SkipReport) -> list[Subset]:
    split_file = require(src / "iden_split.txt", "iden_split.txt (VoxCeleb1 identification split)")
    wav_root = require(src / "wav", "the wav/ folder of VoxCeleb1")
    subset = Subset("voxceleb1", ["sid"])
    for number, line in enumerate(split_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in _SPLITS or parts[1].count("/") != 2:
            report.fail(f"{split_file}:{number}", f"malformed line {line!r} (expected '1|2|3 id/video/file.wav')")
            continue
        rel = parts[1]
        row = utterance(wav_root / rel, report, id=rel.removesuffix(".wav").replace("/", "-"),
                        speaker=rel.split("/")[0], split=_SPLITS[parts[0]])
        if row:
            subset.rows.append(row)
    return [subset]

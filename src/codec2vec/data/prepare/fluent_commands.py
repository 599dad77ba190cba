"""Fluent Speech Commands: data/{train,valid,test}_data.csv (path, speakerId, transcription,
action, object, location); the intent label is the triple 'action|object|location'."""

from __future__ import annotations

import csv
from pathlib import Path

from codec2vec.data.prepare.common import SkipReport, Subset, require, utterance
from codec2vec.data.text import intent_label

_FILES = {"train": "train_data.csv", "dev": "valid_data.csv", "test": "test_data.csv"}
_COLUMNS = {"path", "speakerId", "transcription", "action", "object", "location"}


def prepare(src: Path, out: Path, report: SkipReport) -> list[Subset]:
    subset = Subset("fluent-commands", ["ic"])
    for split, name in _FILES.items():
        table = require(src / "data" / name, f"data/{name} of Fluent Speech Commands")
        with open(table, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = _COLUMNS - set(reader.fieldnames or [])
            if missing:
                report.fail(str(table), f"missing column(s) {sorted(missing)}")
                continue
            for number, rec in enumerate(reader, start=2):
                if not all(rec.get(c) for c in _COLUMNS):
                    report.fail(f"{table}:{number}", "empty field in row")
                    continue
                wav = src / rec["path"]
                row = utterance(wav, report, id=f"fsc-{rec['speakerId']}-{wav.stem}", speaker=rec["speakerId"],
                                split=split, text=rec["transcription"],
                                intent=intent_label(rec["action"], rec["object"], rec["location"]))
                if row:
                    subset.rows.append(row)
    return [subset]

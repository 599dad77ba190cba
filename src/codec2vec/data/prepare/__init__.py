"""`codec2vec corpus prepare NAME --src DIR --out DIR`: manifests for standard corpus layouts.

Each preparer reads a corpus as distributed and returns its subsets; this module writes them as
manifests plus corpus.json, and with skip_bad a report of unreadable files (skipped.json).
Audio stays where it is (absolute paths) unless it must be converted (real-en, silence clips).
"""

from __future__ import annotations

import json
from pathlib import Path

from codec2vec.atomic import atomic_write_text
from codec2vec.data.corpus import write_corpus_header
from codec2vec.data.manifest import ManifestHeader, read_manifest, write_manifest
from codec2vec.data.prepare import (fluent_commands, iemocap, librispeech, packaged_speech, real_en, speech_commands,
                                    voxceleb1)
from codec2vec.data.prepare.common import SkipReport, Subset
from codec2vec.errors import ManifestError

PREPARERS = {
    "librispeech": librispeech.prepare,
    "speech-commands": speech_commands.prepare,
    "voxceleb1": voxceleb1.prepare,
    "fluent-commands": fluent_commands.prepare,
    "iemocap": iemocap.prepare,
    "real-en": real_en.prepare,
    "packaged-speech": packaged_speech.prepare,
}


def prepare_corpus(name: str, src: str | Path, out: str | Path, skip_bad: bool = False,
                   lexicon: str | None = None) -> Path:
    """`lexicon` (LibriSpeech only): a pronunciation lexicon for PR's phone labels."""
    if name not in PREPARERS:
        raise ManifestError(f"unknown corpus '{name}'; choose from {sorted(PREPARERS)}")
    if lexicon and name != "librispeech":
        raise ManifestError(f"--lexicon applies to librispeech, not {name}")
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise ManifestError(f"--src {src}: folder not found")
    out.mkdir(parents=True, exist_ok=True)
    report = SkipReport(skip_bad)
    options = {"lexicon": lexicon} if name == "librispeech" else {}
    subsets: list[Subset] = PREPARERS[name](src.resolve(), out.resolve(), report, **options)
    manifests = []
    for subset in subsets:
        if not subset.rows:
            raise ManifestError(f"{src}: found no usable utterances for subset '{subset.name}' of {name}")
        path = write_manifest(out / f"{subset.name}.jsonl",
                              ManifestHeader(name, subset.name, subset.tasks, subset.notes), subset.rows)
        manifests.append(read_manifest(path))
    rates = {r.sample_rate for m in manifests for r in m.rows}
    skipped_file = out / "skipped.json"
    if report.items:
        atomic_write_text(skipped_file, json.dumps(report.items, indent=2, ensure_ascii=False) + "\n")
        print(f"skipped {len(report.items)} unreadable item(s); see {skipped_file}")
    else:
        skipped_file.unlink(missing_ok=True)
    write_corpus_header(out, name, manifests, rates.pop() if len(rates) == 1 else None,
                        {"name": name, "src": str(src.resolve()), "skip_bad": skip_bad, **options},
                        skipped=len(report.items))
    return out

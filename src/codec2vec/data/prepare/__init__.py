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
from codec2vec.data.prepare import (fluent_commands, iemocap, imports, librispeech, packaged_speech, real_en,
                                    speech_commands, voxceleb1)
from codec2vec.data.prepare.common import SkipReport, Subset
from codec2vec.errors import ManifestError
from codec2vec.hub import hub_snapshot, is_hub_id

PREPARERS = {
    "librispeech": librispeech.prepare,
    "speech-commands": speech_commands.prepare,
    "voxceleb1": voxceleb1.prepare,
    "fluent-commands": fluent_commands.prepare,
    "iemocap": iemocap.prepare,
    "real-en": real_en.prepare,
    "packaged-speech": packaged_speech.prepare,
    "folder": imports.prepare_folder,
}
# Other tools' corpus descriptions (`codec2vec corpus import FORMAT SRC`): SRC may be a file.
IMPORTERS = {"kaldi": imports.import_kaldi, "lhotse": imports.import_lhotse, "hf": imports.import_hf}
# The options each one takes (command-line flags); any other option is refused by name.
OPTIONS = {"librispeech": {"lexicon"}, "folder": {"speaker_pattern", "split"}, "kaldi": {"split"},
           "lhotse": {"split"}, "hf": {"split", "audio_column", "text_column", "speaker_column"}}


def prepare_corpus(name: str, src: str | Path, out: str | Path, skip_bad: bool = False, **options) -> Path:
    """Manifests for corpus layout or format `name` (PREPARERS, IMPORTERS). Options, by name:
    lexicon (librispeech: a pronunciation lexicon for PR's phone labels), speaker_pattern (folder),
    split (folder, kaldi, lhotse); None values are left out."""
    makers = {**PREPARERS, **IMPORTERS}
    if name not in makers:
        raise ManifestError(f"unknown corpus '{name}'; choose from {sorted(makers)}")
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - OPTIONS.get(name, set()))
    if unknown:
        raise ManifestError(f"--{unknown[0].replace('_', '-')} does not apply to {name}")
    if name == "hf" and is_hub_id(str(src)):
        src = hub_snapshot(str(src), repo_type="dataset")
    src, out = Path(src), Path(out)
    if not (src.is_dir() or (name in IMPORTERS and src.is_file())):
        raise ManifestError(f"--src {src}: {'file or ' if name in IMPORTERS else ''}folder not found")
    out.mkdir(parents=True, exist_ok=True)
    report = SkipReport(skip_bad)
    subsets: list[Subset] = makers[name](src.resolve(), out.resolve(), report, **options)
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

"""The corpus header, corpus.json: what a corpus folder holds, how it was made, by what software."""

from __future__ import annotations

import json
from pathlib import Path

from codec2vec.atomic import atomic_write_text
from codec2vec.data.manifest import Manifest, read_manifest
from codec2vec.errors import ManifestError
from codec2vec.provenance import provenance

CORPUS_FILE = "corpus.json"
CORPUS_VERSION = 1


def subset_summary(manifest: Manifest) -> dict:
    splits: dict[str, int] = {}
    for row in manifest.rows:
        splits[row.split] = splits.get(row.split, 0) + 1
    return {
        "manifest": manifest.path.name,
        "tasks": manifest.header.tasks,
        "utterances": len(manifest.rows),
        "hours": round(manifest.hours, 4),
        "speakers": len({r.speaker for r in manifest.rows}),
        "splits": dict(sorted(splits.items())),
    }


def write_corpus_header(folder: str | Path, name: str, manifests: list[Manifest], sample_rate: int | None,
                        config: dict, **extra) -> Path:
    """Write corpus.json summarising `manifests` (which must live in `folder`). `sample_rate` is None
    for a corpus of mixed rates, which `sample_rates` lists; `phone_set` is None without phone labels."""
    rows = [r for m in manifests for r in m.rows]
    header = {
        "codec2vec": "corpus",
        "version": CORPUS_VERSION,
        "name": name,
        "sample_rate": sample_rate,
        "sample_rates": sorted({r.sample_rate for r in rows}),
        "phone_set": "arpabet39+sil" if any(r.phonemes or r.phones for r in rows) else None,
        "subsets": {m.header.subset: subset_summary(m) for m in manifests},
        **extra,
        "config": config,
        "provenance": provenance(),
    }
    path = Path(folder) / CORPUS_FILE
    atomic_write_text(path, json.dumps(header, indent=2, ensure_ascii=False) + "\n")
    return path


def read_corpus_header(folder: str | Path) -> dict:
    path = Path(folder) / CORPUS_FILE
    if not path.is_file():
        raise ManifestError(f"{folder}: no {CORPUS_FILE}; not a codec2vec corpus folder")
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path}: not valid JSON ({e})") from None
    if header.get("codec2vec") != "corpus":
        raise ManifestError(f"{path}: not a codec2vec corpus header")
    return header


def corpus_manifest(folder: str | Path, subset: str, check_files: bool = True) -> Manifest:
    """The manifest of one subset of a corpus folder, validated."""
    header = read_corpus_header(folder)
    if subset not in header["subsets"]:
        raise ManifestError(f"{folder}: corpus has no subset '{subset}' (it has {sorted(header['subsets'])})")
    return read_manifest(Path(folder) / header["subsets"][subset]["manifest"], check_files=check_files)

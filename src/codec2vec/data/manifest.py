"""The manifest: one JSON Lines file per corpus subset, the same format for every corpus.

Line 1 is a header object that says what the file is; every further line is one utterance:

    {"codec2vec": "manifest", "version": 1, "corpus": "synth", "subset": "ks", "tasks": ["ks"], "notes": ""}
    {"id": "ks-000001", "audio": "audio/ks/espeak-m3/ks-000001.flac", "duration": 1.0,
     "sample_rate": 16000, "speaker": "espeak-m3", "split": "train", "keyword": "yes"}

Relative audio paths are relative to the manifest's folder. Optional task labels: text,
phonemes ([[phone, start_s, end_s], ...] in the ARPAbet set of codec2vec.data.phones), phones
(the phone sequence without times, from a pronunciation lexicon), keyword, intent, emotion;
source_sample_rate flags audio that was resampled from another rate.
Full reference: docs/formats.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from codec2vec.atomic import atomic_open
from codec2vec.data.audio import AudioInfo, audio_info, load_audio
from codec2vec.data.phones import PHONE_SET
from codec2vec.errors import AudioError, ManifestError

MANIFEST_VERSION = 1
_TIME_TOLERANCE = 0.02  # seconds: phone times may overrun the duration by rounding
_MAX_REPORTED_ERRORS = 10


@dataclass
class Utterance:
    id: str
    audio: str
    duration: float
    sample_rate: int
    speaker: str
    split: str
    text: str | None = None
    phonemes: list[list] | None = None
    phones: list[str] | None = None  # the phone sequence without times (LibriSpeech: from a lexicon)
    keyword: str | None = None
    intent: str | None = None
    emotion: str | None = None
    source_sample_rate: int | None = None
    start: float | None = None  # a segment of the audio file: [start, end) seconds (Kaldi `segments`, lhotse
    end: float | None = None  # cuts); duration is then end - start. None: the whole file

    def to_json(self) -> str:
        row = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


@dataclass
class ManifestHeader:
    corpus: str
    subset: str
    tasks: list[str] = field(default_factory=list)
    notes: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {"codec2vec": "manifest", "version": MANIFEST_VERSION, **dataclasses.asdict(self)},
            ensure_ascii=False, separators=(",", ":"),
        )


@dataclass
class Manifest:
    path: Path
    header: ManifestHeader
    rows: list[Utterance]

    def audio_path(self, row: Utterance) -> Path:
        """The row's audio file: relative paths are resolved against the manifest's folder."""
        p = Path(row.audio)
        return p if p.is_absolute() else self.path.parent / p

    def audio_info(self, row: Utterance) -> AudioInfo:
        """The row's file header, checked against the row: AudioError names both when the declared
        sample rate is not the file's (the audio would be read at the file's rate, silently)."""
        path = self.audio_path(row)
        info = audio_info(path)
        if info.sample_rate != row.sample_rate:
            raise AudioError(f"{path}: the manifest declares sample_rate {row.sample_rate} Hz for '{row.id}', "
                             f"the file is {info.sample_rate} Hz; correct the row")
        return info

    def load_audio(self, row: Utterance, sample_rate: int | None = 16000) -> np.ndarray:
        """The row's samples (its segment of the file when it has start/end), mono, at `sample_rate`."""
        self.audio_info(row)
        return load_audio(self.audio_path(row), sample_rate, row.start, row.end)

    def split(self, name: str) -> list[Utterance]:
        return [r for r in self.rows if r.split == name]

    @property
    def splits(self) -> list[str]:
        return sorted({r.split for r in self.rows})

    @property
    def hours(self) -> float:
        return sum(r.duration for r in self.rows) / 3600


_REQUIRED = {"id": str, "audio": str, "duration": (int, float), "sample_rate": int, "speaker": str, "split": str}
_OPTIONAL_STR = ("text", "keyword", "intent", "emotion")
_FIELDS = {f.name for f in dataclasses.fields(Utterance)}


def _row_problems(row: dict) -> list[str]:
    problems = []
    unknown = sorted(set(row) - _FIELDS)
    if unknown:
        problems.append(f"unknown field(s) {unknown}")
    for name, kind in _REQUIRED.items():
        value = row.get(name)
        if name not in row:
            problems.append(f"missing required field '{name}'")
        elif value is None:
            problems.append(f"field '{name}' is null; it must be {getattr(kind, '__name__', 'a number')}")
        elif not isinstance(value, kind) or isinstance(value, bool):
            problems.append(f"field '{name}' must be {getattr(kind, '__name__', 'a number')}, got {value!r}")
        elif isinstance(value, str) and not value.strip():
            problems.append(f"field '{name}' is empty")
    if problems:
        return problems
    if not row["duration"] > 0:
        problems.append(f"duration must be > 0, got {row['duration']}")
    if row["sample_rate"] <= 0:
        problems.append(f"sample_rate must be > 0, got {row['sample_rate']}")
    for name in _OPTIONAL_STR:
        if name in row and row[name] is not None and not isinstance(row[name], str):
            problems.append(f"field '{name}' must be a string, got {row[name]!r}")
    start, end = row.get("start"), row.get("end")
    if start is not None or end is not None:
        numbers = all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in (start, end))
        if not numbers or not 0 <= start < end:
            problems.append(f"start and end must be given together, 0 <= start < end, got {start!r}, {end!r}")
        elif abs((end - start) - row["duration"]) > _TIME_TOLERANCE:
            problems.append(f"duration {row['duration']} is not end - start = {end - start:.4f}")
    src_rate = row.get("source_sample_rate")
    if src_rate is not None and (not isinstance(src_rate, int) or src_rate <= 0):
        problems.append(f"source_sample_rate must be a positive integer, got {src_rate!r}")
    if row.get("phonemes") is not None:
        problems.extend(_phoneme_problems(row["phonemes"], float(row["duration"])))
    if row.get("phones") is not None:
        phones = row["phones"]
        if not isinstance(phones, list) or not phones or not all(isinstance(p, str) for p in phones):
            problems.append("phones must be a non-empty list of phone names")
        elif not set(phones) <= PHONE_SET:
            problems.append(f"phones: {sorted(set(phones) - PHONE_SET)} not in the ARPAbet phone set")
    return problems


def _phoneme_problems(phonemes, duration: float) -> list[str]:
    if not isinstance(phonemes, list) or not phonemes:
        return ["phonemes must be a non-empty list of [phone, start, end]"]
    previous_end = 0.0
    for i, item in enumerate(phonemes):
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)
                and all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in item[1:])):
            return [f"phonemes[{i}] must be [phone, start, end], got {item!r}"]
        phone, start, end = item
        if phone not in PHONE_SET:
            return [f"phonemes[{i}]: '{phone}' is not in the ARPAbet phone set"]
        if start < previous_end - 1e-6 or end <= start or end > duration + _TIME_TOLERANCE:
            return [f"phonemes[{i}] = {item!r}: times must increase and stay within the {duration} s duration"]
        previous_end = end
    return []


def _parse_header(path: Path, line: str) -> ManifestHeader:
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or data.get("codec2vec") != "manifest":
        raise ManifestError(f"{path}: line 1 is not a codec2vec manifest header (see docs/formats.md)")
    if data.get("version") != MANIFEST_VERSION:
        raise ManifestError(f"{path}: manifest version {data.get('version')!r}, this codec2vec reads version {MANIFEST_VERSION}")
    try:
        return ManifestHeader(corpus=data["corpus"], subset=data["subset"], tasks=list(data.get("tasks", [])),
                              notes=data.get("notes", ""))
    except (KeyError, TypeError) as e:
        raise ManifestError(f"{path}: header is missing {e}") from None


DATA_ROOTS_ENV = "CODEC2VEC_DATA_ROOTS"  # set by `codec2vec --data-root DIR`, os.pathsep-separated


def data_roots() -> list[Path]:
    return [Path(p).resolve() for p in os.environ.get(DATA_ROOTS_ENV, "").split(os.pathsep) if p]


def _outside_data_roots(audio: Path) -> str:
    """A problem when data roots are declared and `audio` (links followed) lies outside them all."""
    roots = data_roots()
    if not roots:
        return ""
    real = audio.resolve()
    if any(real.is_relative_to(root) for root in roots):
        return ""
    return f"audio path {audio} resolves to {real}, outside the data roots ({', '.join(map(str, roots))})"


def read_manifest(path: str | Path, check_files: bool = True) -> Manifest:
    """Load and validate a manifest; ManifestError lists the first bad rows by line and id."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    with open(path, encoding="utf-8-sig") as f:  # a byte-order mark (Windows editors write one) is no content
        lines = f.read().splitlines()
    if not lines:
        raise ManifestError(f"{path}: empty file, expected a manifest header on line 1")
    header = _parse_header(path, lines[0])
    manifest = Manifest(path=path, header=header, rows=[])
    errors: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"line {number}: not valid JSON ({e.msg})")
            continue
        if not isinstance(row, dict):
            errors.append(f"line {number}: expected a JSON object")
            continue
        label = f"line {number} (id {row.get('id')!r})"
        problems = _row_problems(row)
        if not problems:
            if row["id"] in seen:
                problems.append(f"duplicate id, first on line {seen[row['id']]}")
            seen.setdefault(row["id"], number)
        if not problems:
            utt = Utterance(**row)
            outside = _outside_data_roots(manifest.audio_path(utt))
            if outside:
                problems.append(outside)
            elif check_files and not manifest.audio_path(utt).is_file():
                problems.append(f"audio file not found: {manifest.audio_path(utt)}")
            manifest.rows.append(utt)
        errors.extend(f"{label}: {p}" for p in problems)
    if errors:
        shown = "\n  ".join(errors[:_MAX_REPORTED_ERRORS])
        more = f"\n  ... and {len(errors) - _MAX_REPORTED_ERRORS} more" if len(errors) > _MAX_REPORTED_ERRORS else ""
        raise ManifestError(f"{path}: {len(errors)} invalid row(s):\n  {shown}{more}")
    return manifest


def write_manifest(path: str | Path, header: ManifestHeader, rows: Iterable[Utterance]) -> Path:
    """Write a manifest atomically; rows are validated first so a bad one is never written."""
    path = Path(path)
    rows = list(rows)
    seen: set[str] = set()
    for row in rows:
        problems = _row_problems(json.loads(row.to_json()))
        if row.id in seen:
            problems.append("duplicate id")
        seen.add(row.id)
        if problems:
            raise ManifestError(f"{path}: refusing to write row {row.id!r}: {'; '.join(problems)}")
    with atomic_open(path) as f:
        f.write(header.to_json() + "\n")
        for row in rows:
            f.write(row.to_json() + "\n")
    return path


def merge_manifests(paths: list[str | Path], out: str | Path, splits: list[str] | None = None) -> Manifest:
    """One manifest of the rows of several (a pre-training pool: synthetic and real speech), the
    rows of `splits` only when given. Audio paths become absolute, so the merged manifest works
    from any folder; an id in two manifests is refused by name (ids key unit stores)."""
    if not paths:
        raise ManifestError("corpus merge: give at least one manifest")
    out = Path(out)
    manifests = [read_manifest(p) for p in paths]
    rows, origin = [], {}
    for manifest in manifests:
        for row in manifest.rows:
            if splits and row.split not in splits:
                continue
            if row.id in origin:
                raise ManifestError(f"corpus merge: id {row.id!r} is in both {origin[row.id]} and {manifest.path}; "
                                    "ids must be unique across the merged manifests")
            origin[row.id] = manifest.path
            rows.append(dataclasses.replace(row, audio=str(manifest.audio_path(row).resolve())))
    if not rows:
        raise ManifestError(f"corpus merge: no rows{' of split(s) ' + ', '.join(splits) if splits else ''} in "
                            f"{', '.join(str(m.path) for m in manifests)}")
    tasks = [t for t in manifests[0].header.tasks if all(t in m.header.tasks for m in manifests[1:])]
    header = ManifestHeader("+".join(dict.fromkeys(m.header.corpus for m in manifests)), out.stem, tasks,
                            notes="merged from " + ", ".join(str(m.path) for m in manifests)
                            + (f" (splits {', '.join(splits)})" if splits else ""))
    out.parent.mkdir(parents=True, exist_ok=True)
    return Manifest(write_manifest(out, header, rows), header, rows)

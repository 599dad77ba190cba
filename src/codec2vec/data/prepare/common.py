"""Helpers shared by the corpus preparers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from codec2vec.data.audio import audio_info, load_audio, save_flac
from codec2vec.data.manifest import Utterance
from codec2vec.errors import AudioError, ManifestError


AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".opus", ".mp3"}


def audio_files(folder: Path) -> list[Path]:
    """Every audio file under `folder`, recursively, in a stable order."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


@dataclass
class Subset:
    name: str
    tasks: list[str]
    rows: list[Utterance] = field(default_factory=list)
    notes: str = ""


class SkipReport:
    """Per-item errors: raised at once, or (skip_bad) collected and written to skipped.json."""

    def __init__(self, skip_bad: bool) -> None:
        self.skip_bad = skip_bad
        self.items: list[dict] = []

    def fail(self, item: str, reason: str, error_type: type[Exception] = ManifestError) -> None:
        if not self.skip_bad:
            raise error_type(f"{item}: {reason} (rerun with --skip-bad to skip and report such items)")
        self.items.append({"item": item, "reason": reason})


def utterance(path: Path, report: SkipReport, **fields) -> Utterance | None:
    """A manifest row for an audio file as it is, or None (reported) if it cannot be read."""
    try:
        info = audio_info(path)
    except AudioError as e:
        report.fail(str(path), str(e).removeprefix(f"{path}: "), AudioError)
        return None
    return Utterance(audio=str(path), duration=round(info.duration, 4), sample_rate=info.sample_rate, **fields)


def converted_utterance(path: Path, dest: Path, rel: str, sample_rate: int, report: SkipReport, **fields) -> Utterance | None:
    """Decode `path`, write it as mono FLAC at `sample_rate` under dest/rel, and describe the copy.

    source_sample_rate records the original rate when it differs (e.g. 8 kHz telephone prompts).
    """
    try:
        info = audio_info(path)
        audio = load_audio(path, sample_rate)
    except AudioError as e:
        report.fail(str(path), str(e).removeprefix(f"{path}: "), AudioError)
        return None
    target = dest / rel
    if not target.exists():
        save_flac(target, audio, sample_rate)
    return Utterance(
        audio=rel, duration=round(len(audio) / sample_rate, 4), sample_rate=sample_rate,
        source_sample_rate=info.sample_rate if info.sample_rate != sample_rate else None, **fields,
    )


def require(path: Path, what: str) -> Path:
    if not path.exists():
        raise ManifestError(f"{path}: not found; expected {what} (see docs/corpus.md for the layout)")
    return path

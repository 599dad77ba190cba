"""packaged-speech: the real recorded speech in Debian games and learning apps (codec training data).

About an hour of net speech, dozens of real voices, ~30 languages, mostly isolated words
(../shared/RESOURCES.md, "Real speech in packages"). --src is a root folder holding the packages'
files ('/' where installed, or a folder made with `dpkg-deb -x PKG.deb DIR`;
`make packaged-speech` does this without root). Sources and the speaker label each row gets:
  ktuberling-data     object words, 23 languages             ktuberling-<language>
  klettres-data       letters and syllables, 20 languages    klettres-<language folder>
  warzone2100-data    English call-outs and narration, 11 kHz  warzone-<audio folder> (approximate:
                      one announcer speaks most folders)
  hedgewars-data      shouted cartoon call-outs, 5 languages   hedgewars-<voice pack>
Left out as RESOURCES.md says: music and effects, warzone's sfx/radclick, klettres' clipped `tn`,
hedgewars' processed Robot and sung Singer packs and every pack's grunts; ktuberling's `sr@*`
folders and every other byte-identical or sample-identical duplicate (first one kept).
Leading and trailing silence is trimmed (klettres pads heavily); rows are 16 kHz mono FLAC, all in
the `train` split (codec training data, not an evaluation set), source_sample_rate marks resampling.

A second subset, `sid`, is a real-speaker identification task on the same files: the speakers whose
label is one person (a klettres or ktuberling language folder, a hedgewars voice pack; not warzone's
folders, which are event kinds, nor ktuberling-en, which holds two voices) with at least
SID_MIN_UTTERANCES clips, at most SID_MAX_UTTERANCES each (so klettres-ml's 521 do not dominate),
split 70/10/20 into train/dev/test within each speaker as VoxCeleb1's SID split is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf

from codec2vec.data.audio import audio_info, load_audio, resample, save_flac
from codec2vec.data.manifest import Utterance
from codec2vec.data.prepare.common import SkipReport, Subset, audio_files
from codec2vec.errors import AudioError, ManifestError

_SAMPLE_RATE = 16000
_KTUBERLING = "usr/share/ktuberling/sounds"
_KLETTRES = "usr/share/klettres"
_WARZONE = "usr/share/games/warzone2100/base.wz"
_HEDGEWARS = "usr/share/games/hedgewars/Data/Sounds/voices"
_WARZONE_SKIP = {"sfx", "radclick"}
_HEDGEWARS_SKIP_PACKS = {"Robot", "Singer"}
_HEDGEWARS_GRUNTS = re.compile(r"^(Firepunch|Hmm|Jump|Laugh|Ooff|Ow|PoisonCough|PoisonMoan)\d*$")
_TRIM_FRAME = 320  # 20 ms
_TRIM_BELOW_PEAK_DB = 40.0
_MIN_SECONDS = 0.2
SID_MIN_UTTERANCES = 20  # at least 4 test clips per speaker
SID_MAX_UTTERANCES = 120
_SID_SPLITS = (("train", 0.7), ("dev", 0.1), ("test", 0.2))


def trim_silence(audio: np.ndarray, frame: int = _TRIM_FRAME, below_peak_db: float = _TRIM_BELOW_PEAK_DB) -> np.ndarray:
    """Cut leading and trailing frames whose RMS is more than `below_peak_db` under the loudest frame's."""
    n = audio.size // frame
    if n == 0:
        return audio
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (-below_peak_db / 20))
    if loud.size == 0:
        return audio[:0]
    return audio[loud[0] * frame: min(audio.size, (loud[-1] + 1) * frame)]


class _Writer:
    """Decodes, trims and deduplicates clips, writes them as FLAC, and makes their rows."""

    def __init__(self, out: Path, report: SkipReport):
        self.out, self.report = out, report
        self.seen: set[str] = set()
        self.rows: list[Utterance] = []

    def add_file(self, path: Path, rel: str, speaker: str, text: str | None) -> None:
        try:
            source_rate = audio_info(path).sample_rate
            audio = load_audio(path, _SAMPLE_RATE)
        except AudioError as e:
            self.report.fail(str(path), str(e).removeprefix(f"{path}: "), AudioError)
            return
        self._add(audio, source_rate, rel, speaker, text)

    def add_bytes(self, data: bytes, item: str, rel: str, speaker: str, text: str | None) -> None:
        try:
            audio, source_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as e:
            self.report.fail(item, f"not a readable audio file ({e})", AudioError)
            return
        audio = resample(audio.mean(axis=1), source_rate, _SAMPLE_RATE) if audio.size else audio[:, 0]
        self._add(audio, source_rate, rel, speaker, text)

    def _add(self, audio: np.ndarray, source_rate: int, rel: str, speaker: str, text: str | None) -> None:
        audio = trim_silence(audio)
        if audio.size < _MIN_SECONDS * _SAMPLE_RATE:
            return  # silence or a click: nothing to learn from
        digest = hashlib.sha1(np.round(audio * 32767).astype(np.int16).tobytes()).hexdigest()
        if digest in self.seen:
            return
        self.seen.add(digest)
        target = self.out / rel
        if not target.exists():
            save_flac(target, audio, _SAMPLE_RATE)
        row_id = rel.removeprefix("audio/").removesuffix(".flac").replace("/", "-")
        self.rows.append(Utterance(
            id=row_id, audio=rel, duration=round(audio.size / _SAMPLE_RATE, 4), sample_rate=_SAMPLE_RATE,
            speaker=speaker, split="train", text=text,
            source_sample_rate=source_rate if source_rate != _SAMPLE_RATE else None))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _ktuberling(src: Path, writer: _Writer) -> None:
    root = src / _KTUBERLING
    if not root.is_dir():
        return
    for lang in sorted(p for p in root.iterdir() if p.is_dir() and "@" not in p.name):
        for path in audio_files(lang):
            word = path.stem.replace("_", " ") if lang.name == "en" else None
            writer.add_file(path, f"audio/ktuberling/{lang.name}/{_safe(path.stem)}.flac", f"ktuberling-{lang.name}", word)


def _klettres(src: Path, writer: _Writer) -> None:
    root = src / _KLETTRES
    if not root.is_dir():
        return
    for lang in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in {"tn", "icons", "pics"}):
        for path in audio_files(lang):
            kind = path.parent.name
            writer.add_file(path, f"audio/klettres/{lang.name}/{kind}/{_safe(path.stem)}.flac",
                            f"klettres-{lang.name}", None)


def _warzone(src: Path, writer: _Writer) -> None:
    archive = src / _WARZONE
    if not archive.is_file():
        return
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as e:
        writer.report.fail(str(archive), f"not a readable zip archive ({e})")
        return
    with zf:
        for name in sorted(zf.namelist()):
            parts = name.split("/")
            if len(parts) < 3 or parts[0] != "audio" or parts[1] in _WARZONE_SKIP or not name.endswith(".ogg"):
                continue
            stem = _safe(Path(name).stem)
            writer.add_bytes(zf.read(name), f"{archive}:{name}", f"audio/warzone/{parts[1]}/{stem}.flac",
                             f"warzone-{parts[1]}", None)


def _hedgewars(src: Path, writer: _Writer) -> None:
    root = src / _HEDGEWARS
    if not root.is_dir():
        return
    for pack in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in _HEDGEWARS_SKIP_PACKS):
        for path in audio_files(pack):
            if _HEDGEWARS_GRUNTS.match(path.stem):
                continue
            writer.add_file(path, f"audio/hedgewars/{_safe(pack.name)}/{_safe(path.stem)}.flac",
                            f"hedgewars-{pack.name}", None)


def _one_person(speaker: str) -> bool:
    """Whether a speaker label names one person (see the module docstring)."""
    return speaker.startswith(("klettres-", "ktuberling-", "hedgewars-")) and speaker != "ktuberling-en"


def sid_rows(rows: list[Utterance]) -> list[Utterance]:
    """The `sid` subset: one-person speakers with enough clips, capped, split 70/10/20 within each.

    The order inside a speaker is by a hash of the row id: a fixed shuffle that does not depend on
    which other rows exist, so adding a source leaves every other speaker's split as it was."""
    by_speaker: dict[str, list[Utterance]] = {}
    for row in rows:
        if _one_person(row.speaker):
            by_speaker.setdefault(row.speaker, []).append(row)
    chosen = []
    for speaker in sorted(by_speaker):
        clips = by_speaker[speaker]
        if len(clips) < SID_MIN_UTTERANCES:
            continue
        clips = sorted(clips, key=lambda r: hashlib.sha1(r.id.encode()).hexdigest())[:SID_MAX_UTTERANCES]
        start = 0
        for i, (split, share) in enumerate(_SID_SPLITS):
            end = len(clips) if i == len(_SID_SPLITS) - 1 else start + round(share * len(clips))
            chosen += [dataclasses.replace(r, split=split) for r in clips[start:end]]
            start = end
    return chosen


def prepare(src: Path, out: Path, report: SkipReport) -> list[Subset]:
    writer = _Writer(out, report)
    for source in (_ktuberling, _klettres, _warzone, _hedgewars):
        source(src, writer)
    if not writer.rows:
        raise ManifestError(
            f"{src}: none of the packaged-speech sources found (looked for {_KTUBERLING}, {_KLETTRES}, "
            f"{_WARZONE}, {_HEDGEWARS}); run `make packaged-speech` to unpack ktuberling-data klettres-data "
            "warzone2100-data hedgewars-data without root"
        )
    notes = ("Real recorded speech from Debian packages, ~30 languages, mostly isolated words; codec training "
             "data. Speaker labels are per language folder or voice pack (approximate for warzone); rows with "
             "source_sample_rate were resampled to 16 kHz; silence trimmed; duplicates dropped.")
    sid_notes = ("Real-speaker identification on the packaged speech: speakers whose label is one person "
                 f"(klettres and ktuberling language folders but ktuberling-en, hedgewars packs) with >= "
                 f"{SID_MIN_UTTERANCES} clips, <= {SID_MAX_UTTERANCES} each, split 70/10/20 within each speaker. "
                 "Mostly isolated words; speaker, language and recording channel vary together, so the task "
                 "is easier than same-language SID. These clips are also in the packaged-speech subset, "
                 "which trains the default codec and joins pre-training pools.")
    subsets = [Subset("packaged-speech", [], writer.rows, notes)]
    sid = sid_rows(writer.rows)
    if sid:  # absent when too few sources are unpacked for any speaker to reach SID_MIN_UTTERANCES
        subsets.append(Subset("sid", ["sid"], sid, sid_notes))
    return subsets

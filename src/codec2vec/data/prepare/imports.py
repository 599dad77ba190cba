"""Corpora in the forms other tools keep them: a plain folder of audio, a Kaldi data directory,
a lhotse CutSet. Each gives one subset; audio stays where it is (absolute paths), and a segment of
a longer recording becomes a row with start/end instead of a cut file.

- folder: every audio file under --src, recursively; the speaker from a regular expression with a
  named group `speaker` searched in the path relative to --src (default: the file's folder);
  a transcript from a `.txt` or `.lab` file beside the audio when there is one.
- kaldi: wav.scp (id -> file; commands ending in `|` are refused: decode them to files first),
  optional segments (utterance, recording, start, end; end -1 = to the end of the file), utt2spk
  (required), text (optional).
- lhotse: a CutSet manifest (.jsonl or .jsonl.gz) read as JSON, so lhotse itself is not needed:
  each cut's recording source (type `file`), its start and duration, the speaker and text of its
  supervisions.
- hf: a Hugging Face Hub audio dataset's parquet files (a downloaded repository, or its id): the
  audio bytes decoded with soundfile and written as FLAC, since the rows hold no files.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

from codec2vec.data.audio import audio_info
from codec2vec.data.manifest import Utterance
from codec2vec.data.prepare.common import AUDIO_SUFFIXES, SkipReport, Subset, audio_files, utterance
from codec2vec.errors import AudioError, ManifestError

DEFAULT_SPEAKER_PATTERN = r"(?P<speaker>[^/]+)/[^/]+$"


def _info(path: Path, item: str, report: SkipReport):
    try:
        return audio_info(path)
    except AudioError as e:
        report.fail(item, str(e).removeprefix(f"{path}: "), AudioError)
        return None


def _transcript(audio: Path) -> str | None:
    for suffix in (".txt", ".lab"):
        text = audio.with_suffix(suffix)
        if text.is_file():
            return " ".join(text.read_text(encoding="utf-8", errors="replace").split()) or None
    return None


def prepare_folder(src: Path, out: Path, report: SkipReport, speaker_pattern: str = DEFAULT_SPEAKER_PATTERN,
                   split: str = "train") -> list[Subset]:
    try:
        pattern = re.compile(speaker_pattern)
    except re.error as e:
        raise ManifestError(f"--speaker-pattern {speaker_pattern!r}: not a regular expression ({e})") from None
    if "speaker" not in pattern.groupindex:
        raise ManifestError(f"--speaker-pattern {speaker_pattern!r} needs a named group (?P<speaker>...)")
    files = audio_files(src)
    if not files:
        raise ManifestError(f"{src}: no audio files ({', '.join(sorted(AUDIO_SUFFIXES))}) found")
    rows, ids = [], set()
    for path in files:
        rel = path.relative_to(src).as_posix()
        match = pattern.search(rel)
        if not match:
            raise ManifestError(f"{rel}: --speaker-pattern {speaker_pattern!r} does not match it; give a pattern "
                                "that finds the speaker in every path")
        uid = rel.rsplit(".", 1)[0].replace("/", "-")
        if uid in ids:
            raise ManifestError(f"{rel}: two files make the id '{uid}' (same path, other extension)")
        ids.add(uid)
        row = utterance(path, report, id=uid, speaker=match.group("speaker"), split=split, text=_transcript(path))
        if row is not None:
            rows.append(row)
    tasks = ["asr"] if rows and all(r.text for r in rows) else []
    return [Subset("folder", tasks, rows, f"Audio files under {src}; speaker by {speaker_pattern!r}.")]


def _table(path: Path, required: bool) -> dict[str, str]:
    """A Kaldi `key value...` file -> {key: rest of the line}."""
    if not path.is_file():
        if required:
            raise ManifestError(f"{path}: not found; a Kaldi data directory needs it")
        return {}
    table = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        key, _, rest = line.strip().partition(" ")
        if key in table:
            raise ManifestError(f"{path}: line {number}: '{key}' appears twice")
        table[key] = rest.strip()
    return table


def import_kaldi(src: Path, out: Path, report: SkipReport, split: str = "") -> list[Subset]:
    wavs = _table(src / "wav.scp", required=True)
    speakers = _table(src / "utt2spk", required=True)
    texts = _table(src / "text", required=False)
    segments = _table(src / "segments", required=False)
    split = split or src.name
    for key, value in wavs.items():
        if value.endswith("|"):
            raise ManifestError(f"{src / 'wav.scp'}: '{key}' is a command ({value}); decode it to an audio file and "
                                "list the file instead (codec2vec does not run shell commands from manifests)")
    infos: dict[str, object] = {}

    def info(recording: str):
        if recording not in infos:
            path = Path(wavs[recording])
            path = path if path.is_absolute() else src / path
            infos[recording] = (path, _info(path, f"{src / 'wav.scp'}: {recording}", report))
        return infos[recording]

    rows = []
    utterances = segments or {key: None for key in wavs}
    for uid, segment in utterances.items():
        if uid not in speakers:
            raise ManifestError(f"{src / 'utt2spk'}: no speaker for utterance '{uid}'")
        if segment is None:
            path, meta = info(uid)
            if meta is None:
                continue
            start = end = None
            duration = meta.duration
        else:
            recording, start_text, end_text = (segment.split() + ["", "", ""])[:3]
            if recording not in wavs:
                raise ManifestError(f"{src / 'segments'}: utterance '{uid}' names recording '{recording}', "
                                    "which wav.scp does not list")
            path, meta = info(recording)
            if meta is None:
                continue
            start, end = float(start_text), float(end_text)
            end = meta.duration if end < 0 else min(end, meta.duration)
            duration = end - start
        rows.append(Utterance(id=uid, audio=str(path), duration=round(duration, 4), sample_rate=meta.sample_rate,
                              speaker=speakers[uid], split=split, text=texts.get(uid) or None, start=start, end=end))
    tasks = ["asr"] if rows and all(r.text for r in rows) else []
    return [Subset(split, tasks, rows, f"Kaldi data directory {src}.")]


def import_lhotse(src: Path, out: Path, report: SkipReport, split: str = "") -> list[Subset]:
    if not src.is_file():
        raise ManifestError(f"{src}: not a file; give a lhotse CutSet manifest (cuts.jsonl or cuts.jsonl.gz)")
    opener = gzip.open if src.suffix == ".gz" else open
    rows = []
    with opener(src, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                cut = json.loads(line)
                recording = cut["recording"]
                source = recording["sources"][0]
                start, duration = float(cut.get("start", 0.0)), float(cut["duration"])
            except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as e:
                raise ManifestError(f"{src}: line {number}: not a lhotse cut with a recording ({e})") from None
            if source.get("type") != "file":
                raise ManifestError(f"{src}: line {number}: cut '{cut.get('id')}' reads its audio by "
                                    f"'{source.get('type')}'; only file sources are supported")
            supervisions = cut.get("supervisions") or []
            speaker = next((s["speaker"] for s in supervisions if s.get("speaker")), None)
            if speaker is None:
                raise ManifestError(f"{src}: line {number}: cut '{cut.get('id')}' has no supervision with a speaker")
            text = " ".join(s["text"] for s in supervisions if s.get("text")) or None
            path = Path(source["source"])
            path = path if path.is_absolute() else src.parent / path
            whole = abs(start) < 1e-6 and abs(duration - float(recording.get("duration", -1))) < 1e-3
            rows.append(Utterance(id=cut["id"], audio=str(path), duration=round(duration, 4),
                                  sample_rate=int(recording["sampling_rate"]), speaker=speaker,
                                  split=split or "train", text=text,
                                  start=None if whole else start, end=None if whole else round(start + duration, 4)))
    if not rows:
        raise ManifestError(f"{src}: no cuts")
    tasks = ["asr"] if all(r.text for r in rows) else []
    return [Subset(split or "cuts", tasks, rows, f"lhotse CutSet {src}.")]


TEXT_COLUMNS = ("text", "transcription", "sentence", "normalized_text")
SPEAKER_COLUMNS = ("speaker_id", "speaker", "client_id")
ID_COLUMNS = ("id", "utterance_id", "file")


def _first_present(names: list[str], candidates: tuple[str, ...]) -> str | None:
    return next((c for c in candidates if c in names), None)


def _split_of(path: Path) -> str:
    """The split a Hub dataset's parquet file belongs to: `train-00000-of-00002.parquet` -> train,
    `default/test/0000.parquet` (the Hub's parquet conversion) -> test."""
    stem = re.split(r"[-.]", path.name)[0]
    return path.parent.name if stem.isdigit() or not stem else stem


def import_hf(src: Path, out: Path, report: SkipReport, split: str = "", audio_column: str = "audio",
              text_column: str = "", speaker_column: str = "") -> list[Subset]:
    """A Hugging Face Hub audio dataset as its repository holds it: parquet files whose audio column
    is `{bytes, path}` (decoded with soundfile, written as FLAC under --out), the split from each
    file's name (`train-00000-of-00002.parquet`, `data/test/...`) unless --split is given; text and
    speaker columns found by their usual names unless named."""
    import io

    import soundfile as sf

    from codec2vec.data.audio import save_flac

    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ManifestError("corpus import hf reads parquet: pip install pyarrow (or the 'share' extra)") from None
    files = sorted(src.rglob("*.parquet")) if src.is_dir() else [src]
    if not files:
        raise ManifestError(f"{src}: no parquet files (a Hub dataset repository keeps its data as parquet)")
    rows, seen = [], set()
    for path in files:
        table = pq.read_table(path)
        names = table.column_names
        if audio_column not in names:
            raise ManifestError(f"{path}: no audio column '{audio_column}' (columns: {', '.join(names)}); "
                                "name it with --audio-column")
        text = text_column or _first_present(names, TEXT_COLUMNS)
        speaker = speaker_column or _first_present(names, SPEAKER_COLUMNS)
        if speaker is None or speaker not in names:
            raise ManifestError(f"{path}: no speaker column (looked for {', '.join(SPEAKER_COLUMNS)}; columns: "
                                f"{', '.join(names)}); name it with --speaker-column")
        if text and text not in names:
            raise ManifestError(f"{path}: no text column '{text}' (columns: {', '.join(names)})")
        name = split or _split_of(path)
        id_column = _first_present(names, ID_COLUMNS)
        columns = {c: table.column(c).to_pylist() for c in {audio_column, speaker, text, id_column} if c}
        for k, audio in enumerate(columns[audio_column]):
            uid = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(columns[id_column][k]) if id_column else f"{name}-{k}")
            if uid in seen:
                uid = f"{name}-{uid}"
            seen.add(uid)
            item = f"{path}: row {k} ({uid})"
            try:
                samples, rate = sf.read(io.BytesIO((audio or {})["bytes"]), dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError, TypeError, KeyError) as e:
                report.fail(item, f"audio bytes not decodable ({e})", AudioError)
                continue
            rel = f"audio/{name}/{uid}.flac"
            if not (out / rel).exists():
                save_flac(out / rel, samples.mean(axis=1), rate)
            rows.append(Utterance(id=uid, audio=rel, duration=round(len(samples) / rate, 4), sample_rate=int(rate),
                                  speaker=str(columns[speaker][k]), split=name,
                                  text=(columns[text][k] or None) if text else None))
    tasks = ["asr"] if rows and all(r.text for r in rows) else []
    return [Subset("hf", tasks, rows, f"Hugging Face dataset files under {src}; audio written as FLAC.")]

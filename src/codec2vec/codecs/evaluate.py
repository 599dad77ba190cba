"""`codec2vec codec eval`: round-trip quality of neural codecs beside classical peers.

Every system encodes and decodes the same utterances; each decoded signal is judged against the
original at 16 kHz: STOI, wideband PESQ, multi-scale mel distance, Whisper word error rate of the
resynthesis (and of the original, the judge's own floor) and speaker similarity. Results go to
results.json (per utterance, averaged, and 95 % intervals) and results.md (one table).

Intervals are percentile bootstraps over utterances (2,000 resamples, seed 0), paired: every system
is scored on the same resampled utterances, so `system_intervals` also gives a difference from a
reference system its interval. STOI, PESQ-WB, mel distance and speaker similarity are means over
utterances (PESQ over those it scored); WER is pooled (word edits / reference words).
"""

from __future__ import annotations

import json
import math
import sys
import warnings
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List

import numpy as np
import torch
from tqdm import tqdm

from codec2vec.atomic import atomic_write_text
from codec2vec.codecs.classical import codec2_roundtrip, opus_roundtrip
from codec2vec.codecs.quality import (SAMPLE_RATE, MelDistance, SpeakerJudge, WhisperJudge, pesq_wb, stoi,
                                      word_errors)
from codec2vec.config import config_to_dict, save_config
from codec2vec.data.audio import resample
from codec2vec.data.manifest import read_manifest
from codec2vec.errors import ConfigError
from codec2vec.provenance import provenance


@dataclass
class CodecEvalConfig:
    corpus: str = ""  # manifest of the speech to judge
    out: str = "codec-eval"
    codecs: List[str] = field(default_factory=lambda: ["default"])
    opus_bitrates: List[int] = field(default_factory=lambda: [6000])  # bit/s; 6000 is Opus's minimum
    codec2_modes: List[int] = field(default_factory=lambda: [3200])  # bit/s; 3200 is Codec 2's maximum
    split: str = ""  # only rows of this split ("" = all)
    limit: int = 0  # at most this many utterances (0 = all), picked evenly across the manifest
    min_seconds: float = 0.5  # STOI and PESQ need some speech; shorter rows are left out
    whisper: bool = True  # judged WER (needs the text field)
    speaker: bool = True  # Resemblyzer similarity
    pesq: bool = True


System = Callable[[np.ndarray], "tuple[np.ndarray, float]"]


def _neural_system(name: str) -> tuple[str, System]:
    from codec2vec.codecs import load_codec

    codec = load_codec(name)

    def roundtrip(audio: np.ndarray) -> tuple[np.ndarray, float]:
        wave = resample(audio, SAMPLE_RATE, codec.sample_rate)
        codes, frames = codec.encode(torch.from_numpy(wave)[None], [wave.size])
        decoded = codec.decode(codes)[0, : wave.size].numpy()
        out = np.zeros(audio.size, dtype=np.float32)
        back = resample(decoded, codec.sample_rate, SAMPLE_RATE)[: audio.size]
        out[: back.size] = back
        return out, codec.info.bitrate

    return f"{name} ({codec.info.bitrate / 1000:g} kbit/s)", roundtrip


def _systems(cfg: CodecEvalConfig) -> list[tuple[str, System]]:
    systems = [_neural_system(name) for name in cfg.codecs]
    for rate in cfg.opus_bitrates:
        systems.append((f"Opus {rate / 1000:g} kbit/s",
                        lambda audio, rate=rate: opus_roundtrip(audio, SAMPLE_RATE, rate)))
    for mode in cfg.codec2_modes:
        systems.append((f"Codec 2 {mode / 1000:g} kbit/s",
                        lambda audio, mode=mode: codec2_roundtrip(audio, SAMPLE_RATE, mode)))
    return systems


def pick_evenly(rows: list, limit: int) -> list:
    """At most `limit` rows (0 = all), spread evenly from the first to the last."""
    if not limit or len(rows) <= limit:
        return rows
    return [rows[int(i)] for i in np.linspace(0, len(rows) - 1, limit)]


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return round(float(np.mean(finite)), 4) if finite else None


MEANS = ("stoi", "pesq_wb", "mel_distance", "speaker_similarity")
RESAMPLES = 2000
ORIGINAL = "original audio"  # the judge's floor: the originals' own WER, scored like a system


def resampled_measure(rows: list[dict], draws: np.ndarray, name: str) -> np.ndarray:
    """The measure on each resample (rows of `draws`), and on all rows as the last element."""
    every = np.vstack([draws, np.arange(len(rows))[None]])
    if name == "wer":
        edits = np.array([r["word_edits"] for r in rows], dtype=float)
        words = np.array([r["words"] for r in rows], dtype=float)
        return 100 * edits[every].sum(1) / np.maximum(1, words[every].sum(1))
    values = np.array([r[name] if r.get(name) is not None else np.nan for r in rows], dtype=float)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample of utterances PESQ could not score
        return np.nanmean(values[every], axis=1)


def system_intervals(per_utterance: dict[str, list[dict]], reference: str | None = None,
                     resamples: int = RESAMPLES) -> dict:
    """{system: {measure: {value, interval[, difference]}}}; a difference (system - reference) with its
    interval and whether it excludes 0 when `reference` names one of the systems."""
    ids = [r["id"] for r in next(iter(per_utterance.values()))]
    if any([r["id"] for r in rows] != ids for rows in per_utterance.values()):
        raise ValueError("the systems were not scored on the same utterances")
    if reference is not None and reference not in per_utterance:
        raise ValueError(f"reference '{reference}' is not one of {list(per_utterance)}")
    draws = np.random.default_rng(0).integers(0, len(ids), size=(resamples, len(ids)))
    values = {}
    for system, rows in per_utterance.items():
        measures = [m for m in MEANS if m in rows[0]] + (["wer"] if "word_edits" in rows[0] else [])
        values[system] = {m: resampled_measure(rows, draws, m) for m in measures}
    report = {}
    for system, measures in values.items():
        report[system] = {}
        for name, v in measures.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no utterance scored
                entry = {"value": _rounded(v[-1]), "interval": [_rounded(x) for x in np.nanpercentile(v[:-1], [2.5, 97.5])]}
                if reference is not None and system != reference and name in values[reference]:
                    diff = v - values[reference][name]
                    low, high = np.nanpercentile(diff[:-1], [2.5, 97.5])
                    entry["difference"] = {"value": _rounded(diff[-1]), "interval": [_rounded(low), _rounded(high)],
                                           "separated": bool(low > 0 or high < 0)}
            report[system][name] = entry
    return report


def _rounded(x: float) -> float | None:
    return round(float(x), 4) if math.isfinite(x) else None


def evaluate_codecs(cfg: CodecEvalConfig, progress: bool = True) -> str:
    """Run the evaluation; writes results.json and results.md in cfg.out and returns the table."""
    if not cfg.corpus:
        raise ConfigError("codec eval needs --corpus MANIFEST")
    manifest = read_manifest(cfg.corpus)
    rows = [r for r in manifest.rows if (not cfg.split or r.split == cfg.split) and r.duration >= cfg.min_seconds]
    rows = pick_evenly(rows, cfg.limit)
    if not rows:
        raise ConfigError(f"{cfg.corpus}: no utterance of split '{cfg.split or 'any'}' is >= {cfg.min_seconds} s")
    judge_text = cfg.whisper and all(r.text for r in rows)
    whisper = WhisperJudge() if judge_text else None
    speaker = SpeakerJudge() if cfg.speaker else None
    mel = MelDistance()
    systems = _systems(cfg)
    out = Path(cfg.out)
    save_config(cfg, out / "config.yaml")

    per_utterance: dict[str, list[dict]] = {name: [] for name, _ in systems}
    originals: list[dict] = []
    started = time.monotonic()
    for row in tqdm(rows, desc="codec eval", unit="utt", file=sys.stderr, disable=not progress):
        audio = manifest.load_audio(row, SAMPLE_RATE)
        if whisper:
            edits, words = word_errors(row.text, whisper.transcribe(audio))
            originals.append({"id": row.id, "word_edits": edits, "words": words})
        for name, system in systems:
            decoded, bitrate = system(audio)
            result = {"id": row.id, "bitrate": round(bitrate, 1), "stoi": stoi(audio, decoded),
                      "mel_distance": mel(audio, decoded)}
            if cfg.pesq:
                result["pesq_wb"] = pesq_wb(audio, decoded)
            if whisper:
                result["word_edits"], result["words"] = word_errors(row.text, whisper.transcribe(decoded))
            if speaker:
                result["speaker_similarity"] = speaker.similarity(audio, decoded)
            per_utterance[name].append(result)

    summary = {}
    for name, results in per_utterance.items():
        s = {"bitrate": _mean([r["bitrate"] for r in results]), "stoi": _mean([r["stoi"] for r in results]),
             "mel_distance": _mean([r["mel_distance"] for r in results])}
        if cfg.pesq:
            s["pesq_wb"] = _mean([r["pesq_wb"] for r in results])
            s["pesq_scored"] = sum(math.isfinite(r["pesq_wb"]) for r in results)
        if whisper:
            s["wer_percent"] = round(100 * sum(r["word_edits"] for r in results) / max(1, sum(r["words"] for r in results)), 2)
        if speaker:
            s["speaker_similarity"] = _mean([r["speaker_similarity"] for r in results])
        summary[name] = s
    reference_wer = (round(100 * sum(r["word_edits"] for r in originals) / max(1, sum(r["words"] for r in originals)), 2)
                     if whisper else None)
    intervals = system_intervals({**per_utterance, **({ORIGINAL: originals} if whisper else {})})
    result = {
        "benchmark": "codec_eval", "corpus": str(cfg.corpus), "utterances": len(rows),
        "audio_seconds": round(sum(r.duration for r in rows), 2), "judge": whisper.name if whisper else None,
        "reference_wer_percent": reference_wer, "summary": summary, "intervals": intervals,
        "resamples": RESAMPLES, "per_utterance": per_utterance, "original_per_utterance": originals,
        "seconds": round(time.monotonic() - started, 1), "config": config_to_dict(cfg), **provenance(),
    }
    atomic_write_text(out / "results.json", json.dumps(result, indent=2) + "\n")
    table = markdown_table(result)
    atomic_write_text(out / "results.md", table + "\n")
    return table


def markdown_table(result: dict) -> str:
    """Each system's measures with their 95 % intervals, and the originals' WER with its own."""
    columns = [("bitrate", "bit/s (file)", "{:.0f}"), ("stoi", "STOI", "{:.3f}"), ("pesq_wb", "PESQ-WB", "{:.2f}"),
               ("mel_distance", "mel dist.", "{:.2f}"), ("wer_percent", "WER %", "{:.1f}"),
               ("speaker_similarity", "spk. sim.", "{:.3f}")]
    interval_of = {"wer_percent": "wer"}
    first = next(iter(result["summary"].values()))
    columns = [c for c in columns if c[0] in first]
    intervals = result.get("intervals", {})

    def cell(system: str, value, key: str, fmt: str) -> str:
        if value is None:
            return "n/a"
        low, high = intervals.get(system, {}).get(interval_of.get(key, key), {}).get("interval", [None, None])
        bounds = f" [{fmt.format(low)}, {fmt.format(high)}]" if low is not None and high is not None else ""
        return fmt.format(value) + bounds

    lines = [f"Codec round trip on {result['corpus']}: {result['utterances']} utterances, "
             f"{result['audio_seconds']} s of audio; 95 % bootstrap intervals over utterances."]
    if result.get("reference_wer_percent") is not None:
        lines.append(f"Judge: {result['judge']}; WER of the original audio: "
                     f"{cell(ORIGINAL, result['reference_wer_percent'], 'wer_percent', '{:.1f}')} %.")
    lines += ["", "| system | " + " | ".join(c[1] for c in columns) + " |",
              "|---|" + "---:|" * len(columns)]
    for name, s in result["summary"].items():
        cells = [cell(name, s.get(key), key, fmt) for key, _, fmt in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

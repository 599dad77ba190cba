"""Synthetic-corpus throughput: hours of audio per CPU-hour, and the voices each engine set gives.

    .venv/bin/python benchmarks/synth_throughput.py --hours 0.5 --workers 2 --out benchmarks/results/synth.json

Runs `corpus synth` once per engine set (pip-only espeak; espeak + flite when flite is installed)
side by side, and writes one JSON with the figures, the machine and the software versions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from codec2vec.data.synth import SynthConfig, synth_corpus
from codec2vec.data.corpus import read_corpus_header
from codec2vec.data.tts import available_voices
from codec2vec.provenance import provenance


def run(engines: list[str], hours: float, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SynthConfig(out=str(Path(tmp) / "c"), hours=hours, workers=workers, engines=engines, voices=24)
        start = time.perf_counter()
        synth_corpus(cfg, progress=False)
        wall = time.perf_counter() - start
        header = read_corpus_header(cfg.out)
        flac_bytes = sum(p.stat().st_size for p in Path(cfg.out).rglob("*.flac"))
    audio_hours = sum(s["hours"] for s in header["subsets"].values())
    return {
        "engines": header["engines_used"],
        "audio_hours": round(audio_hours, 4),
        "wall_seconds": round(wall, 2),
        # Workers are grandchildren (forkserver), out of reach of getrusage: charge every worker
        # a full core for the whole wall time, which can only understate the throughput.
        "core_seconds_charged": round(wall * workers, 2),
        "audio_hours_per_cpu_hour": round(audio_hours / (wall * workers / 3600), 1),
        "audio_hours_per_wall_hour": round(audio_hours / (wall / 3600), 1),
        "flac_mb_per_audio_hour": round(flac_bytes / 1e6 / audio_hours, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/synth_throughput.json")
    args = parser.parse_args()
    engine_sets = [["espeak"]]
    if available_voices(["flite"]):
        engine_sets.append(["espeak", "flite"])
    voices = {
        "pip_only_espeak": len({v.speaker for v in available_voices(["espeak"])}),
        "with_debian_engines": len({v.speaker for v in available_voices(["espeak", "flite"])}),
    }
    result = {
        "benchmark": "synth_throughput",
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "settings": {"hours": args.hours, "workers": args.workers, "voices": 24},
        "distinct_voices_installed": voices,
        "runs": [run(e, args.hours, args.workers) for e in engine_sets],
        **provenance(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Peak memory of extraction, k-means and feature caching at several corpus sizes (flat = bounded).

    .venv/bin/python benchmarks/memory_bounds.py --hours 1 10 [--long-file-hours 1 4 [--also-whole]] [--codec FOLDER]

The audio is generated (20 s FLAC files of tones and noise: content does not change memory), and
the codec is a tiny random-weight DAC (tests/codec_fixtures.py) unless --codec is given, so 10 h
run in minutes on a CPU: what grows with the corpus is the pipeline's own state (shards, index,
the k-means sample, the feature writer), and that is what this measures. Each stage runs in a
process of its own and reports its own peak RSS (VmHWM, so Linux only). `--long-file-hours H ...` also extracts one
file of each length, streamed and encoded in windows (the default); `--also-whole` extracts the
shortest whole too (max_batch_seconds = its length, the behaviour before windowing).
Writes benchmarks/results/memory_bounds.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
FILE_SECONDS = 20.0
# The peak RSS of this process alone: VmHWM (Linux). getrusage's ru_maxrss is no good here: a child
# started by fork/vfork + exec inherits the parent's high-water mark, so it read the benchmark's own
# peak (~1.5 GB while it generated a 1-hour file) instead of the stage's.
HWM = ("def peak_kb():\n    for line in open('/proc/self/status'):\n"
       "        if line.startswith('VmHWM:'):\n            return int(line.split()[1])\n")
# Runs one codec2vec CLI command in-process and reports its peak RSS (KiB) on stderr.
PEAK = (HWM + "import runpy, sys\nsys.argv = ['codec2vec'] + sys.argv[1:]\ntry:\n"
        "    runpy.run_module('codec2vec.cli', run_name='__main__')\nfinally:\n"
        "    print('PEAK_RSS_KB=%d' % peak_kb(), file=sys.stderr)\n")
CACHE = (HWM + "import sys\nfrom codec2vec.data.manifest import read_manifest\n"
         "from codec2vec.eval.features import cached_features\nfrom codec2vec.eval.upstream import FbankUpstream\n"
         "m = read_manifest(sys.argv[1], check_files=False)\n"
         "cached_features(FbankUpstream('cpu'), m, 'train', m.rows, 'frames', False, sys.argv[2], progress=False)\n"
         "print('PEAK_RSS_KB=%d' % peak_kb(), file=sys.stderr)\n")


def write_corpus(folder: Path, hours: float, seed: int = 0, file_seconds: float = FILE_SECONDS) -> Path:
    from codec2vec.data.manifest import ManifestHeader, Utterance, write_manifest

    rng = np.random.default_rng(seed)
    rows = []
    n = max(1, int(round(hours * 3600 / file_seconds)))
    t = np.arange(int(file_seconds * 16000)) / 16000
    for k in range(n):
        path = folder / "audio" / f"{k // 500:03d}" / f"u{k:06d}.flac"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            audio = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 800) * t) + 0.05 * rng.standard_normal(len(t))
            sf.write(str(path), audio.astype(np.float32), 16000, subtype="PCM_16")
        rows.append(Utterance(f"u{k:06d}", str(path.relative_to(folder)), file_seconds, 16000, f"s{k % 20}",
                              "train"))
    return write_manifest(folder / "corpus.jsonl", ManifestHeader("memory-bench", "all", ["pretrain"]), rows)


def run_stage(code: str, args: list[str], output: Path) -> dict:
    """Run one stage from scratch (its output removed first) and return its peak RSS and wall time."""
    shutil.rmtree(output, ignore_errors=True)
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", code] + args, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"stage failed: {' '.join(args)}\n{proc.stderr[-2000:]}")
    peak = int(proc.stderr.rsplit("PEAK_RSS_KB=", 1)[1].split()[0])
    return {"peak_rss_mib": round(peak / 1024, 1), "seconds": round(time.time() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, nargs="*", default=[1.0, 10.0], help="corpus sizes (none: skip)")
    parser.add_argument("--long-file-hours", type=float, nargs="*", default=[],
                        help="also extract one file of each of these lengths")
    parser.add_argument("--also-whole", action="store_true",
                        help="extract the shortest long file whole too (the behaviour before streaming; ~11 GB per hour)")
    parser.add_argument("--codec", help="codec folder or name (default: a tiny random-weight DAC)")
    parser.add_argument("--work", default="/tmp/c2v-memory-bench")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "memory_bounds.json"))
    args = parser.parse_args()
    work = Path(args.work)
    codec = args.codec
    if codec is None:
        sys.path.insert(0, str(ROOT / "tests"))
        from codec_fixtures import save_tiny_dac

        codec = str(work / "tiny-dac") if (work / "tiny-dac" / "config.json").is_file() else \
            str(save_tiny_dac(work / "tiny-dac"))
    from codec2vec.provenance import machine, provenance

    results = {}
    for hours in args.hours:
        folder = work / f"{hours:g}h"
        print(f"{hours:g} h: writing audio", flush=True)
        manifest = write_corpus(folder / "corpus", hours)
        store = folder / "units"
        stages = {
            "extract": run_stage(PEAK, ["extract", "--corpus", str(manifest), "--out", str(store), "--codec", codec,
                                        "--quiet", "device=cpu"], store),
            "kmeans": run_stage(PEAK, ["kmeans", "--units", str(store), "--model", "codec", "--clusters", "100",
                                       "--out", str(folder / "kmeans"), "--quiet", "device=cpu"], folder / "kmeans"),
            "feature_cache": run_stage(CACHE, [str(manifest), str(folder / "cache")], folder / "cache"),
        }
        results[f"{hours:g}h"] = stages
        print(f"{hours:g} h: {json.dumps(stages)}", flush=True)
    for n, long_hours in enumerate(args.long_file_hours):
        folder = work / f"long-{long_hours:g}h"
        seconds = long_hours * 3600
        manifest = write_corpus(folder / "corpus", long_hours, file_seconds=seconds)
        ways = (("streamed in windows", []), ("whole", [f"max_batch_seconds={seconds + 1}"]))
        for name, batch in ways[: 2 if n == 0 and args.also_whole else 1]:
            out = folder / "units"
            results[f"one {long_hours:g} h file, {name}"] = {"extract": run_stage(PEAK, [
                "extract", "--corpus", str(manifest), "--out", str(out), "--codec", codec, "--quiet", "device=cpu"]
                + batch, out)}
            print(json.dumps(results[f"one {long_hours:g} h file, {name}"]), flush=True)
    sizes = [s for s in results if not s.startswith("one ")]
    ratios = {stage: round(results[sizes[-1]][stage]["peak_rss_mib"] / results[sizes[0]][stage]["peak_rss_mib"], 2)
              for stage in results[sizes[0]]} if len(sizes) > 1 else {}
    report = {"benchmark": "memory_bounds", "codec": codec if args.codec else "tiny random-weight DAC",
              "file_seconds": FILE_SECONDS, "results": results,
              **({f"peak_ratio_{sizes[-1]}_over_{sizes[0]}": ratios} if ratios else {}),
              "machine": machine(), **provenance()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(ratios))


if __name__ == "__main__":
    main()

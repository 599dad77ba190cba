"""What bf16 evaluation changes: the same models benchmarked in fp32 and in bf16, and the speed of a
model's features in each, side by side.

    .venv/bin/python benchmarks/eval_precision.py --demo demo-output [--time waveform-online] \
        [--out benchmarks/results/demo_eval_precision.json]

Evaluates the demo's trained models (DEMO/runs/*) with the demo's settings twice, into
DEMO/eval-precision/fp32 and DEMO/eval-precision/bf16 (resumable: finished results are reused), and
writes each task's test value and 95 % interval in both precisions and whether the intervals overlap.
With --time it also times one model's features on the demo's read subset (train split) in both
precisions, alternating, best of two: audio seconds per second on this machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _features_speed(model: str, paths, precision: str) -> float:
    import shutil

    from codec2vec.eval.features import cached_features
    from codec2vec.eval.tasks import TASKS, task_manifest
    from codec2vec.eval.upstream import load_upstream

    upstream = load_upstream(model, "cpu", precision)
    manifest = task_manifest(str(paths.corpus), TASKS["pr"])
    rows = manifest.split("train")
    cache = paths.out / "eval-precision" / "timing-cache"
    shutil.rmtree(cache, ignore_errors=True)
    start = time.perf_counter()
    cached_features(upstream, manifest, "train", rows, "frames", False, cache, paths.units / "read", progress=False)
    seconds = time.perf_counter() - start
    shutil.rmtree(cache, ignore_errors=True)
    return sum(r.duration for r in rows) / seconds


def main() -> None:
    from codec2vec.config import load_config
    from codec2vec.demo import DemoConfig, DemoPaths, _trained_runs, benchmark_config
    from codec2vec.eval.benchmark import run_benchmark
    from codec2vec.eval.intervals import separated
    from codec2vec.provenance import machine, provenance

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", default="demo-output", help="a finished `codec2vec demo` folder")
    parser.add_argument("--time", default="", help="a demo run whose features to time in both precisions")
    parser.add_argument("--out", default="benchmarks/results/demo_eval_precision.json")
    args = parser.parse_args()
    cfg = load_config(DemoConfig, Path(args.demo) / "config.yaml", values={"out": args.demo})
    paths = DemoPaths(Path(cfg.out))
    models = [str(run) for run in _trained_runs(cfg, paths)]
    if not models:
        raise SystemExit(f"{args.demo}: no trained models (run `codec2vec demo --out {args.demo}` first)")
    folders = {}
    for precision in ("fp32", "bf16"):
        folders[precision] = paths.out / "eval-precision" / precision
        run_benchmark(benchmark_config(cfg, paths, models, folders[precision], precision), progress=False)
    rows = []
    for model in models:
        name = Path(model).name
        for task in cfg.tasks:
            fp32, bf16 = (json.loads((folders[p] / name / f"{task}.json").read_text()) for p in ("fp32", "bf16"))
            rows.append({"model": name, "task": task, "metric": fp32["metric"],
                         "fp32": fp32["test"], "fp32_interval": fp32["test_interval"],
                         "bf16": bf16["test"], "bf16_interval": bf16["test_interval"],
                         "difference_points": round(100 * (bf16["test"] - fp32["test"]), 2),
                         "separated": separated(fp32["test_interval"], bf16["test_interval"])})
    result = {"benchmark": "eval_precision", "demo": str(args.demo), "models": [Path(m).name for m in models],
              "results": rows, "max_abs_difference_points": max(abs(r["difference_points"]) for r in rows),
              "any_separated": any(r["separated"] for r in rows)}
    if args.time:
        model = str(paths.run(args.time))
        speeds = {"fp32": [], "bf16": []}
        for _ in range(2):
            for precision in speeds:
                speeds[precision].append(_features_speed(model, paths, precision))
        result["features_audio_s_per_s"] = {"model": args.time, "split": "read/train",
                                            **{p: round(max(v), 1) for p, v in speeds.items()},
                                            "bf16_over_fp32": round(max(speeds["bf16"]) / max(speeds["fp32"]), 2)}
    result.update({"machine": machine(), **provenance()})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "results"}, indent=2))


if __name__ == "__main__":
    main()

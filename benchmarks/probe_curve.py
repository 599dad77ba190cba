"""Probe curves: the frozen snapshots of pre-training runs (`keep_every`) evaluated on a few tasks,
score against audio seen, each point with its 95 % interval. A correct pre-training improves with
training; a broken one does not (issue 17).

    .venv/bin/python benchmarks/probe_curve.py runs/small-online runs/small-kmeans \
        --corpus data/synth-eval --units data/synth-eval-units --tasks pr,ks --out exp/probe

Each snapshot is evaluated with `codec2vec evaluate` (settings from --config and key=value
overrides) into OUT/<run>/<snapshot>/ (resumable: finished tasks are kept); OUT/probe_curve.json
holds every point and OUT/probe_curve.png plots them, one panel per task. A snapshot's feature cache
is removed once its tasks are done (unless --config or cache= names a shared cache root).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from codec2vec.config import config_to_dict, load_config
from codec2vec.eval import EvalConfig, evaluate
from codec2vec.eval.tasks import TASKS
from codec2vec.provenance import provenance


def audio_seen(run: Path) -> dict[int, float]:
    """Step -> seconds of audio trained on through that step, from the run's metrics.jsonl (the
    logged windows' `audio_s`, summed; a resumed run's repeated windows count once)."""
    windows = {}
    for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "audio_s" in record:
            windows[record["step"]] = record["audio_s"]
    seen, total = {0: 0.0}, 0.0
    for step in sorted(windows):
        total += windows[step]
        seen[step] = total
    return seen


def probe(runs: list[Path], cfg: EvalConfig, out: Path) -> list[dict]:
    points = []
    for run in runs:
        seen = audio_seen(run)
        for snapshot in sorted((run / "snapshots").glob("step-*")):
            step = int(snapshot.name.removeprefix("step-"))
            if step not in seen:
                raise SystemExit(f"{run}: no metrics record at step {step}; use keep_every as a multiple of log_every")
            folder = out / run.name / snapshot.name
            evaluate(load_config(EvalConfig, values={**config_to_dict(cfg), "model": str(snapshot), "out": str(folder),
                                                     "cache": cfg.cache or str(folder / "feature-cache")}),
                     progress=False)
            if not cfg.cache:  # the snapshot's own features (~0.3 GB at 2 x 128 on synth-eval), never read again
                shutil.rmtree(folder / "feature-cache", ignore_errors=True)
            for task_file in sorted(folder.glob("*.json")):
                result = json.loads(task_file.read_text(encoding="utf-8"))
                if result.get("codec2vec") != "codec2vec-eval":
                    continue
                points.append({"run": run.name, "step": step, "audio_hours": seen[step] / 3600, "task": result["task"],
                               "metric": result["metric"], "test": result["test"],
                               "test_interval": result["test_interval"]})
    return points


def plot(points: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({p["task"] for p in points})
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for run in sorted({p["run"] for p in points}):
            mine = sorted((p for p in points if p["task"] == task and p["run"] == run), key=lambda p: p["step"])
            x = [p["audio_hours"] for p in mine]
            ax.plot(x, [100 * p["test"] for p in mine], marker="o", label=run)
            ax.fill_between(x, [100 * p["test_interval"][0] for p in mine], [100 * p["test_interval"][1] for p in mine],
                            alpha=0.2)
        arrow = "↑" if TASKS[task].higher_is_better else "↓"
        metric = TASKS[task].metric
        metric = metric.upper() if len(metric) <= 3 else metric  # PER, WER, EER; accuracy
        ax.set_title(f"{task.upper()} {metric} {arrow} (test, %, 95 % interval)")
        ax.set_xlabel("audio seen in pre-training (h)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="pre-training run folders with snapshots/, then key=value "
                        "evaluation settings (anywhere among the options)")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--units", required=True, help="unit stores by subset (missing ones are extracted)")
    parser.add_argument("--tasks", default="pr,ks")
    parser.add_argument("--config", help="evaluation config (YAML: EvalConfig keys)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_intermixed_args()
    # argparse cannot give two variable-length positionals their share: settings are the key=value words
    runs, args.overrides = [Path(a) for a in args.runs if "=" not in a], [a for a in args.runs if "=" in a]
    cfg = load_config(EvalConfig, args.config, args.overrides, {"corpus": args.corpus, "units": args.units,
                                                                 "tasks": args.tasks.split(","), "model": "unset",
                                                                 "out": "unset"})
    args.out.mkdir(parents=True, exist_ok=True)
    points = probe(runs, cfg, args.out)
    (args.out / "probe_curve.json").write_text(json.dumps({"benchmark": "probe_curve", "points": points,
                                                           "settings": {"tasks": cfg.tasks, "corpus": cfg.corpus},
                                                           **provenance()}, indent=2) + "\n")
    plot(points, args.out / "probe_curve.png")
    for p in points:
        low, high = p["test_interval"]
        print(f"{p['run']} step {p['step']} ({p['audio_hours']:.2f} h) {p['task']} {p['metric']} "
              f"{100 * p['test']:.1f} [{100 * low:.1f}, {100 * high:.1f}]")


if __name__ == "__main__":
    main()

"""`codec2vec report RUNS...`: several evaluated upstreams side by side (a table and PNG plots)."""

from __future__ import annotations

import json
from pathlib import Path

from codec2vec.atomic import atomic_path, atomic_write_text
from codec2vec.errors import ConfigError
from codec2vec.eval.harness import format_test
from codec2vec.eval.intervals import separated
from codec2vec.eval.tasks import TASKS

UNIT_QUALITY_FILE = "unit_quality.json"
INTERVAL_LEGEND = ("Test value [95 % bootstrap interval over test utterances; trials for EER]; with several "
                   "head seeds, 'sd' is their standard deviation. Bold: the best of the column; ‡: its interval "
                   "does not overlap the best's (a separated difference).")
PROFILE_NOTES = {"quick": "light heads trained by epochs: the rows compare with each other, not with published "
                          "SUPERB numbers",
                 "superb": "s3prl's heads, optimisers, learning rates and step counts"}


def load_run(folder: str | Path) -> dict:
    """An `evaluate` results folder -> {"name", "folder", "tasks": {task: result}, "units": unit quality or None}."""
    folder = Path(folder)
    results = {}
    for name in TASKS:
        path = folder / f"{name}.json"
        if path.is_file():
            results[name] = json.loads(path.read_text(encoding="utf-8"))
    if not results:
        raise ConfigError(f"{folder}: no task results (<task>.json from `codec2vec evaluate`)")
    first = next(iter(results.values()))
    quality = folder / UNIT_QUALITY_FILE
    return {"name": first["upstream"]["name"], "folder": str(folder), "tasks": results,
            "units": json.loads(quality.read_text(encoding="utf-8")) if quality.is_file() else None}


def _cell(result: dict | None, best: dict | None) -> str:
    if result is None:
        return "-"
    cell = format_test(result)
    if result["task"] == "asr":  # WER saturates at 100 % on small corpora; CER still ranks upstreams
        cell += f" (CER {100 * result['test_metrics']['cer']:.1f})"
    if result is best:
        return f"**{cell}**"
    return cell + (" ‡" if separated(result.get("test_interval"), best.get("test_interval")) else "")


def _best(results: list[dict]) -> dict | None:
    if not results:
        return None
    sign = 1.0 if results[0]["higher_is_better"] else -1.0
    return max(results, key=lambda r: sign * r["test"])


def report_table(runs: list[dict], times: bool = True) -> str:
    """The markdown table of `runs` (load_run's); `times=False` leaves out the evaluation minutes, so
    that runs of the same seed give the same table, byte for byte."""
    tasks = [t for t in TASKS if any(t in r["tasks"] for r in runs)]
    pnmi_sets = [name for name in ("synthetic", "real") if any((r["units"] or {}).get(name) for r in runs)]
    head = [f"{t.upper()} {TASKS[t].metric.upper() if TASKS[t].metric != 'accuracy' else 'acc'} "
            f"{'↑' if TASKS[t].higher_is_better else '↓'}" for t in tasks]
    head += [f"PNMI ({name})" for name in pnmi_sets] + (["eval time (min)"] if times else [])
    lines = ["| upstream | " + " | ".join(head) + " |", "|---" * (1 + len(head)) + "|"]
    best = {t: _best([r["tasks"][t] for r in runs if t in r["tasks"]]) for t in tasks}
    for run in runs:
        cells = [_cell(run["tasks"].get(t), best[t]) for t in tasks]
        cells += [_pnmi_cell((run["units"] or {}).get(name)) for name in pnmi_sets]
        if times:
            cells.append(f"{sum(r['seconds']['total'] for r in run['tasks'].values()) / 60:.1f}")
        lines.append(f"| {run['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + INTERVAL_LEGEND + "\n"


def _pnmi_cell(entries: list[dict] | None) -> str:
    if not entries:
        return "-"
    # k-means units of the upstream first; other units (the codec's own codebook) named after
    return ", ".join(f"{e['pnmi']:.3f}" + ("" if e["units"].startswith("k-means") else f" ({e['units']})")
                     for e in entries)


def _plots(runs: list[dict], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t in TASKS if any(t in r["tasks"] for r in runs)]
    written = []
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks), 3), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for run in runs:
            weights = run["tasks"].get(task, {}).get("layer_weights", [])
            if len(weights) > 1:
                ax.plot(range(len(weights)), weights, marker="o", label=run["name"])
        ax.set_title(task.upper())
        ax.set_xlabel("hidden state")
    axes[0][0].set_ylabel("weight")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    written.append(_save(fig, out / "layer_weights.png"))
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        names = [r["name"] for r in runs if task in r["tasks"]]
        values = [100 * r["tasks"][task]["test"] for r in runs if task in r["tasks"]]
        ax.bar(range(len(values)), values)
        ax.set_xticks(range(len(values)), names, rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{task.upper()} {TASKS[task].metric} (test, %)")
    fig.tight_layout()
    written.append(_save(fig, out / "metrics.png"))
    plt.close("all")
    return written


def _save(fig, path: Path) -> Path:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    return path


def report(runs: list[str | Path], out: str | Path, title: str = "Downstream results") -> Path:
    """Write OUT/report.md (table, plots, proxy notes) and OUT/*.png; returns the markdown path."""
    loaded = [load_run(r) for r in runs]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots = _plots(loaded, out)
    notes: dict[str, set[str]] = {}  # note -> the tasks it concerns
    for run in loaded:
        for task, result in run["tasks"].items():
            for part in list(result.get("proxy") or []) + [result.get("protocol") or ""]:
                if part:
                    notes.setdefault(part, set()).add(task.upper())
    profiles = sorted({result.get("profile", "quick") for run in loaded for result in run["tasks"].values()})
    text = (f"# {title}\n\nTest split, percent (SUPERB convention). Rows: "
            + ", ".join(f"{r['name']} ({r['folder']})" for r in loaded) + ".\n\n"
            + "Downstream profile: " + " and ".join(f"{p} ({PROFILE_NOTES[p]})" for p in profiles) + ".\n\n"
            + report_table(loaded)
            + "\n" + "".join(f"![{p.stem}]({p.name})\n" for p in plots)
            + ("\nNotes:\n" + "".join(f"- {', '.join(sorted(t))}: {n}\n" for n, t in sorted(notes.items()))
               if notes else ""))
    atomic_write_text(out / "report.md", text)
    return out / "report.md"

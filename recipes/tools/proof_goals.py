"""The offline proof's goals (issue 17), each checked against the proof's own results and written
down with the numbers that decide it: met, missed or not measured.

    python recipes/tools/proof_goals.py EXP          # reads EXP/benchmark and EXP/probe; writes EXP/goals/
    python recipes/tools/proof_goals.py EXP --ship   # prints the run to ship and its package name

A model "beats" another on a task when its test value is better and the two 95 % intervals do not
overlap (the benchmark report's ‡). The best Codec2Vec model, the one the demo and the shipped model
follow, is the unit model with the best mean rank among the unit models over the benchmark's tasks.

  1 inputs      the best model beats the codec latent and FBANK on PR, KS and IC
  2 waveform    at equal CPU time, the unit model beats the waveform model (same objective) on every task
  3 clustering  on every task, a clustering objective (k-means iteration 2 or online) beats reconstruction
  4 real SID    on real speakers, the best model beats the codec latent
  5 probes      every unit model's probe curve ends above its step-0 point on every probe task
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from budget_steps import median_step  # recipes/tools/ (the script's folder) is on the path

from codec2vec.atomic import atomic_write_text
from codec2vec.demo import read_metrics
from codec2vec.eval.benchmark import REAL_SID_FOLDER
from codec2vec.eval.harness import format_test
from codec2vec.eval.intervals import separated
from codec2vec.eval.report import load_run
from codec2vec.eval.tasks import TASKS
from codec2vec.models.encoder import EncoderConfig
from codec2vec.provenance import provenance

UNIT_MODELS = ("recon", "online", "hubert1", "hubert2")
CLUSTERING = ("hubert2", "online")
RECONSTRUCTION = "recon"
EQUAL_COMPUTE = ("online", "waveform-online", "logmel-online")  # the unit model first, same objective
LATENT, FBANK = "codec-default", "fbank"
INPUT_TASKS = ("pr", "ks", "ic")


def _sign(task: str) -> float:
    return 1.0 if TASKS[task].higher_is_better else -1.0


def better(a: dict, b: dict) -> bool:
    return _sign(a["task"]) * (a["test"] - b["test"]) > 0


def compare(a: dict | None, b: dict | None) -> str:
    """'beats', 'loses' (b beats a), 'overlaps', or 'missing' when either has no result."""
    if a is None or b is None:
        return "missing"
    if not separated(a.get("test_interval"), b.get("test_interval")):
        return "overlaps"
    return "beats" if better(a, b) else "loses"


def verdict(outcomes: list[str]) -> str:
    if not outcomes or "missing" in outcomes:
        return "not measured"
    return "met" if all(o == "beats" for o in outcomes) else "missed"


def best_unit_model(runs: dict[str, dict]) -> str | None:
    """The unit model with the best mean rank among the unit models over the tasks all of them have."""
    models = [m for m in UNIT_MODELS if m in runs]
    if not models:
        return None
    tasks = [t for t in TASKS if all(t in runs[m]["tasks"] for m in models)]
    rank = {m: 0 for m in models}  # summed over the same tasks for every model: the mean's order
    for task in tasks:
        ordered = sorted(models, key=lambda m: -_sign(task) * runs[m]["tasks"][task]["test"])
        for position, model in enumerate(ordered):
            rank[model] += position
    return min(models, key=lambda m: rank[m])  # ties: the first of UNIT_MODELS


def _cell(result: dict | None) -> str:
    return format_test(result) if result else "-"


def _task(runs: dict, model: str, task: str) -> dict | None:
    return runs.get(model, {}).get("tasks", {}).get(task)


def goal_inputs(runs: dict, best: str | None) -> dict:
    rows, outcomes = [], []
    for task in INPUT_TASKS:
        mine = _task(runs, best, task) if best else None
        versus = {name: compare(mine, _task(runs, name, task)) for name in (LATENT, FBANK)}
        outcomes += versus.values()
        rows.append([task.upper(), _cell(mine), _cell(_task(runs, LATENT, task)), versus[LATENT],
                     _cell(_task(runs, FBANK, task)), versus[FBANK]])
    others = [m for m in UNIT_MODELS if m in runs and m != best and verdict(
        [compare(_task(runs, m, t), _task(runs, n, t)) for t in INPUT_TASKS for n in (LATENT, FBANK)]) == "met"]
    return {"goal": "inputs", "rule": f"the best unit model ({best}) beats {LATENT} and {FBANK} on PR, KS and IC",
            "verdict": verdict(outcomes), "columns": ["task", best or "-", LATENT, "vs latent", FBANK, "vs FBANK"],
            "rows": rows, "also_met_by": others}


def goal_waveform(runs: dict, tasks: list[str]) -> dict:
    units, *baselines = EQUAL_COMPUTE
    rows, outcomes = [], []
    for task in tasks:
        mine = _task(runs, units, task)
        versus = {name: compare(mine, _task(runs, name, task)) for name in baselines}
        outcomes.append(versus[baselines[0]])  # the goal is the waveform model; log-mel is shown beside it
        rows.append([task.upper(), _cell(mine)] + [x for name in baselines
                                                    for x in (_cell(_task(runs, name, task)), versus[name])])
    return {"goal": "waveform", "rule": f"at equal CPU time, {units} (units) beats {baselines[0]} on every task "
                                         f"({baselines[1]} shown beside it)",
            "verdict": verdict(outcomes),
            "columns": ["task", units] + [x for name in baselines for x in (name, f"{units} vs it")], "rows": rows}


def goal_clustering(runs: dict, tasks: list[str]) -> dict:
    rows, outcomes = [], []
    for task in tasks:
        recon = _task(runs, RECONSTRUCTION, task)
        versus = {name: compare(_task(runs, name, task), recon) for name in CLUSTERING}
        present = [v for v in versus.values() if v != "missing"]
        outcomes.append("beats" if "beats" in present else present[0] if present else "missing")
        rows.append([task.upper(), _cell(recon)] + [x for name in CLUSTERING
                                                     for x in (_cell(_task(runs, name, task)), versus[name])])
    return {"goal": "clustering", "rule": f"on every task, {' or '.join(CLUSTERING)} beats {RECONSTRUCTION}",
            "verdict": verdict(outcomes),
            "columns": ["task", RECONSTRUCTION] + [x for name in CLUSTERING for x in (name, f"{name} vs it")],
            "rows": rows}


def goal_real_sid(real: dict, best: str | None) -> dict:
    mine, latent = _task(real, best, "sid") if best else None, _task(real, LATENT, "sid")
    outcome = compare(mine, latent)
    return {"goal": "real-sid", "rule": f"on real speakers, the best unit model ({best}) beats {LATENT} on SID",
            "verdict": verdict([outcome]), "columns": ["task", best or "-", LATENT, "vs latent"],
            "rows": [["SID (real)", _cell(mine), _cell(latent), outcome]]}


def goal_probes(points: list[dict]) -> dict:
    rows, outcomes = [], []
    for model in UNIT_MODELS:
        for task in sorted({p["task"] for p in points if p["run"] == model}):
            curve = sorted((p for p in points if p["run"] == model and p["task"] == task), key=lambda p: p["step"])
            first, last = curve[0], curve[-1]
            outcome = compare(last, first) if first["step"] == 0 and len(curve) > 1 else "missing"
            outcomes.append(outcome)
            values = " → ".join(f"{100 * p['test']:.1f}" for p in curve)
            end = compare(last, curve[-2]) if len(curve) > 1 else "missing"
            rows.append([model, task.upper(), values, _cell(first), _cell(last), outcome, end])
    return {"goal": "probes", "rule": "every unit model's final snapshot beats its step-0 snapshot on every probe task",
            "verdict": verdict(outcomes),
            "columns": ["model", "task", "test along the curve", "step 0", "final", "final vs step 0",
                        "final vs the snapshot before"], "rows": rows}


def compute(exp: Path) -> list[dict]:
    """Each pre-training run's steps, audio seen and minutes spent in training steps (from its logged
    windows; time lost to a stop and resume is not in them): the equal-compute budget as it ran. With
    the timed calibration run of stage 4 (hubert2's is hubert1's), also the budget's minutes: the steps
    at the calibrated median step, which the other jobs on the machine do not change."""
    rows = []
    for name in UNIT_MODELS + EQUAL_COMPUTE[1:]:
        if not (exp / "runs" / name / "metrics.jsonl").is_file():
            continue
        windows = [r for r in read_metrics(exp / "runs" / name) if "audio_s_per_s" in r]
        row = {"run": name, "steps": max((r["step"] for r in windows), default=0),
               "audio_hours": sum(r["audio_s"] for r in windows) / 3600,
               "train_minutes": sum(r["audio_s"] / r["audio_s_per_s"] for r in windows) / 60}
        calibration = exp / "calibrate" / ("hubert1" if name == "hubert2" else name)
        if (calibration / "metrics.jsonl").is_file():
            row["budget_minutes"] = row["steps"] * median_step(calibration) / 60
        rows.append(row)
    return rows


def load_runs(folder: Path) -> dict[str, dict]:
    runs = {}
    for path in sorted(p for p in folder.iterdir() if p.is_dir()):
        if any((path / f"{task}.json").is_file() for task in TASKS):
            runs[path.name] = load_run(path)
    return runs


def goals(exp: Path) -> dict:
    bench = exp / "benchmark"
    if not bench.is_dir():
        raise SystemExit(f"{bench}: no benchmark results (stage 8 of recipes/offline_proof.sh makes them)")
    runs = load_runs(bench)
    real = {name: load_run(bench / name / REAL_SID_FOLDER) for name in runs
            if (bench / name / REAL_SID_FOLDER / "sid.json").is_file()}
    probe_file = exp / "probe" / "probe_curve.json"
    points = json.loads(probe_file.read_text(encoding="utf-8"))["points"] if probe_file.is_file() else []
    tasks = [t for t in TASKS if any(t in run["tasks"] for run in runs.values())]
    best = best_unit_model(runs)
    return {"benchmark": "offline_proof_goals", "experiment": str(exp), "best_unit_model": best,
            "compute": compute(exp),
            "goals": [goal_inputs(runs, best), goal_waveform(runs, tasks), goal_clustering(runs, tasks),
                      goal_real_sid(real, best), goal_probes(points)], **provenance()}


def markdown(result: dict) -> str:
    lines = [f"# The offline proof's goals ({result['experiment']})", "",
             f"Best unit model (best mean rank among {', '.join(UNIT_MODELS)} over the benchmark's tasks): "
             f"**{result['best_unit_model']}**. 'beats': better, with 95 % intervals that do not overlap; "
             "'overlaps': no separated difference; 'loses': the other is better, separated.", "",
             "Pre-training as it ran. Budget minutes: the steps at the median step time of stage 4's timed "
             "calibration on a quiet machine (the equal compute); logged minutes: the training steps as they "
             "ran (other jobs on the machine slow them without changing the steps):", "",
             "| run | steps | audio seen (h) | budget minutes | logged minutes |", "|---|---:|---:|---:|---:|"]
    for r in result["compute"]:
        budget = f"{r['budget_minutes']:.1f}" if "budget_minutes" in r else "-"
        lines.append(f"| {r['run']} | {r['steps']} | {r['audio_hours']:.1f} | {budget} | {r['train_minutes']:.1f} |")
    lines.append("")
    for goal in result["goals"]:
        lines += [f"## {goal['goal']}: {goal['verdict']}", "", f"Rule: {goal['rule']}.", "",
                  "| " + " | ".join(goal["columns"]) + " |", "|---" * len(goal["columns"]) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in goal["rows"]]
        if goal.get("also_met_by"):
            lines += ["", f"Also met by: {', '.join(goal['also_met_by'])}."]
        lines.append("")
    return "\n".join(lines)


def shipped(exp: Path, run: str = "") -> tuple[str, str]:
    """The proof's run to ship (`run`, or the best unit model its goals name) and its name in the
    package: synth-<run>-<layers>x<width> (recipes/shipped_model.sh)."""
    if not run:
        path = exp / "goals" / "goals.json"
        if not path.is_file():
            raise SystemExit(f"{path}: no goals yet (stage 9 of recipes/offline_proof.sh names the best model)")
        run = json.loads(path.read_text(encoding="utf-8"))["best_unit_model"]
        if run is None:
            raise SystemExit(f"{path}: no unit model in the proof's benchmark, nothing to ship")
    config = exp / "runs" / run / "model" / "config.json"
    if not config.is_file():
        known = sorted(p.parent.parent.name for p in (exp / "runs").glob("*/model/config.json"))
        raise SystemExit(f"{config}: no model '{run}' in the proof (its models: {known or 'none yet'})")
    layers, width, _, _ = EncoderConfig(**json.loads(config.read_text(encoding="utf-8"))["model"]["encoder"]).resolved()
    return run, f"synth-{run}-{layers}x{width}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exp", type=Path, help="the proof's folder (recipes/offline_proof.sh's EXP)")
    parser.add_argument("--ship", nargs="?", const="", metavar="RUN",
                        help="print the run to ship (RUN, default the best unit model of EXP/goals/goals.json) "
                             "and its package name, then exit")
    args = parser.parse_args()
    if args.ship is not None:
        print(*shipped(args.exp, args.ship))
        return
    result = goals(args.exp)
    out = args.exp / "goals"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "goals.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / "goals.md", markdown(result))
    for goal in result["goals"]:
        print(f"{goal['goal']}: {goal['verdict']} ({goal['rule']})")


if __name__ == "__main__":
    main()

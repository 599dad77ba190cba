"""Optimizer steps that fit a wall-clock budget, from a short timed pre-training run.

    python recipes/tools/budget_steps.py RUN MINUTES     # prints the number of steps

RUN's metrics.jsonl (logged every step: `log_every=1`) gives each step's seconds (the window's
audio_s / audio_s_per_s); the first step is left out (data loader start, first allocations). The
budget divided by the median step gives the steps: the same wall-clock for every model of
recipes/offline_proof.sh, whatever its input layer and targets cost.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def step_seconds(run: Path, skip: int = 1) -> list[float]:
    """Seconds of each step of the timed run after the first `skip`."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    windows = [r for r in records if "audio_s_per_s" in r]
    if any(b["step"] - a["step"] != 1 for a, b in zip(windows, windows[1:])):
        raise SystemExit(f"{run}: metrics were not logged every step (pre-train with log_every=1)")
    return [r["audio_s"] / r["audio_s_per_s"] for r in windows[skip:]]


def median_step(run: Path) -> float:
    """The seconds of a typical step of the timed run: the budget's unit."""
    seconds = step_seconds(run)
    if len(seconds) < 2:
        raise SystemExit(f"{run}: too few timed steps ({len(seconds)}); time at least 3")
    return statistics.median(seconds)


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: budget_steps.py RUN MINUTES")
    run, minutes = Path(sys.argv[1]), float(sys.argv[2])
    print(max(1, int(minutes * 60 / median_step(run))))


if __name__ == "__main__":
    main()

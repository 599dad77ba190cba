"""The demo's pre-training budgets: optimizer steps that give every model the same wall-clock.

    .venv/bin/python benchmarks/demo_budget.py [--work demo-output] [--minutes 2] [--calibration-steps 20] [--rounds 2] \
        [key=value ...]   # overrides of codec2vec demo's config

Makes (or reuses) the demo's corpus, units and k-means labels in WORK with the demo's own stages,
then pre-trains each of the demo's models for a few steps with the demo's exact settings
(`codec2vec.demo.pretrain_config`), timed every step; the first steps are left out (start-up, first
allocations). The models take turns for `--rounds` rounds and each keeps its fastest round's median
step: a shared VM slowed one calibration by a third (0.230 against 0.165-0.177 s a step of the same
model in the same hour), and the least disturbed round is the machine's own speed. Steps = budget /
that step. Writes benchmarks/results/demo_budget.json;
`codec2vec.demo.MEASURED_STEPS` and `MEASURED_MINUTES` copy it (tests/test_demo.py keeps them equal),
so the demo trains for fixed steps: the same seed gives the same table on every machine, and the
models had equal wall-clock on the machine that measured. Run it with nothing else running.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes" / "tools"))
from budget_steps import step_seconds  # noqa: E402  (the offline proof's budget tool, shared)

# torch and codec2vec are imported in the functions: the corpus synthesizer's worker processes
# import this script again as their __main__, and torch would cost each of them seconds.


def main() -> None:
    from codec2vec.memory import restart_under_preferred_allocator

    restart_under_preferred_allocator()  # time the steps under the allocator the demo runs with
    import torch

    from codec2vec.config import config_to_dict, load_config
    from codec2vec.demo import DemoConfig, DemoPaths, demo_precision, prepare_inputs, pretrain_config, run_names
    from codec2vec.provenance import machine, provenance
    from codec2vec.train import pretrain

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="demo-output", help="the demo's output folder (inputs made or reused)")
    parser.add_argument("--minutes", type=float, default=2.0, help="the budget of every model")
    parser.add_argument("--calibration-steps", type=int, default=20)
    parser.add_argument("--skip", type=int, default=3, help="first steps left out of the timing")
    parser.add_argument("--rounds", type=int, default=2, help="turns of every model; the fastest round counts")
    parser.add_argument("--out", default="benchmarks/results/demo_budget.json")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the demo's config")
    args = parser.parse_args()
    if args.calibration_steps < args.skip + 3:
        raise SystemExit("--calibration-steps must leave at least 3 timed steps after --skip")
    cfg = load_config(DemoConfig, overrides=args.overrides, values={"out": args.work})
    paths = DemoPaths(Path(cfg.out))
    prepare_inputs(cfg, paths, progress=True)
    rounds = {name: [] for name in run_names(cfg)}
    for turn in range(args.rounds):
        for name in rounds:
            pc = pretrain_config(cfg, paths, name, args.calibration_steps)
            pc.out = str(paths.out / "calibrate" / name)
            pc.log_every, pc.save_every = 1, 10**6
            shutil.rmtree(pc.out, ignore_errors=True)  # a fresh timing, never a resumed one
            pretrain(pc, progress=False)
            rounds[name].append(statistics.median(step_seconds(Path(pc.out), args.skip)))
            print(f"round {turn + 1}: {name} {rounds[name][-1]:.3f} s a step", flush=True)
    seconds = {name: min(times) for name, times in rounds.items()}
    steps = {name: max(1, int(args.minutes * 60 / s)) for name, s in seconds.items()}
    for name in rounds:
        print(f"{name}: {seconds[name]:.3f} s a step -> {steps[name]} steps in {args.minutes:g} min", flush=True)
    result = {"benchmark": "demo_budget", "minutes": args.minutes, "steps": steps, "median_step_seconds": seconds,
              "round_median_step_seconds": rounds,
              "calibration_steps": args.calibration_steps, "skipped_steps": args.skip, "rounds": args.rounds,
              "torch_threads": torch.get_num_threads(), "precision": demo_precision(cfg),
              "demo_config": config_to_dict(cfg),
              "machine": machine(), "command": " ".join(sys.argv), **provenance()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""`codec2vec demo` at a micro size: every stage runs, the report holds the measured numbers, the same
seed gives the same table, a rerun reuses everything, a failing stage is named with its reason while the
stages that need it are skipped, and the default budgets are the measured ones."""

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from codec2vec.cli import main
from codec2vec.config import config_to_dict
from codec2vec.demo import (MEASURED_MINUTES, MEASURED_STEPS, DemoConfig, read_metrics, storage_totals,
                            training_throughput)
from codec2vec.eval.tasks import TASKS

ROOT = Path(__file__).resolve().parent.parent
RUNS = ["reconstruction", "kmeans", "online", "waveform-online", "logmel-online"]
MICRO = ["corpus.hours=0.01", "corpus.voices=4", "encoder.layers=2", "encoder.width=64", "encoder.ffn=256",
         "objectives=[reconstruction,kmeans,online]", "max_frames=500", "crop_frames=100", "clusters=8",
         "pnmi_clusters=8"] + [f"steps.{run}=3" for run in RUNS] + [f"head.max_epochs.{task}=1" for task in TASKS]
UPSTREAMS = ["fbank", "codec-default"] + RUNS
DEMO_TASKS = DemoConfig().tasks


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    code = main(["demo", "--out", str(out), "--quiet"] + MICRO)
    return out, code


def test_demo_runs_every_stage_and_reports_measured_numbers(demo, capsys):
    out, code = demo
    assert code == 0
    stages = json.loads((out / "demo.json").read_text())["stages"]
    assert list(stages) == ["corpus", "units", "kmeans"] + [f"pretrain {run}" for run in RUNS] + ["evaluate", "report"]
    assert all(s["status"] == "done" for s in stages.values())
    # CPU time per stage, the kernel's share of it in the report; the corpus stage's synthesis workers are a
    # forkserver's children, which this process never waits for, so only its own share counts there. Times
    # are in tenths of a second: a micro model's 3 steps can take less than 0.05 s, so only the stages that
    # do real work at any size must show some.
    for name, s in stages.items():
        assert s["user_s"] >= 0 and s["system_s"] >= 0, name
        assert s["user_s"] + s["system_s"] <= 2 * s["seconds"] * (os.cpu_count() or 1) + 1, name
    assert stages["units"]["user_s"] > 0 and stages["evaluate"]["user_s"] > 0
    # the demo's corpus only, never real speech a working folder may hold (data/packaged-speech, data/real-en)
    settings = yaml.safe_load((out / "eval" / "config.yaml").read_text())
    assert settings["real"] == settings["real_sid"] == "" and not (out / "eval" / "real-sid").exists()
    report = (out / "report.md").read_text()
    before = [s for name, s in stages.items() if name != "report"]  # the report stage writes the report
    user, system = (sum(s[key] for s in before) for key in ("user_s", "system_s"))
    total = f"| all stages | {len(before)} of {len(before)} done | {sum(s['seconds'] for s in before) / 60:.1f} " \
            f"| {(user + system) / 60:.1f} | {100 * system / (user + system):.1f} % |"
    assert total in report
    for png in ("loss_curves.png", "eval/layer_weights.png", "eval/metrics.png"):
        assert (out / png).stat().st_size > 1000 and f"({png})" in report

    # every upstream has a row whose task cells are its results files' test values
    results = report.split("## Downstream results")[1].split("## Storage")[0].splitlines()
    for name in UPSTREAMS:
        row = next(line for line in results if line.startswith(f"| {name} |"))
        cells = [c.strip() for c in row.split("|")[2:-1]]
        assert len(cells) == len(DEMO_TASKS) + 1  # the demo's tasks and PNMI; no timings
        for cell, task in zip(cells, DEMO_TASKS):
            result = json.loads((out / "eval" / name / f"{task}.json").read_text())
            value, low, high = re.match(r"\**([\d.]+) \[([\d.]+), ([\d.]+)\]", cell).groups()  # bold: the best
            assert value == f"{100 * result['test']:.1f}"
            assert [low, high] == [f"{100 * x:.1f}" for x in result["test_interval"]]

    storage = storage_totals(out / "units")
    assert storage["hours"] > 0 and storage["packing"] == "uint16"
    totals = [json.loads(h.read_text())["totals"] for h in (out / "units").glob("*/header.json")]
    assert storage["store_bytes"] == sum(t["store_bytes"] for t in totals)
    frames = sum(t["frames"] for t in totals)
    # 12 codes of 10 bits a frame instead of 16: 5/8 of the codes' bytes, each utterance rounded up to a byte
    codes = sum(t["codes_bytes"] for t in totals)
    assert codes == 2 * 12 * frames
    saved = storage["uint16_bytes"] - storage["bitpack_bytes"]
    assert 0 <= codes * 3 / 8 - saved < len(list((out / "units").glob("*/index.jsonl"))) * 10_000
    flac_ratio = storage["flac_bytes"] / storage["store_bytes"]
    assert 5 < flac_ratio < 40  # 16-bit codes at 50 Hz x 12 against 16 kHz FLAC
    assert f"| codec units, uint16 | {storage['uint16_bytes'] / storage['hours'] / 1e6:.2f} | {flac_ratio:.1f}x |" in report
    assert "| codec units, bit-packed |" in report and "s of audio per second" in report

    throughput = json.loads((out / "throughput.json").read_text())
    units = training_throughput(read_metrics(out / "runs" / "online"))
    for baseline in ("waveform-online", "logmel-online"):
        speed = training_throughput(read_metrics(out / "runs" / baseline))
        assert throughput[f"online_vs_{baseline}"] == pytest.approx(units / speed)
        assert f"{units / speed:.1f}x {baseline}'s" in report
    assert re.search(r"\| waveform-online \| waveform \| online \| [\d.]+ M \| 3 \|", report)
    comparisons = report.split("Each unit model against")[1].split("![layer")[0]
    verdict = r"(better|level|worse)"
    for model in ("reconstruction", "kmeans", "online"):
        for other in ("fbank", "codec-default", "waveform-online", "logmel-online"):
            row = rf"\| {model} vs {other} \| {verdict}( \| {verdict}){{{len(DEMO_TASKS) - 1}}} \|"
            assert re.search(row, comparisons), (model, other)


def test_the_same_seed_gives_the_same_table_byte_for_byte(tmp_path):
    # two fresh runs (corpus, units, pre-training, heads); one model and two tasks keep it short
    small = [m for m in MICRO if not m.startswith("objectives=")] + \
        ["objectives=[online]", "baselines=[logmel]", "tasks=[pr,ks]"]
    tables = []
    for name in ("first", "second"):
        assert main(["demo", "--out", str(tmp_path / name), "--quiet"] + small) == 0
        tables.append((tmp_path / name / "eval" / "table.md").read_bytes())
    assert tables[0] == tables[1] and b"| online |" in tables[0] and b"| logmel-online |" in tables[0]


def test_demo_rerun_reuses_every_stage(demo, capsys):
    out, _ = demo
    before = json.loads((out / "demo.json").read_text())["stages"]
    results = {p: p.stat().st_mtime_ns for p in (out / "eval").glob("*/*.json")
               if p.stem in TASKS or p.name == "unit_quality.json"}
    assert len(results) == len(UPSTREAMS) * (len(DEMO_TASKS) + 1)
    assert main(["demo", "--out", str(out), "--quiet"] + MICRO) == 0
    printed = capsys.readouterr().out
    assert "already trained to step 3" in printed and "10 of 10 stages done" in printed
    after = json.loads((out / "demo.json").read_text())["stages"]
    assert {k: v["seconds"] for k, v in after.items()} == {k: v["seconds"] for k, v in before.items()}
    assert {p: p.stat().st_mtime_ns for p in results} == results  # nothing re-evaluated


def test_demo_names_a_failing_stage_and_skips_what_needs_it(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["demo", "--out", str(out), "--quiet", "codec=no-such-codec", "baselines=[]"] + MICRO)
    assert code == 1
    printed = capsys.readouterr().out
    assert "FAILED: codec 'no-such-codec' is neither a known name" in printed
    stages = json.loads((out / "demo.json").read_text())["stages"]
    assert stages["corpus"]["status"] == "done" and stages["units"]["status"] == "failed"
    assert stages["pretrain online"]["status"] == "skipped"
    assert stages["pretrain online"]["detail"] == "skipped: needs units, which failed"
    assert stages["report"]["status"] == "skipped"
    assert "1 of 8 stages done" in printed
    assert not (out / "report.md").exists()
    assert "Traceback" in (out / "failures.log").read_text()


def test_the_demos_budgets_are_the_measured_ones():
    measured = json.loads((ROOT / "benchmarks" / "results" / "demo_budget.json").read_text())
    assert measured["benchmark"] == "demo_budget" and measured["machine"].startswith("2-core")
    assert MEASURED_STEPS == measured["steps"] and MEASURED_MINUTES == measured["minutes"]
    config = DemoConfig()
    assert config.steps == measured["steps"] and config.budget_minutes == measured["minutes"]
    # measured for the demo as it is: its models, encoder, batches and corpus
    for key in ("objectives", "baselines", "encoder", "max_frames", "crop_frames", "corpus", "codec"):
        assert measured["demo_config"][key] == config_to_dict(config)[key], key
    # equal wall-clock: each model gets the whole steps of its median step that fit the budget
    for run, steps in measured["steps"].items():
        step = measured["median_step_seconds"][run]
        assert steps * step <= 60 * measured["minutes"] < (steps + 1) * step


def test_a_run_without_a_budget_is_refused_by_name(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path / "out"), "objectives=[online,kmeans]"])
    assert code == 2 and "steps: no budget for kmeans" in capsys.readouterr().err


def test_precision_is_bf16_only_where_native_in_training_and_evaluation(monkeypatch, tmp_path):
    from codec2vec import demo
    from codec2vec.errors import ConfigError
    from codec2vec.eval import upstream

    for native in (True, False):
        monkeypatch.setattr(upstream, "native_bf16", lambda device, native=native: native)
        cfg = DemoConfig(device="cpu")
        assert demo.demo_precision(cfg) == ("bf16" if native else "fp32")
        trained = demo.pretrain_config(cfg, demo.DemoPaths(tmp_path), "online", 10).precision
        assert trained == demo.demo_precision(cfg)
    assert demo.demo_precision(DemoConfig(device="cpu", precision="fp32")) == "fp32"
    with pytest.raises(ConfigError, match="precision 'fp16': choose from auto, fp32, bf16"):
        demo.check_demo_config(DemoConfig(precision="fp16"))


def test_eval_precision_benchmark_compares_every_model_and_task(demo, tmp_path):
    import subprocess
    import sys

    out, _ = demo
    result = tmp_path / "precision.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "eval_precision.py"), "--demo", str(out),
                           "--out", str(result)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(result.read_text())
    assert {(r["model"], r["task"]) for r in measured["results"]} == {(run, task) for run in RUNS for task in DEMO_TASKS}
    for row in measured["results"]:
        for precision in ("fp32", "bf16"):
            written = json.loads((out / "eval-precision" / precision / row["model"] / f"{row['task']}.json").read_text())
            assert written["settings"]["precision"] == precision
            assert (row[precision], row[f"{precision}_interval"]) == (written["test"], written["test_interval"])
        assert row["difference_points"] == round(100 * (row["bf16"] - row["fp32"]), 2)
    assert measured["max_abs_difference_points"] == max(abs(r["difference_points"]) for r in measured["results"])

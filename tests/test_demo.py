"""`codec2vec demo` at a micro size: every stage runs, the report holds the measured numbers, a rerun
reuses everything, and a failing stage is named with its reason while the stages that need it are skipped."""

import json
import re

import pytest

from codec2vec.cli import main
from codec2vec.demo import read_metrics, storage_totals, training_throughput
from codec2vec.eval.tasks import TASKS

MICRO = ["hours=0.01", "voices=4", "encoder.layers=2", "encoder.width=64", "encoder.ffn=256", "steps=3",
         "max_frames=500", "crop_frames=100", "clusters=8", "pnmi_clusters=8"] + \
        [f"head.max_epochs.{task}=1" for task in TASKS]
UPSTREAMS = ["fbank", "codec-default", "reconstruction", "kmeans", "online", "waveform-online"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    code = main(["demo", "--out", str(out), "--quiet"] + MICRO)
    return out, code


def test_demo_runs_every_stage_and_reports_measured_numbers(demo, capsys):
    out, code = demo
    assert code == 0
    stages = json.loads((out / "demo.json").read_text())["stages"]
    assert list(stages) == ["corpus", "units", "kmeans", "pretrain reconstruction", "pretrain kmeans",
                            "pretrain online", "pretrain waveform", "evaluate", "report"]
    assert all(s["status"] == "done" for s in stages.values())
    report = (out / "report.md").read_text()
    for png in ("loss_curves.png", "eval/layer_weights.png", "eval/metrics.png"):
        assert (out / png).stat().st_size > 1000 and f"({png})" in report

    # every upstream has a row whose task cells are its results files' test values
    results = report.split("## Downstream results")[1].split("## Storage")[0].splitlines()
    for name in UPSTREAMS:
        row = next(line for line in results if line.startswith(f"| {name} |"))
        cells = [c.strip() for c in row.split("|")[2:]]
        for cell, task in zip(cells, TASKS):
            result = json.loads((out / "eval" / name / f"{task}.json").read_text())
            value, low, high = re.match(r"\**([\d.]+) \[([\d.]+), ([\d.]+)\]", cell).groups()  # bold: the best
            assert value == f"{100 * result['test']:.1f}"
            assert [low, high] == [f"{100 * x:.1f}" for x in result["test_interval"]]

    storage = storage_totals(out / "units")
    assert storage["hours"] > 0 and storage["packing"] == "uint16"
    flac_ratio = storage["flac_bytes"] / storage["store_bytes"]
    assert 5 < flac_ratio < 40  # 16-bit codes at 50 Hz x 12 against 16 kHz FLAC
    assert f"| FLAC | {storage['flac_bytes'] / storage['hours'] / 1e6:.2f} | {flac_ratio:.1f}x |" in report

    throughput = json.loads((out / "throughput.json").read_text())
    units = training_throughput(read_metrics(out / "runs" / "online"))
    wave = training_throughput(read_metrics(out / "runs" / "waveform-online"))
    assert throughput["ratio"] == pytest.approx(units / wave)
    assert f"units vs waveform: {units / wave:.1f}x" in report
    assert re.search(r"\| waveform-online \| waveform \| online \| [\d.]+ M \|", report)


def test_demo_rerun_reuses_every_stage(demo, capsys):
    out, _ = demo
    before = json.loads((out / "demo.json").read_text())["stages"]
    results = {p: p.stat().st_mtime_ns for p in (out / "eval").glob("*/*.json")
               if p.stem in TASKS or p.name == "unit_quality.json"}
    assert len(results) == len(UPSTREAMS) * (len(TASKS) + 1)
    assert main(["demo", "--out", str(out), "--quiet"] + MICRO) == 0
    printed = capsys.readouterr().out
    assert "already trained to step 3" in printed and "9 of 9 stages done" in printed
    after = json.loads((out / "demo.json").read_text())["stages"]
    assert {k: v["seconds"] for k, v in after.items()} == {k: v["seconds"] for k, v in before.items()}
    assert {p: p.stat().st_mtime_ns for p in results} == results  # nothing re-evaluated


def test_demo_names_a_failing_stage_and_skips_what_needs_it(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["demo", "--out", str(out), "--quiet", "codec=no-such-codec", "baseline="] + MICRO)
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

"""benchmarks/probe_curve.py: snapshots of a tiny pre-training, each evaluated, against audio seen."""

import json

import pytest

from codec2vec.config import load_config
from codec2vec.eval import EvalConfig
from codec2vec.train import pretrain
from conftest import benchmark_module
from eval_fixtures import write_task_corpus
from pretrain_fixtures import make_setup, tiny_config


def test_probe_curve_evaluates_every_snapshot_against_audio_seen(tmp_path):
    setup = make_setup(tmp_path / "setup")
    run = tmp_path / "run"
    pretrain(tiny_config(setup, run, "objective.name=reconstruction", "optim.steps=4", "keep_every=2"),
             progress=False)
    probe = benchmark_module("probe_curve")
    seen = probe.audio_seen(run)
    assert seen[0] == 0.0 and 0 < seen[2] < seen[4]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert seen[4] == pytest.approx(sum(r["audio_s"] for r in metrics))
    corpus = write_task_corpus(tmp_path / "corpus")
    cfg = load_config(EvalConfig, overrides=[f"corpus={corpus}", f"units={tmp_path / 'units'}", "tasks=[ks]",
                                             "head.max_epochs.ks=1", "device=cpu", "model=unset", "out=unset"])
    points = probe.probe([run], cfg, tmp_path / "probe")
    assert [(p["step"], p["task"]) for p in points] == [(0, "ks"), (2, "ks"), (4, "ks")]
    assert [p["audio_hours"] for p in points] == [seen[s] / 3600 for s in (0, 2, 4)]
    assert all(p["test_interval"][0] <= p["test"] <= p["test_interval"][1] for p in points)
    assert (tmp_path / "probe" / "run" / "step-000002" / "ks.json").is_file()
    assert not list((tmp_path / "probe").rglob("feature-cache"))  # finished snapshots keep results, not features
    probe.plot(points, tmp_path / "probe" / "curve.png")
    assert (tmp_path / "probe" / "curve.png").stat().st_size > 1000

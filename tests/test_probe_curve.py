"""benchmarks/probe_curve.py: snapshots of a tiny pre-training, each evaluated, against audio seen."""

import importlib.util
import json
from pathlib import Path

import pytest

from codec2vec.config import load_config
from codec2vec.eval import EvalConfig
from codec2vec.train import pretrain
from eval_fixtures import write_task_corpus
from pretrain_fixtures import make_setup, tiny_config

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("probe_curve", ROOT / "benchmarks" / "probe_curve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_probe_curve_evaluates_every_snapshot_against_audio_seen(tmp_path):
    setup = make_setup(tmp_path / "setup")
    run = tmp_path / "run"
    pretrain(tiny_config(setup, run, "objective.name=reconstruction", "optim.steps=4", "keep_every=2"),
             progress=False)
    probe = _module()
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
    probe.plot(points, tmp_path / "probe" / "curve.png")
    assert (tmp_path / "probe" / "curve.png").stat().st_size > 1000

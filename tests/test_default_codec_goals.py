"""benchmarks/default_codec_goals.py's offline-proof goal (issue 35): decided from the proof's own
benchmark results and its best unit model, with separated 95 % intervals."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("default_codec_goals", ROOT / "benchmarks" / "default_codec_goals.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def _proof(root: Path, table: dict[str, dict[str, tuple[float, float, float]]], best: str = "online") -> Path:
    """A proof folder as recipes/offline_proof.sh publishes it: goals/goals.json and benchmark/<model>/."""
    (root / "goals").mkdir(parents=True)
    (root / "goals" / "goals.json").write_text(json.dumps({"best_unit_model": best, "compute": []}))
    for model, tasks in table.items():
        (root / "benchmark" / model).mkdir(parents=True)
        results = {task: {"test": test, "test_interval": [low, high]} for task, (test, low, high) in tasks.items()}
        (root / "benchmark" / model / "results.json").write_text(json.dumps({"tasks": results}))
    return root


UNITS = {"recon": {"pr": (0.60, 0.59, 0.61)}, "hubert1": {"pr": (0.55, 0.54, 0.56)},
         "hubert2": {"pr": (0.54, 0.53, 0.55)}, "codec-default": {"pr": (0.65, 0.64, 0.66)}}


def test_the_proof_goal_is_met_within_two_per_points_and_level_on_sid(tmp_path):
    table = {**UNITS, "online": {"pr": (0.47, 0.46, 0.48), "sid": (0.80, 0.76, 0.84)},
             "logmel-online": {"pr": (0.455, 0.44, 0.47), "sid": (0.85, 0.81, 0.89)}}
    keys, met = _tool().proof_goals(_proof(tmp_path / "proof", table))
    assert met  # 1.5 PER points behind; SID 80 [76, 84] overlaps 85 [81, 89]; every unit model above the latent
    assert keys["proof_best_unit_pr_per"] == 47.0 and keys["proof_logmel_pr_per"] == 45.5
    assert keys["proof_best_unit_sid_acc_interval"] == [76.0, 84.0]
    assert keys["proof_unit_pr_per"] == {"recon": 60.0, "online": 47.0, "hubert1": 55.0, "hubert2": 54.0}


@pytest.mark.parametrize("change", [
    {"logmel-online": {"pr": (0.44, 0.43, 0.45), "sid": (0.85, 0.81, 0.89)}},  # 3 PER points behind
    {"logmel-online": {"pr": (0.46, 0.45, 0.47), "sid": (0.90, 0.87, 0.93)}},  # SID separated below
    {"recon": {"pr": (0.64, 0.63, 0.65)}},  # a unit model level with the latent
])
def test_the_proof_goal_is_missed_on_any_one_condition(tmp_path, change):
    table = {**UNITS, "online": {"pr": (0.47, 0.46, 0.48), "sid": (0.80, 0.76, 0.84)},
             "logmel-online": {"pr": (0.46, 0.45, 0.47), "sid": (0.82, 0.78, 0.86)}}
    assert _tool().proof_goals(_proof(tmp_path / "ok", table))[1]
    assert not _tool().proof_goals(_proof(tmp_path / "changed", {**table, **change}))[1]


def test_a_proof_without_a_model_names_it(tmp_path):
    table = {**UNITS, "online": {"pr": (0.47, 0.46, 0.48), "sid": (0.80, 0.76, 0.84)}}
    with pytest.raises(SystemExit, match="logmel-online was not benchmarked"):
        _tool().proof_goals(_proof(tmp_path / "proof", table))
    with pytest.raises(SystemExit, match="no goals/goals.json"):
        _tool().proof_goals(tmp_path / "nothing")

"""recipes/tools: budget_steps.py (the steps that fit a wall-clock budget, from a timed run's metrics) and
make_sentences.py (which WordNet examples the synthetic corpus reads)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "recipes" / "tools" / "budget_steps.py"


def _metrics(run: Path, step_seconds: list[float], every: int = 1) -> Path:
    run.mkdir(parents=True)
    # each window: 2 s of audio trained on, at 2 / seconds audio-seconds per second
    lines = [json.dumps({"step": every * (i + 1), "loss": 1.0, "audio_s": 2.0, "audio_s_per_s": 2.0 / s})
             for i, s in enumerate(step_seconds)]
    (run / "metrics.jsonl").write_text("\n".join(lines + [json.dumps({"step": 99, "event": "saved"})]) + "\n")
    return run


def _budget(run: Path, minutes: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), str(run), minutes], capture_output=True, text=True)


def test_budget_is_minutes_over_the_median_step_without_the_first(tmp_path):
    # first step 30 s (start-up, left out); then 0.5, 0.6, 0.4, 10 (an outlier the median ignores)
    run = _metrics(tmp_path / "run", [30.0, 0.5, 0.6, 0.4, 10.0])
    done = _budget(run, "2")
    assert done.returncode == 0 and done.stdout.strip() == str(int(120 / 0.55))


def test_budget_refuses_runs_it_cannot_time(tmp_path):
    sparse = _budget(_metrics(tmp_path / "sparse", [1.0, 1.0, 1.0], every=10), "1")
    assert sparse.returncode != 0 and "log_every=1" in sparse.stderr
    short = _budget(_metrics(tmp_path / "short", [1.0, 1.0]), "1")
    assert short.returncode != 0 and "too few timed steps (1)" in short.stderr


def test_sentences_kept_are_whole_common_word_sentences():
    spec = importlib.util.spec_from_file_location("make_sentences", ROOT / "recipes" / "tools" / "make_sentences.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    common = {"she", "he", "clutched", "her", "purse", "tightly", "a", "row", "of", "cheerleaders", "came", "off",
              "second", "best", "couldn't", "get", "the", "hang", "it"}
    assert tool.clean("she clutched her purse tightly", common) == "She clutched her purse tightly"
    assert tool.clean("He couldn't get the hang of it;", common) == "He couldn't get the hang of it"
    assert tool.clean("a row of cheerleaders came", common) is None  # a fragment: no pronoun opens it
    assert tool.clean("she clutched her sparkly purse", common) is None  # a word outside the common ones
    assert tool.clean("he came off second-best today", common | {"today"}) is None  # a hyphenated idiom
    assert tool.clean("she clutched her", common) is None  # under 5 words
    assert tool.clean(" ".join(["she"] + ["purse"] * 12), common) is None  # over 12 words


def _proof_goals_tool():
    sys.path.insert(0, str(ROOT / "recipes" / "tools"))  # as when run as a script: it imports budget_steps
    spec = importlib.util.spec_from_file_location("proof_goals", ROOT / "recipes" / "tools" / "proof_goals.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def _result(folder: Path, name: str, task: str, test: float, low: float, high: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    higher = task != "pr"
    result = {"codec2vec": "codec2vec-eval", "task": task, "metric": "accuracy" if higher else "per",
              "higher_is_better": higher, "test": test, "test_interval": [low, high], "seeds": 1,
              "upstream": {"name": name}, "seconds": {"total": 1.0}}
    (folder / f"{task}.json").write_text(json.dumps(result))


def test_proof_goals_decide_each_goal_from_separated_intervals(tmp_path):
    bench = tmp_path / "exp" / "benchmark"
    # (test, low, high) per model and task: PR is an error rate (lower is better), KS and IC accuracies
    table = {
        "fbank": {"pr": (0.60, 0.58, 0.62), "ks": (0.50, 0.45, 0.55), "ic": (0.30, 0.25, 0.35)},
        "codec-default": {"pr": (0.62, 0.60, 0.64), "ks": (0.55, 0.50, 0.60), "ic": (0.20, 0.15, 0.25)},
        "recon": {"pr": (0.59, 0.57, 0.61), "ks": (0.58, 0.53, 0.63), "ic": (0.33, 0.28, 0.38)},
        "online": {"pr": (0.50, 0.48, 0.52), "ks": (0.75, 0.70, 0.80), "ic": (0.45, 0.40, 0.50)},
        "hubert1": {"pr": (0.57, 0.55, 0.59), "ks": (0.60, 0.55, 0.65), "ic": (0.35, 0.30, 0.40)},
        "hubert2": {"pr": (0.52, 0.50, 0.54), "ks": (0.62, 0.57, 0.67), "ic": (0.36, 0.31, 0.41)},
        "waveform-online": {"pr": (0.70, 0.68, 0.72), "ks": (0.40, 0.35, 0.45), "ic": (0.42, 0.37, 0.47)},
        "logmel-online": {"pr": (0.55, 0.53, 0.57), "ks": (0.70, 0.65, 0.75), "ic": (0.50, 0.45, 0.55)},
    }
    for name, tasks in table.items():
        for task, values in tasks.items():
            _result(bench / name, name, task, *values)
    _result(bench / "online" / "real-sid", "online", "sid", 0.60, 0.55, 0.65)
    _result(bench / "codec-default" / "real-sid", "codec-default", "sid", 0.50, 0.45, 0.54)
    points = [{"run": run, "task": task, "step": step, "test": test, "test_interval": [test - 0.02, test + 0.02]}
              for run, task, curve in [("online", "pr", [0.70, 0.60, 0.55]), ("recon", "pr", [0.70, 0.69, 0.66])]
              for step, test in zip((0, 100, 200), curve)]
    (tmp_path / "exp" / "probe").mkdir()
    (tmp_path / "exp" / "probe" / "probe_curve.json").write_text(json.dumps({"points": points}))

    # the online run's two logged windows: 10 steps each, 360 s of audio at 120 and 60 audio-s/s (3 + 6 s)
    (tmp_path / "exp" / "runs" / "online").mkdir(parents=True)
    (tmp_path / "exp" / "runs" / "online" / "metrics.jsonl").write_text("".join(
        json.dumps(r) + "\n" for r in [{"step": 10, "audio_s": 360.0, "audio_s_per_s": 120.0},
                                       {"step": 15, "event": "saved"},
                                       {"step": 20, "audio_s": 360.0, "audio_s_per_s": 60.0}]))

    # its calibration: steps of 30 s (start-up, left out), 0.5, 0.6 and 0.4 s: the budget's 20 steps take 10 s
    _metrics(tmp_path / "exp" / "calibrate" / "online", [30.0, 0.5, 0.6, 0.4])

    tool = _proof_goals_tool()
    result = tool.goals(tmp_path / "exp")
    assert result["compute"] == [{"run": "online", "steps": 20, "audio_hours": 0.2, "train_minutes": 0.15,
                                  "budget_minutes": pytest.approx(10 / 60)}]
    verdicts = {g["goal"]: g["verdict"] for g in result["goals"]}
    assert result["best_unit_model"] == "online"  # first on every task among recon, online, hubert1, hubert2
    # online beats the latent and FBANK on PR, KS, IC; hubert2 does not (its KS 0.62 [0.57, 0.67] overlaps
    # the latent's [0.50, 0.60]), so no other model is listed
    assert verdicts["inputs"] == "met" and result["goals"][0]["also_met_by"] == []
    assert verdicts["waveform"] == "missed"  # IC 0.45 [0.40, 0.50] vs waveform 0.42 [0.37, 0.47] overlaps
    waveform_rows = {row[0]: row for row in result["goals"][1]["rows"]}
    assert waveform_rows["PR"][3] == "beats" and waveform_rows["IC"][3] == "overlaps"
    assert waveform_rows["IC"][5] == "overlaps" and waveform_rows["PR"][5] == "beats"  # vs log-mel, shown only
    assert verdicts["clustering"] == "met"  # PR by both, KS and IC by online
    assert verdicts["real-sid"] == "met"
    assert verdicts["probes"] == "missed"  # recon's PR 0.70 -> 0.66 with +-0.02 intervals: not separated
    probes = {row[0]: row for row in result["goals"][4]["rows"]}
    assert probes["online"][2] == "70.0 → 60.0 → 55.0" and probes["online"][5:] == ["beats", "beats"]
    assert probes["recon"][5:] == ["overlaps", "overlaps"]
    text = tool.markdown(result)
    assert "| online | 20 | 0.2 | 0.2 | 0.1 |" in text  # budget 0.17 min, logged 0.15, one decimal
    assert "## inputs: met" in text and "| PR | 50.0 [48.0, 52.0] | 62.0 [60.0, 64.0] | beats |" in text

    # without IC results and without real SID, those goals are not measured, not missed
    for name in table:
        (bench / name / "ic.json").unlink()
    (bench / "online" / "real-sid" / "sid.json").unlink()
    verdicts = {g["goal"]: g["verdict"] for g in tool.goals(tmp_path / "exp")["goals"]}
    assert verdicts["inputs"] == "not measured" and verdicts["real-sid"] == "not measured"
    assert verdicts["clustering"] == "met"


def test_proof_goals_refuses_an_experiment_without_a_benchmark(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "recipes" / "tools" / "proof_goals.py"), str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "no benchmark results (stage 8" in done.stderr


def test_proof_goals_names_the_model_to_ship(tmp_path):
    """recipes/shipped_model.sh ships the run stage 9 names best (or PRETRAINED) as synth-<run>-<L>x<W>."""
    exp = tmp_path / "exp"
    tool = _proof_goals_tool()
    with pytest.raises(SystemExit, match=r"goals\.json: no goals yet \(stage 9"):
        tool.shipped(exp)
    (exp / "goals").mkdir(parents=True)
    (exp / "goals" / "goals.json").write_text(json.dumps({"best_unit_model": "hubert2"}))
    with pytest.raises(SystemExit, match=r"no model 'hubert2' in the proof \(its models: none yet\)"):
        tool.shipped(exp)
    model = exp / "runs" / "hubert2" / "model"
    model.mkdir(parents=True)
    encoder = {"preset": "tiny", "layers": 2, "width": 128, "heads": 2, "ffn": 512}
    (model / "config.json").write_text(json.dumps({"model": {"encoder": encoder}}))
    assert tool.shipped(exp) == ("hubert2", "synth-hubert2-2x128")
    with pytest.raises(SystemExit, match=r"no model 'online' in the proof \(its models: \['hubert2'\]\)"):
        tool.shipped(exp, "online")
    online = exp / "runs" / "online" / "model"
    online.mkdir(parents=True)
    (online / "config.json").write_text(json.dumps({"model": {"encoder": {"preset": "small"}}}))  # 6 x 384
    assert tool.shipped(exp, "online") == ("online", "synth-online-6x384")
    done = subprocess.run([sys.executable, str(ROOT / "recipes" / "tools" / "proof_goals.py"), str(exp), "--ship"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "hubert2 synth-hubert2-2x128\n"
    (exp / "goals" / "goals.json").write_text(json.dumps({"best_unit_model": None}))
    with pytest.raises(SystemExit, match="no unit model in the proof's benchmark, nothing to ship"):
        tool.shipped(exp)


def test_recipe_stages_keep_their_names_whatever_a_stage_assigns(tmp_path):
    """recipes/lib.sh: a stage function's own variables (a loop over `name`, as the offline proof's
    budget stage has) do not change the stage's messages or done-markers; a rerun skips it."""
    recipe = tmp_path / "recipe.sh"
    recipe.write_text(f"""set -euo pipefail
EXP={tmp_path / "exp"}
cd {ROOT}
source recipes/lib.sh
loop() {{ for name in first second; do number=7; fn=x; echo "model $name"; done; }}
stage 1 loop loop
stage 2 again loop
""")
    first = subprocess.run(["bash", str(recipe)], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    lines = [line for line in first.stdout.splitlines() if line.startswith("===")]
    assert [line.split(":")[0] for line in lines] == ["=== stage 1 (loop)"] * 2 + ["=== stage 2 (again)"] * 2
    assert sorted(p.name for p in (tmp_path / "exp" / ".done").iterdir()) == ["1-loop", "2-again"]
    rerun = subprocess.run(["bash", str(recipe), "--stage", "2"], capture_output=True, text=True)
    assert rerun.returncode == 0 and rerun.stdout.strip() == (
        f"=== stage 2 (again): done earlier ({tmp_path / 'exp' / '.done' / '2-again'}); skipped")

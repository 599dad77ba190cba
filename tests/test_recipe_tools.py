"""recipes/tools: budget_steps.py (the steps that fit a wall-clock budget, from a timed run's metrics) and
make_sentences.py (which WordNet examples the synthetic corpus reads)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

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

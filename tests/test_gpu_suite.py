"""The GPU suite (benchmarks/gpu_suite.sh): its report, and the whole suite at tiny size on CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_suite_report  # noqa: E402


def test_report_reads_anchor_lines_cut_off_by_a_time_limit(tmp_path):
    log = tmp_path / "anchor_limit.log"
    log.write_text("measured bf16 matmul peak 795 TFLOP/s\n"
                   "tokens 48 True {'step_s': 0.064, 'audio_s_per_s': 7509.9, 'mfu': 0.267}\n"
                   "W1126 some warning line\n"
                   "waveform False {'step_s': 0.056, 'audio_s_per_s': 2873.4}\n")
    found = gpu_suite_report.anchor_lines(log)
    assert found == {"peak_tflops": 795.0, "tokens_48_True": {"step_s": 0.064, "audio_s_per_s": 7509.9, "mfu": 0.267},
                     "waveform_False": {"step_s": 0.056, "audio_s_per_s": 2873.4}}
    assert gpu_suite_report.anchor_lines(tmp_path / "missing.log") == {}


def test_goals_take_the_best_measured_figures():
    suite = {"pretrain_throughput": {"results": [
        {"kind": "units", "batch": 16, "compiled": False, "audio_seconds_per_second": 3000.0, "mfu": 0.1,
         "speedup_vs_waveform": 1.5},
        {"kind": "units", "batch": 64, "compiled": True, "audio_seconds_per_second": 6000.0, "mfu": 0.25,
         "speedup_vs_waveform": 2.4},
        {"kind": "waveform", "batch": 64, "compiled": True, "error": "out of memory"}]},
        "pipeline_throughput": {"results": [{"kind": "units", "speedup_vs_waveform": 1.2}]},
        "extract_throughput": None}
    goals = gpu_suite_report.goals(suite)
    assert goals["units_base_audio_s_per_s"] == {"measured": 6000.0, "goal": 10000, "met": False}
    assert goals["units_base_mfu"]["measured"] == 0.25
    assert goals["units_vs_waveform"] == {"measured": 2.4, "goal": 2.3, "met": True}
    assert goals["units_vs_waveform_end_to_end"]["met"] is False
    assert goals["dac_16khz_extract_audio_s_per_s"]["met"] is None


@pytest.mark.slow
def test_smoke_suite_runs_every_step_on_cpu(tmp_path):
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_suite.sh"), "--smoke", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    suite = json.loads((tmp_path / "gpu_suite.json").read_text())
    assert {s["step"]: s["status"] for s in suite["steps"]} == {
        name: "ok" for name in ("throughput", "step_online", "step_ragged", "corpus", "real_steps", "pipeline",
                                "real_steps_efficient", "real_steps_cudnn", "real_steps_fft", "extract")}
    runs = {(r["kind"], r["compiled"]) for r in suite["pretrain_throughput"]["results"] if "error" not in r}
    assert runs == {("units", False), ("waveform", False), ("units", True), ("waveform", True)}
    online, ragged = suite["pretrain_throughput_online"]["results"], suite["pretrain_throughput_ragged"]["results"]
    assert online[0]["objective"] == "online" and ragged[0]["ragged"]
    assert "error" not in online[0] and "error" not in ragged[0]
    assert suite["real_steps"]["steps"] == 10 and suite["real_steps_efficient"]["steps"] == 10
    assert suite["real_steps_cudnn"]["steps"] == suite["real_steps_fft"]["steps"] == 10
    assert {r["kind"] for r in suite["pipeline_throughput"]["results"] if "error" not in r} == \
        {"units", "waveform", "logmel"}
    assert set(suite["extract_throughput"]["results"]) == {
        "dac_16khz_architecture", "dac_16khz_architecture_bf16", "default_codec", "default_codec_compiled",
        "default_codec_extract_pipeline",
        "default_codec_extract_pipeline_glibc_default", "default_codec_extract_pipeline_eager"}
    assert suite["git_revision"] and "goals" in suite
    assert "GPU suite on CPU (smoke run)" in done.stdout

"""The staged recipes at tiny scale (slow: several torchrun launches). LibriSpeech: a random-weight DAC,
a fixture in LibriSpeech's layout, 2 CPU ranks for extraction and pre-training. Synthetic: a minimal
corpus with the tiny preset. Each runs every stage, then a rerun skips them all."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codec2vec.eval.tasks import PR_VOCAB as PHONES
from codec_fixtures import save_tiny_dac

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
WORDS = "the cat sat on a mat while two dogs ran far away from home".split()
TINY_PRETRAIN = ("model.encoder.preset=tiny optim.steps=2 optim.warmup_steps=1 data.max_frames=400 "
                 "data.crop_frames=100 data.workers=0 objective.top_k=1 save_every=1 log_every=1 device=cpu")


def _librispeech(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for number, (split, n) in enumerate((("train-clean-100", 8), ("dev-clean", 3), ("test-clean", 3))):
        for speaker in (101, 202):
            chapter = root / "LibriSpeech" / split / str(speaker) / str(number)
            chapter.mkdir(parents=True)
            lines = []
            for k in range(n):
                uid = f"{speaker}-{number}-{k:04d}"
                seconds = rng.uniform(0.8, 1.6)
                t = np.arange(int(seconds * 16000)) / 16000
                audio = 0.3 * np.sin(2 * np.pi * rng.uniform(120, 400) * t) + 0.02 * rng.standard_normal(len(t))
                sf.write(str(chapter / f"{uid}.flac"), audio.astype(np.float32), 16000)
                lines.append(f"{uid} {' '.join(rng.choice(WORDS, 4)).upper()}")
            (chapter / f"{speaker}-{number}.trans.txt").write_text("\n".join(lines) + "\n")
    return root / "LibriSpeech"


def _run(recipe: str, env: dict, *args: str) -> str:
    proc = subprocess.run(["bash", f"recipes/{recipe}/run.sh", *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_librispeech_recipe_every_stage_on_two_cpu_ranks(tmp_path):
    exp = tmp_path / "exp"
    lexicon = tmp_path / "lexicon.txt"  # a made-up pronunciation per word: PR runs in stage 9
    lexicon.write_text("".join(f"{w.upper()} {' '.join(PHONES[ord(c) % len(PHONES)] for c in w)}\n" for w in WORDS))
    env = {"LIBRISPEECH": str(_librispeech(tmp_path / "src")), "EXP": str(exp), "LEXICON": str(lexicon),
           "CODEC": str(save_tiny_dac(tmp_path / "codec")), "TRAIN_SPLITS": "train-clean-100", "NPROC": "2",
           "PYTHON": sys.executable, "MASTER_PORT": "29613", "PRETRAIN_ARGS": TINY_PRETRAIN,
           "KMEANS_ARGS": "n_clusters=8 layer=1 device=cpu", "EXTRACT_ARGS": "device=cpu",
           "EVAL_ARGS": "head.steps.asr=1 head.steps.pr=2 device=cpu"}
    out = _run("librispeech", env)
    names = ["prepare", "extract", "recon", "online", "kmeans1", "hubert1", "kmeans2", "hubert2", "evaluate"]
    assert sorted(p.name for p in (exp / ".done").iterdir()) == [f"{i}-{n}" for i, n in enumerate(names, 1)]
    assert "ks: no speech-commands corpus given; skipped" in out
    assert out.count("1 rank(s)") == 0 and out.count("2 rank(s) on cpu") == 4

    train = json.loads((exp / "units" / "train" / "librispeech" / "header.json").read_text())
    assert train["corpus"]["splits"] == ["train-clean-100"] and train["totals"]["utterances"] == 16
    evalu = json.loads((exp / "units" / "eval" / "librispeech" / "librispeech" / "header.json").read_text())
    assert evalu["totals"]["utterances"] == 28
    # two ranks trained each model (DDP), iteration 2 learned from iteration 1's labels
    for run in ("recon", "online", "hubert1", "hubert2"):
        assert json.loads((exp / "runs" / run / "model" / "config.json").read_text())["step"] == 2
        for task in ("asr", "pr"):
            result = json.loads((exp / "results" / run / f"{task}.json").read_text())
            assert result["task"] == task and 0 <= result["test"] and result["profile"] == "superb"
    kmeans2 = json.loads((exp / "runs" / "kmeans2" / "kmeans.json").read_text())
    assert kmeans2["config"]["model"].endswith("hubert1/model") and kmeans2["config"]["layer"] == 1
    assert (exp / "results" / "report" / "report.md").is_file()

    again = _run("librispeech", env)
    assert again.count("done earlier") == 9 and "started" not in again
    (exp / ".done" / "9-evaluate").unlink()
    only = _run("librispeech", env, "--stage", "9", "--stop-stage", "9")
    assert "stage 9 (evaluate): started" in only and "stage 8" not in only


def test_synthetic_recipe_every_stage(tmp_path):
    exp = tmp_path / "exp"
    epochs = " ".join(f"head.max_epochs.{t}=1" for t in ("pr", "asr", "ks", "sid", "ic", "er", "asv"))
    env = {"EXP": str(exp), "HOURS": "0.01", "WORKERS": "2", "PRESET": "tiny", "STEPS": "2", "PYTHON": sys.executable,
           "MASTER_PORT": "29614", "PRETRAIN_ARGS": "data.max_frames=400 data.crop_frames=100 device=cpu",
           "KMEANS_ARGS": "n_clusters=8", "BENCH_ARGS": f"{epochs} unit_quality.n_clusters=8 device=cpu"}
    _run("synthetic", env)
    assert len(list((exp / ".done").iterdir())) == 6
    report = (exp / "benchmark" / "report.md").read_text()
    for name in ("fbank", "codec-default", "recon", "online", "hubert1", "hubert2", "waveform-online"):
        assert f"| {name} |" in report
    assert _run("synthetic", env).count("done earlier") == 6


def test_default_codec_recipe_every_stage_at_tiny_size(tmp_path):
    """recipes/dac_cpu_codec.sh: synthetic corpora, a 2-step GAN training of a tiny codec, shipping
    it, its evaluation and training curve, the extraction benchmark; a rerun skips every stage."""
    data, ship, results, run = tmp_path / "data", tmp_path / "ship", tmp_path / "results", tmp_path / "run"
    codec_args = (f"manifests=[{data}/codec-train/pretrain.jsonl] validation_manifest={data}/codec-heldout/read.jsonl "
                  f"out={run} steps=2 checkpoint_every=1 log_every=1 batch_size=2 validation_clips=2 "
                  "quantizer_warmup_steps=1 discriminator_width=0.125 model.encoder_hidden_size=4 "
                  "model.decoder_hidden_size=16 model.hidden_size=32 device=cpu")
    env = {"EXP": str(tmp_path / "exp"), "DATA": str(data), "HOURS": "0.02", "REAL": "0", "CODEC_ARGS": codec_args,
           "SHIP_TO": str(ship), "EVAL_CODEC": str(ship), "RESULTS": str(results), "PYTHON": sys.executable,
           "EVAL_ARGS": "limit=2 whisper=false speaker=false pesq=false opus_bitrates=[] codec2_modes=[]",
           "BENCH_ARGS": f"--seconds 0.5 --pipeline-hours 0.003 --codec {ship}"}
    script = ["bash", "recipes/dac_cpu_codec.sh"]
    proc = subprocess.run(script, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    names = ["data", "train", "ship", "evaluate", "extract"]
    assert sorted(p.name for p in (tmp_path / "exp" / ".done").iterdir()) == [f"{i}-{n}" for i, n in enumerate(names, 1)]
    assert sorted(p.name for p in ship.iterdir()) == ["config.json", "model.safetensors", "training.json"]
    assert json.loads((ship / "training.json").read_text())["steps_done"] == 2
    table = json.loads((results / "codec_eval_heldout_voices" / "results.json").read_text())
    assert str(ship) in json.dumps(table) and not (results / "codec_eval_real_en").exists()
    assert (results / "default_codec_training" / "curve.png").is_file()
    bench = json.loads((results / "extract_throughput_cpu.json").read_text())
    assert bench["benchmark"] == "extract_throughput"
    again = subprocess.run(script, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count("done earlier") == 5


def test_offline_proof_recipe_every_stage_at_tiny_size(tmp_path):
    """recipes/offline_proof.sh: pool, k-means, equal wall-clock budgets measured per model, five
    pre-trainings and HuBERT iteration 2 with snapshots, probe curves over every snapshot, and the
    benchmark with head seeds, the goals, the published results; a rerun skips every stage. Then
    recipes/encoder_size.sh and recipes/shipped_model.sh on the proof."""
    exp = tmp_path / "exp"
    epochs = " ".join(f"head.max_epochs.{t}=1" for t in ("pr", "asr", "ks", "sid", "ic", "er", "asv"))
    env = {"EXP": str(exp), "PUBLISH": str(tmp_path / "published"), "HOURS": "0.01", "EVAL": str(tmp_path / "eval"), "EVAL_HOURS": "0.03", "REAL": "0",
           "BUDGET_MIN": "0.02", "CAL_STEPS": "3", "SNAPSHOTS": "2", "ENCODER": "model.encoder.preset=tiny",
           "PRETRAIN_ARGS": "data.max_frames=400 data.crop_frames=100 device=cpu", "CLUSTERS1": "8", "CLUSTERS2": "8",
           "PROBE_ARGS": "head.max_epochs.pr=1 head.max_epochs.ks=1 device=cpu", "SEEDS": "2",
           "BENCH_ARGS": f"tasks=[pr,ks,sid] {epochs} unit_quality.n_clusters=8 device=cpu", "PYTHON": sys.executable}
    script = ["bash", "recipes/offline_proof.sh"]
    proc = subprocess.run(script, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    names = ["corpus", "pool", "kmeans1", "budget", "pretrain", "hubert2", "probe", "benchmark", "goals", "publish"]
    assert sorted((p.name for p in (exp / ".done").iterdir()), key=lambda n: int(n.split("-")[0])) == [
        f"{i}-{n}" for i, n in enumerate(names, 1)]
    runs = ["recon", "online", "hubert1", "hubert2", "waveform-online", "logmel-online"]
    for run in runs:
        budget = int((exp / "budget" / ("hubert1" if run == "hubert2" else run)).read_text())
        assert budget >= 1
        config = json.loads((exp / "runs" / run / "model" / "config.json").read_text())
        keep = max(10, (budget + 2 * 5) // 2 // 10 * 10)
        assert config["step"] == 2 * keep  # the budget, rounded to the nearest whole snapshot intervals
        kept = sorted(p.name for p in (exp / "runs" / run / "snapshots").iterdir())
        assert kept == [f"step-{s:06d}" for s in (0, keep, 2 * keep)]
    assert json.loads((exp / "runs" / "logmel-online" / "model" / "config.json").read_text())["model"]["input"][
        "kind"] == "logmel"
    layers = json.loads((exp / "runs" / "kmeans2-layer" / "layer_pnmi.json").read_text())
    assert len(layers["layers"]) == 3 and f"best dev PNMI: {layers['best_layer']} " in proc.stdout
    points = json.loads((exp / "probe" / "probe_curve.json").read_text())["points"]
    assert sorted({(p["run"], p["task"]) for p in points}) == sorted((r, t) for r in runs for t in ("ks", "pr"))
    assert len(points) == 6 * 2 * 3
    report = (exp / "benchmark" / "report.md").read_text()
    for name in ("fbank", "codec-default", *runs):
        assert f"| {name} |" in report
    assert json.loads((exp / "benchmark" / "recon" / "ks.json").read_text())["seeds"] == 2
    goals = json.loads((exp / "goals" / "goals.json").read_text())
    verdicts = {g["goal"]: g["verdict"] for g in goals["goals"]}
    assert verdicts["inputs"] == "not measured"  # no IC among this run's tasks
    assert verdicts["probes"] in ("met", "missed")
    assert goals["best_unit_model"] in ("recon", "online", "hubert1", "hubert2")
    published = tmp_path / "published"
    for kept in ("goals/goals.md", "probe/probe_curve.png", "benchmark/report.md", "benchmark/recon/ks.json",
                 "runs/recon/metrics.jsonl", "runs/kmeans2-layer/layer_pnmi.json", "budget/recon"):
        assert (exp / kept).read_bytes() == (published / kept).read_bytes(), kept
    assert not [p for p in published.rglob("*") if p.name in ("feature-cache", "snapshots", "model", "labels")
                or p.suffix in (".pt", ".safetensors", ".bin")]
    again = subprocess.run(script, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count("done earlier") == 10
    # recipes/encoder_size.sh on this proof's pool: one budget per size, its final model probed
    sizes = {"EXP": str(tmp_path / "sizes"), "PROOF": str(exp), "SIZES": "1x64 2x128", "BUDGET_MIN": "0.02",
             "CAL_STEPS": "3", "PROBE_ARGS": "head.max_epochs.pr=1 device=cpu"}
    proc = subprocess.run(["bash", "recipes/encoder_size.sh"], cwd=ROOT, env={**os.environ, **env, **sizes},
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for size, (layers, width) in {"1x64": (1, 64), "2x128": (2, 128)}.items():
        config = json.loads((tmp_path / "sizes" / "runs" / size / "model" / "config.json").read_text())
        encoder = config["model"]["encoder"]
        assert (encoder["layers"], encoder["width"], encoder["heads"], encoder["ffn"]) == (layers, width, width // 64, 4 * width)
        assert config["step"] == max(10, int((tmp_path / "sizes" / "budget" / size).read_text()) // 10 * 10)
    points = json.loads((tmp_path / "sizes" / "probe" / "probe_curve.json").read_text())["points"]
    assert sorted({p["run"] for p in points}) == ["1x64", "2x128"] and {p["task"] for p in points} == {"pr"}
    # recipes/shipped_model.sh: the goals' best unit model replaces the shipped model, then its benchmark
    package = tmp_path / "package"
    (package / "older-model").mkdir(parents=True)
    (package / "older-model" / "config.json").write_text("{}")
    ship = {"PROOF": str(exp), "PACKAGE": str(package), "RESULTS": str(tmp_path / "shipped-results")}
    proc = subprocess.run(["bash", "recipes/shipped_model.sh"], cwd=ROOT, env={**os.environ, **env, **ship},
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    name = f"synth-{goals['best_unit_model']}-2x64"  # the tiny preset's 2 layers x 64
    assert sorted(p.name for p in package.iterdir()) == [name]
    shipped = json.loads((package / name / "config.json").read_text())
    assert shipped["torch_dtype"] == "float16" and shipped["step"] == json.loads(
        (exp / "runs" / goals["best_unit_model"] / "model" / "config.json").read_text())["step"]
    assert "offline proof" in (package / name / "README.md").read_text()
    assert f"| {name} |" in (tmp_path / "shipped-results" / "report.md").read_text()
    again = subprocess.run(["bash", "recipes/shipped_model.sh"], cwd=ROOT, env={**os.environ, **env, **ship},
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count("done earlier") == 2

"""The evaluation harness on a tiny tone corpus: upstreams, feature cache, heads, evaluate, report,
benchmark and unit quality."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from codec2vec.config import load_config
from codec2vec.data.manifest import read_manifest
from codec2vec.errors import ConfigError
from codec2vec.eval import EvalConfig, evaluate, load_upstream
from codec2vec.eval import downstream as downstream_module
from codec2vec.eval.downstream import Examples, HeadConfig, train_head
from codec2vec.eval.features import batch_inputs, cached_features
from codec2vec.eval.heads import Downstream, UtteranceHead
from codec2vec.eval.intervals import metric_value
from codec2vec.eval.pnmi import frame_phones, score_units
from codec2vec.eval.report import report
from codec2vec.eval.superb import SUPERB
from codec2vec.eval.tasks import TASKS, asr_text, task_manifest
from codec2vec.verify import verify_artifact
from codec2vec.units.store import StoreError, UnitStore
from eval_fixtures import make_eval_setup, save_tiny_model, write_task_corpus
from killing import cli, kill_at_random_point

FAST = [f"head.max_epochs.{t}=3" for t in TASKS] + ["head.asr_hidden=16", "device=cpu"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return make_eval_setup(tmp_path_factory.mktemp("eval"))


def _config(setup, out, model=None, *overrides):
    return load_config(EvalConfig, overrides=[f"model={model or setup['model']}", f"corpus={setup['corpus']}",
                                              f"units={setup['units']}", f"out={out}", *FAST, *overrides])


def test_frame_phones_and_unit_quality_values():
    phones = frame_phones([["sil", 0.0, 0.03], ["aa", 0.03, 0.07], ["s", 0.08, 0.1]], 6, 50.0)
    # frame centres 0.01, 0.03, 0.05, 0.07, 0.09, 0.11: 0.03 starts "aa"; 0.07 ends it; 0.11 is past the end
    assert phones.tolist() == ["sil", "aa", "aa", "sil", "s", "sil"]
    quality = score_units([np.array(["a", "a", "b"]), np.array(["b"])], [np.array([0, 0, 1]), np.array([1])])
    assert quality.pnmi == pytest.approx(1.0) and quality.phone_purity == pytest.approx(1.0)
    with pytest.raises(ValueError, match="utterance 0"):
        score_units([np.array(["a"])], [np.array([0, 1])])


def test_task_labels_and_manifest_lookup(setup):
    read = task_manifest(setup["corpus"], TASKS["pr"])
    row = read.rows[0]
    assert TASKS["pr"].label(row) == [p for p, _, _ in row.phonemes]
    assert TASKS["asv"].label(row) == row.speaker
    assert task_manifest(setup["corpus"], TASKS["asv"]).header.subset == "sid"  # no asv subset: speaker-id's
    assert asr_text("Don't  stop-me, NOW!") == "don't stop me now"


def test_upstreams_give_every_hidden_state_on_the_frame_grid(setup):
    manifest = task_manifest(setup["corpus"], TASKS["ks"])
    rows = manifest.split("dev")
    model = load_upstream(setup["model"])
    assert (model.input, model.n_hidden) == ("units", 3)  # tiny preset: 2 layers + input
    fbank = load_upstream("fbank")
    assert (fbank.input, fbank.n_hidden) == ("audio", 1)
    for upstream, width in ((model, 64), (fbank, 160)):
        feats = cached_features(upstream, manifest, "dev", rows, "frames", False, setup["root"] / "cache-grid",
                                Path(setup["units"]) / "ks" if upstream.input == "units" else None, progress=False)
        assert feats.header["width"] == width and feats.header["frame_rate"] == 50.0
        # ceil(samples / 320) frames, as the codec makes them
        samples = [sf.info(str(manifest.audio_path(r))).frames for r in rows]
        assert feats.lengths == [-(-n // 320) for n in samples]


def test_cached_features_batch_equals_single_and_are_reused(setup, monkeypatch):
    manifest = task_manifest(setup["corpus"], TASKS["pr"])
    rows = manifest.split("test")
    upstream = load_upstream(setup["model"])
    units = Path(setup["units"]) / "read"
    batched = cached_features(upstream, manifest, "test", rows, "frames", False, setup["root"] / "c1", units,
                              progress=False)
    single = cached_features(upstream, manifest, "test", rows, "frames", False, setup["root"] / "c2", units,
                             max_batch_frames=1, progress=False)
    for i in range(len(rows)):
        np.testing.assert_allclose(np.asarray(batched[i], np.float32), np.asarray(single[i], np.float32), atol=2e-3)
    monkeypatch.setattr(type(upstream), "hidden", lambda *a: pytest.fail("cache miss: the upstream ran again"))
    again = cached_features(upstream, manifest, "test", rows, "frames", False, setup["root"] / "c1",
                            lambda: pytest.fail("a cache hit looked for the unit store"), progress=False)
    assert again.path == batched.path and np.array_equal(again[0], batched[0])


def test_bf16_features_are_close_to_fp32_and_cached_apart(setup):
    manifest = task_manifest(setup["corpus"], TASKS["pr"])
    rows = manifest.split("test")
    units = Path(setup["units"]) / "read"
    fp32, bf16 = load_upstream(setup["model"]), load_upstream(setup["model"], precision="bf16")
    assert fp32.key != bf16.key and bf16.identity["precision"] == "bf16" and "precision" not in fp32.identity
    exact = cached_features(fp32, manifest, "test", rows, "frames", False, setup["root"] / "cb", units, progress=False)
    rounded = cached_features(bf16, manifest, "test", rows, "frames", False, setup["root"] / "cb", units, progress=False)
    assert exact.path != rounded.path
    for i in range(len(rows)):
        a, b = np.asarray(exact[i], np.float32), np.asarray(rounded[i], np.float32)
        assert not np.array_equal(a, b)  # computed in bf16 indeed
        assert np.linalg.norm(a - b) < 0.05 * np.linalg.norm(a)  # bf16 keeps 8 bits of mantissa
    batch = batch_inputs(bf16, manifest, rows[:2], UnitStore(units), bf16.device)
    assert all(h.dtype == torch.float32 for h in bf16.hidden(batch))
    with pytest.raises(ConfigError, match="precision 'fp16': choose from fp32, bf16"):
        load_upstream(setup["model"], precision="fp16")


def test_native_bf16_follows_the_cpu_flags():
    from codec2vec.eval.upstream import native_bf16
    from codec2vec.provenance import machine

    assert native_bf16("cuda")
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        assert not native_bf16("cpu")
        return
    lines = cpuinfo.read_text().splitlines()
    flags = next(line for line in lines if line.startswith("flags")).split()
    assert native_bf16("cpu") == ("avx512_bf16" in flags or "amx_bf16" in flags)
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    assert f"CPU ({model})," in machine() if model else "CPU," in machine()


def test_a_changed_manifest_recomputes_the_cache(setup, tmp_path):
    corpus = write_task_corpus(tmp_path / "corpus", seed=0)
    manifest = read_manifest(corpus / "ks.jsonl")
    upstream = load_upstream("fbank")
    first = cached_features(upstream, manifest, "dev", manifest.split("dev"), "mean", False, tmp_path / "c", None,
                            progress=False)
    before = np.array(first[0])
    write_task_corpus(corpus, seed=5)  # other audio, same ids and paths
    manifest = read_manifest(corpus / "ks.jsonl")
    second = cached_features(upstream, manifest, "dev", manifest.split("dev"), "mean", False, tmp_path / "c", None,
                             progress=False)
    assert not np.allclose(before, np.array(second[0]))


def test_pooled_cache_equals_pooling_after_the_weighted_sum(setup):
    manifest = task_manifest(setup["corpus"], TASKS["ks"])
    rows = manifest.split("dev")
    upstream = load_upstream(setup["model"])
    units = Path(setup["units"]) / "ks"
    for layer_norm in (False, True):
        frames = cached_features(upstream, manifest, "dev", rows, "frames", False, setup["root"] / "cp", units,
                                 progress=False)
        pooled = cached_features(upstream, manifest, "dev", rows, "mean", layer_norm, setup["root"] / "cp", units,
                                 progress=False)
        torch.manual_seed(0)
        frame_model = Downstream(3, torch.nn.Identity(), layer_norm)
        frame_model.featurizer.logits.data = torch.tensor([0.3, -1.0, 0.5])
        pooled_model = Downstream(3, torch.nn.Identity())
        pooled_model.featurizer.logits.data = frame_model.featurizer.logits.data.clone()
        for i in range(len(rows)):
            x = torch.from_numpy(np.asarray(frames[i], np.float32)).permute(1, 0, 2)  # [L, T, D]
            want = frame_model(x).mean(0)
            got = pooled_model(torch.from_numpy(np.array(pooled[i])))
            torch.testing.assert_close(got, want, atol=2e-3, rtol=1e-3)


def test_every_task_trains_reports_and_resumes(setup, monkeypatch):
    out = setup["root"] / "all-tasks"
    evaluate(_config(setup, out), progress=False)
    for name, task in TASKS.items():
        result = json.loads((out / f"{name}.json").read_text())
        assert result["task"] == name and result["metric"] == task.metric
        assert set(result["test_metrics"]) >= {task.metric} and 0.0 <= result["test"] <= (10 if name == "pr" else 1)
        assert result["upstream"]["model_sha256"] and result["upstream"]["codec"]["codec_id"] == setup["codec"]
        assert result["provenance"]["versions"]["torch"] and "git_revision" in result["provenance"]
        assert result["settings"]["seed"] == 1 and result["folds"][0]["examples"] == {"train": 12, "dev": 4, "test": 4}
        assert result["settings"]["head"]["layer_norm"] is True  # the default for a pre-LN upstream
        assert sum(result["layer_weights"]) == pytest.approx(1.0) and len(result["layer_weights"]) == 3
        kept = result["folds"][0]["seeds"][0]
        assert kept["seed"] == 1 and 1 <= kept["best_epoch"] <= 3 and len(kept["history"]) <= 3
        # Per-item test outcomes are kept, and the reported value and its 95 % interval come from them.
        outcome = kept["test_outcomes"][task.metric]
        assert metric_value(outcome) == pytest.approx(result["test"]) and result["seeds"] == 1
        assert result["test_items"] == (4 * 3 if name == "asv" else 4)  # ASV: 4 utterances x 3 enrolled speakers
        low, high = result["test_interval"]
        assert low <= result["test"] <= high and result["confidence"] == 0.95
    assert json.loads((out / "results.json").read_text())["tasks"]["asr"]["metric"] == "wer"
    assert "| asv | quick | eer |" in (out / "results.md").read_text()
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json") if p.name != "results.json"}
    monkeypatch.setattr("codec2vec.eval.harness.TaskRunner.run", lambda self: pytest.fail("finished task rerun"))
    older = json.loads((out / "ks.json").read_text())
    del older["settings"]["splits"], older["settings"]["head"]["mlp_hidden"]  # as written before those settings existed
    (out / "ks.json").write_text(json.dumps(older))
    evaluate(_config(setup, out), progress=False)
    stamps["ks.json"] = (out / "ks.json").stat().st_mtime_ns
    assert stamps == {p.name: p.stat().st_mtime_ns for p in out.glob("*.json") if p.name != "results.json"}
    monkeypatch.undo()  # other settings: the task runs again
    evaluate(_config(setup, out, None, "tasks=[ks]", "head.mlp_hidden=32"), progress=False)
    assert json.loads((out / "ks.json").read_text())["settings"]["head"]["mlp_hidden"] == 32


def test_heads_learn_the_tone_tasks(setup):
    """Not just running: on the tone corpus, FBANK features let the heads beat chance clearly."""
    out = setup["root"] / "learn"
    evaluate(_config(setup, out, "fbank", "tasks=[pr,ks]", "head.max_epochs.pr=40", "head.max_epochs.ks=40",
                     "head.lr.pr=0.005", "head.lr.ks=0.005", "head.batch_size=2", "head.patience=40"), progress=False)
    pr = json.loads((out / "pr.json").read_text())
    ks = json.loads((out / "ks.json").read_text())
    assert pr["test"] < 0.75  # phone error rate: an empty or random hypothesis scores >= 1
    assert ks["test"] >= 0.5  # 4 keywords: chance is 0.25


def test_lr_sweep_keeps_the_best_dev_result(setup):
    out = setup["root"] / "sweep"
    evaluate(_config(setup, out, "fbank", "tasks=[ks]", "lr_sweep=[1e-7,0.01]", "head.max_epochs.ks=20"),
             progress=False)
    result = json.loads((out / "ks.json").read_text())
    sweep = {s["lr"]: s["dev"] for s in result["folds"][0]["sweep"]}
    assert set(sweep) == {1e-7, 0.01}
    assert result["folds"][0]["lr"] == max(sweep, key=sweep.get)


def test_head_seeds_are_averaged_with_their_spread(setup):
    out = setup["root"] / "seeds"
    evaluate(_config(setup, out, "fbank", "tasks=[ks]", "head.seeds=3", "head.max_epochs.ks=3"), progress=False)
    result = json.loads((out / "ks.json").read_text())
    seeds = result["folds"][0]["seeds"]
    assert [s["seed"] for s in seeds] == [1, 2, 3] and result["seeds"] == 3
    by_seed = [s["test"]["accuracy"] for s in seeds]
    assert result["test_by_seed"] == pytest.approx(by_seed) and result["test"] == pytest.approx(np.mean(by_seed))
    assert result["test_seed_std"] == pytest.approx(np.std(by_seed))
    assert f"sd {100 * np.std(by_seed):.1f}" in (out / "results.md").read_text()


def test_results_written_before_intervals_are_rerun(setup):
    out = setup["root"] / "old-version"
    evaluate(_config(setup, out, "fbank", "tasks=[ks]", "head.max_epochs.ks=2"), progress=False)
    old = json.loads((out / "ks.json").read_text())
    old["version"] = 1
    del old["test_interval"]
    (out / "ks.json").write_text(json.dumps(old))
    evaluate(_config(setup, out, "fbank", "tasks=[ks]", "head.max_epochs.ks=2"), progress=False)
    assert json.loads((out / "ks.json").read_text())["test_interval"]


def test_task_seeds_override_the_seed_count_of_one_task(setup):
    out = setup["root"] / "task-seeds"
    evaluate(_config(setup, out, "fbank", "tasks=[ks,sid]", "head.seeds=2", "head.task_seeds.sid=1",
                     "head.max_epochs.ks=2", "head.max_epochs.sid=2"), progress=False)
    ks, sid = (json.loads((out / f"{t}.json").read_text()) for t in ("ks", "sid"))
    assert ks["seeds"] == 2 and [s["seed"] for s in ks["folds"][0]["seeds"]] == [1, 2]
    assert sid["seeds"] == 1 and len(sid["folds"][0]["seeds"]) == 1 and sid["test_seed_std"] == 0.0


@pytest.mark.parametrize("setting, message", [("head.seeds=0", "head.seeds must be >= 1, got 0"),
                                              ("head.task_seeds.asr=0", "head.task_seeds.asr must be >= 1, got 0"),
                                              ("head.task_seeds.kws=2", "head.task_seeds.kws: no such task")])
def test_bad_seed_count_is_refused(setup, setting, message):
    with pytest.raises(ConfigError, match=message):
        evaluate(_config(setup, setup["root"] / "x", "fbank", "tasks=[ks]", setting), progress=False)


def test_cross_validation_folds(tmp_path):
    setup = {"corpus": str(write_task_corpus(tmp_path / "corpus", er_folds=True)), "model": "fbank", "units": ""}
    out = tmp_path / "out"
    evaluate(_config(setup, out, "fbank", "tasks=[er]"), progress=False)
    result = json.loads((out / "er.json").read_text())
    assert [f["fold"] for f in result["folds"]] == ["session1", "session2", "session3"]
    assert result["folds"][0]["examples"] == {"train": 12, "dev": 4, "test": 8}  # 20 % of each training fold held out
    assert result["test"] == pytest.approx(np.mean([f["test"]["accuracy"] for f in result["folds"]]))


def test_asv_scores_trials_against_enrolled_speakers():
    """Embeddings that are the speaker one-hot give EER 0; the trial grid is utterances x speakers."""
    class Cache:  # pooled features [1 layer, D]: the speaker's one-hot
        header = {"pooling": "mean"}

        def __getitem__(self, i):
            return np.eye(3, dtype=np.float32)[[i % 3]]
    data = Examples([(Cache(), i) for i in range(9)], [i % 3 for i in range(9)], [f"s{i % 3}" for i in range(9)])
    model, info = train_head(TASKS["asv"], {"train": data, "dev": data, "test": data}, 1, 3, 3,
                             HeadConfig(max_epochs={"asv": 30}, mlp_hidden=8, dropout=0.0), 0.05, 0)
    assert isinstance(model.head, UtteranceHead) and info["dev"] == 0.0


def test_asv_scores_a_trial_list_by_cosine_of_the_two_embeddings(setup, tmp_path):
    """SUPERB's ASV: the listed trials, each scored by the cosine of its two utterances' embeddings."""
    import shutil

    import torch.nn.functional as F

    from codec2vec.eval.downstream import score
    from codec2vec.eval.metrics import equal_error_rate

    class Cache:
        header = {"pooling": "mean"}

        def __getitem__(self, i):
            return np.random.default_rng(i).standard_normal((2, 4)).astype(np.float32)
    trials = [(1, 0, 1), (0, 0, 2), (1, 2, 3), (0, 1, 4), (1, 4, 5), (0, 3, 5)]
    data = Examples([(Cache(), i) for i in range(6)], [0] * 6, ["s"] * 6, trials=trials)
    model = train_head(TASKS["asv"], {"train": data, "dev": data, "test": data}, 2, 4, 3,
                       HeadConfig(max_epochs={"asv": 1}, mlp_hidden=8), 0.01, 0)[0]
    with torch.no_grad():
        embedded = F.normalize(model.embed(torch.stack([torch.from_numpy(Cache()[i]) for i in range(6)], 1)), dim=-1)
    by_hand = equal_error_rate([float(embedded[a] @ embedded[b]) for _, a, b in trials], [t[0] for t in trials])
    assert score(TASKS["asv"], model, data, 4)["eer"] == pytest.approx(by_hand)

    # Through evaluate: a corpus with trials/SUBSET/SPLIT.txt scores them and says so.
    corpus = tmp_path / "corpus"
    shutil.copytree(setup["corpus"], corpus)
    manifest = task_manifest(str(corpus), TASKS["asv"])
    for split in ("dev", "test"):
        ids = [r.id for r in manifest.split(split)]
        speaker = {r.id: r.speaker for r in manifest.split(split)}
        lines = [f"{int(speaker[a] == speaker[b])} {a} {b}" for a in ids for b in ids if a < b]
        (corpus / "trials" / "sid").mkdir(parents=True, exist_ok=True)
        (corpus / "trials" / "sid" / f"{split}.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "asv"
    evaluate(_config(setup, out, None, f"corpus={corpus}", "tasks=[asv]"), progress=False)
    result = json.loads((out / "asv.json").read_text())
    assert result["protocol"].startswith("SUPERB's protocol") and 0.0 <= result["test"] <= 1.0
    (corpus / "trials" / "sid" / "test.txt").write_text("1 nobody x\n")
    with pytest.raises(ConfigError, match=r"test.txt:1: utterance\(s\) \['nobody', 'x'\] are not in split"):
        evaluate(_config(setup, tmp_path / "asv2", None, f"corpus={corpus}", "tasks=[asv]"), progress=False)


def test_unit_upstream_refuses_units_of_another_codec(setup, tmp_path):
    other = save_tiny_model(tmp_path / "other-model", Path(setup["codec"]))
    config = json.loads((other / "config.json").read_text())
    config["codec"]["weights_hash"] = "0" * 64  # as if trained on units of other weights
    (other / "config.json").write_text(json.dumps(config))
    manifest = task_manifest(setup["corpus"], TASKS["ks"])
    with pytest.raises(StoreError, match="weights_hash"):
        cached_features(load_upstream(str(other)), manifest, "dev", manifest.split("dev"), "mean", False,
                        tmp_path / "cache", Path(setup["units"]) / "ks", progress=False)


def test_bad_requests_are_named(setup, tmp_path):
    with pytest.raises(ConfigError, match="unknown task"):
        evaluate(_config(setup, tmp_path / "x", "fbank", "tasks=[pr,qbe]"), progress=False)
    with pytest.raises(ConfigError, match="not found"):
        evaluate(_config(setup, tmp_path / "x", str(tmp_path / "missing")), progress=False)


def test_report_marks_the_best_and_separated_differences():
    from codec2vec.eval.report import report_table

    def run(name, accuracy, interval):
        result = {"task": "ks", "metric": "accuracy", "higher_is_better": True, "test": accuracy,
                  "test_interval": interval, "seconds": {"total": 60.0}}
        return {"name": name, "tasks": {"ks": result}, "units": None}

    table = report_table([run("a", 0.80, [0.76, 0.84]), run("b", 0.78, [0.74, 0.82]), run("c", 0.60, [0.55, 0.65])])
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines() if line.startswith("| ")}
    assert "**80.0 [76.0, 84.0]**" in rows["a"]  # the best, in bold
    assert "78.0 [74.0, 82.0] |" in rows["b"] and "‡" not in rows["b"]  # overlaps the best's interval
    assert "60.0 [55.0, 65.0] ‡" in rows["c"]  # separated from the best
    assert "does not overlap the best's" in table


def test_report_and_benchmark_cli(setup, tmp_path):
    bench = tmp_path / "bench"
    args = [sys.executable, "-m", "codec2vec.cli", "benchmark", "--models", "fbank", setup["model"], "--out", str(bench),
            "--corpus", setup["corpus"], "--units", setup["units"], "--real", "", "--quiet", *FAST,
            "tasks=[pr,ks,asv]", "unit_quality.n_clusters=8",
            # the synthetic corpus's sid subset stands in for the real speakers' corpus
            f"real_sid={setup['corpus']}", f"real_sid_units={setup['units']}"]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    text = (bench / "report.md").read_text()
    name = Path(setup["model"]).parent.name  # a model folder is named after its run
    assert "| fbank |" in text and f"| {name} |" in text and "PNMI (synthetic)" in text
    assert "Downstream profile: quick (light heads" in text
    assert (bench / "layer_weights.png").stat().st_size > 1000 and (bench / "metrics.png").stat().st_size > 1000
    quality = json.loads((bench / name / "unit_quality.json").read_text())
    assert 0.0 < quality["synthetic"][0]["pnmi"] <= 1.0 and quality["layer"] == 1
    real_sid = (bench / "real-sid" / "report.md").read_text()  # its own report: another corpus
    assert "Real-speaker SID" in real_sid and "| fbank |" in real_sid and f"| {name} |" in real_sid
    assert json.loads((bench / "fbank" / "real-sid" / "sid.json").read_text())["task"] == "sid"
    merged = report([bench / "fbank", bench / name], tmp_path / "merged")
    assert merged.read_text().count("\n| ") == 3  # header + two upstreams
    again = subprocess.run(args, capture_output=True, text=True)  # everything cached or finished
    assert again.returncode == 0 and (bench / "report.md").read_text() == text
    described = subprocess.run([sys.executable, "-m", "codec2vec.cli", "describe", str(bench / "fbank")],
                               capture_output=True, text=True)
    assert "evaluation results" in described.stdout and "| pr | quick | per |" in described.stdout


REAL_CARDS = Path(__file__).resolve().parents[1] / "data" / "real-en"


@pytest.mark.skipif(not (REAL_CARDS / "real-en.jsonl").is_file(), reason="needs `make real-en` (real English clips)")
def test_forced_alignment_of_real_speech():
    """pocketsphinx aligns a real recording's transcript; on TTS voices its phone search often fails,
    which is why PNMI on synthetic speech uses the synthesizer's own phone times."""
    pytest.importorskip("pocketsphinx")
    from codec2vec.data.audio import load_audio
    from codec2vec.eval.pnmi import ForcedAligner

    manifest = read_manifest(REAL_CARDS / "real-en.jsonl")
    row = next(r for r in manifest.rows if r.id == "cards-005")  # "eight of spades four of clubs ..."
    aligned = ForcedAligner().align(load_audio(manifest.audio_path(row), 16000), row.text)
    assert [p for p, _, _ in aligned if p != "sil"][:5] == ["ey", "t", "ah", "v", "s"]
    assert all(e > s for _, s, e in aligned) and aligned[-1][2] <= row.duration + 0.02
    with pytest.raises(ValueError, match="empty transcript"):
        ForcedAligner().align(np.zeros(16000, np.float32), "?!")


def test_online_codebook_units_are_the_teachers_nearest_codewords(tmp_path):
    from codec2vec.eval.features import batch_inputs
    from codec2vec.eval.pnmi import OnlineCodebookUnits
    from codec2vec.objectives.online import instance_norm
    from codec2vec.train import pretrain
    from codec2vec.units import UnitStore
    from pretrain_fixtures import make_setup, tiny_config

    tones = make_setup(tmp_path)
    pretrain(tiny_config(tones, tmp_path / "run", "objective.name=online", "optim.steps=3"), progress=False)
    upstream = load_upstream(str(tmp_path / "run"))
    manifest = read_manifest(tones["manifest"])
    batch = batch_inputs(upstream, manifest, manifest.rows[:4], UnitStore(tones["units"]), upstream.device)
    units = OnlineCodebookUnits(tmp_path / "run", upstream)
    ids = units(batch)
    assert [len(i) for i in ids] == batch["frames"].tolist()
    with torch.no_grad():  # by hand: the teacher's top FFN output, normalised, nearest of the top codebook
        x, padding = upstream.model.features(batch)
        ffn_outputs = []
        units.objective.teacher(x, padding, ffn_outputs=ffn_outputs)
        top = instance_norm(ffn_outputs[-1], ~padding)
        nearest = torch.cdist(top, units.objective.codewords[-1].expand(len(ids), -1, -1)).argmin(-1)
    for row, got in enumerate(ids):
        assert np.array_equal(got, nearest[row, : len(got)].numpy())
    assert int(units.objective.codewords.abs().sum()) > 0 and units.objective._sums is None


def test_split_names_of_standard_corpora():
    from codec2vec.data.manifest import Manifest, ManifestHeader, Utterance
    from codec2vec.errors import ManifestError
    from codec2vec.eval.tasks import folds, split_names

    def manifest(corpus, splits):
        rows = [Utterance(f"u{i}", "a.wav", 1.0, 16000, "s", split) for i, split in enumerate(splits)]
        return Manifest(Path(f"{corpus}.jsonl"), ManifestHeader(corpus, corpus, ["asr"]), rows)

    libri = manifest("librispeech", ["train-clean-100", "train-clean-360", "dev-clean", "test-clean", "test-other"])
    assert split_names(libri) == {"train": "train-clean-100", "dev": "dev-clean", "test": "test-clean"}
    assert split_names(libri, {"train": "train-clean-360", "dev": "dev-clean", "test": "test-other"})["test"] == "test-other"
    with pytest.raises(ManifestError, match=r"\['dev-other'\] not found"):
        split_names(libri, {"train": "train-clean-100", "dev": "dev-other", "test": "test-clean"})
    iemocap = manifest("iemocap", ["session1", "session2", "session3"])
    assert split_names(iemocap) == {} and folds(iemocap) == ["session1", "session2", "session3"]
    with pytest.raises(ManifestError, match="needs splits train, dev and test"):
        split_names(manifest("real-en", ["test", "test"]))


def test_embed_raw_audio_equals_the_unit_store_path(setup):
    """codec2vec.load(...).embed(audio) discretizes with the model's codec: the same hidden states
    as reading the extracted units; other sample rates are resampled."""
    import codec2vec
    from codec2vec.data.audio import load_audio
    from codec2vec.eval.features import batch_inputs
    from codec2vec.units import UnitStore

    manifest = task_manifest(setup["corpus"], TASKS["ks"])
    rows = manifest.split("dev")[:3]
    upstream = codec2vec.load(setup["model"])
    audio = [load_audio(manifest.audio_path(r), 16000) for r in rows]
    hidden, frames = upstream.embed(audio)
    want = upstream.hidden(batch_inputs(upstream, manifest, rows, UnitStore(Path(setup["units"]) / "ks"), upstream.device))
    assert len(hidden) == 3 and frames.tolist() == [-(-len(a) // 320) for a in audio]
    for got, ref in zip(hidden, want):
        torch.testing.assert_close(got, ref)
    single, _ = upstream.embed(audio[1])
    torch.testing.assert_close(single[-1][0], hidden[-1][1, : int(frames[1])], atol=1e-4, rtol=1e-4)
    fbank = codec2vec.load("fbank")
    import soxr
    at_8k = soxr.resample(audio[0], 16000, 8000)
    hidden8, frames8 = fbank.embed(at_8k, sample_rate=8000)
    assert hidden8[0].shape == (1, int(frames8[0]), 160) and abs(int(frames8[0]) - int(frames[0])) <= 1


def test_export_is_self_contained_and_loads_to_the_same_hidden_states(setup, tmp_path):
    import codec2vec
    from codec2vec.cli import main
    from codec2vec.models.export import export_model

    rng = np.random.default_rng(3)
    audio = [rng.uniform(-0.3, 0.3, 5000).astype(np.float32), rng.uniform(-0.3, 0.3, 7300).astype(np.float32)]
    original = codec2vec.load(setup["model"])
    want, frames = original.embed(audio)

    assert main(["export", setup["model"], "--out", str(tmp_path / "fp32")]) == 0
    config = json.loads((tmp_path / "fp32" / "config.json").read_text())
    assert (config["model_type"], config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"],
            config["codec_folder"]) == ("codec2vec", 64, 2, 256, "codec")
    assert "units of codec" in (tmp_path / "fp32" / "README.md").read_text()
    exported = codec2vec.load(str(tmp_path / "fp32"))
    assert exported.codec_source == str(tmp_path / "fp32" / "codec")  # units come from the export's own codec
    got, got_frames = exported.embed(audio)
    assert torch.equal(got_frames, frames)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=0)

    half = export_model(setup["model"], tmp_path / "fp16", dtype="float16")
    assert (half / "model.safetensors").stat().st_size < 0.6 * (tmp_path / "fp32" / "model.safetensors").stat().st_size
    got16, _ = codec2vec.load(str(half)).embed(audio)
    torch.testing.assert_close(got16[-1], want[-1], rtol=0.05, atol=0.05)
    with pytest.raises(ConfigError, match="neither a model folder .* nor a shipped model"):
        export_model(str(tmp_path / "nothing"), tmp_path / "x")


def test_shipped_model_loads_in_two_lines_and_exports():
    import codec2vec
    from codec2vec.codecs.registry import SHIPPED
    from codec2vec.models.export import pretrained_models

    shipped = pretrained_models()
    assert len(shipped) == 1  # recipes/shipped_model.sh replaces the model shipped before
    (name, folder), = shipped.items()
    config = json.loads((folder / "config.json").read_text())
    layers, width = config["num_hidden_layers"], config["hidden_size"]
    assert name.startswith("synth-") and name.endswith(f"-{layers}x{width}")
    upstream = codec2vec.load(name)
    t = np.arange(16000) / 16000
    hidden, frames = upstream.embed((0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
    assert len(hidden) == layers + 1 and hidden[-1].shape == (1, 50, width) and frames.tolist() == [50]
    assert all(torch.isfinite(h).all() for h in hidden)
    # a codec shipped with codec2vec, named, not copied
    assert config["codec"]["codec_id"] in SHIPPED and config["codec_folder"] is None
    assert config["weights_dtype"] == "float16" and config["torch_dtype"] == "float32"  # stored / loaded
    card = (folder / "README.md").read_text()
    assert "synthetic" in card.lower() and f'codec2vec.load("{name}")' in card and "PATH" not in card


def test_evaluate_killed_at_random_points_resumes_to_the_same_results(setup, tmp_path):
    """SIGKILL while features are cached and while heads train, then the same command: every task's
    results equal an uninterrupted run's; no half-written cache entry is read."""
    tasks = ["ks", "sid", "er"]
    args = ["evaluate", "--model", setup["model"], "--corpus", setup["corpus"], "--units", setup["units"],
            "--tasks", ",".join(tasks), "--quiet", "head.max_epochs.ks=3", "head.max_epochs.sid=3",
            "head.max_epochs.er=3"]
    from codec2vec.cli import main

    assert main(args + [f"cache={tmp_path / 'whole-cache'}", "--out", str(tmp_path / "whole")]) == 0
    want = {t: json.loads((tmp_path / "whole" / f"{t}.json").read_text()) for t in tasks}
    killed_mid_run = 0
    # killed once the first cache entry is written / once the first task's results are, plus a seeded delay
    triggers = {1: lambda out: any((out / "feature-cache").glob("*/*/index.json")),
                2: lambda out: (out / "ks.json").is_file()}
    for seed, ready in triggers.items():
        out = tmp_path / f"killed-{seed}"
        own = [f"cache={out / 'feature-cache'}"]  # each run its own cache, to be killed while writing it
        killed_mid_run += kill_at_random_point(cli(*args, *own, "--out", str(out)), lambda: ready(out), seed, 0.3)
        assert main(args + own + ["--out", str(out)]) == 0
        for t in tasks:
            got = json.loads((out / f"{t}.json").read_text())
            assert (got["dev"], got["test"], got["layer_weights"]) == \
                (want[t]["dev"], want[t]["test"], want[t]["layer_weights"]), t
        assert verify_artifact(out / "feature-cache")[1] == [] and not list((out / "feature-cache").rglob("*.tmp-*"))
    assert killed_mid_run >= 1, "every run finished before it was killed"


def test_a_75_hz_codec_upstream_reports_75_frames_per_second(tmp_path):
    """The feature cache and PNMI take the frame rate from the upstream: a 24 kHz codec with hop 320
    gives 75 frames/s, not the 50 of the 16 kHz codecs."""
    from transformers import DacConfig, DacModel

    from codec2vec.eval.upstream import load_upstream

    torch.manual_seed(0)
    DacModel(DacConfig(encoder_hidden_size=4, decoder_hidden_size=16, hidden_size=32, downsampling_ratios=[2, 4, 5, 8],
                       upsampling_ratios=[8, 5, 4, 2], hop_length=320, n_codebooks=4, codebook_size=64,
                       codebook_dim=8, sampling_rate=24000)).save_pretrained(tmp_path / "dac24")
    upstream = load_upstream(f"codec:{tmp_path / 'dac24'}")
    assert upstream.frame_rate == 75.0
    assert load_upstream("fbank").frame_rate == 50.0
    hidden, frames = upstream.embed(np.zeros(24000, dtype=np.float32), sample_rate=24000)
    assert int(frames[0]) == 75 and hidden[0].shape[1] == 75


def test_evaluate_with_the_superb_profile(setup, monkeypatch):
    # s3prl's settings, with few steps and dev scored every 2 of them
    for name in ("pr", "ks", "asv"):
        monkeypatch.setitem(SUPERB, name, dataclasses.replace(SUPERB[name], eval_every=2))
    out = setup["root"] / "superb"
    cfg = load_config(EvalConfig, overrides=[
        f"model={setup['model']}", f"corpus={setup['corpus']}", f"units={setup['units']}", f"out={out}",
        "tasks=[pr,ks,ic,asv]", "head.profile=superb", "head.steps.pr=5", "head.steps.ks=4", "head.steps.ic=2",
        "head.steps.asv=4",
        "head.batch_size=4", "device=cpu", f"cache={setup['root'] / 'all-tasks' / 'feature-cache'}"])  # shared
    seen = []
    real = downstream_module._loss
    monkeypatch.setattr(downstream_module, "_loss", lambda *a: seen.append(len(a[3])) or real(*a))
    evaluate(cfg, progress=False)
    for name, steps in (("pr", 5), ("ks", 4), ("asv", 4)):
        result = json.loads((out / f"{name}.json").read_text())
        fold = result["folds"][0]["seeds"][0]
        assert result["profile"] == "superb" and result["settings"]["head"]["profile"] == "superb"
        assert fold["steps"] == steps and result["folds"][0]["lr"] == SUPERB[name].lr and "best_epoch" not in fold
        assert [h["step"] for h in fold["history"]] == list(range(2, steps + 1, 2)) + ([steps] if steps % 2 else [])
        assert fold["best_step"] in [h["step"] for h in fold["history"]]
    # PR accumulates 2 micro-batches per update (libriphone.yaml): 5 updates, 10 batches of at most 4
    assert len(seen) == 5 * 2 + 4 * 1 + 2 * 1 + 4 * 2 and max(seen) == 4
    # IC: one classifier per slot of 'label|x|none' (4 + 1 + 1 outputs), right only when all three are
    ic = json.loads((out / "ic.json").read_text())
    assert ic["classes"] == 4 and ic["folds"][0]["seeds"][0]["steps"] == 2
    assert "| pr | superb | per |" in (out / "results.md").read_text()
    assert json.loads((out / "results.json").read_text())["profile"] == "superb"


def test_benchmark_leaves_out_real_speaker_sid_without_a_sid_subset(tmp_path):
    from codec2vec.eval.benchmark import BenchmarkConfig, _real_sid_corpus

    said = []
    assert _real_sid_corpus(BenchmarkConfig(real_sid=str(tmp_path)), said.append) == ""
    (tmp_path / "corpus.json").write_text(json.dumps(
        {"codec2vec": "corpus", "subsets": {"packaged-speech": {"tasks": []}}}))
    assert _real_sid_corpus(BenchmarkConfig(real_sid=str(tmp_path)), said.append) == ""
    assert "not a corpus folder" in said[0] and "no sid subset" in said[1] and "make packaged-speech" in said[1]
    assert _real_sid_corpus(BenchmarkConfig(real_sid=""), said.append) == "" and len(said) == 2


def test_best_layer_tool_picks_the_transformer_layer_with_the_highest_dev_pnmi(setup, tmp_path):
    """recipes/tools/best_layer.py (HuBERT's next-iteration layer): k-means of every hidden state,
    fitted on train, scored on the 4 dev utterances; stdout is the chosen layer alone."""
    from codec2vec.eval.benchmark import UnitQualityConfig, layer_pnmi

    # FBANK on the tone corpus: one hidden state whose clusters are the tones, hence the phones
    (fbank,) = layer_pnmi("fbank", setup["corpus"], setup["units"], tmp_path / "cache", UnitQualityConfig(n_clusters=8))
    assert fbank["layer"] == 0 and fbank["utterances"] == 4 and fbank["pnmi"] > 0.5

    out = tmp_path / "layers"
    tool = Path(__file__).resolve().parents[1] / "recipes" / "tools" / "best_layer.py"
    done = subprocess.run([sys.executable, str(tool), setup["model"], "--corpus", setup["corpus"], "--units",
                           setup["units"], "--out", str(out), "--clusters", "8", "--device", "cpu"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    saved = json.loads((out / "layer_pnmi.json").read_text())
    layers = saved["layers"]
    assert [e["layer"] for e in layers] == [0, 1, 2] and all(e["utterances"] == 4 for e in layers)
    assert all(0.0 <= e["pnmi"] <= 1.0 for e in layers)
    best = max(layers[1:], key=lambda e: e["pnmi"])["layer"]  # the Transformer's layers only
    assert done.stdout == f"{best}\n" and saved["best_layer"] == best and saved["scored_on"] == "dev"

    spec = importlib.util.spec_from_file_location("best_layer", tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    measured = [{"layer": 0, "pnmi": 0.34}, {"layer": 1, "pnmi": 0.32}, {"layer": 2, "pnmi": 0.27}]
    assert module.choose_layer(measured)["layer"] == 1  # the input embedding is measured, never chosen
    assert module.choose_layer(measured[:1])["layer"] == 0  # one hidden state: that one


def test_the_feature_cache_stays_out_of_the_results_folder(setup, tmp_path, monkeypatch):
    from codec2vec.cli import main

    monkeypatch.setenv("CODEC2VEC_CACHE", str(tmp_path / "user-cache"))
    out = tmp_path / "results"
    assert main(["evaluate", "--model", setup["model"], "--corpus", setup["corpus"], "--units", setup["units"],
                 "--tasks", "ks", "--quiet", "head.max_epochs.ks=1", "--out", str(out)]) == 0
    assert (out / "ks.json").is_file() and not list(out.rglob("*.bin"))
    assert list((tmp_path / "user-cache" / "features").glob("*/*/index.json"))


def test_upstreams_of_different_codecs_share_one_units_folder(setup, tmp_path):
    """The demo with another codec failed on the real-speech units folder the default codec had
    filled: another codec's units now go beside, in <subset>@<weights hash>."""
    import shutil

    from codec2vec.eval.features import unit_store_for
    from codec2vec.eval.upstream import load_upstream
    from codec2vec.units.store import UnitStore

    root = tmp_path / "units"
    shutil.copytree(Path(setup["units"]) / "ks", root / "ks")
    manifest = task_manifest(setup["corpus"], TASKS["ks"])
    mine = load_upstream(f"codec:{setup['codec']}")
    assert unit_store_for(mine, manifest, root, "cpu", log=lambda *a: None, progress=False) == root / "ks"
    other = load_upstream("codec:default")
    store = unit_store_for(other, manifest, root, "cpu", log=lambda *a: None, progress=False)
    assert store == root / f"ks@{other.codec.weights_hash[:12]}"
    UnitStore(store).require_codec(other.codec, "the spectral upstream")  # made with its own codec
    UnitStore(root / "ks").require_codec(mine.codec, "the first upstream")  # left as it was
    assert unit_store_for(other, manifest, root, "cpu", log=lambda *a: None, progress=False) == store

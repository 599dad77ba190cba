import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from safetensors.torch import load_file

from codec2vec.cli import main
from codec2vec.codecs import load_codec
from codec2vec.codecs.registry import training_record
from codec2vec.data.manifest import ManifestHeader, Utterance, write_manifest
from killing import cli, kill_at_random_point

TINY = {"encoder_hidden_size": 4, "decoder_hidden_size": 16, "hidden_size": 32, "n_codebooks": 4,
        "codebook_size": 64}


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("codec-train")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(4):
        audio = (0.2 * np.sin(2 * np.pi * (200 + 50 * i) * np.arange(16000) / 16000)
                 + 0.02 * rng.standard_normal(16000)).astype(np.float32)
        sf.write(str(root / f"u{i}.wav"), audio, 16000)
        rows.append(Utterance(f"u{i}", f"u{i}.wav", 1.0, 16000, "s", "train"))
    manifest = write_manifest(root / "train.jsonl", ManifestHeader("tiny", "train"), rows)
    config = {"manifests": [str(manifest)], "model": TINY, "steps": 6, "batch_size": 2, "segment_seconds": 0.2,
              "checkpoint_every": 1, "log_every": 1, "threads": 1, "quantizer_warmup_steps": 2}
    path = root / "codec.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _train(config_file: Path, out: Path) -> int:
    return main(["codec", "train", "--config", str(config_file), "--out", str(out), "--quiet"])


@pytest.fixture(scope="module")
def trained(config_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    assert _train(config_file, out) == 0
    return out


def test_trained_codec_loads_as_dac_and_records_its_recipe(trained):
    codec = load_codec(str(trained / "codec"))
    assert codec.architecture == "dac" and codec.frame_rate == 50 and codec.n_codebooks == 4
    record = training_record(trained / "codec")
    assert record["training"]["steps"] == 6 and record["training"]["seed"] == 1
    assert record["train_utterances"] == 4 and "git_revision" in record["provenance"]
    # Exported without weight-norm parametrisations: a plain transformers DAC state dict.
    names = load_file(str(trained / "codec" / "model.safetensors")).keys()
    assert not any("parametrizations" in n for n in names)
    log = [json.loads(line) for line in (trained / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 7)) and all(np.isfinite(r["loss"]) for r in log)
    assert log[1]["codebook_usage"] is None and 0 < log[2]["codebook_usage"] <= 1  # quantizing from step 3
    audio = torch.randn(1, 3200) * 0.1
    codes, frames = codec.encode(audio, [3200])
    assert codes.shape == (1, 4, 10) and int(codes.max()) < 64


def test_resume_after_kill_gives_the_same_weights(config_file, trained, tmp_path):
    out = tmp_path / "killed"
    cmd = cli("codec", "train", "--config", str(config_file), "--out", str(out), "--quiet")
    assert kill_at_random_point(cmd, lambda: (out / "checkpoint.pt").exists(), seed=1, max_delay=0.2), \
        "training finished before it could be killed"
    assert _train(config_file, out) == 0
    a = load_file(str(trained / "codec" / "model.safetensors"))
    b = load_file(str(out / "codec" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_changed_config_is_refused_on_resume(config_file, trained, capsys):
    code = main(["codec", "train", "--config", str(config_file), "--out", str(trained), "--quiet", "lr=0.5"])
    assert code == 2 and "different config" in capsys.readouterr().err

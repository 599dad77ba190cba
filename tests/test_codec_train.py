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
              "checkpoint_every": 3, "log_every": 1, "threads": 1, "quantizer_warmup_steps": 2,
              "discriminator_width": 0.05, "validation_manifest": str(manifest), "validation_clips": 2}
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
    records = [json.loads(line) for line in (trained / "train_log.jsonl").read_text().splitlines()]
    log = [r for r in records if "loss" in r]
    assert [r["step"] for r in log] == list(range(1, 7)) and all(np.isfinite(r["loss"]) for r in log)
    assert log[1]["codebook_usage"] is None and 0 < log[2]["codebook_usage"] <= 1  # quantizing from step 3
    # DAC's GAN: the discriminator's loss and the generator's adversarial and feature-matching terms.
    assert all(r["d_loss"] > 0 and r["adversarial"] > 0 and r["feature_matching"] > 0 for r in log)
    validation = [r for r in records if "val_stoi" in r]  # at each checkpoint, on 2 held-out clips
    assert [r["step"] for r in validation] == [3, 6] and all(r["val_clips"] == 2 for r in validation)
    assert all(-1 <= r["val_stoi"] <= 1 and r["val_mel"] > 0 for r in validation)
    assert record["steps_done"] == 6
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
    assert code == 2 and "different config (lr)" in capsys.readouterr().err
    # How it runs may change (threads, logging, checkpoints): the finished run is resumed, not refused.
    assert main(["codec", "train", "--config", str(config_file), "--out", str(trained), "--quiet", "threads=2",
                 "log_every=2"]) == 0


def test_export_now_writes_the_checkpoints_codec(config_file, trained):
    assert main(["codec", "train", "--config", str(config_file), "--out", str(trained), "--export-now"]) == 0
    a = load_file(str(trained / "codec" / "model.safetensors"))
    b = load_file(str(trained / "codec-step6" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)  # the last checkpoint is the finished run
    assert training_record(trained / "codec-step6")["steps_done"] == 6


def test_export_now_without_a_checkpoint_is_refused(config_file, tmp_path, capsys):
    code = main(["codec", "train", "--config", str(config_file), "--out", str(tmp_path / "new"), "--export-now"])
    assert code == 2 and "no checkpoint.pt to export yet" in capsys.readouterr().err


def test_mel_only_training_has_no_discriminator_terms(config_file, tmp_path):
    out = tmp_path / "mel-only"
    assert main(["codec", "train", "--config", str(config_file), "--out", str(out), "--quiet", "adversarial=false",
                 "steps=2", "validation_manifest="]) == 0
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2] and not any("d_loss" in r for r in log)


def test_decoder_only_phase_keeps_a_dac_codecs_encoder_and_quantizer(config_file, trained, tmp_path):
    out = tmp_path / "phase2"
    assert main(["codec", "train", "--config", str(config_file), "--out", str(out), "--quiet", "steps=2",
                 f"init_from={trained / 'codec'}", "decoder_only=true", "validation_manifest="]) == 0
    a = load_file(str(trained / "codec" / "model.safetensors"))
    b = load_file(str(out / "codec" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith(("encoder.", "quantizer.")))
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("decoder."))


def test_init_from_another_architecture_is_refused(config_file, trained, tmp_path, capsys):
    code = main(["codec", "train", "--config", str(config_file), "--out", str(tmp_path / "bad"),
                 f"init_from={trained / 'codec'}", "model.hidden_size=16"])
    assert code == 2 and "is not a codec of this run's architecture" in capsys.readouterr().err


def test_mismatched_up_and_down_sampling_is_refused(config_file, tmp_path, capsys):
    code = main(["codec", "train", "--config", str(config_file), "--out", str(tmp_path / "bad"),
                 "model.upsampling_ratios=[8,5,4]"])
    assert code == 2 and "must multiply to the hop" in capsys.readouterr().err


def test_discriminator_shapes_follow_dac():
    from codec2vec.codecs.discriminators import Discriminator

    disc = Discriminator(width=0.125)
    features = disc(torch.randn(2, 4000) * 0.1)
    assert len(features) == 8  # 5 periods + 3 STFT windows
    mpd = features[0]  # period 2: 4000 samples -> 2001 rows after reflect padding to a multiple of 2
    assert [tuple(f.shape) for f in mpd] == [(2, 4, 667, 2), (2, 16, 223, 2), (2, 64, 75, 2), (2, 128, 25, 2),
                                             (2, 128, 25, 2), (2, 1, 25, 2)]
    stft = features[5]  # window 2048, hop 512: 8 frames x 1025 bins in 5 bands, each with its 5 layers
    assert len(stft) == 5 * 5 + 1
    assert stft[0].shape == (2, 4, 8, 102) and stft[1].shape == (2, 4, 8, 51)  # band 0: bins 0-101, halved
    assert stft[-1].shape[:3] == (2, 1, 8)


def test_gan_losses_are_dacs_least_squares_and_feature_l1():
    from codec2vec.codecs.discriminators import discriminator_loss, generator_losses

    real = [[torch.full((1, 2), 1.0), torch.full((1, 3), 0.5)]]  # one discriminator: a feature map, then logits
    fake = [[torch.full((1, 2), 3.0), torch.full((1, 3), 0.25)]]
    assert float(discriminator_loss(fake, real)) == pytest.approx(0.25 ** 2 + (1 - 0.5) ** 2)
    adversarial, matching = generator_losses(fake, real)
    assert float(adversarial) == pytest.approx((1 - 0.25) ** 2) and float(matching) == pytest.approx(2.0)


def test_discriminator_input_is_dc_free_and_peak_normalised():
    from codec2vec.codecs.discriminators import Discriminator

    disc = Discriminator(periods=(2,), windows=(), width=0.125)
    x = torch.randn(1, 2000) * 0.1
    # DAC's preprocessing makes the discriminator blind to gain and DC offset.
    a, b = disc(x)[0][-1], disc(3 * x + 0.5)[0][-1]
    assert torch.allclose(a, b, atol=1e-5)

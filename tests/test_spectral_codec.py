"""The spectral codec (codecs/spectral.py): rates, exact codes, DAC's quantizer semantics, training."""

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
from codec2vec.codecs.base import weights_hash
from codec2vec.codecs.registry import DEFAULT_CODEC_DIR, training_record
from codec2vec.codecs.spectral import SpectralCodec, SpectralCodecConfig, SpectralCodecModel
from codec2vec.data.manifest import ManifestHeader, Utterance, write_manifest
from killing import cli, kill_at_random_point

TINY = dict(encoder_hidden_size=8, encoder_layers=1, hidden_size=16, n_codebooks=3, codebook_size=32,
            decoder_hidden_size=16, decoder_layers=1, n_mels=16, n_fft=640)


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    model = SpectralCodecModel(SpectralCodecConfig(**TINY))
    with torch.no_grad():  # spread the codebooks out, so that codes differ between frames
        for q in model.quantizer.quantizers:
            q.codebook.weight.normal_()
    return SpectralCodec(model, "tiny-spectral")


def _speechlike(n: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    return torch.from_numpy((0.3 * np.sin(2 * np.pi * 180 * t * (1 + t)) + 0.05 * rng.standard_normal(n))
                            .astype(np.float32))


def test_rates_and_shapes(codec):
    assert codec.architecture == "spectral" and codec.frame_rate == 50 and codec.hop_length == 320
    assert codec.info.bitrate == 50 * 3 * 5
    codes, frames = codec.encode(_speechlike(13000, 0)[None], [13000])
    assert codes.shape == (1, 3, 41) and frames.tolist() == [41]  # a partial frame counts
    assert codes.min() >= 0 and codes.max() < 32 and len(codes[0, 0].unique()) > 1
    audio = codec.decode(codes)
    assert audio.shape == (1, 41 * 320) and torch.isfinite(audio).all()


def test_batch_equals_single_on_odd_lengths(codec):
    lengths = [13000, 6401, 6399, 320, 17]
    batch = torch.zeros(len(lengths), max(lengths))
    for i, n in enumerate(lengths):
        batch[i, :n] = _speechlike(n, i)
    codes, frames = codec.encode(batch, lengths)
    for i, n in enumerate(lengths):
        alone, _ = codec.encode(_speechlike(n, i)[None], [n])
        assert torch.equal(codes[i, :, : frames[i]], alone[0])


def test_codes_are_those_of_the_audio_followed_by_silence(codec):
    # The receptive field is exact: R frames of silence give what 3 R frames give, and a long
    # utterance's codes do not move when a short one shares its forward pass (one pass for all).
    r = codec.context_frames
    assert r == 1 + 3 * (1 + TINY["encoder_layers"])
    audio = _speechlike(20 * 320 + 7, 6)
    padded = [torch.nn.functional.pad(audio, (0, (21 + k) * 320 - audio.numel()))[None, None] for k in (r, 3 * r)]
    near, far = (codec.model.encode(x).audio_codes[0, :, :21] for x in padded)
    assert torch.equal(near, far)
    assert torch.equal(codec.encode(audio[None], [audio.numel()])[0][0], near)
    calls = []
    codec._run_encoder = lambda batch: calls.append(batch.shape) or type(codec)._run_encoder(codec, batch)
    try:
        codes, _ = codec.encode(torch.stack([audio, torch.nn.functional.pad(audio[:900], (0, audio.numel() - 900))]),
                                [audio.numel(), 900])
    finally:
        del codec._run_encoder
    assert calls == [(2, (21 + r) * 320)] and torch.equal(codes[0], near)


def test_codebook_vectors_sum_to_the_quantized_latent(codec):
    model = codec.model
    audio = _speechlike(6400, 3)[None, None]
    out = model.encode(audio)
    vectors = codec.codebook_vectors()
    assert vectors.shape == (3, 32, 16)
    summed = sum(vectors[i][out.audio_codes[0, i]] for i in range(3)).T
    assert torch.allclose(summed, out.quantized_representation[0], atol=1e-5)
    assert torch.allclose(model.quantizer.from_codes(out.audio_codes)[0], out.quantized_representation, atol=1e-5)


def test_inference_lookup_gives_the_quantizers_own_codes(codec):
    latent = codec.model.encoder(_speechlike(32000, 4)[None, None])
    _, reference, _, _, _ = codec.model.quantizer(latent)  # DAC's lookup (eval mode: all codebooks)
    fast = codec.model._quantize_for_inference(latent, rows=7)  # blocks that do not divide the frames
    assert torch.equal(fast.audio_codes, reference)


def test_front_end_is_the_log_mel_models_own_input():
    """docs/codecs.md: the codec reads exactly what `--input logmel` models read (written twice: the
    package ladder keeps codecs below models, and models/inputs.py travels alone into exports)."""
    from codec2vec.models.inputs import InputConfig, LogMelInput

    encoder = SpectralCodecModel(SpectralCodecConfig()).encoder
    audio = _speechlike(16000, 7)[None]
    frames = 16000 // 320
    codec_mel = encoder.log_mel(audio[:, None])  # [1, 160, T]
    model_mel = LogMelInput(InputConfig(kind="logmel"))(audio, torch.tensor([frames]), frames)  # [1, T, 160]
    assert codec_mel.shape == (1, 160, frames)
    torch.testing.assert_close(codec_mel.transpose(1, 2), model_mel, rtol=0, atol=1e-5)


def test_bad_config_is_named():
    with pytest.raises(ValueError, match="n_fft 100 must be even and at least hop_length 320"):
        SpectralCodecConfig(n_fft=100)
    with pytest.raises(ValueError, match="codebook_size 1000 must be a power of 2"):
        SpectralCodecConfig(codebook_size=1000)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("spectral-train")
    rows = []
    for i in range(3):
        sf.write(str(root / f"u{i}.wav"), _speechlike(16000, i).numpy(), 16000)
        rows.append(Utterance(f"u{i}", f"u{i}.wav", 1.0, 16000, "s", "train"))
    manifest = write_manifest(root / "train.jsonl", ManifestHeader("tiny", "train"), rows)
    config = {"manifests": [str(manifest)], "model": {"kind": "spectral", **TINY}, "steps": 6, "batch_size": 2,
              "segment_seconds": 0.4, "checkpoint_every": 3, "log_every": 1, "threads": 1,
              "quantizer_warmup_steps": 2, "adversarial": False, "validation_manifest": str(manifest),
              "validation_clips": 2}
    path = root / "codec.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def trained(config_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["codec", "train", "--config", str(config_file), "--out", str(out), "--quiet"]) == 0
    return out


def test_trained_spectral_codec_round_trips_with_its_hash(trained):
    codec = load_codec(str(trained / "codec"))
    assert isinstance(codec, SpectralCodec) and codec.n_codebooks == 3 and codec.codebook_size == 32
    saved = load_file(str(trained / "codec" / "model.safetensors"))
    assert not any("parametrizations" in name for name in saved)  # weight norm folded on export
    reloaded = SpectralCodecModel.from_pretrained(trained / "codec")
    assert codec.info.weights_hash == weights_hash(reloaded) and codec.info.architecture == "spectral"
    audio = _speechlike(8000, 5)[None]
    assert torch.equal(codec.encode(audio, [8000])[0], SpectralCodec(reloaded, "again").encode(audio, [8000])[0])
    log = [json.loads(line) for line in (trained / "train_log.jsonl").read_text().splitlines()]
    losses = [r for r in log if "loss" in r]
    assert [r["step"] for r in losses] == list(range(1, 7)) and all(np.isfinite(r["loss"]) for r in losses)
    assert losses[1]["codebook_usage"] is None and 0 < losses[2]["codebook_usage"] <= 1
    assert [r["step"] for r in log if "val_stoi" in r] == [3, 6]


def test_spectral_training_resumes_exactly(config_file, trained, tmp_path):
    out = tmp_path / "killed"
    cmd = cli("codec", "train", "--config", str(config_file), "--out", str(out), "--quiet")
    assert kill_at_random_point(cmd, lambda: (out / "checkpoint.pt").exists(), seed=2, max_delay=0.2), \
        "training finished before it could be killed"
    assert main(["codec", "train", "--config", str(config_file), "--out", str(out), "--quiet"]) == 0
    a = load_file(str(trained / "codec" / "model.safetensors"))
    b = load_file(str(out / "codec" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_decoder_only_phase_keeps_the_codes_and_trains_the_decoder(config_file, trained, tmp_path):
    """Phase 2 (docs/codecs.md): from phase 1's codec, the GAN trains the decoder alone."""
    first = trained / "codec"
    out = tmp_path / "phase2"
    assert main(["codec", "train", "--config", str(config_file), "--out", str(out), "--quiet", f"init_from={first}",
                 "decoder_only=true", "adversarial=true", "discriminator_width=0.05", "steps=2",
                 "validation_manifest="]) == 0
    a, b = load_file(str(first / "model.safetensors")), load_file(str(out / "codec" / "model.safetensors"))
    assert a.keys() == b.keys()
    kept = [k for k in a if k.startswith(("encoder.", "quantizer."))]
    trained_decoder = [k for k in a if k.startswith("decoder.")]
    assert kept and all(torch.equal(a[k], b[k]) for k in kept)
    assert trained_decoder and any(not torch.equal(a[k], b[k]) for k in trained_decoder)
    audio = _speechlike(12000, 9)[None]
    assert torch.equal(load_codec(str(first)).encode(audio, [12000])[0],
                       load_codec(str(out / "codec")).encode(audio, [12000])[0])
    record = json.loads((out / "codec" / "training.json").read_text())
    assert record["init_weights_hash"] == load_codec(str(first)).info.weights_hash
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["d_loss"]) and r["codebook_usage"] is None for r in log)


@pytest.mark.parametrize("override, message", [
    ("decoder_only=true", "decoder_only needs init_from"),
    ("init_from=/nonexistent/codec", "init_from /nonexistent/codec: no model.safetensors there"),
    ("model.kind=wavelet", "kind must be 'dac' or 'spectral', got 'wavelet'"),
    ("model.n_fft=100", "n_fft 100 must be even and at least hop_length 320"),
])
def test_bad_training_config_is_named(config_file, tmp_path, capsys, override, message):
    code = main(["codec", "train", "--config", str(config_file), "--out", str(tmp_path / "bad"), override])
    assert code == 2 and message in capsys.readouterr().err


def test_codec_list_names_each_codecs_architecture(capsys):
    assert main(["codec", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["name", "architecture"]
    assert any(line.split()[:2] == ["dac-16khz", "dac"] for line in out.splitlines())
    assert any(line.split()[:2] == ["default", "spectral"] for line in out.splitlines())
    assert any(line.split()[:2] == ["dac-cpu", "dac"] for line in out.splitlines())
    assert "(DAC or spectral)" in out


def test_the_default_codec_is_the_shipped_spectral_one_and_loads_offline_and_round_trips():
    codec = load_codec("default")
    assert isinstance(codec, SpectralCodec) and codec.info.architecture == "spectral"
    assert (codec.n_codebooks, codec.codebook_size, codec.sample_rate) == (12, 1024, 16000)
    assert codec.frame_rate == 50
    record = training_record(DEFAULT_CODEC_DIR)
    assert record["steps_done"] == 20000 and record["weights_dtype"] == "float16"
    audio = _speechlike(16000, 11)[None]
    codes, frames = codec.encode(audio, [16000])
    assert codes.shape == (1, 12, 50) and int(frames[0]) == 50
    decoded = codec.decode(codes)
    assert decoded.shape == (1, 16000) and torch.isfinite(decoded).all()


def test_units_of_the_previous_default_are_refused_with_the_name_that_loads_them(tmp_path):
    """Stores made before 2026-12-07 record codec 'default' with dac-cpu's weights: the new default
    refuses them by weights hash, and the error names dac-cpu."""
    from codec2vec.codecs.registry import RENAMED
    from codec2vec.units import StoreError, UnitStore
    from codec2vec.units.extract import ExtractConfig, extract
    from eval_fixtures import write_task_corpus

    dac_cpu = load_codec("dac-cpu")
    assert RENAMED[dac_cpu.info.weights_hash] == ("default", "dac-cpu")
    corpus = write_task_corpus(tmp_path / "corpus")
    store = extract(ExtractConfig(corpus=str(corpus / "ks.jsonl"), out=str(tmp_path / "units"), codec="dac-cpu"),
                    progress=False)
    header_path = store / "header.json"
    header = json.loads(header_path.read_text())
    header["codec"]["codec_id"] = "default"  # as the previous default's stores recorded it
    header_path.write_text(json.dumps(header))
    with pytest.raises(StoreError, match=r"weights_hash.*now named 'dac-cpu': give codec=dac-cpu"):
        UnitStore(store).codebook_vectors("for the test")
    assert UnitStore(store).codebook_vectors("for the test", "dac-cpu").shape == (12, 1024, 256)

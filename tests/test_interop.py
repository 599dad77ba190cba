"""Bridges to the tools users already have: transformers speech encoders as reference upstreams."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from codec2vec.config import load_config
from codec2vec.errors import ConfigError
from codec2vec.eval import EvalConfig, evaluate, load_upstream
from eval_fixtures import write_task_corpus

SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(16,) * 7,
             num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)


@pytest.fixture(scope="module")
def hf_models(tmp_path_factory):
    """A HuBERT Base-like model (group-norm CNN, normalised input) and a WavLM Large-like one
    (layer-norm CNN, pre-LN), random weights, saved as their hub folders are."""
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor, WavLMConfig, WavLMModel

    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    HubertModel(HubertConfig(**SMALL)).save_pretrained(root / "hubert")
    Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(root / "hubert")
    WavLMModel(WavLMConfig(**SMALL, feat_extract_norm="layer", do_stable_layer_norm=True,
                           num_buckets=32)).save_pretrained(root / "wavlm")
    return root


@pytest.mark.parametrize("name", ["hubert", "wavlm"])
def test_hf_upstream_gives_every_hidden_state_on_the_shared_grid(hf_models, name):
    upstream = load_upstream(f"hf:{hf_models / name}")
    assert upstream.name == f"hf-{name}" and upstream.n_hidden == 3 and upstream.input == "audio"
    assert upstream.batched == (name == "wavlm") and upstream.pre_layer_norm == (name == "wavlm")
    rng = np.random.default_rng(0)
    clips = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (16000, 9999, 4000)]
    hidden, frames = upstream.embed(clips)
    assert frames.tolist() == [50, 32, 13]  # ceil(samples / 320): the grid every upstream shares
    assert [tuple(h.shape) for h in hidden] == [(3, 50, 32)] * 3
    for i, clip in enumerate(clips):  # batch == single
        alone, _ = upstream.embed([clip])
        assert all(torch.allclose(a[0], b[i, : frames[i]], atol=1e-5) for a, b in zip(alone, hidden))
    # The model's own frames (floor((L - 400) / 320) + 1 = 30 of the grid's 32), then the last one repeated.
    x = torch.from_numpy(clips[1])[None]
    if upstream.normalize:
        x = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-7)
    with torch.no_grad():
        direct = upstream.model(x, output_hidden_states=True).hidden_states
    assert direct[-1].shape[1] == 30
    assert torch.allclose(hidden[-1][1, :30], direct[-1][0], atol=1e-5)
    assert torch.equal(hidden[-1][1, 30], hidden[-1][1, 29]) and torch.equal(hidden[-1][1, 31], hidden[-1][1, 29])


def test_hf_upstream_runs_in_the_harness(hf_models, tmp_path):
    corpus = write_task_corpus(tmp_path / "corpus")
    out = tmp_path / "eval"
    cfg = load_config(EvalConfig, overrides=[f"model=hf:{hf_models / 'hubert'}", f"corpus={corpus}", f"out={out}",
                                             "tasks=[pr,ks]", "head.max_epochs.pr=1", "head.max_epochs.ks=1",
                                             "device=cpu"])
    evaluate(cfg, progress=False)
    ks = json.loads((out / "ks.json").read_text())
    assert ks["upstream"]["upstream"] == "hf" and ks["upstream"]["model_type"] == "hubert"
    assert len(ks["layer_weights"]) == 3 and len(ks["upstream"]["weights_sha256"]) == 64


def test_hf_upstream_errors_name_the_problem(hf_models, tmp_path):
    from transformers import HubertConfig, HubertModel

    HubertModel(HubertConfig(**SMALL, conv_stride=(5, 2, 2, 2, 2, 2, 1))).save_pretrained(tmp_path / "stride160")
    with pytest.raises(ConfigError, match="frame stride is 160 samples.*only 320-sample-stride"):
        load_upstream(f"hf:{tmp_path / 'stride160'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="hf:.*empty: no config.json in .*: not a model folder saved by save_pretrained"):
        load_upstream(f"hf:{tmp_path / 'empty'}")
    folder = tmp_path / "no-weights"
    HubertConfig(**SMALL).save_pretrained(folder)
    with pytest.raises(ConfigError, match="has a config.json but no weights \\(model.safetensors or pytorch_model.bin\\)"):
        load_upstream(f"hf:{folder}")
    folder = tmp_path / "corrupt"
    HubertModel(HubertConfig(**SMALL)).save_pretrained(folder)
    (folder / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(ConfigError, match="corrupt: cannot load .*corrupt/model.safetensors \\(.*\\); the file is damaged"):
        load_upstream(f"hf:{folder}")
    with pytest.raises(ConfigError, match="hf:.*missing/model: no such folder here, and not a hub id"):
        load_upstream(f"hf:{tmp_path / 'missing' / 'model'}")


def test_kaldi_fbank_upstream_is_s3prls_fbank_on_the_shared_grid():
    from codec2vec.eval.upstream import deltas

    upstream = load_upstream("fbank-kaldi")
    rng = np.random.default_rng(0)
    clips = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (16000, 9999)]
    hidden, frames = upstream.embed(clips)
    assert upstream.n_hidden == 1 and frames.tolist() == [50, 32] and hidden[0].shape == (2, 50, 480)
    alone, _ = upstream.embed([clips[1]])
    assert torch.allclose(alone[0][0], hidden[0][1, :32])  # batch == single
    # 9999 samples: 1 + (9999 - 400) // 160 = 60 Kaldi frames (snip_edges), stacked in 30 pairs; the
    # per-utterance CMVN leaves every one of the 240 dimensions with mean 0 and standard deviation 1.
    features = upstream.features(clips[1])
    assert features.shape == (30, 480)
    unstacked = features.reshape(60, 240)
    assert np.allclose(unstacked.mean(0), 0, atol=1e-4) and np.allclose(unstacked.std(0, ddof=1), 1, atol=1e-3)
    assert torch.equal(hidden[0][1, 31], hidden[0][1, 29])  # the grid's last frames repeat the last pair
    # Deltas: the slope inside a ramp, smaller at the replicated edges (torchaudio's ComputeDeltas).
    ramp = np.arange(10, dtype=np.float64)[:, None] * 3.0
    d = deltas(ramp)[:, 0]
    assert np.allclose(d[2:-2], 3.0) and d[0] == pytest.approx(3.0 * (1 * 1 + 2 * 2 - 1 * 0 - 2 * 0) / 10)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from codec_fixtures import save_tiny_dac
    from eval_fixtures import save_tiny_model

    root = tmp_path_factory.mktemp("s3prl")
    return save_tiny_model(root / "model", save_tiny_dac(root / "codec"))


def test_s3prl_expert_follows_the_upstream_interface(tiny_model):
    from codec2vec.s3prl import UpstreamExpert

    expert = UpstreamExpert(str(tiny_model))
    assert expert.get_downsample_rates("hidden_states") == 320
    torch.manual_seed(0)
    wavs = [0.1 * torch.randn(n) for n in (16000, 7000)]
    expert.eval()
    hidden = expert(wavs)["hidden_states"]
    assert len(hidden) == expert.model.n_hidden == 3
    assert [tuple(h.shape) for h in hidden] == [(2, 50, 64)] * 3  # ceil(16000 / 320) frames, padded batch
    upstream = load_upstream(str(tiny_model))
    reference, frames = upstream.embed([w.numpy() for w in wavs])  # codec2vec's own path: the same states
    assert frames.tolist() == [50, 22]
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(hidden, reference))
    expert.train()  # s3prl fine-tunes upstreams with gradients
    sum(h.sum() for h in expert(wavs)["hidden_states"]).backward()
    assert all(p.grad is not None for p in expert.model.encoder.layers[0].parameters())


def test_s3prl_register_says_what_is_missing(monkeypatch):
    import sys

    import codec2vec.s3prl

    for name in [m for m in sys.modules if m == "s3prl" or m.startswith("s3prl.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torchaudio", None)  # installed s3prl, torchaudio that will not load
    with pytest.raises(ConfigError, match="s3prl is installed, but its hub does not import: torchaudio is missing"
                                          ".*UpstreamExpert\\(SPEC\\) still gives"):
        codec2vec.s3prl.register()
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(ConfigError, match="needs s3prl: pip install s3prl$"):
        codec2vec.s3prl.register()


def test_s3prl_expert_refuses_what_s3prl_cannot_use(monkeypatch):
    from codec2vec.s3prl import UpstreamExpert, downsample_rate

    class At75Hz:  # EnCodec 24 kHz: 213.3 samples of 16 kHz audio per frame
        name, frame_rate = "encodec", 75.0

    with pytest.raises(ConfigError, match="213.333 samples of 16 kHz audio per frame; s3prl needs a whole number"):
        downsample_rate(At75Hz())
    with pytest.raises(ConfigError, match="has no model to run in s3prl"):
        UpstreamExpert("fbank")


def test_s3prl_upstream_and_featurizer_load_codec2vec(tiny_model):
    pytest.importorskip("s3prl")
    script = (
        "import torchaudio_stub, sys, torch\n"
        "import codec2vec.s3prl\n"
        "codec2vec.s3prl.register()\n"
        "from s3prl.nn.upstream import S3PRLUpstream, Featurizer\n"
        f"upstream = S3PRLUpstream('codec2vec', path_or_url={str(tiny_model)!r})\n"
        "featurizer = Featurizer(upstream)\n"
        "wavs, lens = torch.randn(2, 16000) * 0.1, torch.LongTensor([16000, 8000])\n"
        "hs, hs_len = upstream(wavs, lens)\n"
        "h, h_len = featurizer(hs, hs_len)\n"
        "print(upstream.num_layers, upstream.downsample_rates[0], tuple(h.shape), h_len.tolist())\n")
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parent)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[-2] == "3 320 (2, 50, 64) [50, 25]"


@pytest.mark.parametrize("kind", ["units", "logmel"])
def test_transformers_automodel_loads_an_export(tmp_path, kind):
    import codec2vec.models.hf  # noqa: F401 (registers the auto classes)
    from transformers import AutoModel

    from codec2vec.models.export import export_model
    from codec_fixtures import save_tiny_dac
    from eval_fixtures import save_tiny_model

    export = export_model(str(save_tiny_model(tmp_path / "model", save_tiny_dac(tmp_path / "codec"), kind)),
                          tmp_path / "export")
    model = AutoModel.from_pretrained(str(export))
    assert type(model).__name__ == "Codec2VecModel"
    assert (export / "README.md").read_text().startswith("---\nlibrary_name: codec2vec\n")  # the Hub's card header
    upstream = load_upstream(str(export))
    rng = np.random.default_rng(0)
    clips = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (16000, 6000)]
    batch = upstream.batch_for(clips)
    inputs = {"units": batch["units"]} if kind == "units" else {"audio": batch["audio"]}
    with torch.no_grad():
        ours = model(frames=batch["frames"], **inputs).hidden_states
    reference = upstream.hidden(batch)  # non-persistent buffers (code offsets, mel filters) rebuilt
    assert len(ours) == len(reference) == 3
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(ours, reference))


def test_load_a_hub_id_from_the_local_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants

    import codec2vec
    from codec2vec.models.export import export_model
    from codec_fixtures import save_tiny_dac
    from eval_fixtures import save_tiny_model

    export = export_model(str(save_tiny_model(tmp_path / "model", save_tiny_dac(tmp_path / "codec"))),
                          tmp_path / "export")
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = _hub_cache_repo(tmp_path / "cache", "me/tiny-codec2vec", export, revision)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    upstream = codec2vec.load("me/tiny-codec2vec")
    assert upstream.name == "tiny-codec2vec" and upstream.folder == snapshot
    hidden, frames = upstream.embed(np.zeros(3200, np.float32))
    assert frames.tolist() == [10] and len(hidden) == 3
    with pytest.raises(ConfigError, match="'me/absent': no such folder here, and not a Hugging Face Hub model"):
        codec2vec.load("me/absent")


def _hub_cache_repo(cache: Path, repo_id: str, folder: Path, revision: str) -> Path:
    """`folder` placed in a Hugging Face cache as `huggingface-cli download repo_id` leaves it."""
    import shutil

    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / revision)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return repo / "snapshots" / revision


REMOTE_CODE_SCRIPT = """
import sys, torch
sys.modules["codec2vec"] = None  # as where codec2vec is not installed: importing it fails
audio = torch.load(sys.argv[1])
exec(sys.argv[2])  # the model card's last snippet, as a user would paste it
assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
torch.save(list(hidden_states), sys.argv[3])
"""


def _card_snippet(export: Path) -> str:
    """The last python block of the export's model card: the transformers-alone one."""
    card = (export / "README.md").read_text()
    return card.split("```python\n")[-1].split("```")[0]


def _run_card_snippet(export: Path, clip: torch.Tensor, tmp_path: Path) -> list[torch.Tensor]:
    import os
    import subprocess
    import sys

    torch.save(clip, tmp_path / "clip.pt")
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", REMOTE_CODE_SCRIPT, str(tmp_path / "clip.pt"), _card_snippet(export),
                           str(tmp_path / "hidden.pt")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(tmp_path / "hidden.pt")


@pytest.mark.parametrize("kind", ["units", "logmel"])
def test_an_export_loads_with_transformers_alone(tmp_path, kind):
    """auto_map + the model code the export carries: the model card's own snippet, in a process that
    cannot import codec2vec, gives codec2vec's hidden states for audio that is not a whole number of
    frames (13,000 samples: 41 frames, the last one partial); a unit model's codes come from the
    export's codec/ folder."""
    from codec2vec.models.export import export_model
    from codec_fixtures import save_tiny_dac
    from eval_fixtures import save_tiny_model

    export = export_model(str(save_tiny_model(tmp_path / "model", save_tiny_dac(tmp_path / "codec"), kind)),
                          tmp_path / "export")
    config = json.loads((export / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_codec2vec.Codec2VecModel"
    card = (export / "README.md").read_text()
    assert "trust_remote_code=True" in card and ("subfolder=\"codec\"" in card) == (kind == "units")
    assert "PATH" not in card and f'codec2vec.load("{export}")' in card
    clip = 0.1 * torch.randn(1, 13000, generator=torch.Generator().manual_seed(0))
    theirs = _run_card_snippet(export, clip, tmp_path)
    ours, frames = load_upstream(str(export)).embed(clip[0].numpy())
    assert frames.tolist() == [41] and len(theirs) == len(ours) == 3
    assert all(a.shape == b.shape and torch.allclose(a, b, atol=1e-5) for a, b in zip(theirs, ours))
    # --no-code (the models shipped inside codec2vec): no code, no auto_map, even over an earlier export
    export_model(str(tmp_path / "model"), export, remote_code=False)
    assert not list(export.glob("*.py")) and "auto_map" not in json.loads((export / "config.json").read_text())
    card = (export / "README.md").read_text()
    assert "trust_remote_code" not in card and 'codec2vec.load("export")' in card


def test_an_export_on_a_shipped_codec_carries_it(tmp_path):
    # The shipped codecs come with codec2vec, not with transformers: the export copies them into codec/.
    # dac-cpu is a transformers DAC, so the card's snippet runs where codec2vec is not installed.
    from codec2vec.models.export import export_model
    from eval_fixtures import save_tiny_model

    export = export_model(str(save_tiny_model(tmp_path / "model", "dac-cpu")), tmp_path / "export")
    assert json.loads((export / "config.json").read_text())["codec_folder"] == "codec"
    clip = 0.1 * torch.randn(1, 9000, generator=torch.Generator().manual_seed(1))
    theirs = _run_card_snippet(export, clip, tmp_path)
    ours, _ = load_upstream(str(export)).embed(clip[0].numpy())
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(theirs, ours))


def test_an_export_on_the_default_spectral_codec_carries_it_and_says_transformers_cannot_load_it(tmp_path):
    from codec2vec.codecs import load_codec
    from codec2vec.models.export import export_model
    from eval_fixtures import save_tiny_model

    model = save_tiny_model(tmp_path / "model", "default")
    export = export_model(str(model), tmp_path / "export")
    copied = load_codec(str(export / "codec"))
    assert copied.architecture == "spectral"
    assert copied.info.weights_hash == load_codec("default").info.weights_hash
    card = (export / "README.md").read_text()
    assert "which transformers cannot load" in card and f'load_codec("{export}/codec")' in card
    assert 'subfolder="codec"' not in card
    clip = 0.1 * np.random.default_rng(2).standard_normal(9000).astype(np.float32)
    ours, _ = load_upstream(str(export)).embed(clip)
    direct, _ = load_upstream(str(model)).embed(clip)
    assert all(torch.equal(a, b) for a, b in zip(ours, direct))


def test_automodel_loads_float16_exports_in_float32_and_refuses_damaged_ones(tmp_path):
    import codec2vec.models.hf  # noqa: F401 (registers the auto classes)
    from transformers import AutoModel

    from codec2vec.models.export import export_model
    from codec_fixtures import save_tiny_dac
    from eval_fixtures import save_tiny_model

    model = save_tiny_model(tmp_path / "model", save_tiny_dac(tmp_path / "codec"))
    export = export_model(str(model), tmp_path / "export", dtype="float16")
    config = json.loads((export / "config.json").read_text())
    assert config["torch_dtype"] == "float32" and config["weights_dtype"] == "float16"
    loaded = AutoModel.from_pretrained(str(export))
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    weights = export / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-2] ^= 0xFF  # a flipped byte in the last tensor: the file still parses
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="model.safetensors: damaged or replaced"):
        AutoModel.from_pretrained(str(export))


def test_an_export_names_a_hub_codec_by_commit_instead_of_copying_it(tmp_path, monkeypatch):
    import huggingface_hub.constants

    from codec2vec.cli import main
    from codec2vec.codecs import load_codec
    from codec2vec.codecs.registry import CodecError
    from codec2vec.models.export import export_model
    from codec_fixtures import save_tiny_dac, tiny_dac
    from eval_fixtures import save_tiny_model

    cache = tmp_path / "cache"
    commit = "89abcdef0123456789abcdef0123456789abcdef"
    _hub_cache_repo(cache, "me/tiny-dac", save_tiny_dac(tmp_path / "codec"), commit)
    other = tiny_dac()
    with torch.no_grad():
        other.quantizer.quantizers[0].codebook.weight.mul_(2)  # same layout, other weights
    other.save_pretrained(tmp_path / "other")
    _hub_cache_repo(cache, "me/other-dac", tmp_path / "other", "f" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clip = 0.1 * np.random.default_rng(0).standard_normal(9000).astype(np.float32)

    # Trained on units of the Hub codec: named at the commit the cache holds, nothing copied.
    by_id = save_tiny_model(tmp_path / "by-id", "me/tiny-dac")
    export = export_model(str(by_id), tmp_path / "export-by-id")
    config = json.loads((export / "config.json").read_text())
    assert config["codec_hub"] == f"me/tiny-dac@{commit}" and config["codec_folder"] is None
    assert not (export / "codec").exists() and f"revision=\"{commit}\"" in (export / "README.md").read_text()
    exported = load_upstream(str(export))
    assert exported.codec_source == f"me/tiny-dac@{commit}"
    want, _ = load_upstream(str(by_id)).embed(clip)
    got, _ = exported.embed(clip)
    assert all(torch.equal(a, b) for a, b in zip(got, want))

    # Trained on a codec folder that its owner uploaded: --codec-hub names it, checked by weights hash.
    by_folder = save_tiny_model(tmp_path / "by-folder", tmp_path / "codec")
    assert main(["export", str(by_folder), "--out", str(tmp_path / "export-by-folder"), "--codec-hub", "me/tiny-dac"]) == 0
    assert json.loads((tmp_path / "export-by-folder" / "config.json").read_text())["codec_hub"] == f"me/tiny-dac@{commit}"
    with pytest.raises(ConfigError, match=f"codec 'me/other-dac@{'f' * 40}' is not the one the model was trained on"):
        export_model(str(by_folder), tmp_path / "wrong", codec_hub="me/other-dac")
    with pytest.raises(ConfigError, match="'me/absent': no such folder here, and not a Hugging Face Hub model"):
        export_model(str(by_folder), tmp_path / "absent", codec_hub="me/absent")
    with pytest.raises(CodecError, match="huggingface-cli download me/tiny-dac --revision 0123 --local-dir DIR"):
        load_codec("me/tiny-dac@0123")  # a revision the cache does not hold, offline


def test_export_for_s3prls_hugging_face_hub(tiny_model, tmp_path):
    import importlib.util

    from codec2vec.cli import main
    from codec2vec.s3prl import UpstreamExpert

    out = tmp_path / "export"
    assert main(["export", str(tiny_model), "--out", str(out), "--s3prl"]) == 0
    assert (out / "requirements.txt").read_text().startswith("codec2vec>=")
    spec = importlib.util.spec_from_file_location("expert", out / "expert.py")  # as s3prl imports it
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expert = module.UpstreamExpert(ckpt=str(out / "model.pt")).eval()  # s3prl's default --upstream_model_name
    wavs = [0.1 * torch.randn(8000)]
    with torch.no_grad():
        got = expert(wavs)["hidden_states"]
        want = UpstreamExpert(str(tiny_model)).eval()(wavs)["hidden_states"]
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(got, want))

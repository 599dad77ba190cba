"""Damage is caught and named: a flipped byte in a checkpoint, a model's weights or a feature cache
never loads as silently wrong values; `codec2vec verify` checks every artifact kind."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from codec2vec.cli import main
from codec2vec.config import load_config
from codec2vec.errors import Codec2VecError
from codec2vec.eval.features import cached_features, verify_features
from codec2vec.eval.tasks import TASKS, task_manifest
from codec2vec.eval.upstream import FbankUpstream
from codec2vec.integrity import load_checkpoint, save_checkpoint, state_digest
from codec2vec.models import ModelConfig, build_model, load_pretrained, save_pretrained
from eval_fixtures import write_task_corpus


def _flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x55
    path.write_bytes(bytes(data))


def test_checkpoint_damage_is_never_loaded_silently(tmp_path):
    torch.manual_seed(0)
    state = {"format": "x", "step": 7, "model": {"w": torch.randn(300, 50), "b": torch.zeros(3, dtype=torch.long)},
             "rng": {"torch": torch.get_rng_state()}, "config": {"lr": 0.1, "layers": [1, 2]}}
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(state, path)
    loaded = load_checkpoint(path)
    assert state_digest(loaded) == state_digest(state) and torch.equal(loaded["model"]["w"], state["model"]["w"])
    good = path.read_bytes()
    caught = 0
    for position in np.linspace(100, len(good) - 100, 25).astype(int):
        path.write_bytes(good)
        _flip(path, int(position))
        try:
            damaged = load_checkpoint(path)
        except Codec2VecError as e:
            assert str(path) in str(e)
            caught += 1
            continue
        assert state_digest(damaged) == state_digest(state)  # a flip in zip padding/metadata torch ignores
    assert caught >= 20


def _tiny_model(folder: Path) -> Path:
    cfg = load_config(ModelConfig, overrides=["input.kind=logmel", "encoder.preset=tiny", "encoder.pos_conv_kernel=16",
                                              "encoder.pos_conv_groups=4"])
    torch.manual_seed(0)
    return save_pretrained(folder, build_model(cfg, 0, 0), cfg, {"codec": None, "n_codebooks": 0, "codebook_size": 0,
                                                                  "objective": "none", "step": 0})


def test_model_weights_are_checked_on_load_and_by_verify(tmp_path, capsys):
    folder = _tiny_model(tmp_path / "model")
    assert len(json.loads((folder / "config.json").read_text())["weights_sha256"]) == 64
    load_pretrained(folder)
    assert main(["verify", str(folder)]) == 0
    assert "OK (model folder" in capsys.readouterr().out
    _flip(folder / "model.safetensors", (folder / "model.safetensors").stat().st_size // 2)
    with pytest.raises(Codec2VecError, match=r"model.safetensors: damaged or replaced"):
        load_pretrained(folder)
    assert main(["verify", str(folder)]) == 6
    assert "PROBLEM: " in capsys.readouterr().out


def test_feature_cache_damage_is_named_by_verify_and_recomputed(tmp_path, capsys):
    corpus = write_task_corpus(tmp_path / "corpus")
    manifest = task_manifest(str(corpus), TASKS["ks"])
    rows = manifest.split("train")
    upstream = FbankUpstream("cpu")
    cache = cached_features(upstream, manifest, "train", rows, "frames", False, tmp_path / "cache", progress=False)
    want = np.array(cache.data)
    assert verify_features(cache.path) == []
    assert main(["verify", str(tmp_path / "cache")]) == 0
    assert "feature cache (1 entries)" in capsys.readouterr().out

    _flip(cache.path / "features.bin", 1000)
    assert verify_features(cache.path) == [f"{cache.path / 'features.bin'}: checksum differs from index.json (damaged)"]
    assert main(["verify", str(cache.path)]) == 6
    # a truncated entry fails the cheap size check on open and is recomputed, with a message
    with open(cache.path / "features.bin", "r+b") as f:
        f.truncate(500)
    again = cached_features(upstream, manifest, "train", rows, "frames", False, tmp_path / "cache", progress=False)
    assert "feature cache damaged, recomputing" in capsys.readouterr().err
    np.testing.assert_array_equal(np.array(again.data), want)
    assert verify_features(again.path) == []


def test_verify_names_what_it_cannot_check(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "nothing")]) == 6
    (tmp_path / "junk").mkdir()
    assert main(["verify", str(tmp_path / "junk")]) == 6
    assert "not a unit or label store, feature cache, codec2vec model or run folder" in capsys.readouterr().out

from dataclasses import dataclass, field
from typing import List

import pytest
import yaml

from codec2vec.config import load_config, save_config
from codec2vec.errors import ConfigError


@dataclass
class Inner:
    size: int = 4
    name: str = "tiny"


@dataclass
class Outer:
    hours: float = 1.0
    seed: int = 1
    engines: List[str] = field(default_factory=lambda: ["espeak"])
    inner: Inner = field(default_factory=Inner)


def test_defaults_and_precedence(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("hours: 2.5\nseed: 7\ninner:\n  size: 8\n")
    cfg = load_config(Outer, path, overrides=["seed=9", "inner.name=base"], values={"hours": 3.0, "seed": None})
    # YAML < flags (None means "not given") < key=value overrides
    assert cfg == Outer(hours=3.0, seed=9, engines=["espeak"], inner=Inner(size=8, name="base"))
    assert isinstance(cfg.inner, Inner)


def test_list_override():
    assert load_config(Outer, overrides=["engines=[espeak,flite]"]).engines == ["espeak", "flite"]


def test_empty_override_is_the_empty_string():
    assert load_config(Outer, overrides=["inner.name="]).inner.name == ""


@pytest.mark.parametrize("override, suggestion", [("hourz=2", "hours"), ("inner.sise=3", "inner.size")])
def test_unknown_key_is_rejected_with_suggestion(override, suggestion):
    with pytest.raises(ConfigError, match=f"unknown config key .*Did you mean '{suggestion}'"):
        load_config(Outer, overrides=[override])


def test_unknown_key_in_yaml_names_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("sead: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'sead'.*Did you mean 'seed'"):
        load_config(Outer, path)


@pytest.mark.parametrize("override, message", [
    ("seed=abc", "could not be converted"),
    ("seed", "not of the form key=value"),
    ("=3", "not of the form key=value"),
])
def test_bad_values(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Outer, overrides=[override])


def test_bad_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Outer, tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(Outer, tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Outer, tmp_path / "broken.yaml")


def test_saved_config_round_trips(tmp_path):
    cfg = load_config(Outer, overrides=["inner.size=16", "hours=0.5"])
    save_config(cfg, tmp_path / "out" / "config.yaml")
    data = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    assert data == {"hours": 0.5, "seed": 1, "engines": ["espeak"], "inner": {"size": 16, "name": "tiny"}}
    assert load_config(Outer, tmp_path / "out" / "config.yaml") == cfg
    assert not list((tmp_path / "out").glob(".*tmp*")), "temporary files must not be left behind"


def test_shipped_configs_load():
    from pathlib import Path

    from codec2vec.codecs.train import CodecTrainConfig
    from codec2vec.data.synth import SynthConfig
    from codec2vec.train import PretrainConfig

    root = Path(__file__).parent.parent / "configs"
    for folder, schema in (("corpus", SynthConfig), ("codec", CodecTrainConfig), ("pretrain", PretrainConfig)):
        configs = sorted((root / folder).glob("*.yaml"))
        assert configs, f"configs/{folder}/ should hold presets"
        for path in configs:
            assert isinstance(load_config(schema, path), schema)
    assert load_config(PretrainConfig, root / "pretrain" / "base.yaml").model.encoder.preset == "base"


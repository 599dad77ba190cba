"""Typed configs: a dataclass gives the schema and defaults, YAML files and `key=value`
overrides change them, and the resolved config is saved beside every output."""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any, Sequence, TypeVar

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from codec2vec.atomic import atomic_write_text
from codec2vec.errors import ConfigError

T = TypeVar("T")


def _all_keys(schema: type, prefix: str = "") -> list[str]:
    keys = []
    for field in dataclasses.fields(schema):
        keys.append(prefix + field.name)
        if dataclasses.is_dataclass(field.type):
            keys.extend(_all_keys(field.type, prefix + field.name + "."))
    return keys


def _unknown_key_message(schema: type, key: str, source: str) -> str:
    known = _all_keys(schema)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"{source}: unknown config key '{key}' for {schema.__name__}.{hint} Known keys: {', '.join(known)}"


def _merge(base, update, schema: type, source: str):
    try:
        return OmegaConf.merge(base, update)
    except ConfigKeyError as e:
        key = e.full_key or str(e.key)
        raise ConfigError(_unknown_key_message(schema, key, source)) from None
    except OmegaConfBaseException as e:
        raise ConfigError(f"{source}: {e.msg if hasattr(e, 'msg') else e}".splitlines()[0]) from None


def parse_overrides(overrides: Sequence[str]) -> list[str]:
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise ConfigError(f"override '{item}' is not of the form key=value")
    # `key=` means the empty string (OmegaConf would read it as null)
    return [item + '""' if item.endswith("=") else item for item in overrides]


def load_config(
    schema: type[T],
    yaml_path: str | Path | None = None,
    overrides: Sequence[str] = (),
    values: dict[str, Any] | None = None,
) -> T:
    """Resolve a config: dataclass defaults < YAML file < `values` (CLI flags) < `key=value` overrides.

    Unknown keys and wrongly typed values raise ConfigError naming the key and the source.
    """
    cfg = OmegaConf.structured(schema)
    if yaml_path is not None:
        path = Path(yaml_path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({e})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a config file must hold a mapping of keys to values")
        cfg = _merge(cfg, data, schema, str(path))
    if values:
        cfg = _merge(cfg, {k: v for k, v in values.items() if v is not None}, schema, "command-line option")
    for item in parse_overrides(overrides):
        cfg = _merge(cfg, OmegaConf.from_dotlist([item]), schema, f"override '{item}'")
    try:
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as e:
        raise ConfigError(str(e).splitlines()[0]) from None


def config_to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically), so every output records how it was made."""
    atomic_write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))

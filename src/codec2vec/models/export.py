"""`codec2vec export`: a trained model as a self-contained folder, and the models shipped in the package.

An export holds what `from_pretrained`-style loaders expect: config.json (codec2vec's own keys plus
the usual `model_type`, `architectures`, `hidden_size`, ... ones), model.safetensors, a README.md
model card, and `codec/` (the codec's transformers folder) unless the codec ships with codec2vec.
`codec2vec.load(FOLDER)` loads it; units are then made with `codec/` (weights hash-checked).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from codec2vec.atomic import atomic_path, atomic_write_text
from codec2vec.errors import ConfigError
from codec2vec.hub import hub_snapshot, is_hub_id
from codec2vec.integrity import file_sha256
from codec2vec.models.encoder import EncoderConfig
from codec2vec.models.model import MODEL_FORMAT

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
CODEC_FOLDER = "codec"
BUILT_IN_CODECS = ("default",)


def pretrained_models() -> dict[str, Path]:
    """Models shipped inside the package: name -> folder."""
    if not PRETRAINED_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(PRETRAINED_DIR.iterdir()) if (p / "config.json").is_file()}


def resolve_model(spec: str) -> Path:
    """A shipped model's name, a model folder, a pre-training run folder, or a Hub repository id
    (an export uploaded as it is) -> the model folder."""
    shipped = pretrained_models()
    if spec in shipped and not Path(spec).exists():
        return shipped[spec]
    folder = hub_snapshot(spec) if is_hub_id(spec) else Path(spec)
    if not (folder / "config.json").is_file() and (folder / "model" / "config.json").is_file():
        folder = folder / "model"
    if not (folder / "config.json").is_file():
        known = ", ".join(shipped) or "none"
        raise ConfigError(f"'{spec}' is neither a model folder (config.json + model.safetensors), a run folder, "
                          f"nor a shipped model (shipped: {known})")
    return folder


def transformers_keys(config: dict) -> dict:
    """The keys transformers-style tools read from config.json, derived from codec2vec's own."""
    layers, width, heads, ffn = EncoderConfig(**config["model"]["encoder"]).resolved()
    return {"model_type": "codec2vec", "architectures": ["Codec2Vec"], "hidden_size": width,
            "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": ffn,
            "input_kind": config["model"]["input"]["kind"], "torch_dtype": "float32"}


def export_model(spec: str, out: str | Path, dtype: str = "float32", card: str = "") -> Path:
    """Write the model of `spec` as a self-contained export folder; returns it."""
    if dtype not in ("float32", "float16", "bfloat16"):
        raise ConfigError(f"dtype must be float32, float16 or bfloat16, got '{dtype}'")
    source = resolve_model(spec)
    out = Path(out)
    if out.resolve() == source.resolve():
        raise ConfigError(f"export: --out {out} is the model folder itself")
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    if config.get("codec2vec") != MODEL_FORMAT:
        raise ConfigError(f"{source / 'config.json'}: not a codec2vec model config")
    out.mkdir(parents=True, exist_ok=True)
    state = load_file(str(source / "model.safetensors"))
    # float16 halves the download; loading casts back to the float32 parameters
    state = {k: v.to(getattr(torch, dtype)) if v.is_floating_point() else v for k, v in state.items()}
    with atomic_path(out / "model.safetensors") as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    codec = config.get("codec")
    if codec and codec["codec_id"] not in BUILT_IN_CODECS:
        _export_codec(codec, out / CODEC_FOLDER)
    exported = {**config, **transformers_keys(config), "torch_dtype": dtype,
                "weights_sha256": file_sha256(out / "model.safetensors"),
                "codec_folder": CODEC_FOLDER if (out / CODEC_FOLDER / "config.json").is_file() else None}
    atomic_write_text(out / "README.md", model_card(exported, card))
    atomic_write_text(out / "config.json", json.dumps(exported, indent=2) + "\n")  # last: marks it complete
    return out


def _export_codec(codec: dict, folder: Path) -> None:
    from codec2vec.codecs import load_codec

    loaded = load_codec(codec["codec_id"])
    if loaded.info.weights_hash != codec["weights_hash"]:
        raise ConfigError(f"codec '{codec['codec_id']}' as loaded here is not the one the model was trained on "
                          f"(weights hash {loaded.info.weights_hash[:12]} vs {codec['weights_hash'][:12]})")
    if folder.exists():
        shutil.rmtree(folder)
    loaded.model.save_pretrained(folder)


def model_card(config: dict, card: str) -> str:
    step, objective = config.get("step"), config.get("objective")
    codec = config.get("codec") or {}
    run = config.get("pretrain_config", {})
    # YAML front matter: what the Hugging Face Hub reads to list and tag the model.
    lines = ["---", "library_name: codec2vec", "pipeline_tag: feature-extraction",
             "tags: [speech, self-supervised-learning, audio, codec2vec]", "---", "",
             f"# codec2vec model ({config['input_kind']} input, {objective} targets)\n",
             f"- Transformer: {config['num_hidden_layers']} layers, width {config['hidden_size']}, "
             f"{config['num_attention_heads']} heads, FFN {config['intermediate_size']}; weights {config['torch_dtype']}",
             f"- Pre-trained for {step} steps with `codec2vec pretrain` ({objective} targets)"]
    if codec:
        lines.append(f"- Input: units of codec '{codec['codec_id']}' ({codec['n_codebooks']} codebooks x "
                     f"{codec['codebook_size']} at {codec['frame_rate']} frames/s), weights sha256 "
                     f"{codec['weights_hash'][:16]}...; " + ("in `codec/`" if config.get("codec_folder")
                                                              else "the codec ships with codec2vec"))
    if run.get("data"):
        lines.append(f"- Training data: `{run['data'].get('units') or run['data'].get('audio')}`")
    lines += ["", card.strip(), "", "Load it:", "", "```python", "import codec2vec",
              "upstream = codec2vec.load(\"PATH_NAME_OR_HUB_ID\")", "hidden, frames = upstream.embed(audio_16khz)  "
              "# list of [batch, frames, width], one per layer", "```", "",
              "or with transformers (units from the codec above, or 16 kHz audio for the baselines):", "",
              "```python", "import codec2vec.models.hf  # registers AutoModel's codec2vec class",
              "from transformers import AutoModel", "model = AutoModel.from_pretrained(\"PATH_OR_HUB_ID\")",
              "hidden_states = model(units=codes, frames=frames).hidden_states", "```", ""]
    return "\n".join(lines)

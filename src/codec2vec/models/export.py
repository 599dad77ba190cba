"""`codec2vec export`: a trained model as a self-contained folder, and the models shipped in the package.

An export holds what `from_pretrained`-style loaders expect: config.json (codec2vec's own keys plus
the usual `model_type`, `architectures`, `hidden_size`, ... ones, and an `auto_map`), model.safetensors,
a README.md model card, and the model's code (hf.py as modeling_codec2vec.py, with model.py,
encoder.py and inputs.py) so that transformers loads it with `trust_remote_code=True` where codec2vec
is not installed. The codec of a unit model is named, not copied, when it is on the Hugging Face Hub
(`codec_hub`: 'owner/name@commit', checked against the weights hash the model was trained with);
otherwise its folder is copied into `codec/`, the codecs that ship with codec2vec too (only the
models shipped inside codec2vec itself, exported without code, leave their codec out).
`codec2vec.load(FOLDER)` loads an export; units are then made with that codec (weights hash-checked).
"""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from codec2vec.atomic import atomic_path, atomic_write_text
from codec2vec.codecs.registry import SHIPPED
from codec2vec.errors import ConfigError
from codec2vec.hub import hub_snapshot, is_hub_id, split_revision
from codec2vec.integrity import file_sha256
from codec2vec.models.encoder import EncoderConfig
from codec2vec.models.saved import MODEL_FORMAT

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
CODEC_FOLDER = "codec"
# The export's remote code: file in the export <- module of codec2vec.models, copied verbatim.
REMOTE_CODE = {"modeling_codec2vec.py": "hf.py", "model.py": "model.py", "encoder.py": "encoder.py",
               "inputs.py": "inputs.py"}
AUTO_MAP = {"AutoConfig": "modeling_codec2vec.Codec2VecConfig", "AutoModel": "modeling_codec2vec.Codec2VecModel"}


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
    return {"model_type": "codec2vec", "architectures": ["Codec2VecModel"], "auto_map": AUTO_MAP, "hidden_size": width,
            "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": ffn,
            "input_kind": config["model"]["input"]["kind"], "torch_dtype": "float32"}


def export_model(spec: str, out: str | Path, dtype: str = "float32", card: str = "",
                 codec_hub: str | None = None, remote_code: bool = True) -> Path:
    """Write the model of `spec` as a self-contained export folder; returns it. `codec_hub`
    ('owner/name[@revision]') names the Hub repository of a unit model's codec when the codec was
    loaded from a folder (a codec loaded by Hub id is named without it). `remote_code=False` leaves
    out the model code and `auto_map` (for the models shipped inside codec2vec)."""
    if dtype not in ("float32", "float16", "bfloat16"):
        raise ConfigError(f"dtype must be float32, float16 or bfloat16, got '{dtype}'")
    source = resolve_model(spec)
    out = Path(out)
    if out.resolve() == source.resolve():
        raise ConfigError(f"export: --out {out} is the model folder itself")
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    if config.get("codec2vec") != MODEL_FORMAT:
        raise ConfigError(f"{source / 'config.json'}: not a codec2vec model config")
    # Only a unit model needs its codec to run (a baseline's config may still name its targets' codec).
    codec = config.get("codec") if config["model"]["input"]["kind"] == "units" else None
    if codec_hub and not codec:
        raise ConfigError(f"export: --codec-hub given, but {source} is not a unit model")
    out.mkdir(parents=True, exist_ok=True)
    state = load_file(str(source / "model.safetensors"))
    # float16 halves the download; loading casts back to the float32 parameters
    state = {k: v.to(getattr(torch, dtype)) if v.is_floating_point() else v for k, v in state.items()}
    with atomic_path(out / "model.safetensors") as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    for name, module in REMOTE_CODE.items():
        if remote_code:
            atomic_write_text(out / name, (Path(__file__).parent / module).read_text(encoding="utf-8"))
        else:
            (out / name).unlink(missing_ok=True)
    if (out / CODEC_FOLDER).exists():  # from an earlier export into the same folder
        shutil.rmtree(out / CODEC_FOLDER)
    pinned = None
    # A codec that ships with codec2vec is copied too, unless the export ships inside codec2vec itself:
    # transformers alone cannot find it otherwise (the card's `subfolder="codec"`).
    if codec and (remote_code or codec["codec_id"] not in SHIPPED):
        hub = codec_hub or _hub_source(codec["codec_id"])
        if hub:
            pinned = _pin_codec(codec, hub)
        else:
            _export_codec(codec, out / CODEC_FOLDER)
    keys = transformers_keys(config)
    if not remote_code:
        del keys["auto_map"]
    # torch_dtype stays float32: the dtype the model loads in (transformers reads it); weights_dtype
    # is how the file stores them.
    exported = {**config, **keys, "weights_dtype": dtype,
                "weights_sha256": file_sha256(out / "model.safetensors"), "codec_hub": pinned,
                "codec_folder": CODEC_FOLDER if (out / CODEC_FOLDER / "config.json").is_file() else None}
    atomic_write_text(out / "README.md", model_card(exported, card, out.name if not remote_code else str(out)))
    atomic_write_text(out / "config.json", json.dumps(exported, indent=2) + "\n")  # last: marks it complete
    return out


def _hub_source(codec_id: str) -> str | None:
    """The Hub repository a codec was loaded from (a registry name's source, or the id itself)."""
    from codec2vec.codecs.registry import CODECS

    source = CODECS[codec_id].source if codec_id in CODECS else codec_id
    return source if is_hub_id(source) else None


def _pin_codec(codec: dict, hub: str) -> str:
    """'owner/name@commit' of the Hub codec `hub`, after checking that its weights are the ones the
    model was trained on (from the local Hub cache, else downloaded)."""
    from codec2vec.codecs import load_codec

    repo = split_revision(hub)[0]
    commit = hub_snapshot(hub).name  # the cache's snapshot folders are named by commit
    pinned = f"{repo}@{commit}"
    _check_codec(load_codec(pinned), codec, pinned)
    return pinned


def _export_codec(codec: dict, folder: Path) -> None:
    from codec2vec.codecs import load_codec

    loaded = load_codec(codec["codec_id"])
    _check_codec(loaded, codec, codec["codec_id"])
    loaded.model.save_pretrained(folder)


def _check_codec(loaded, codec: dict, where: str) -> None:
    if loaded.info.weights_hash != codec["weights_hash"]:
        raise ConfigError(f"codec '{where}' is not the one the model was trained on "
                          f"(weights hash {loaded.info.weights_hash[:12]} vs {codec['weights_hash'][:12]})")


def model_card(config: dict, card: str, where: str) -> str:
    """The export's README.md; `where`: the name or path its load lines use (a shipped model's name,
    or the folder as exported: the Hub id it is uploaded to works the same)."""
    step, objective = config.get("step"), config.get("objective")
    codec = (config.get("codec") or {}) if config["input_kind"] == "units" else {}
    run = config.get("pretrain_config", {})
    # YAML front matter: what the Hugging Face Hub reads to list and tag the model.
    lines = ["---", "library_name: codec2vec", "pipeline_tag: feature-extraction",
             "tags: [speech, self-supervised-learning, audio, codec2vec]", "---", "",
             f"# codec2vec model ({config['input_kind']} input, {objective} targets)\n",
             f"- Transformer: {config['num_hidden_layers']} layers, width {config['hidden_size']}, "
             f"{config['num_attention_heads']} heads, FFN {config['intermediate_size']}; weights stored in "
             f"{config['weights_dtype']}, loaded in float32",
             f"- Pre-trained for {step} steps with `codec2vec pretrain` ({objective} targets)"]
    if codec:
        kept = (f"on the Hub as `{config['codec_hub']}`" if config.get("codec_hub") else
                "in `codec/`" if config.get("codec_folder") else "it ships with codec2vec")
        lines.append(f"- Input: units of codec '{codec['codec_id']}' ({codec['n_codebooks']} codebooks x "
                     f"{codec['codebook_size']} at {codec['frame_rate']} frames/s), weights sha256 "
                     f"{codec['weights_hash'][:16]}...; {kept}")
    if run.get("data"):
        lines.append(f"- Training data: `{run['data'].get('units') or run['data'].get('audio')}`")
    lines += ["", card.strip(), "", "Load it:", "", "```python", "import codec2vec",
              f"upstream = codec2vec.load(\"{where}\")", "hidden, frames = upstream.embed(audio_16khz)  "
              "# list of [batch, frames, width], one per layer", "```", "",
              "or with transformers (units from the codec above, or 16 kHz audio for the baselines):", "",
              "```python", "import codec2vec.models.hf  # registers AutoModel's codec2vec class",
              "from transformers import AutoModel", f"model = AutoModel.from_pretrained(\"{where}\")",
              "hidden_states = model(units=codes, frames=frames).hidden_states", "```", ""]
    if "auto_map" not in config:
        return "\n".join(lines)
    lines += ["Without codec2vec installed, transformers runs the model code this folder carries:", "",
              "```python", "import torch", "from transformers import AutoModel",
              f"model = AutoModel.from_pretrained(\"{where}\", trust_remote_code=True)"]
    if codec.get("architecture") == "spectral":
        # codec2vec's own codec architecture: transformers has no class for it, so only the Transformer
        # runs without codec2vec; its units come from codec2vec (any machine, then saved).
        lines += [f"# units: [1, {codec['n_codebooks']}, frames] from the codec in codec/, codec2vec's spectral codec, "
                  "which transformers cannot load:",
                  f"#   codes, frames = codec2vec.codecs.load_codec(\"{where}/codec\").encode(audio, lengths)"]
    elif config.get("codec_hub") or config.get("codec_folder"):
        repo, revision = split_revision(config["codec_hub"]) if config.get("codec_hub") else (where, None)
        source = f"\"{repo}\", revision=\"{revision}\"" if revision else f"\"{repo}\", subfolder=\"codec\""
        rate = Fraction(codec["frame_rate"])
        hop = codec["sample_rate"] * rate.denominator // rate.numerator
        lines += [f"codec = AutoModel.from_pretrained({source})",
                  f"# audio: [1, samples] at {codec['sample_rate']} Hz; as codec2vec does, zero-pad it to whole "
                  f"frames of {hop} samples (a partial frame counts)",
                  f"audio = torch.nn.functional.pad(audio, (0, -audio.shape[-1] % {hop}))",
                  "with torch.no_grad():", "    codes = codec.encode(audio[:, None]).audio_codes",
                  "frames = torch.tensor([codes.shape[-1]])"]
    else:
        lines.append("frames = torch.tensor([-(-audio.shape[-1] // 320)])  # audio: [1, samples] at 16 kHz")
    lines += ["with torch.no_grad():",
              "    hidden_states = model(units=codes, frames=frames).hidden_states" if codec else
              "    hidden_states = model(audio=audio, frames=frames).hidden_states",
              "```", ""]
    return "\n".join(lines)

"""Named codecs (`codec2vec codec list`) and `load_codec(name | hub id | folder)`."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from codec2vec.codecs.base import Codec
from codec2vec.codecs.spectral import SpectralCodecModel, is_spectral_folder
from codec2vec.errors import Codec2VecError, DependencyError
from codec2vec.hub import is_hub_id, split_revision

DEFAULT_CODEC_DIR = Path(__file__).parent / "default"
DAC_CPU_CODEC_DIR = Path(__file__).parent / "dac-cpu"
SHIPPED = {"default": (DEFAULT_CODEC_DIR, "recipes/spectral_codec.sh"),
           "dac-cpu": (DAC_CPU_CODEC_DIR, "recipes/dac_cpu_codec.sh")}
# Shipped codecs that changed name: weights hash -> (the name it had, the name it has now). Stores and
# models made before the rename record the old name; their error says which name loads them now.
RENAMED = {"b2ce2c14cd79fdbadc363cd5897b7a647113c650f60024935c17eca555c23af5": ("default", "dac-cpu")}


class CodecError(Codec2VecError):
    """A codec cannot be found or loaded."""


@dataclass(frozen=True)
class CodecSpec:
    name: str
    source: str  # hub id, or a folder for the shipped codec
    architecture: str
    sample_rate: int
    frame_rate: Fraction
    n_codebooks: int
    codebook_size: int
    note: str
    options: tuple = ()  # adapter options, e.g. (("bandwidth", 6.0),)

    @property
    def bitrate(self) -> float:
        return float(self.frame_rate * self.n_codebooks * (self.codebook_size - 1).bit_length())


CODECS = {spec.name: spec for spec in [
    CodecSpec("default", str(DEFAULT_CODEC_DIR), "spectral", 16000, Fraction(50), 12, 1024,
              "shipped with codec2vec: log-mel front-end, trained on a CPU (docs/codecs.md); works offline"),
    CodecSpec("dac-cpu", str(DAC_CPU_CODEC_DIR), "dac", 16000, Fraction(50), 12, 1024,
              "shipped: the default until 2026-12-07 (DAC's architecture, 16 channels wide), for comparison"),
    CodecSpec("dac-16khz", "descript/dac_16khz", "dac", 16000, Fraction(50), 12, 1024,
              "the paper's codec"),
    CodecSpec("dac-24khz", "descript/dac_24khz", "dac", 24000, Fraction(75), 32, 1024, ""),
    CodecSpec("dac-44khz", "descript/dac_44khz", "dac", 44100, Fraction(44100, 512), 9, 1024, ""),
    CodecSpec("encodec-24khz", "facebook/encodec_24khz", "encodec", 24000, Fraction(75), 8, 1024,
              "at 6 kbit/s (option bandwidth=1.5|3|6|12|24)", (("bandwidth", 6.0),)),
    CodecSpec("mimi", "kyutai/mimi", "mimi", 24000, Fraction(25, 2), 8, 2048,
              "first 8 of 32 codebooks (option n_codebooks=1..32)", (("n_codebooks", 8),)),
]}

_OFFLINE_HELP = (
    "Weights for '{source}' are not on this machine and could not be downloaded. On a machine with "
    "internet access run `huggingface-cli download {repo}{revision} --local-dir DIR` (or "
    "`python -c \"from transformers import AutoModel; AutoModel.from_pretrained('{repo}').save_pretrained('DIR')\"`), "
    "copy DIR here and pass `--codec DIR`. `--codec default` needs no download."
)


@contextlib.contextmanager
def _quiet_loading():
    """No 'Loading weights' bar for weights already on disk (it took ms and cluttered every stage's
    output); downloads keep their progress bars."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _load_model(source: str):
    try:
        from transformers import AutoModel
    except ImportError as e:
        raise DependencyError(f"loading codecs needs the 'transformers' package ({e})") from None
    folder = Path(source)
    if folder.is_dir() and is_spectral_folder(folder):
        try:
            return SpectralCodecModel.from_pretrained(folder)
        except (OSError, ValueError, RuntimeError) as e:
            raise CodecError(f"{folder}: cannot load the spectral codec ({str(e).splitlines()[0]})") from None
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise CodecError(f"{folder}: not a codec folder (no config.json); expected a transformers "
                             "DAC, EnCodec or Mimi folder as saved by save_pretrained, or a codec2vec spectral codec")
        try:
            with _quiet_loading():
                return AutoModel.from_pretrained(folder)
        except (OSError, ValueError, KeyError) as e:
            raise CodecError(f"{folder}: cannot load codec weights ({str(e).splitlines()[0]})") from None
    if source.endswith((".pth", ".pt")):
        raise CodecError(f"codec '{source}' is a PyTorch checkpoint file, not a codec folder; if it is an "
                         f"original Descript DAC checkpoint, convert it once with `codec2vec codec import-dac "
                         f"{source} --out DIR` and pass --codec DIR")
    if not is_hub_id(source):
        raise CodecError(f"codec '{source}' is neither a known name ({', '.join(CODECS)}), "
                         "an existing folder, nor a hub id of the form owner/name[@revision]")
    repo, revision = split_revision(source)  # 'owner/name@revision' pins a commit, branch or tag
    try:
        with _quiet_loading():
            return AutoModel.from_pretrained(repo, revision=revision, local_files_only=True)
    except OSError:
        pass
    try:
        return AutoModel.from_pretrained(repo, revision=revision)
    except OSError:
        raise CodecError(_OFFLINE_HELP.format(source=source, repo=repo,
                                               revision=f" --revision {revision}" if revision else "")) from None


def load_codec(name: str, device: str = "cpu", **options) -> Codec:
    """A codec by registry name (`codec2vec codec list`), hub id or local folder."""
    from codec2vec.codecs.hf import wrap_model

    spec = CODECS.get(name)
    if spec is not None:
        source = spec.source
        options = {**dict(spec.options), **options}
        if name in SHIPPED and not (SHIPPED[name][0] / "model.safetensors").is_file():
            folder, recipe = SHIPPED[name]
            raise CodecError(f"the {name} codec's weights are missing from {folder}: "
                             f"reinstall codec2vec or rebuild them with {recipe}")
    else:
        source = name
        if Path(name).expanduser().is_dir():  # recorded in unit stores: a path that works from anywhere
            name = str(Path(name).expanduser().resolve())
    model = _load_model(source)
    try:
        codec = wrap_model(model, name, **options)
    except (ValueError, TypeError) as e:
        raise CodecError(f"codec '{name}': {e}") from None
    return codec.to(device)


def renamed_hint(codec_id: str, weights_hash: str) -> str:
    """' (...)' naming what loads codes of a shipped codec recorded under its former name, else ''."""
    before, now = RENAMED.get(weights_hash, (None, None))
    if codec_id != before:
        return ""
    return (f" (these were made by the codec named '{before}' until 2026-12-07, now named '{now}': "
            f"give codec={now} where the command takes a codec, e.g. pretrain's data.codec={now})")


def training_record(folder: str | Path) -> dict | None:
    """The training.json a codec trained by `codec2vec codec train` carries, if any."""
    path = Path(folder) / "training.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

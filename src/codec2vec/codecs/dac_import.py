"""`codec2vec codec import-dac weights.pth --out DIR`: an original Descript DAC checkpoint as a
`transformers` DAC folder that `--codec DIR` loads.

The checkpoint is read as data only (`torch.load(weights_only=True)`: no code from it runs, and
Descript's `dac` package is not needed). Its `metadata.kwargs` (DAC's constructor arguments) give
the `DacConfig`; its weight-normalised convolutions (`weight_g`, `weight_v`) are folded into plain
weights, and its module names are mapped onto transformers' (the layout of Descript's
dac/model/dac.py, v1.0.0). tests/test_dac_import.py checks the codes against Descript's own encoder.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import torch

from codec2vec.codecs.registry import CodecError

_RESIDUAL_PARTS = ("snake1", "conv1", "snake2", "conv2")  # Descript's ResidualUnit.block[0..3]


def _residual(prefix: str, unit: int, rest: list[str]) -> str | None:
    """A ResidualUnit's `block.K.<param>` -> res_unit<unit>.<snake1|conv1|snake2|conv2>.<param>."""
    if len(rest) < 3 or rest[0] != "block":
        return None
    return prefix + f"res_unit{unit}.{_RESIDUAL_PARTS[int(rest[1])]}." + ".".join(rest[2:])


def _encoder_block(prefix: str, j: int, rest: list[str]) -> str | None:
    # EncoderBlock.block: [RU, RU, RU, Snake, conv]
    if j < 3:
        return _residual(prefix, j + 1, rest)
    return prefix + {3: "snake1.", 4: "conv1."}[j] + ".".join(rest) if j in (3, 4) else None


def _decoder_block(prefix: str, j: int, rest: list[str]) -> str | None:
    # DecoderBlock.block: [Snake, convT, RU, RU, RU]
    if j >= 2:
        return _residual(prefix, j - 1, rest)
    return prefix + ("snake1." if j == 0 else "conv_t1.") + ".".join(rest)


def _stack_key(parts: list[str], n_blocks: int, block) -> str | None:
    """The encoder's `block` / decoder's `model` sequence: [conv, n blocks, Snake, conv (, Tanh)]."""
    i = int(parts[0])
    ends = {0: "conv1.", n_blocks + 1: "snake1.", n_blocks + 2: "conv2."}
    if i in ends:
        return ends[i] + ".".join(parts[1:])
    if len(parts) < 4 or parts[1] != "block":
        return None
    return block(f"block.{i - 1}.", int(parts[2]), parts[3:])


def transformers_key(key: str, n_encoder_blocks: int, n_decoder_blocks: int) -> str | None:
    """Descript's state-dict name -> transformers' (None: not a name of Descript's layout)."""
    for stack, prefix, n_blocks, block in (("encoder.block.", "encoder.", n_encoder_blocks, _encoder_block),
                                           ("decoder.model.", "decoder.", n_decoder_blocks, _decoder_block)):
        if key.startswith(stack):
            mapped = _stack_key(key.removeprefix(stack).split("."), n_blocks, block)
            return None if mapped is None else prefix + mapped
    if re.fullmatch(r"quantizer\.quantizers\.\d+\.(in_proj|out_proj|codebook)\.\w+", key):
        return key
    return None


def _fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """weight = g * v / |v| (norm over all dimensions but the first), as torch's weight_norm(dim=0)."""
    folded = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            continue
        if key.endswith(".weight_v"):
            stem = key.removesuffix(".weight_v")
            folded[stem + ".weight"] = torch._weight_norm(value, state[stem + ".weight_g"], 0)
        else:
            folded[key] = value
    return folded


def dac_config(kwargs: dict):
    """The DacConfig of Descript's DAC(**kwargs) (its defaults where a kwarg is missing)."""
    from transformers import DacConfig

    encoder_dim = int(kwargs.get("encoder_dim", 64))
    encoder_rates = [int(r) for r in kwargs.get("encoder_rates", [2, 4, 8, 8])]
    latent_dim = kwargs.get("latent_dim") or encoder_dim * 2 ** len(encoder_rates)
    codebook_dim = kwargs.get("codebook_dim", 8)
    if not isinstance(codebook_dim, int):
        raise CodecError(f"per-codebook dimensions {codebook_dim} are not supported by transformers' DAC")
    # transformers' own conversion passes the rate as stored; a float (44100.0) fails its strict validation.
    return DacConfig(
        encoder_hidden_size=encoder_dim, downsampling_ratios=encoder_rates,
        decoder_hidden_size=int(kwargs.get("decoder_dim", 1536)),
        upsampling_ratios=[int(r) for r in kwargs.get("decoder_rates", [8, 8, 4, 2])],
        hidden_size=int(latent_dim), n_codebooks=int(kwargs.get("n_codebooks", 9)),
        codebook_size=int(kwargs.get("codebook_size", 1024)), codebook_dim=codebook_dim,
        quantizer_dropout=float(kwargs.get("quantizer_dropout", 0.0)),
        sampling_rate=int(kwargs.get("sample_rate", 44100)), hop_length=math.prod(encoder_rates),
    )


def import_dac(checkpoint: str | Path, out: str | Path) -> Path:
    """Convert Descript's weights.pth into a transformers DAC folder at `out` (written atomically)."""
    from transformers import DacModel

    checkpoint, out = Path(checkpoint), Path(out)
    if checkpoint.is_dir():
        inside = sorted(p.name for p in checkpoint.glob("*.pth"))
        raise CodecError(f"{checkpoint}: a directory, not a checkpoint file; give the file itself"
                         + (f" ({', '.join(inside)} is here)" if inside else " (Descript's is named weights.pth)"))
    if not checkpoint.is_file():
        raise CodecError(f"{checkpoint}: no such checkpoint file")
    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle and zip errors vary; a weights-only load refuses code objects too
        # torch's own text advises weights_only=False, which codec2vec never does (it runs the file's code)
        cause = ("it holds Python objects other than tensors, which codec2vec does not load (no code from a "
                 "checkpoint runs here)" if "Unsupported global" in str(e) else
                 f"its bytes are neither a PyTorch zip archive nor a pickle of tensors ({type(e).__name__})")
        raise CodecError(f"{checkpoint}: not a readable weights-only PyTorch checkpoint: {cause}") from None
    if not isinstance(saved, dict) or "state_dict" not in saved or "kwargs" not in (saved.get("metadata") or {}):
        raise CodecError(f"{checkpoint}: not an original DAC checkpoint (expected 'state_dict' and "
                         "'metadata' -> 'kwargs', as Descript's DAC.save writes)")
    config = dac_config(saved["metadata"]["kwargs"])
    state = _fold_weight_norm(saved["state_dict"])
    n_enc, n_dec = len(config.downsampling_ratios), len(config.upsampling_ratios)
    mapped, unknown = {}, []
    for key, value in state.items():
        name = transformers_key(key, n_enc, n_dec)
        (unknown.append(key) if name is None else mapped.__setitem__(name, value))
    model = DacModel(config)
    expected = set(model.state_dict())
    missing, extra = sorted(expected - set(mapped)), sorted(set(mapped) - expected)
    if unknown or missing or extra:
        raise CodecError(f"{checkpoint}: its weights do not fit DAC's layout (unknown {unknown[:3]}, "
                         f"missing {missing[:3]}, unexpected {extra[:3]})")
    model.load_state_dict(mapped)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out

"""A tiny corpus with structure to learn (tone sequences), its unit store from a tiny random DAC,
and a helper that builds a tiny pre-training config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from codec2vec.config import load_config
from codec2vec.data.manifest import ManifestHeader, Utterance, write_manifest
from codec2vec.train import PretrainConfig
from codec2vec.units.extract import ExtractConfig, extract
from codec_fixtures import save_tiny_dac

TONES = np.array([220.0, 330.0, 440.0, 550.0, 660.0, 880.0])


def write_tone_corpus(folder: Path, n: int = 16, seed: int = 0) -> Path:
    """n utterances of 1-2.4 s: runs of 0.1-0.3 s tones from a small set, plus a little noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        seconds = float(rng.uniform(1.0, 2.4))
        pieces, total = [], 0
        while total < seconds * 16000:
            length = int(rng.uniform(0.1, 0.3) * 16000)
            t = np.arange(length) / 16000
            pieces.append(0.4 * np.sin(2 * np.pi * rng.choice(TONES) * t))
            total += length
        audio = np.concatenate(pieces)[: int(seconds * 16000)]
        audio = (audio + 0.01 * rng.standard_normal(audio.size)).astype(np.float32)
        path = folder / "audio" / f"u{i:02d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), audio, 16000, subtype="PCM_16")
        rows.append(Utterance(f"u{i:02d}", f"audio/{path.name}", audio.size / 16000, 16000, f"s{i % 3}", "train"))
    return write_manifest(folder / "corpus.jsonl", ManifestHeader("tones", "pretrain"), rows)


def make_setup(root: Path) -> dict:
    codec = save_tiny_dac(root / "codec")
    manifest = write_tone_corpus(root / "corpus")
    store = extract(ExtractConfig(corpus=str(manifest), out=str(root / "units"), codec=str(codec)), progress=False)
    return {"root": root, "codec": str(codec), "manifest": str(manifest), "units": str(store)}


def tiny_config(setup: dict, out: Path, *overrides: str) -> PretrainConfig:
    base = [f"out={out}", f"data.units={setup['units']}", f"data.audio={setup['manifest']}",
            "model.encoder.preset=tiny", "model.encoder.pos_conv_kernel=16", "model.encoder.pos_conv_groups=4",
            "data.max_frames=600", "data.crop_frames=100", "data.min_frames=10", "optim.steps=12",
            "optim.warmup_steps=2", "optim.lr=2e-3", "log_every=1", "save_every=100", "objective.top_k=2",
            "objective.codebook_size=32", "objective.ema_anneal_steps=10", "device=cpu"]
    return load_config(PretrainConfig, overrides=base + list(overrides))

"""A tiny labelled task corpus of tones (every task's subset, exact phone times), a tiny random
DAC, and a tiny untrained Codec2Vec model folder: enough for every evaluation code path in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from codec2vec.data.corpus import write_corpus_header
from codec2vec.data.manifest import ManifestHeader, Utterance, read_manifest, write_manifest
from codec2vec.units.extract import ExtractConfig, extract
from codec_fixtures import save_tiny_dac

# Each "phone" is a tone; its letter spells the ASR text.
PHONE_TONES = {"aa": (220.0, "a"), "iy": (440.0, "e"), "s": (880.0, "s"), "m": (1320.0, "m")}
SPLIT_SIZES = {"train": 12, "dev": 4, "test": 4}


def _utterance(rng: np.random.Generator, phones: list[str], gain: float) -> tuple[np.ndarray, list[list]]:
    pieces, times, t = [], [], 0.0
    for p in phones:
        seconds = float(rng.uniform(0.08, 0.16))
        n = int(seconds * 16000)
        pieces.append(gain * np.sin(2 * np.pi * PHONE_TONES[p][0] * np.arange(n) / 16000))
        times.append([p, round(t, 4), round(t + n / 16000, 4)])
        t += n / 16000
    audio = np.concatenate(pieces) + 0.005 * rng.standard_normal(int(round(t * 16000)))
    return audio.astype(np.float32), times


def write_task_corpus(folder: Path, seed: int = 0, er_folds: bool = False) -> Path:
    """Subsets read (pr, asr), ks, sid, ic, er with train/dev/test splits (er: folds session1..3 if
    `er_folds`). Class labels follow the tones, speakers the loudness, so the heads can learn."""
    rng = np.random.default_rng(seed)
    phones = list(PHONE_TONES)
    manifests = []
    subsets = {"read": ["pr", "asr"], "ks": ["ks"], "sid": ["sid"], "ic": ["ic"], "er": ["er"]}
    for subset, tasks in subsets.items():
        rows = []
        splits = ({"session1": 8, "session2": 8, "session3": 8} if subset == "er" and er_folds else SPLIT_SIZES)
        for split, count in splits.items():
            for k in range(count):
                uid = f"{subset}-{split}-{k:02d}"
                speaker = f"spk{k % 3}"
                label = phones[k % 4]
                seq = [label] * 4 + list(rng.choice(phones, size=2)) if subset != "read" else \
                    list(rng.choice(phones, size=int(rng.integers(4, 9))))
                audio, times = _utterance(rng, seq, gain=0.2 + 0.2 * (k % 3))
                path = folder / "audio" / subset / f"{uid}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(str(path), audio, 16000, subtype="PCM_16")
                labels = {"read": {}, "ks": {"keyword": label}, "sid": {}, "ic": {"intent": f"{label}|x|none"},
                          "er": {"emotion": label}}[subset]
                rows.append(Utterance(uid, f"audio/{subset}/{uid}.wav", round(audio.size / 16000, 4), 16000, speaker,
                                      split, text="".join(PHONE_TONES[p][1] for p in seq), phonemes=times, **labels))
        manifests.append(write_manifest(folder / f"{subset}.jsonl", ManifestHeader("tones", subset, tasks), rows))
    write_corpus_header(folder, "tones", [read_manifest(m) for m in manifests], 16000, {"seed": seed})
    return folder


def save_tiny_model(folder: Path, codec_folder: Path, kind: str = "units") -> Path:
    """An untrained tiny Codec2Vec (2 layers x 64) whose units come from the tiny DAC."""
    import torch

    from codec2vec.codecs import load_codec
    from codec2vec.config import load_config
    from codec2vec.models import ModelConfig, build_model, save_pretrained

    codec = load_codec(str(codec_folder))
    cfg = load_config(ModelConfig, overrides=[f"input.kind={kind}", "encoder.preset=tiny", "encoder.pos_conv_kernel=16",
                                              "encoder.pos_conv_groups=4"])
    torch.manual_seed(0)
    vectors = codec.codebook_vectors().detach().float() if kind == "units" else None
    model = build_model(cfg, codec.info.n_codebooks, codec.info.codebook_size, vectors)
    return save_pretrained(folder, model, cfg, {"codec": codec.info.to_header(), "n_codebooks": codec.info.n_codebooks,
                                                "codebook_size": codec.info.codebook_size, "objective": "none",
                                                "step": 0})


def make_eval_setup(root: Path) -> dict:
    codec = save_tiny_dac(root / "codec")
    corpus = write_task_corpus(root / "corpus")
    for subset in ("read", "ks", "sid", "ic", "er"):
        extract(ExtractConfig(corpus=str(corpus / f"{subset}.jsonl"), out=str(root / "units" / subset),
                              codec=str(codec)), progress=False)
    return {"root": root, "codec": str(codec), "corpus": str(corpus), "units": str(root / "units"),
            "model": str(save_tiny_model(root / "model", codec))}

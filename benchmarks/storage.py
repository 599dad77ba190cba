"""Storage: bytes per hour of audio of a unit store against 16-bit WAV and FLAC of the same audio.

    .venv/bin/python benchmarks/storage.py --corpus data/synth-small/pretrain.jsonl [--codec default]

Extracts the manifest twice (uint16 and bit-packed), reads the totals from the store headers, and
estimates what entropy coding would add: the empirical entropy of each codebook's codes (unigram,
so a lower bound on what a simple per-codebook arithmetic coder would reach), and how fast each
packing is read back (frames per second of one process, every utterance, from the page cache).
Also prints the same ratios for LibriSpeech 960 h from the paper's FLAC size. Writes
benchmarks/results/storage.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from codec2vec.provenance import provenance
from codec2vec.units.extract import ExtractConfig, extract
from codec2vec.units.store import UnitStore

LIBRISPEECH_FLAC_BYTES, LIBRISPEECH_HOURS = 60.4e9, 960.0  # the paper's figures (METHOD.md)


def codebook_entropy_bits(store: UnitStore) -> list[float]:
    counts = np.zeros((store.info.n_codebooks, store.info.codebook_size), dtype=np.int64)
    for uid in store.ids:
        codes = store[uid]
        for q in range(codes.shape[0]):
            counts[q] += np.bincount(codes[q], minlength=store.info.codebook_size)
    p = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return [float(-(row[row > 0] * np.log2(row[row > 0])).sum()) for row in p]


def read_rate(store: UnitStore, seconds: float = 2.0) -> float:
    """Frames per second of reading every utterance (codes unpacked to [n_codebooks, T])."""
    frames, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for uid in store.ids:
            frames += store[uid].shape[1]
    return frames / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--codec", default="default")
    parser.add_argument("--out", default="benchmarks/results/storage.json")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="c2v-storage-"))
    try:
        stores = {p: UnitStore(extract(ExtractConfig(corpus=args.corpus, out=str(root / p), codec=args.codec,
                                                     packing=p), progress=False))
                  for p in ("uint16", "bitpack")}
        totals = stores["uint16"].header["totals"]
        hours = totals["audio_seconds"] / 3600
        entropy = codebook_entropy_bits(stores["uint16"])
        info = stores["uint16"].info
        entropy_bytes = sum(entropy) * float(info.frame_rate) * totals["audio_seconds"] / 8
        per_hour = {
            "wav_16bit": totals["wav_bytes"] / hours,
            "flac": totals["flac_bytes"] / hours,
            "units_uint16": stores["uint16"].header["totals"]["store_bytes"] / hours,
            "units_bitpack": stores["bitpack"].header["totals"]["store_bytes"] / hours,
            "units_entropy_bound": entropy_bytes / hours,
        }
        ratios = {f"flac_over_{k}": round(per_hour["flac"] / per_hour[k], 2)
                  for k in ("units_uint16", "units_bitpack", "units_entropy_bound")}
        ratios.update({f"wav_over_{k}": round(per_hour["wav_16bit"] / per_hour[k], 2)
                       for k in ("units_uint16", "units_bitpack")})
        codes_per_hour = float(info.frame_rate) * 3600 * info.n_codebooks
        librispeech_flac_per_hour = LIBRISPEECH_FLAC_BYTES / LIBRISPEECH_HOURS
        record = {
            "benchmark": "storage", "corpus": args.corpus, "codec": info.to_header(),
            "audio_hours": round(hours, 4), "utterances": totals["utterances"],
            "bytes_per_audio_hour": {k: round(v) for k, v in per_hour.items()},
            "ratios": ratios,
            "entropy_bits_per_code": [round(e, 3) for e in entropy],
            "read_frames_per_second": {p: round(read_rate(store)) for p, store in stores.items()},
            "librispeech_960h_from_paper": {
                "flac_bytes_per_hour": round(librispeech_flac_per_hour),
                "flac_over_uint16_codes": round(librispeech_flac_per_hour / (codes_per_hour * 2), 2),
                "flac_over_bitpacked_codes": round(librispeech_flac_per_hour / (codes_per_hour * info.bits_per_code / 8), 2),
            },
            **provenance(),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: record[k] for k in ("bytes_per_audio_hour", "ratios", "read_frames_per_second",
                                             "librispeech_960h_from_paper")},
                     indent=2))


if __name__ == "__main__":
    main()

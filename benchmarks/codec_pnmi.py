"""First-codebook PNMI of codecs on real English, side by side, with 95 % intervals (issue 16's
"units carry the words" goal).

    .venv/bin/python benchmarks/codec_pnmi.py --codec default --codec runs/default-codec/codec \
        --alignments exp/offline-suite/bench/real-alignments.json --out benchmarks/results/codec_pnmi_real_en.json

Each codec encodes the real English clips (data/real-en, `make real-en`) one at a time; each
clip's first-codebook codes are scored against its pocketsphinx phone alignment (the one `codec2vec
benchmark` computed and kept as real-alignments.json) on the codec's frame grid. PNMI, phone and
cluster purity as the benchmark's unit quality. The 95 % interval is a grouped jackknife over clips
(20 groups, the estimate +- 1.96 standard errors; the same groups for every codec, so their
difference has one too). Not a bootstrap: PNMI's plug-in mutual information is biased upward on
resamples that repeat clips, and here every bootstrap resample lay above the estimate itself
(0.352-0.368 around 0.322 for the first-generation codec), so percentile intervals missed it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from codec2vec.codecs import load_codec
from codec2vec.data.corpus import corpus_manifest, read_corpus_header
from codec2vec.eval.pnmi import frame_phones, score_units
from codec2vec.provenance import provenance


def first_codebook_codes(codec, manifest, rows) -> list[np.ndarray]:
    codes = []
    for row in rows:
        audio = torch.from_numpy(manifest.load_audio(row, codec.sample_rate))[None]
        out, frames = codec.encode(audio, [audio.shape[1]])
        codes.append(out[0, 0, : int(frames[0])].numpy())
    return codes


def _interval(estimate: float, leave_outs: np.ndarray) -> list[float]:
    """estimate +- 1.96 jackknife standard errors from the leave-one-group-out values."""
    g = len(leave_outs)
    se = float(np.sqrt((g - 1) / g * np.sum((leave_outs - leave_outs.mean()) ** 2)))
    return [estimate - 1.96 * se, estimate + 1.96 * se]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codec", action="append", required=True, help="codec name or folder (repeatable)")
    parser.add_argument("--alignments", type=Path, required=True, help="id -> [[phone, start, end], ...] (JSON)")
    parser.add_argument("--corpus", default="data/real-en")
    parser.add_argument("--groups", type=int, default=20, help="jackknife groups of clips")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)
    alignments = json.loads(args.alignments.read_text(encoding="utf-8"))
    manifest = corpus_manifest(args.corpus, next(iter(read_corpus_header(args.corpus)["subsets"])))
    rows = [r for r in manifest.rows if r.id in alignments]
    groups = np.random.default_rng(0).permutation(len(rows)) % args.groups
    results, leave_outs = {}, {}
    for name in args.codec:
        codec = load_codec(name)
        codes = first_codebook_codes(codec, manifest, rows)
        rate = float(codec.frame_rate)
        phones = [frame_phones(alignments[r.id], len(c), rate) for r, c in zip(rows, codes)]
        quality = score_units(phones, codes)
        leave_outs[name] = np.array([score_units([p for p, g in zip(phones, groups) if g != k],
                                                 [c for c, g in zip(codes, groups) if g != k]).pnmi
                                     for k in range(args.groups)])
        results[name] = {"pnmi": quality.pnmi, "pnmi_interval": _interval(quality.pnmi, leave_outs[name]),
                         "phone_purity": quality.phone_purity, "cluster_purity": quality.cluster_purity,
                         "weights_hash": codec.info.weights_hash}
        low, high = results[name]["pnmi_interval"]
        print(f"{name}: PNMI {quality.pnmi:.3f} [{low:.3f}, {high:.3f}]", flush=True)
    differences = {}
    if len(args.codec) > 1:
        base = args.codec[0]
        for name in args.codec[1:]:
            estimate = results[name]["pnmi"] - results[base]["pnmi"]
            differences[f"{name} - {base}"] = {"pnmi": estimate,
                                               "interval": _interval(estimate, leave_outs[name] - leave_outs[base])}
            print(f"{name} - {base}: {differences[f'{name} - {base}']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "codec_pnmi", "corpus": args.corpus, "clips": len(rows),
                                    "units": "first codebook", "results": results, "differences": differences,
                                    "jackknife_groups": args.groups, **provenance()}, indent=2) + "\n")


if __name__ == "__main__":
    main()

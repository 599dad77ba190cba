"""PNMI of codecs' units on real English, side by side, with 95 % intervals (issue 16's "units
carry the words" goal).

    .venv/bin/python benchmarks/codec_pnmi.py --codec default --codec runs/default-codec/codec \
        --alignments exp/offline-suite/bench/real-alignments.json --out benchmarks/results/codec_pnmi_real_en.json

Each codec encodes the real English clips (data/real-en, `make real-en`) one at a time; each
clip's units are scored against its pocketsphinx phone alignment (the one `codec2vec benchmark`
computed and kept as real-alignments.json) on the codec's frame grid: PNMI, phone and cluster
purity as the benchmark's unit quality. Units: each of the first `--codebooks` codebooks alone, and
k-means labels (`--clusters`, scikit-learn's MiniBatchKMeans, seed 0, fit on every frame of the
clips) of the quantized latent (the sum of the frame's codebook vectors: what the decoder receives,
and the codec-latent upstream of the benchmark), which shows whether phone identity left the first
codebook or the units as a whole. The 95 % interval is a grouped jackknife over clips
(20 groups, the estimate +- 1.96 standard errors; the same groups for every codec, so their
difference has one too). Not a bootstrap: PNMI's plug-in mutual information is biased upward on
resamples that repeat clips, and here every bootstrap resample lay above the estimate itself
(0.352-0.368 around 0.322 for the first-generation codec), so percentile intervals missed it.
The k-means is fit once on all clips, so its interval leaves out the fit's own variance.

    .venv/bin/python benchmarks/codec_pnmi.py --codec default --corpus data/synth-eval --subset read \
        --limit 500 --out ...

Without `--alignments`, the corpus's own phone times (a synthetic corpus) are the labels; `--limit`
takes that many utterances spread evenly over the subset.
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


def clip_codes(codec, manifest, rows) -> list[np.ndarray]:
    """[n_codebooks, frames] codes of each clip, encoded alone."""
    codes = []
    for row in rows:
        audio = torch.from_numpy(manifest.load_audio(row, codec.sample_rate))[None]
        out, frames = codec.encode(audio, [audio.shape[1]])
        codes.append(out[0, :, : int(frames[0])].numpy())
    return codes


def latent_labels(codec, codes: list[np.ndarray], n_clusters: int) -> list[np.ndarray]:
    """k-means labels of each frame's quantized latent (the sum of its codebook vectors)."""
    from sklearn.cluster import MiniBatchKMeans

    vectors = codec.codebook_vectors().detach().float().numpy()  # [n_codebooks, codebook_size, D]
    latents = [vectors[np.arange(len(c))[:, None], c].sum(0) for c in codes]  # [frames, D] each
    kmeans = MiniBatchKMeans(n_clusters=n_clusters, batch_size=10000, n_init=3, random_state=0)
    kmeans.fit(np.concatenate(latents))
    return [kmeans.predict(x) for x in latents]


def _interval(estimate: float, leave_outs: np.ndarray) -> list[float]:
    """estimate +- 1.96 jackknife standard errors from the leave-one-group-out values."""
    g = len(leave_outs)
    se = float(np.sqrt((g - 1) / g * np.sum((leave_outs - leave_outs.mean()) ** 2)))
    return [estimate - 1.96 * se, estimate + 1.96 * se]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codec", action="append", required=True, help="codec name or folder (repeatable)")
    parser.add_argument("--alignments", type=Path,
                        help="id -> [[phone, start, end], ...] (JSON); default: the corpus's own phone times")
    parser.add_argument("--corpus", default="data/real-en")
    parser.add_argument("--subset", help="the corpus's subset (default: its first)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many utterances, spread evenly (0: all)")
    parser.add_argument("--groups", type=int, default=20, help="jackknife groups of clips")
    parser.add_argument("--codebooks", type=int, default=3, help="score each of the first N codebooks alone")
    parser.add_argument("--clusters", type=int, default=100, help="k-means clusters of the quantized latent (0: none)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)
    manifest = corpus_manifest(args.corpus, args.subset or next(iter(read_corpus_header(args.corpus)["subsets"])))
    if args.alignments:
        alignments = json.loads(args.alignments.read_text(encoding="utf-8"))
    else:
        alignments = {r.id: r.phonemes for r in manifest.rows if r.phonemes}
        if not alignments:
            parser.error(f"{args.corpus}: no phone times in its rows; give --alignments")
    rows = [r for r in manifest.rows if r.id in alignments]
    if args.limit and len(rows) > args.limit:
        rows = [rows[i] for i in np.linspace(0, len(rows) - 1, args.limit).round().astype(int)]
    groups = np.random.default_rng(0).permutation(len(rows)) % args.groups
    results, leave_outs = {}, {}
    for name in args.codec:
        codec = load_codec(name)
        codes = clip_codes(codec, manifest, rows)
        phones = [frame_phones(alignments[r.id], c.shape[1], float(codec.frame_rate)) for r, c in zip(rows, codes)]
        units = {f"codebook {k + 1}": [c[k] for c in codes] for k in range(min(args.codebooks, len(codes[0])))}
        if args.clusters:
            units[f"latent k-means {args.clusters}"] = latent_labels(codec, codes, args.clusters)
        results[name], leave_outs[name] = {"weights_hash": codec.info.weights_hash}, {}
        for measure, labels in units.items():
            quality = score_units(phones, labels)
            leave_outs[name][measure] = np.array([
                score_units([p for p, g in zip(phones, groups) if g != k],
                            [u for u, g in zip(labels, groups) if g != k]).pnmi for k in range(args.groups)])
            results[name][measure] = {"pnmi": quality.pnmi,
                                      "pnmi_interval": _interval(quality.pnmi, leave_outs[name][measure]),
                                      "phone_purity": quality.phone_purity, "cluster_purity": quality.cluster_purity}
            low, high = results[name][measure]["pnmi_interval"]
            print(f"{name}, {measure}: PNMI {quality.pnmi:.3f} [{low:.3f}, {high:.3f}]", flush=True)
    differences = {}
    base = args.codec[0]
    for name in args.codec[1:]:
        for measure in leave_outs[name]:
            estimate = results[name][measure]["pnmi"] - results[base][measure]["pnmi"]
            interval = _interval(estimate, leave_outs[name][measure] - leave_outs[base][measure])
            differences[f"{name} - {base}, {measure}"] = {"pnmi": estimate, "interval": interval}
            print(f"{name} - {base}, {measure}: {estimate:+.3f} [{interval[0]:+.3f}, {interval[1]:+.3f}]")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": "codec_pnmi", "corpus": args.corpus, "subset": manifest.header.subset,
              "alignments": str(args.alignments or "the corpus's phone times"), "clips": len(rows),
              "units": list(leave_outs[base]), "results": results, "differences": differences,
              "jackknife_groups": args.groups, **provenance()}
    args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()

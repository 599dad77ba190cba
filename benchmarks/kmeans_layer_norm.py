"""Does layer-normalising the features before k-means give better units? (issue 15: `layer_norm`)

    .venv/bin/python benchmarks/kmeans_layer_norm.py --model RUN/model --units UNITS/pretrain \
        --corpus CORPUS/pretrain.jsonl [--clusters 100] [--layer -1] [--out JSON]

Fits `codec2vec kmeans` twice on the same hidden layer of a pre-trained model, with and without
`layer_norm`, with fairseq's settings, and scores each labelling against the corpus's phone times
(PNMI, phone purity, cluster purity). The 95 % interval of the PNMI difference comes from a
bootstrap over utterances (scipy.stats.bootstrap, BCa, 2,000 resamples; both labellings of an
utterance resampled together). Writes benchmarks/results/kmeans_layer_norm.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import bootstrap

from codec2vec.clustering import KMeansConfig, run_kmeans
from codec2vec.data.manifest import read_manifest
from codec2vec.eval.pnmi import frame_phones, score_units
from codec2vec.provenance import provenance
from codec2vec.units import UnitStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--units", required=True, help="the unit store k-means is fitted on and labels")
    parser.add_argument("--corpus", required=True, help="its manifest, with phone times (`phonemes`)")
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--layer", type=int, default=-1)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "kmeans_layer_norm.json"))
    args = parser.parse_args()

    manifest = read_manifest(args.corpus)
    rows = [r for r in manifest.rows if r.phonemes]
    if not rows:
        raise SystemExit(f"{args.corpus}: no utterance has phone times (`phonemes`)")
    labels, settings = {}, {}
    with tempfile.TemporaryDirectory(prefix="c2v-kmeans-ln-") as work:
        for layer_norm in (False, True):
            cfg = KMeansConfig(out=str(Path(work) / f"ln-{layer_norm}"), units=[args.units], model=args.model,
                               layer=args.layer, n_clusters=args.clusters, layer_norm=layer_norm, seed=args.seed,
                               device="cpu")
            store = UnitStore(run_kmeans(cfg, progress=False)[0])
            labels[layer_norm] = [np.asarray(store[r.id]).reshape(-1) for r in rows]
            settings[layer_norm] = json.loads((Path(cfg.out) / "kmeans.json").read_text())["config"]
    phones = [frame_phones(r.phonemes, len(u), 50.0) for r, u in zip(rows, labels[False])]

    def quality(layer_norm: bool, index: np.ndarray | None = None):
        pick = range(len(rows)) if index is None else index
        return score_units([phones[i] for i in pick], [labels[layer_norm][i] for i in pick])

    def difference(index: np.ndarray) -> float:
        index = index.astype(int)
        return quality(True, index).pnmi - quality(False, index).pnmi

    interval = bootstrap((np.arange(len(rows)),), difference, vectorized=False, n_resamples=args.resamples,
                         confidence_level=0.95, random_state=args.seed).confidence_interval
    result = {"benchmark": "kmeans_layer_norm", "model": args.model, "units": args.units, "corpus": args.corpus,
              "utterances": len(rows), "frames": int(sum(len(u) for u in labels[False])),
              "kmeans_settings": settings[False],
              "without_layer_norm": vars(quality(False)), "with_layer_norm": vars(quality(True)),
              "pnmi_difference": round(difference(np.arange(len(rows))), 4),
              "pnmi_difference_95ci": [round(float(interval.low), 4), round(float(interval.high), 4)],
              "bootstrap": {"method": "BCa", "resamples": args.resamples, "over": "utterances"}, **provenance()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=float) + "\n")
    for name in ("without_layer_norm", "with_layer_norm"):
        print(f"{name:<20} " + "  ".join(f"{k} {v:.4f}" for k, v in result[name].items() if isinstance(v, float)))
    print(f"PNMI with - without: {result['pnmi_difference']:+.4f}, 95 % CI {result['pnmi_difference_95ci']}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

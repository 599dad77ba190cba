"""The Transformer layer of a model whose k-means units carry the most phone information (PNMI): the
layer HuBERT's next iteration clusters (HuBERT chose its layers by this measure, among its Transformer
layers: Base's iteration 2 clusters layer 6 of 12).

    python recipes/tools/best_layer.py RUN/model --corpus data/synth-eval --units EVAL_UNITS --out DIR

k-means (--clusters) of each hidden state is fitted on the phone-labelled subset's train split and
scored on its dev split (codec2vec.eval.benchmark.layer_pnmi); DIR/layer_pnmi.json keeps every
layer's PNMI and purities. The choice is among hidden states 1..L, the Transformer's layers: hidden 0,
the input embedding, is measured and reported but not chosen (clustering it would give the next
iteration targets computed from its input frame alone; an upstream with one hidden state gives that
one). Prints the chosen layer's number alone on stdout (progress on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from codec2vec.atomic import atomic_write_text
from codec2vec.eval.benchmark import UnitQualityConfig, layer_pnmi
from codec2vec.provenance import provenance


def choose_layer(layers: list[dict]) -> dict:
    """The entry of the Transformer layer (hidden 1..L) with the highest PNMI."""
    return max([entry for entry in layers if entry["layer"] > 0] or layers, key=lambda entry: entry["pnmi"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a model folder (RUN/model) or any upstream codec2vec evaluate takes")
    parser.add_argument("--corpus", required=True, help="a corpus with phone times (its pr subset)")
    parser.add_argument("--units", required=True, help="unit stores by subset (missing ones are extracted)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    quality = UnitQualityConfig(n_clusters=args.clusters)
    layers = layer_pnmi(args.model, args.corpus, args.units, args.out / "feature-cache", quality, args.device,
                        log=lambda message: print(message, file=sys.stderr))
    best = choose_layer(layers)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "layer_pnmi.json", json.dumps(
        {"benchmark": "layer_pnmi", "model": args.model, "corpus": args.corpus, "scored_on": "dev",
         "clusters": args.clusters, "layers": layers, "candidates": "hidden 1..L (the Transformer's layers)",
         "best_layer": best["layer"], **provenance()}, indent=2) + "\n")
    for entry in layers:
        print(f"hidden {entry['layer']}: PNMI {entry['pnmi']:.3f}, phone purity {entry['phone_purity']:.3f}",
              file=sys.stderr)
    print(best["layer"])


if __name__ == "__main__":
    main()

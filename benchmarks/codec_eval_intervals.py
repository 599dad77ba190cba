"""95 % intervals for a `codec2vec codec eval` table, and for each system's difference from a reference.

    .venv/bin/python benchmarks/codec_eval_intervals.py OUT/results.json --reference "Codec 2 3.2 kbit/s" \
        --out OUT/intervals.json

Percentile bootstrap over utterances (2,000 resamples, seed 0), paired: every system is scored on
the same resampled utterances, so a difference's interval accounts for utterances that are hard
for every system. STOI, PESQ-WB, mel distance and speaker similarity are means over utterances
(PESQ over the utterances it scored); WER is pooled (word edits / reference words), as the table's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

MEANS = ("stoi", "pesq_wb", "mel_distance", "speaker_similarity")


def statistic(rows: list[dict], draws: np.ndarray, name: str) -> np.ndarray:
    """The measure on each resample (rows of `draws`), and on all rows as the last element."""
    every = np.vstack([draws, np.arange(len(rows))[None]])
    if name == "wer":
        edits = np.array([r["word_edits"] for r in rows], dtype=float)
        words = np.array([r["words"] for r in rows], dtype=float)
        return 100 * edits[every].sum(1) / np.maximum(1, words[every].sum(1))
    values = np.array([r.get(name, np.nan) if r.get(name) is not None else np.nan for r in rows], dtype=float)
    return np.nanmean(values[every], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="codec eval's results.json, or the folder that holds it")
    parser.add_argument("--reference", required=True, help="the system the differences are taken from")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.results.is_dir():
        args.results = args.results / "results.json"
    if not args.results.is_file():
        raise SystemExit(f"{args.results}: no such file (codec eval's results.json)")
    systems = json.loads(args.results.read_text(encoding="utf-8"))["per_utterance"]
    if args.reference not in systems:
        raise SystemExit(f"--reference '{args.reference}': not one of {list(systems)}")
    ids = [r["id"] for r in systems[args.reference]]
    if any([r["id"] for r in rows] != ids for rows in systems.values()):
        raise SystemExit("the systems were not scored on the same utterances")
    draws = np.random.default_rng(0).integers(0, len(ids), size=(args.resamples, len(ids)))
    values = {s: {m: statistic(rows, draws, m) for m in (*MEANS, "wer")} for s, rows in systems.items()}
    report = {}
    for system, measures in values.items():
        report[system] = {}
        for name, v in measures.items():
            entry = {"value": float(v[-1]), "interval": np.nanpercentile(v[:-1], [2.5, 97.5]).tolist()}
            if system != args.reference:
                diff = v - values[args.reference][name]
                low, high = np.nanpercentile(diff[:-1], [2.5, 97.5])
                entry["difference"] = {"value": float(diff[-1]), "interval": [float(low), float(high)],
                                       "separated": bool(low > 0 or high < 0)}
            report[system][name] = entry
    args.out.write_text(json.dumps({"benchmark": "codec_eval_intervals", "results": str(args.results),
                                    "reference": args.reference, "utterances": len(ids),
                                    "resamples": args.resamples, "systems": report}, indent=2) + "\n")
    for system, measures in report.items():
        cells = []
        for name, e in measures.items():
            cell = f"{name} {e['value']:.3f} [{e['interval'][0]:.3f}, {e['interval'][1]:.3f}]"
            if "difference" in e:
                d = e["difference"]
                cell += f" (diff {d['value']:+.3f} [{d['interval'][0]:+.3f}, {d['interval'][1]:+.3f}]" \
                        f"{' separated' if d['separated'] else ''})"
            cells.append(cell)
        print(f"{system}: " + "; ".join(cells))


if __name__ == "__main__":
    main()

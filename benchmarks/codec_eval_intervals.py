"""95 % intervals for a `codec2vec codec eval` table, and for each system's difference from a reference
(`codec eval` itself shows each system's own intervals; this adds the paired differences).

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

from codec2vec.codecs.evaluate import system_intervals


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
    try:
        report = system_intervals(systems, args.reference, args.resamples)
    except ValueError as e:
        raise SystemExit(f"{args.results}: {e}") from None
    args.out.write_text(json.dumps({"benchmark": "codec_eval_intervals", "results": str(args.results),
                                    "reference": args.reference, "utterances": len(systems[args.reference]),
                                    "resamples": args.resamples, "systems": report}, indent=2) + "\n")
    for system, measures in report.items():
        cells = []
        for name, e in measures.items():
            if e["value"] is None:
                continue
            cell = f"{name} {e['value']:.3f} [{e['interval'][0]:.3f}, {e['interval'][1]:.3f}]"
            if "difference" in e:
                d = e["difference"]
                cell += f" (diff {d['value']:+.3f} [{d['interval'][0]:+.3f}, {d['interval'][1]:+.3f}]" \
                        f"{' separated' if d['separated'] else ''})"
            cells.append(cell)
        print(f"{system}: " + "; ".join(cells))


if __name__ == "__main__":
    main()

"""Intelligibility of a corpus as it is: Whisper's WER on its utterances, per subset and per voice,
with 95 % intervals (issue 17: can a listener understand the speech we pre-train and evaluate on?).

    .venv/bin/python benchmarks/corpus_intelligibility.py data/synth-eval --subsets read --split test \
        --limit 200 --out benchmarks/results/corpus_intelligibility_synth_eval.json

The judge is the offline Whisper tiny.en of `codec2vec codec eval` (the eval extra). Utterances are
picked evenly through each subset's rows of the split (`--limit`); the WER is pooled (word edits /
reference words), its interval a percentile bootstrap over utterances (codec2vec.eval.intervals).
Per voice, the same pooled WER without an interval (a few utterances each). Whisper tiny.en
favours US English, so accented voices score worse than a listener would; the figure is a lower
bound on intelligibility, comparable between corpora and voices.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from codec2vec.codecs.evaluate import pick_evenly
from codec2vec.codecs.quality import WhisperJudge, word_errors
from codec2vec.data.corpus import corpus_manifest, read_corpus_header
from codec2vec.eval.intervals import bootstrap_interval, errors_outcome, metric_value
from codec2vec.provenance import provenance


def judge_subset(manifest, rows: list, transcribe) -> dict:
    """Pooled WER with its interval, per-voice WER, and each utterance's (errors, words)."""
    counts = [word_errors(row.text, transcribe(manifest.load_audio(row, 16000))) for row in rows]
    outcome = errors_outcome([e for e, _ in counts], [n for _, n in counts])
    by_voice = defaultdict(lambda: [0, 0])
    for row, (errors, words) in zip(rows, counts):
        by_voice[row.speaker][0] += errors
        by_voice[row.speaker][1] += words
    return {"utterances": len(rows), "words": int(sum(n for _, n in counts)),
            "wer_percent": 100 * metric_value(outcome),
            "wer_interval": [100 * v for v in bootstrap_interval([[outcome]])],
            "by_voice": {voice: {"wer_percent": 100 * e / max(1, n), "words": n}
                         for voice, (e, n) in sorted(by_voice.items(), key=lambda kv: -kv[1][0] / max(1, kv[1][1]))},
            "items": {row.id: list(c) for row, c in zip(rows, counts)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", help="corpus folder (corpus.json)")
    parser.add_argument("--subsets", help="comma-separated (default: every subset whose rows have text)")
    parser.add_argument("--split", default="test", help="rows of this split ('' = all)")
    parser.add_argument("--limit", type=int, default=200, help="utterances per subset, picked evenly (0 = all)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    header = read_corpus_header(args.corpus)
    judge = WhisperJudge()
    results = {}
    for subset in args.subsets.split(",") if args.subsets else header["subsets"]:
        manifest = corpus_manifest(args.corpus, subset)
        rows = [r for r in manifest.rows if r.text and (not args.split or r.split == args.split)]
        if not rows:
            print(f"{subset}: no rows with text{' in split ' + args.split if args.split else ''}; skipped")
            continue
        results[subset] = judge_subset(manifest, pick_evenly(rows, args.limit), judge.transcribe)
        r = results[subset]
        low, high = r["wer_interval"]
        print(f"{subset}: WER {r['wer_percent']:.1f} % [{low:.1f}, {high:.1f}] over {r['utterances']} utterances; "
              f"worst voices: " + ", ".join(f"{v} {x['wer_percent']:.0f} %" for v, x in list(r["by_voice"].items())[:5]),
              flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "corpus_intelligibility", "corpus": args.corpus, "split": args.split,
                                    "limit": args.limit, "judge": judge.name, "subsets": results, **provenance()},
                                   indent=2) + "\n")


if __name__ == "__main__":
    main()

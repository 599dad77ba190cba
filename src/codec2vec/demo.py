"""`codec2vec demo`: the pipeline end to end on the embedded default, as far as it exists.

Today that is stage 1 (the offline synthetic corpus). Later stages (codec units, pre-training,
evaluation) are not implemented yet, and the demo says so rather than pretending.
"""

from __future__ import annotations

from pathlib import Path

from codec2vec.data.synth import SynthConfig, synth_corpus
from codec2vec.describe import describe

DEMO_HOURS = 0.2
NOT_YET = ("extract codec units", "pre-train (reconstruction, k-means, online clustering)", "evaluate (SUPERB-style)")


def run_demo(out: str | Path) -> int:
    out = Path(out)
    print(f"[1/1] corpus: synthesising {DEMO_HOURS} h of labelled speech into {out / 'corpus'}")
    corpus = synth_corpus(SynthConfig(out=str(out / "corpus"), hours=DEMO_HOURS, seed=1))
    print(describe(corpus))
    print("\nNot implemented yet, so not run: " + "; ".join(NOT_YET) + ".")
    return 0

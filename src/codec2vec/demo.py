"""`codec2vec demo`: the pipeline end to end on the embedded default, as far as it exists.

Today that is stage 1 (the offline synthetic corpus) and stages 2-3 (every subset encoded into a
unit store with the shipped default codec). Pre-training exists (`codec2vec pretrain`) but the
demo does not run it yet, and evaluation is not implemented yet; the demo says so rather than
pretending.
"""

from __future__ import annotations

from pathlib import Path

from codec2vec.data.synth import SynthConfig, synth_corpus
from codec2vec.describe import describe
from codec2vec.units import UnitStore
from codec2vec.units.extract import ExtractConfig, extract

DEMO_HOURS = 0.2
NOT_RUN = ("pre-training: available as `codec2vec pretrain` (docs/pretraining.md), not yet part of the demo",
           "evaluation (SUPERB-style): not implemented yet")


def run_demo(out: str | Path) -> int:
    out = Path(out)
    print(f"[1/2] corpus: synthesising {DEMO_HOURS} h of labelled speech into {out / 'corpus'}")
    corpus = synth_corpus(SynthConfig(out=str(out / "corpus"), hours=DEMO_HOURS, seed=1))
    print(describe(corpus))
    print(f"\n[2/2] units: encoding every subset with the default codec into {out / 'units'}")
    for manifest in sorted(Path(corpus).glob("*.jsonl")):
        store = extract(ExtractConfig(corpus=str(manifest), out=str(out / "units" / manifest.stem), codec="default"))
    print(UnitStore(store).describe())
    print("\nNot run by the demo: " + "; ".join(NOT_RUN) + ".")
    return 0

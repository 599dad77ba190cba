"""Verification trials of a corpus subset, for ASV with SUPERB's protocol.

A corpus folder may hold trials/SUBSET/SPLIT.txt: one `label id_a id_b` line per trial (label 1:
the same speaker), ids of that split's rows. VoxCeleb1 brings its official list; for splits
without one, trials are drawn from the rows (seeded): same-speaker and other-speaker partners of
every utterance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codec2vec.atomic import atomic_write_text
from codec2vec.data.manifest import Utterance
from codec2vec.errors import ManifestError

Trial = tuple[int, str, str]


def trials_file(corpus: str | Path, subset: str, split: str) -> Path:
    return Path(corpus) / "trials" / subset / f"{split}.txt"


def draw_trials(rows: list[Utterance], rng: np.random.Generator, per_utterance: int = 1) -> list[Trial]:
    """Up to `per_utterance` same-speaker and as many other-speaker trials for every row."""
    by_speaker: dict[str, list[str]] = {}
    for row in rows:
        by_speaker.setdefault(row.speaker, []).append(row.id)
    trials = []
    for row in rows:
        same = [u for u in by_speaker[row.speaker] if u != row.id]
        other = [u for speaker, ids in by_speaker.items() if speaker != row.speaker for u in ids]
        for label, partners in ((1, same), (0, other)):
            for k in rng.permutation(len(partners))[:per_utterance]:
                trials.append((label, row.id, partners[k]))
    return trials


def write_trials(corpus: str | Path, subset: str, split: str, trials: list[Trial]) -> Path:
    path = trials_file(corpus, subset, split)
    atomic_write_text(path, "".join(f"{label} {a} {b}\n" for label, a, b in trials))
    return path


def read_trials(path: Path) -> list[Trial]:
    trials = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if len(parts) != 3 or parts[0] not in ("0", "1"):
            raise ManifestError(f"{path}:{number}: expected 'label id id' with label 0 or 1, got {line!r}")
        trials.append((int(parts[0]), parts[1], parts[2]))
    return trials

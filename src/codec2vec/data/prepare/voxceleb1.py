"""VoxCeleb1: iden_split.txt (1 train, 2 dev, 3 test) and wav/ID/VIDEO/N.wav.

Subset `voxceleb1` (sid): the identification split. When the official verification trial list is
there too (`veri_test.txt`, or the cleaned `veri_test2.txt`), subset `voxceleb1-verification`
(asv) has SUPERB's ASV shape: the speakers of the trial list (id10270-id10309) are unseen in
training and their listed utterances are the test split, scored on the official trials; the other
speakers train the head, except a few held out (seeded) as the dev split, with trials drawn from
them (one same-speaker and one other-speaker trial per utterance) to pick the epoch.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from codec2vec.data.prepare.common import SkipReport, Subset, require, utterance
from codec2vec.data.trials import draw_trials, write_trials
from codec2vec.errors import ManifestError

_SPLITS = {"1": "train", "2": "dev", "3": "test"}
TRIAL_LISTS = ("veri_test.txt", "veri_test2.txt")
DEV_SPEAKER_SHARE = 0.02  # of the training speakers (at least 2): unseen speakers for epoch selection


def _utterance_id(rel: str) -> str:
    return rel.removesuffix(".wav").replace("/", "-")


def prepare(src: Path, out: Path, report: SkipReport) -> list[Subset]:
    split_file = require(src / "iden_split.txt", "iden_split.txt (VoxCeleb1 identification split)")
    wav_root = require(src / "wav", "the wav/ folder of VoxCeleb1")
    subset = Subset("voxceleb1", ["sid"])
    for number, line in enumerate(split_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in _SPLITS or parts[1].count("/") != 2:
            report.fail(f"{split_file}:{number}", f"malformed line {line!r} (expected '1|2|3 id/video/file.wav')")
            continue
        rel = parts[1]
        row = utterance(wav_root / rel, report, id=_utterance_id(rel), speaker=rel.split("/")[0],
                        split=_SPLITS[parts[0]])
        if row:
            subset.rows.append(row)
    trial_list = next((src / name for name in TRIAL_LISTS if (src / name).is_file()), None)
    if trial_list is None:
        return [subset]
    return [subset, _verification(subset, trial_list, out)]


def _verification(identification: Subset, trial_list: Path, out: Path) -> Subset:
    trials = []
    for number, line in enumerate(trial_list.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or parts[0] not in ("0", "1") or any(p.count("/") != 2 for p in parts[1:]):
            raise ManifestError(f"{trial_list}:{number}: expected '0|1 id/video/file.wav id/video/file.wav', "
                                f"got {line!r}")
        trials.append((int(parts[0]), _utterance_id(parts[1]), _utterance_id(parts[2])))
    rows = {r.id: r for r in identification.rows}
    listed = {u for _, a, b in trials for u in (a, b)}
    missing = sorted(listed - set(rows))
    if missing:
        raise ManifestError(f"{trial_list}: {len(missing)} listed utterance(s) are not among the readable files of "
                            f"iden_split.txt, e.g. {missing[:3]}")
    test_speakers = {rows[u].speaker for u in listed}
    pool = sorted({r.speaker for r in identification.rows} - test_speakers)
    rng = np.random.default_rng(0)
    dev_speakers = set(rng.choice(pool, max(2, round(DEV_SPEAKER_SHARE * len(pool))), replace=False).tolist())
    subset = Subset("voxceleb1-verification", ["asv"])
    for row in identification.rows:
        if row.speaker in test_speakers:
            split = "test" if row.id in listed else None  # SUPERB scores the listed utterances only
        else:
            split = "dev" if row.speaker in dev_speakers else "train"
        if split:
            subset.rows.append(dataclasses.replace(row, split=split))
    dev_trials = draw_trials([r for r in subset.rows if r.split == "dev"], rng)
    write_trials(out, subset.name, "test", trials)
    write_trials(out, subset.name, "dev", dev_trials)
    subset.notes = (f"verification: {len(trials)} trials of {trial_list.name} over {len(test_speakers)} speakers "
                    f"unseen in training; {len(dev_trials)} dev trials over {len(dev_speakers)} held-out speakers")
    return subset

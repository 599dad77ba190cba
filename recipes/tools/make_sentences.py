"""Rebuild src/codec2vec/data/resources/sentences.txt from WordNet's example phrases.

    apt-get download wordnet-base && dpkg-deb -x wordnet-base_*.deb wn
    pip install wordfreq==3.1.1
    python recipes/tools/make_sentences.py wn/usr/share/wordnet > src/codec2vec/data/resources/sentences.txt

Keeps the quoted examples that a listener (and the Whisper judge) can follow: whole sentences of
5 to 12 plain ASCII words that open with a pronoun or possessive (WordNet's noun and adjective
examples are mostly fragments, "A row of sparkly cheerleaders"), every word among the 5,000 most
frequent English words of wordfreq. Spoken by the corpus's voices, rare-word fragments cost most
of the synthetic corpus's intelligibility (docs/corpus.md).
"""

import re
import sys
from pathlib import Path

COMMON_WORDS = 5000
MIN_WORDS, MAX_WORDS = 5, 12
OPENERS = {"i", "he", "she", "it", "we", "you", "they", "his", "her", "its", "my", "our", "your",
           "their", "this", "there"}
_PLAIN = re.compile(r"^[A-Za-z][A-Za-z' ,.;?!]*$")  # no hyphenated idioms ("pit-a-pat")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def phrases(wordnet_dir: Path):
    for name in ("data.noun", "data.verb", "data.adj", "data.adv"):
        for line in (wordnet_dir / name).read_text(encoding="latin-1").splitlines():
            if line.startswith("  "):
                continue  # licence header
            yield from re.findall(r'"([^"]+)"', line)


def clean(phrase: str, common: set[str]) -> str | None:
    phrase = " ".join(phrase.replace("--", " ").split()).strip(" ;,")
    if not _PLAIN.match(phrase) or "..." in phrase or phrase.isupper():
        return None
    words = _WORD.findall(phrase.lower())
    if not MIN_WORDS <= len(words) <= MAX_WORDS or words[0] not in OPENERS:
        return None
    if not all(word in common for word in words):
        return None
    return phrase[0].upper() + phrase[1:]


def main() -> None:
    from wordfreq import top_n_list  # needed only to rebuild the file, not by codec2vec

    common = set(top_n_list("en", COMMON_WORDS))
    chosen = {c for p in phrases(Path(sys.argv[1])) if (c := clean(p, common))}
    print("# Example sentences from WordNet 3.0 (Princeton University), chosen by recipes/tools/make_sentences.py.")
    print("# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. Licence: see NOTICE-wordnet.txt.")
    for sentence in sorted(chosen):
        print(sentence)


if __name__ == "__main__":
    main()

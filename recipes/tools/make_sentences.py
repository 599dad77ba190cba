"""Rebuild src/codec2vec/data/resources/sentences.txt from WordNet's example phrases.

    apt-get download wordnet-base && dpkg-deb -x wordnet-base_*.deb wn
    python recipes/tools/make_sentences.py wn/usr/share/wordnet > src/codec2vec/data/resources/sentences.txt

Keeps quoted examples of 4 to 16 words made of plain ASCII words, removes duplicates, and
keeps a fixed pseudo-random 12,000 of them (sorted by a hash, so the choice is reproducible).
"""

import hashlib
import re
import sys
from pathlib import Path

KEEP = 12000
_WORDS = re.compile(r"^[A-Za-z][A-Za-z' ,.;?!-]*$")


def phrases(wordnet_dir: Path):
    for name in ("data.noun", "data.verb", "data.adj", "data.adv"):
        for line in (wordnet_dir / name).read_text(encoding="latin-1").splitlines():
            if line.startswith("  "):
                continue  # licence header
            yield from re.findall(r'"([^"]+)"', line)


def clean(phrase: str) -> str | None:
    phrase = " ".join(phrase.replace("--", " ").split()).strip(" ;,")
    words = phrase.split()
    if not 4 <= len(words) <= 16 or not _WORDS.match(phrase) or phrase.isupper():
        return None
    return phrase[0].upper() + phrase[1:]


def main() -> None:
    unique = {c for p in phrases(Path(sys.argv[1])) if (c := clean(p))}
    chosen = sorted(unique, key=lambda s: hashlib.sha256(s.encode()).hexdigest())[:KEEP]
    print("# Example phrases from WordNet 3.0 (Princeton University), chosen by recipes/tools/make_sentences.py.")
    print("# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. Licence: see NOTICE-wordnet.txt.")
    for sentence in sorted(chosen):
        print(sentence)


if __name__ == "__main__":
    main()

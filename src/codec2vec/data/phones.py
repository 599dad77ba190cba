"""The one phone set of every codec2vec corpus: the 39 ARPAbet phones of CMUdict plus 'sil'.

espeak-ng reports IPA and flite its own ARPAbet-like set; both map here so phone
recognition and unit purity are measured on the same labels whatever engine spoke.
"""

from __future__ import annotations

from codec2vec.errors import Codec2VecError

SILENCE = "sil"
PHONES = (
    "aa ae ah ao aw ay b ch d dh eh er ey f g hh ih iy jh k l m n ng "
    "ow oy p r s sh t th uh uw v w y z zh"
).split() + [SILENCE]
PHONE_SET = frozenset(PHONES)

# IPA (as espeak-ng writes it, stress and length marks removed) -> ARPAbet. Longest match wins,
# so diphthongs and affricates come before their parts. Rhotic and reduced vowels fold as in CMUdict.
_IPA_TO_ARPABET = {
    "aɪə": ["ay", "er"], "aʊə": ["aw", "er"], "ɪə": ["ih", "r"], "eə": ["eh", "r"], "ʊə": ["uh", "r"],
    "ɛə": ["eh", "r"], "ɔə": ["ao", "r"],
    "aɪ": ["ay"], "aʊ": ["aw"], "eɪ": ["ey"], "oʊ": ["ow"], "əʊ": ["ow"], "ɔɪ": ["oy"], "oː": ["ao"], "ʌʉ": ["ow"],
    "tʃ": ["ch"], "dʒ": ["jh"],
    "ɑ": ["aa"], "ɒ": ["aa"], "æ": ["ae"], "a": ["ae"], "ʌ": ["ah"], "ə": ["ah"], "ɐ": ["ah"],
    "ɚ": ["er"], "ɝ": ["er"], "ɜ": ["er"], "ɔ": ["ao"], "ɛ": ["eh"], "e": ["eh"], "ɪ": ["ih"],
    "ᵻ": ["ih"], "i": ["iy"], "o": ["ow"], "ʊ": ["uh"], "u": ["uw"], "ɵ": ["ow"], "ɯ": ["uw"], "ʉ": ["uw"],
    "b": ["b"], "d": ["d"], "f": ["f"], "ɡ": ["g"], "g": ["g"], "h": ["hh"], "k": ["k"], "l": ["l"],
    "ɫ": ["l"], "m": ["m"], "n": ["n"], "ŋ": ["ng"], "p": ["p"], "ɹ": ["r"], "r": ["r"], "ɾ": ["t"],
    "s": ["s"], "ʃ": ["sh"], "t": ["t"], "θ": ["th"], "ð": ["dh"], "v": ["v"], "w": ["w"],
    "ʍ": ["w"], "j": ["y"], "z": ["z"], "ʒ": ["zh"], "ʔ": ["t"], "x": ["hh"], "ɬ": ["l"], "ç": ["hh"],
}
_IGNORED_MARKS = set("ˈˌːˑ:̩̪̃-‿ʲ̆ʰ")
_MAX_KEY = max(len(k) for k in _IPA_TO_ARPABET)

_FESTVOX_TO_ARPABET = {"pau": SILENCE, "ax": "ah", "h#": SILENCE}


class PhoneMappingError(Codec2VecError):
    pass


def ipa_to_arpabet(ipa: str) -> list[str]:
    """Map one espeak-ng IPA phoneme string (may hold several sounds) to ARPAbet phones."""
    return [phone for _, _, phones in ipa_pieces(ipa) for phone in phones]


def ipa_pieces(ipa: str) -> list[tuple[int, int, list[str]]]:
    """Longest-match parse of an IPA string: (start, end, ARPAbet phones) for each piece, as indices
    into `ipa`. Stress and length marks join no piece, and a piece may span them ("aˈɪ" is ay)."""
    kept = [i for i, ch in enumerate(ipa) if ch not in _IGNORED_MARKS]
    text = "".join(ipa[i] for i in kept)
    pieces: list[tuple[int, int, list[str]]] = []
    i = 0
    while i < len(text):
        for size in range(min(_MAX_KEY, len(text) - i), 0, -1):
            piece = text[i : i + size]
            if piece in _IPA_TO_ARPABET:
                pieces.append((kept[i], kept[i + size - 1] + 1, _IPA_TO_ARPABET[piece]))
                i += size
                break
        else:
            raise PhoneMappingError(f"no ARPAbet mapping for IPA symbol {text[i]!r} (U+{ord(text[i]):04X}) in {ipa!r}")
    return pieces


def festvox_to_arpabet(phone: str) -> str:
    mapped = _FESTVOX_TO_ARPABET.get(phone, phone)
    if mapped not in PHONE_SET:
        raise PhoneMappingError(f"no ARPAbet mapping for festvox (flite, festival) phone {phone!r}")
    return mapped

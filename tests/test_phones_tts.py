import shutil

import numpy as np
import pytest

from codec2vec.data.phones import PHONE_SET, PhoneMappingError, flite_to_arpabet, ipa_to_arpabet
from codec2vec.data.tts import Voice, available_voices, synthesize
from codec2vec.data.tts.base import segments_from_boundaries


@pytest.mark.parametrize("ipa, arpabet", [
    ("ˈoʊ", ["ow"]), ("dʒ", ["jh"]), ("tʃ", ["ch"]), ("əl", ["ah", "l"]), ("ˈɑː", ["aa"]), ("ɚ", ["er"]),
    ("ˈaɪə", ["ay", "er"]), ("θ", ["th"]), ("ð", ["dh"]), ("ŋ", ["ng"]), ("ˌʌʉ", ["ow"]), ("t̪", ["t"]),
    ("ˈa:", ["ae"]), ("ɹ", ["r"]), ("ˈ", []),
])
def test_ipa_to_arpabet(ipa, arpabet):
    assert ipa_to_arpabet(ipa) == arpabet


def test_unknown_symbols_are_errors():
    with pytest.raises(PhoneMappingError, match=r"'ʘ' \(U\+0298\)"):
        ipa_to_arpabet("ʘ")
    with pytest.raises(PhoneMappingError, match="flite phone 'qq'"):
        flite_to_arpabet("qq")
    assert flite_to_arpabet("pau") == "sil" and flite_to_arpabet("ax") == "ah" and flite_to_arpabet("iy") == "iy"


def test_phone_set_is_cmu_39_plus_silence():
    assert len(PHONE_SET) == 40 and "sil" in PHONE_SET and "ax" not in PHONE_SET


def test_segments_from_boundaries():
    events = [(0.1, "hh"), (0.2, "ow"), (0.2, "sil"), (0.5, "sil"), (0.7, "k")]
    assert segments_from_boundaries(events, 1.0) == [
        ["sil", 0.0, 0.1], ["hh", 0.1, 0.2], ["sil", 0.2, 0.7], ["k", 0.7, 1.0],
    ]


def _check_speech(speech, text_words: int):
    assert speech.audio.dtype == np.float32 and speech.audio.ndim == 1
    assert 0.05 < np.max(np.abs(speech.audio)) <= 1.0
    phones = speech.phones
    assert phones[0][1] == 0.0 and phones[-1][2] == pytest.approx(speech.duration)
    for (p, s, e), nxt in zip(phones, phones[1:] + [None]):
        assert p in PHONE_SET and e > s
        if nxt:
            assert nxt[1] == pytest.approx(e)
    assert sum(p[0] != "sil" for p in phones) >= 2 * text_words


def test_espeak_in_process():
    voice = Voice(speaker="espeak-m3", engine="espeak", name="en-us+m3")
    speech = synthesize(voice, "The cat sat on the mat")
    assert speech.sample_rate == 22050
    _check_speech(speech, 6)
    assert [p[0] for p in speech.phones if p[0] != "sil"][:3] == ["dh", "ah", "k"]
    slow = synthesize(voice, "The cat sat on the mat", rate=0.7)
    assert slow.duration > 1.25 * speech.duration


def test_espeak_offers_enough_voices():
    voices = available_voices(["espeak"])
    assert len({v.speaker for v in voices}) >= 100
    assert all(v.name.split("+")[0].startswith("en") for v in voices)


@pytest.mark.skipif(shutil.which("flite") is None, reason="Debian package flite not installed")
def test_flite():
    voices = {v.name: v for v in available_voices(["flite"])}
    assert {"kal16", "slt"} <= set(voices)
    speech = synthesize(voices["slt"], "Turn on the lights")
    assert speech.sample_rate == 16000
    _check_speech(speech, 4)
    assert "l" in [p[0] for p in speech.phones]
    assert synthesize(voices["slt"], "Turn on the lights", rate=0.7).duration > 1.25 * speech.duration


def test_unknown_engine():
    from codec2vec.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown TTS engine 'festivale'"):
        available_voices(["festivale"])

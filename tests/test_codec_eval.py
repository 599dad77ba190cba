import json
import shutil

import numpy as np
import pytest

from codec2vec.cli import main
from codec2vec.codecs.classical import codec2_roundtrip, opus_roundtrip
from codec2vec.codecs.quality import MelDistance, normalise_text, stoi, word_errors
from codec2vec.data.audio import resample, save_flac
from codec2vec.data.manifest import ManifestHeader, Utterance, write_manifest
from codec2vec.data.tts import Voice, synthesize
from codec_fixtures import save_tiny_dac

SENTENCES = ["Please turn off the lights in the kitchen", "She wrote a letter to her mother last week"]


@pytest.fixture(scope="module")
def speech_manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech")
    rows = []
    for i, text in enumerate(SENTENCES):
        speech = synthesize(Voice("us", "espeak", "en-us"), text, seed=i)
        audio = resample(speech.audio, speech.sample_rate, 16000)
        save_flac(root / f"s{i}.flac", audio, 16000)
        rows.append(Utterance(f"s{i}", f"s{i}.flac", audio.size / 16000, 16000, "us", "test", text=text))
    return write_manifest(root / "speech.jsonl", ManifestHeader("tts", "speech"), rows)


def test_peers_keep_length_and_report_their_bitrate():
    t = np.arange(32000) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    decoded, bitrate = opus_roundtrip(audio, 16000, 6000)
    assert decoded.shape == audio.shape and 5000 < bitrate < 12000  # Ogg pages add a little
    if shutil.which("c2enc"):
        decoded, bitrate = codec2_roundtrip(audio, 16000, 3200)
        assert decoded.shape == audio.shape and bitrate == pytest.approx(3200, rel=0.05)
    with pytest.raises(ValueError, match="6000..256000"):
        opus_roundtrip(audio, 16000, 3000)


def test_quality_measures_order_clean_above_noisy():
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 16000
    clean = (0.3 * np.sin(2 * np.pi * 200 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
    slightly = clean + 0.01 * rng.standard_normal(clean.size).astype(np.float32)
    very = clean + 0.3 * rng.standard_normal(clean.size).astype(np.float32)
    assert stoi(clean, slightly) > stoi(clean, very)
    mel = MelDistance()
    assert mel(clean, clean) == 0.0 and mel(clean, slightly) < mel(clean, very)
    assert normalise_text("Hello, World! It's") == "hello world it's"
    assert word_errors("the cat sat", "the cat sat down") == (1, 3)


def test_codec_eval_writes_table_and_json(speech_manifest, tmp_path, capsys):
    codec_dir = save_tiny_dac(tmp_path / "tiny-dac")
    out = tmp_path / "eval"
    peers = "codec2_modes=[3200]" if shutil.which("c2enc") else "codec2_modes=[]"
    assert main(["codec", "eval", "--corpus", str(speech_manifest), "--codec", str(codec_dir), "--out", str(out),
                 peers]) == 0
    table = capsys.readouterr().out
    result = json.loads((out / "results.json").read_text())
    names = list(result["summary"])
    assert names[0].startswith(str(codec_dir)) and "Opus 6 kbit/s" in names
    assert result["utterances"] == 2 and result["reference_wer_percent"] <= 40  # the judge understands espeak
    random_codec, opus = result["summary"][names[0]], result["summary"]["Opus 6 kbit/s"]
    # An untrained codec destroys speech; Opus keeps it: the measures must say so.
    assert opus["stoi"] > random_codec["stoi"] + 0.2
    assert opus["wer_percent"] < random_codec["wer_percent"]
    assert opus["mel_distance"] < random_codec["mel_distance"]
    assert opus["speaker_similarity"] > random_codec["speaker_similarity"]
    assert random_codec["bitrate"] == 6000
    assert len(result["per_utterance"]["Opus 6 kbit/s"]) == 2
    assert "| Opus 6 kbit/s |" in table and (out / "results.md").read_text().strip() == table.strip()
    # Every measure carries its 95 % interval, the originals' WER too (kept per utterance).
    originals = result["original_per_utterance"]
    assert [r["id"] for r in originals] == ["s0", "s1"] and all(r["words"] > 0 for r in originals)
    assert result["intervals"]["original audio"]["wer"]["value"] == pytest.approx(result["reference_wer_percent"], abs=0.01)
    stoi_interval = result["intervals"]["Opus 6 kbit/s"]["stoi"]["interval"]
    assert stoi_interval[0] <= opus["stoi"] <= stoi_interval[1]
    assert f"{opus['stoi']:.3f} [{stoi_interval[0]:.3f}, {stoi_interval[1]:.3f}]" in table
    low, high = result["intervals"]["original audio"]["wer"]["interval"]
    assert f"WER of the original audio: {result['reference_wer_percent']:.1f} [{low:.1f}, {high:.1f}] %" in table


def test_system_intervals_are_paired_bootstraps_of_each_measure():
    from codec2vec.codecs.evaluate import system_intervals

    rows = lambda stois, edits: [{"id": f"u{i}", "stoi": s, "word_edits": e, "words": 10}  # noqa: E731
                                 for i, (s, e) in enumerate(zip(stois, edits))]
    systems = {"a": rows([0.9, 0.8, 0.7, 0.6], [0, 1, 2, 3]), "b": rows([0.8, 0.7, 0.6, 0.5], [1, 2, 3, 4])}
    report = system_intervals(systems, reference="b")
    assert report["a"]["stoi"]["value"] == pytest.approx(0.75) and report["a"]["wer"]["value"] == pytest.approx(15.0)
    # Paired: a is better than b by exactly 0.1 STOI and 10 WER points on every utterance.
    assert report["a"]["stoi"]["difference"]["interval"] == pytest.approx([0.1, 0.1])
    assert report["a"]["wer"]["difference"]["interval"] == pytest.approx([-10.0, -10.0])
    assert report["a"]["stoi"]["difference"]["separated"] and "difference" not in report["b"]["stoi"]
    low, high = report["b"]["stoi"]["interval"]
    assert 0.5 <= low < 0.65 < high <= 0.8
    with pytest.raises(ValueError, match="not scored on the same utterances"):
        system_intervals({"a": systems["a"], "c": systems["b"][:3]})


def test_whisper_judge_decodes_greedily(monkeypatch):
    # Temperature fallback samples (unseeded) on hard audio: a WER must be a function of the audio.
    from codec2vec.codecs.quality import WhisperJudge

    calls = []

    class Model:
        def transcribe(self, audio, **options):
            calls.append(options)
            return [], None

    judge = WhisperJudge.__new__(WhisperJudge)
    judge.model = Model()
    assert judge.transcribe(np.zeros(1600, dtype=np.float32)) == ""
    assert calls[0]["temperature"] == 0.0 and calls[0]["beam_size"] == 1


def test_no_command_warns_about_pkg_resources(speech_manifest, tmp_path):
    # Resemblyzer's VAD imports pkg_resources, whose deprecation warning every codec eval printed.
    import subprocess
    import sys

    script = ("import warnings; warnings.simplefilter('default')\n"
              "from codec2vec.codecs.quality import SpeakerJudge; SpeakerJudge()\n"
              "from codec2vec.cli import main; main(['codec', 'list'])")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and "pkg_resources" not in done.stderr, done.stderr[-2000:]

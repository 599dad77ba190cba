import numpy as np
import pytest
import soundfile as sf
import soxr

from codec2vec.data import audio as audio_module
from codec2vec.data.audio import audio_info, load_audio, save_flac, stream_audio
from codec2vec.errors import AudioError
from conftest import sine


def _dominant_freq(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("fmt, subtype", [
    ("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "PCM_U8"), ("WAV", "FLOAT"), ("WAV", "PCM_32"),
    ("FLAC", "PCM_16"), ("FLAC", "PCM_24"), ("OGG", "VORBIS"), ("OGG", "OPUS"), ("MP3", "MPEG_LAYER_III"),
])
def test_formats_decode_to_the_same_signal(tmp_path, fmt, subtype):
    if subtype not in sf.available_subtypes(fmt):
        pytest.skip(f"libsndfile here cannot write {fmt}/{subtype}")
    rate = 48000 if subtype == "OPUS" else 16000
    path = tmp_path / f"x.{fmt.lower()}"
    sf.write(str(path), sine(1.0, rate), rate, format=fmt, subtype=subtype)
    audio = load_audio(path, 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 16000) < 1200  # lossy codecs add a little padding
    assert abs(_dominant_freq(audio, 16000) - 440) < 3
    assert 0.3 < np.max(np.abs(audio)) < 0.7


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 16000])
def test_resampling_keeps_length_and_pitch(tmp_path, rate):
    path = tmp_path / "x.wav"
    sf.write(str(path), sine(1.0, rate, freq=1000.0), rate)
    audio = load_audio(path, 16000)
    assert len(audio) == 16000
    assert abs(_dominant_freq(audio, 16000) - 1000) < 2
    np.testing.assert_allclose(np.sqrt(np.mean(audio[1000:-1000] ** 2)), 0.5 / np.sqrt(2), rtol=0.02)


def test_native_rate_when_none(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(str(path), sine(0.5, 22050), 22050)
    assert len(load_audio(path, None)) == 11025


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel_is_averaged(tmp_path, channels):
    path = tmp_path / "x.wav"
    data = sine(0.25, 16000, channels=channels)
    sf.write(str(path), data, 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path), data.mean(axis=1), atol=1e-6)


def test_int16_values_are_scaled(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(str(path), np.array([0, 16384, -32768, 32767], dtype=np.int16), 16000, subtype="PCM_16")
    np.testing.assert_allclose(load_audio(path), [0.0, 0.5, -1.0, 32767 / 32768], atol=1e-6)


def test_segment(tmp_path):
    path = tmp_path / "x.wav"
    ramp = np.linspace(-0.5, 0.5, 16000, dtype=np.float32)
    sf.write(str(path), ramp, 16000, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(path, start=0.25, end=0.5), ramp[4000:8000])
    with pytest.raises(AudioError, match="segment"):
        load_audio(path, start=2.0)


def test_streamed_blocks_join_to_the_whole_file_decoded_at_once(tmp_path, monkeypatch):
    """stream_audio decodes block by block (0.1 s blocks here); joined, the blocks are the samples of
    decoding the whole file, mixing it to mono and resampling it in one go. A bad sample late in a
    file is named when its block is reached."""
    path = tmp_path / "long.flac"
    sf.write(str(path), sine(1.234, rate=44100, channels=2), 44100, format="FLAC")
    whole, _ = sf.read(str(path), dtype="float32", always_2d=True)
    expected = soxr.resample(whole.mean(axis=1, dtype=np.float32), 44100, 16000, quality="HQ")
    monkeypatch.setattr(audio_module, "BLOCK_SECONDS", 0.1)
    blocks = list(stream_audio(path, 16000))
    assert len(blocks) >= 13 and max(len(b) for b in blocks) <= 1700
    np.testing.assert_array_equal(np.concatenate(blocks), expected)

    late = tmp_path / "late.wav"
    x = sine(1.0)
    x[-10] = np.nan
    sf.write(str(late), x, 16000, subtype="FLOAT")
    stream = stream_audio(late, 16000)
    assert len(next(stream)) == 1600
    with pytest.raises(AudioError, match=r"late\.wav: audio contains NaN or Inf"):
        list(stream)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match=r"missing\.wav: file not found"):
        load_audio(tmp_path / "missing.wav")


def test_folder_is_not_audio(tmp_path):
    with pytest.raises(AudioError, match="not a regular file"):
        load_audio(tmp_path)


def test_text_file_named_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 20)
    with pytest.raises(AudioError, match=r"notes\.wav: not a readable audio file"):
        load_audio(path)


def test_truncated_flac(tmp_path):
    path = tmp_path / "cut.flac"
    sf.write(str(path), sine(1.0), 16000, format="FLAC")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(AudioError, match=r"cut\.flac"):
        load_audio(path)


def test_empty_wav(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(str(path), np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=r"empty\.wav: empty audio"):
        load_audio(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path, bad):
    path = tmp_path / "nan.wav"
    x = sine(0.1)
    x[100] = bad
    sf.write(str(path), x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: audio contains NaN or Inf"):
        load_audio(path)


def test_info(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(str(path), sine(0.5, 22050, channels=2), 22050)
    info = audio_info(path)
    assert (info.sample_rate, info.frames, info.channels) == (22050, 11025, 2)
    assert info.duration == pytest.approx(0.5)


def test_save_flac_round_trip_and_refusals(tmp_path):
    x = sine(0.3)
    save_flac(tmp_path / "a" / "x.flac", x, 16000)
    y = load_audio(tmp_path / "a" / "x.flac")
    np.testing.assert_allclose(y, x, atol=1 / 32768 + 1e-6)
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.flac"]
    with pytest.raises(AudioError, match="NaN or Inf"):
        save_flac(tmp_path / "bad.flac", np.array([0.0, np.nan], dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="non-empty mono"):
        save_flac(tmp_path / "bad.flac", np.zeros((2, 2), dtype=np.float32), 16000)
    assert not (tmp_path / "bad.flac").exists()


def test_clipped_audio_is_valid_audio(tmp_path):
    """Clipping (runs of full-scale samples) is not an error: the samples come back as written."""
    path = tmp_path / "clipped.wav"
    x = np.clip(3 * sine(0.2), -1.0, 1.0).astype(np.float32)
    assert (np.abs(x) == 1.0).mean() > 0.3
    sf.write(str(path), x, 16000, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(path, sample_rate=16000), x)

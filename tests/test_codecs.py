import os
import subprocess
import sys
from fractions import Fraction

import pytest
import torch

from codec2vec.codecs import CODECS, CodecError, load_codec
from codec2vec.codecs.base import CodecInfo
from codec2vec.codecs.hf import wrap_model
from codec_fixtures import save_tiny_dac, tiny_dac, tiny_encodec, tiny_mimi

# name -> (builder, sample rate, frame rate, codebooks, codebook size, hop)
ARCHITECTURES = {
    "dac": (tiny_dac, 16000, Fraction(50), 12, 1024, 320),
    "encodec": (tiny_encodec, 24000, Fraction(75), 8, 1024, 320),
    "mimi": (tiny_mimi, 24000, Fraction(25, 2), 8, 2048, 1920),
}


@pytest.fixture(scope="module", params=sorted(ARCHITECTURES))
def codec(request):
    builder, *_ = ARCHITECTURES[request.param]
    return wrap_model(builder(), f"tiny-{request.param}")


def test_rates_and_bitrate(codec):
    _, rate, frame_rate, n_q, size, hop = ARCHITECTURES[codec.architecture]
    info = codec.info
    assert (info.sample_rate, info.frame_rate, info.n_codebooks, info.codebook_size) == (rate, frame_rate, n_q, size)
    assert codec.hop_length == hop and info.hop_length == hop
    assert info.bitrate == float(frame_rate * n_q * (size.bit_length() - 1))
    assert len(info.weights_hash) == 64
    assert CodecInfo.from_header(info.to_header()) == info


def test_frame_counts_and_batch_equals_single(codec):
    hop = codec.hop_length
    lengths = [3 * hop + 17, 3 * hop + 1, 5 * hop, 2 * hop - 1, 1]
    torch.manual_seed(1)
    audio = torch.randn(len(lengths), max(lengths)) * 0.3
    codes, frames = codec.encode(audio, lengths)
    assert frames.tolist() == [4, 4, 5, 2, 1]  # a partial frame counts as a frame
    assert codes.shape == (len(lengths), codec.n_codebooks, 5) and codes.dtype == torch.long
    assert int(codes.max()) < codec.codebook_size and int(codes.min()) >= 0
    for i, n in enumerate(lengths):
        alone, alone_frames = codec.encode(audio[i: i + 1, :n], [n])
        assert alone_frames.tolist() == [frames[i]]
        assert torch.equal(alone[0], codes[i, :, : frames[i]]), f"item {i} differs when encoded alone"
        assert not codes[i, :, frames[i]:].any()  # past the end: zeros


def test_padding_beyond_length_is_ignored(codec):
    torch.manual_seed(2)
    audio = torch.randn(1, 3 * codec.hop_length)
    noisy = torch.cat([audio, torch.randn(1, 2 * codec.hop_length)], dim=1)
    assert torch.equal(codec.encode(audio, [audio.shape[1]])[0], codec.encode(noisy, [audio.shape[1]])[0])


def test_decode_length(codec):
    codes = torch.randint(0, codec.codebook_size, (2, codec.n_codebooks, 3))
    audio = codec.decode(codes)
    assert audio.shape == (2, 3 * codec.hop_length) and torch.isfinite(audio).all()


def test_codebook_vectors_sum_to_the_quantized_latent(codec):
    vectors = codec.codebook_vectors()
    assert vectors.shape[:2] == (codec.n_codebooks, codec.codebook_size)
    codes = torch.randint(0, codec.codebook_size, (1, codec.n_codebooks, 4))
    summed = sum(vectors[q, codes[0, q]] for q in range(codec.n_codebooks)).T  # [D, T]
    quantizer = codec.model.quantizer
    with torch.no_grad():
        if codec.architecture == "dac":
            latent = quantizer.from_codes(codes)[0]
        elif codec.architecture == "encodec":
            latent = quantizer.decode(codes.transpose(0, 1))
        else:
            latent = quantizer.decode(codes)
    torch.testing.assert_close(summed, latent[0], rtol=1e-4, atol=1e-5)


def test_registry_lists_the_papers_codec():
    spec = CODECS["dac-16khz"]
    assert (spec.sample_rate, spec.frame_rate, spec.n_codebooks, spec.codebook_size, spec.bitrate) == (
        16000, 50, 12, 1024, 6000.0)
    assert CODECS["mimi"].frame_rate == Fraction(25, 2)


def test_load_from_folder(tmp_path):
    folder = save_tiny_dac(tmp_path / "tiny")
    codec = load_codec(str(folder))
    assert codec.architecture == "dac" and codec.info.weights_hash == wrap_model(tiny_dac(), "x").info.weights_hash


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(CodecError, match="neither a known name"):
        load_codec("no-such-codec")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CodecError, match="no config.json"):
        load_codec(str(tmp_path / "empty"))


def test_offline_hub_id_explains_how_to_get_weights(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    code = ("import sys; from codec2vec.codecs import load_codec, CodecError\n"
            "try: load_codec('descript/dac_16khz')\n"
            "except CodecError as e: print(e); sys.exit(7)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 7, run.stderr
    assert "huggingface-cli download descript/dac_16khz" in run.stdout and "--codec DIR" in run.stdout


def test_long_signals_encode_in_windows_like_whole():
    """encode_long (extraction's path for utterances longer than max_batch_seconds) gives the frame
    count of whole-signal encoding and, for convolutional DAC with context beyond its receptive field,
    the same codes but for float-rounding near-ties; the default codec is checked the same way."""
    torch.manual_seed(1)
    t = torch.arange(int(9.37 * 16000)) / 16000
    audio = 0.3 * torch.sin(2 * torch.pi * 220 * t * (1 + 0.3 * torch.sin(t))) + 0.03 * torch.randn(len(t))
    for codec in (wrap_model(tiny_dac(), "tiny-dac"), load_codec("default")):
        whole, frames = codec.encode(audio[None], [len(audio)])
        windowed = codec.encode_long([audio], window_samples=2 * 16000, context_samples=16000)
        assert windowed.shape == (12, int(frames[0])) == whole[0].shape
        # fed in uneven pieces (as stream_audio's blocks come), the same windows see the same samples
        assert torch.equal(codec.encode_long(audio.split(7777), 2 * 16000, 16000), windowed)
        agreement = (windowed == whole[0]).float().mean().item()
        assert agreement > 0.99, (codec.info.codec_id, agreement)
        assert torch.equal(windowed[0], whole[0][0]), codec.info.codec_id  # the first codebook: no near-ties


def _speech(seconds_each=(2.3, 1.1, 3.0)) -> tuple[torch.Tensor, list[int]]:
    """Short utterances of synthetic speech at 16 kHz, zero-padded into one batch."""
    from codec2vec.data.audio import resample
    from codec2vec.data.tts import Voice, synthesize

    pieces = []
    for i, text in enumerate(["turn off the lights in the kitchen", "yes", "she wrote a letter to her mother"]):
        speech = synthesize(Voice("us", "espeak", "en-us"), text, seed=i)
        audio = torch.from_numpy(resample(speech.audio, speech.sample_rate, 16000))
        pieces.append(audio[: int(seconds_each[i] * 16000)])
    lengths = [p.numel() for p in pieces]
    return torch.nn.utils.rnn.pad_sequence(pieces, batch_first=True), lengths


def _compiled_matches_eager(codec) -> None:
    audio, lengths = _speech()
    eager, frames = codec.encode(audio, lengths)
    codec.compile()
    for _ in range(2):  # the first call compiles; the second runs the compiled graph at other shapes too
        compiled, compiled_frames = codec.encode(audio, lengths)
        assert torch.equal(compiled_frames, frames) and torch.equal(compiled, eager)
        audio, lengths = audio[:2, : lengths[0]], lengths[:2]
        eager, frames = wrap_model(codec.model, "eager").encode(audio, lengths)


@pytest.mark.slow  # 26-41 s of compiling on 2 cores, in a suite that must stay under 10 minutes
def test_compiled_encoding_gives_the_same_codes():
    _compiled_matches_eager(wrap_model(tiny_dac(), "tiny-dac"))


@pytest.mark.slow
def test_compiled_encoding_gives_the_default_codecs_codes():
    _compiled_matches_eager(load_codec("default"))


def test_a_failing_compiler_falls_back_to_eager_with_a_warning(monkeypatch):
    codec = wrap_model(tiny_dac(), "tiny-dac")
    audio = torch.randn(1, 960) * 0.1
    eager, _ = codec.encode(audio, [960])

    def broken_compile(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    codec.compile()
    with pytest.warns(UserWarning, match="torch.compile failed .*no C\\+\\+ compiler.*same codes"):
        codes, _ = codec.encode(audio, [960])
    assert torch.equal(codes, eager)
    assert torch.equal(codec.encode(audio, [960])[0], eager)  # and stays eager, without warning again

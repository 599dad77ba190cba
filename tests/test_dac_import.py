"""`codec import-dac`: an original Descript checkpoint (tests/fixtures/dac_original, made by its
make_fixture.py with Descript's own model code) gives the codes Descript's encoder gave."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from codec2vec.cli import main
from codec2vec.codecs import CodecError, load_codec
from codec2vec.codecs.dac_import import transformers_key

FIXTURE = Path(__file__).parent / "fixtures" / "dac_original"


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("dac") / "codec"
    assert main(["codec", "import-dac", str(FIXTURE / "weights.pth"), "--out", str(out)]) == 0
    return out


def test_imported_codec_gives_descripts_codes(imported):
    reference = np.load(FIXTURE / "reference.npz")
    codec = load_codec(str(imported))
    assert codec.architecture == "dac" and codec.n_codebooks == 4 and codec.codebook_size == 64
    for name in ("a", "b"):
        audio = torch.from_numpy(reference[f"audio_{name}"])[None]
        codes, frames = codec.encode(audio, [audio.shape[1]])
        assert codes[0].numpy().tolist() == reference[f"codes_{name}"].tolist()


def test_the_key_map_follows_descripts_layout():
    # encoder.block: [conv, 4 EncoderBlocks, Snake, conv]; EncoderBlock.block: [RU x 3, Snake, conv]
    assert transformers_key("encoder.block.0.weight", 4, 4) == "encoder.conv1.weight"
    assert transformers_key("encoder.block.2.block.1.block.3.bias", 4, 4) == "encoder.block.1.res_unit2.conv2.bias"
    assert transformers_key("encoder.block.4.block.3.alpha", 4, 4) == "encoder.block.3.snake1.alpha"
    assert transformers_key("encoder.block.5.alpha", 4, 4) == "encoder.snake1.alpha"
    assert transformers_key("encoder.block.6.weight", 4, 4) == "encoder.conv2.weight"
    # decoder.model: [conv, 4 DecoderBlocks, Snake, conv, Tanh]; DecoderBlock.block: [Snake, convT, RU x 3]
    assert transformers_key("decoder.model.1.block.1.weight", 4, 4) == "decoder.block.0.conv_t1.weight"
    assert transformers_key("decoder.model.3.block.4.block.2.alpha", 4, 4) == "decoder.block.2.res_unit3.snake2.alpha"
    assert transformers_key("quantizer.quantizers.3.codebook.weight", 4, 4) == "quantizer.quantizers.3.codebook.weight"
    assert transformers_key("discriminator.x", 4, 4) is None


def test_bad_checkpoints_are_named(tmp_path, capsys):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    torch.save({"model": {}}, tmp_path / "other.pth")
    for name, message in (("junk.pth", "not a readable weights-only PyTorch checkpoint"),
                          ("other.pth", "not an original DAC checkpoint"), ("absent.pth", "no such checkpoint file")):
        assert main(["codec", "import-dac", str(tmp_path / name), "--out", str(tmp_path / "out")]) != 0
        err = capsys.readouterr().err
        assert f"{tmp_path / name}: {message}" in err and "weights_only=False" not in err
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "weights.pth").write_bytes(b"x")
    assert main(["codec", "import-dac", str(tmp_path / "run"), "--out", str(tmp_path / "out")]) != 0
    assert f"{tmp_path / 'run'}: a directory, not a checkpoint file; give the file itself (weights.pth is here)" \
        in capsys.readouterr().err

    from fractions import Fraction

    torch.save({"state_dict": Fraction(1, 2)}, tmp_path / "code.pth")  # a global a weights-only load refuses
    assert main(["codec", "import-dac", str(tmp_path / "code.pth"), "--out", str(tmp_path / "out")]) != 0
    assert "holds Python objects other than tensors" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_with_foreign_weights_is_refused(tmp_path):
    from codec2vec.codecs.dac_import import import_dac

    saved = torch.load(FIXTURE / "weights.pth", weights_only=True)
    saved["state_dict"]["encoder.block.9.weight"] = torch.zeros(1)
    torch.save(saved, tmp_path / "odd.pth")
    with pytest.raises(CodecError, match="do not fit DAC's layout.*encoder.block.9.weight"):
        import_dac(tmp_path / "odd.pth", tmp_path / "out")


def test_loading_a_pth_as_a_codec_suggests_import_dac(tmp_path):
    shutil.copy(FIXTURE / "weights.pth", tmp_path / "weights.pth")
    with pytest.raises(CodecError, match="codec2vec codec import-dac .*weights.pth --out DIR"):
        load_codec(str(tmp_path / "weights.pth"))

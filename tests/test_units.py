import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from codec2vec.cli import main
from codec2vec.codecs import load_codec
from codec2vec.data.audio import load_audio
from codec2vec.data.manifest import ManifestHeader, Utterance, write_manifest
from codec2vec.errors import AudioError, ConfigError
from codec2vec.units import StoreError, UnitStore
from codec2vec.units.extract import ExtractConfig, extract
from codec2vec.units.store import pack_codes, unpack_codes
from codec2vec.units.verify import verify_store
from codec_fixtures import save_tiny_dac, tiny_dac
from killing import cli, kill_at_random_point

# (id, seconds, sample rate, format): odd lengths, three rates, WAV and FLAC
CLIPS = [("a", 0.51, 16000, "WAV"), ("b", 1.234, 8000, "WAV"), ("c", 0.3, 22050, "FLAC"), ("d", 2.0, 16000, "FLAC"),
         ("e", 0.02, 16000, "WAV"), ("f", 0.77, 16000, "WAV"), ("g", 1.5, 44100, "WAV"), ("h", 0.9, 16000, "FLAC"),
         ("i", 0.41, 16000, "WAV")]


def _write_corpus(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for uid, seconds, rate, fmt in CLIPS:
        n = int(seconds * rate)
        t = np.arange(n) / rate
        audio = (0.3 * np.sin(2 * np.pi * rng.uniform(100, 900) * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)
        path = folder / "audio" / f"{uid}.{fmt.lower()}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), audio, rate, format=fmt, subtype="PCM_16")
        rows.append(Utterance(uid, f"audio/{path.name}", n / rate, rate, "spk", "train"))
    return write_manifest(folder / "corpus.jsonl", ManifestHeader("tiny", "all"), rows)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("units")
    codec_dir = save_tiny_dac(root / "codec")
    manifest = _write_corpus(root / "corpus")
    return root, str(codec_dir), manifest


def _config(setup, out: Path, **kw) -> ExtractConfig:
    _, codec_dir, manifest = setup
    return ExtractConfig(corpus=str(manifest), out=str(out), codec=codec_dir, shard_size=2, **kw)


def _store_bytes(folder: Path) -> dict[str, bytes]:
    """Everything in a store but the header's provenance (which names the config's out path)."""
    files = {p.name: p.read_bytes() for p in sorted(folder.glob("shard-*.bin"))}
    files["index.jsonl"] = (folder / "index.jsonl").read_bytes()
    header = json.loads((folder / "header.json").read_text())
    files["shards"] = json.dumps(header["shards"]).encode()
    return files


@pytest.fixture(scope="module")
def store(setup):
    root, _, _ = setup
    return extract(_config(setup, root / "store"), progress=False)


def test_store_holds_each_utterance_encoded_alone(setup, store):
    _, codec_dir, manifest = setup
    codec = load_codec(codec_dir)
    units = UnitStore(store)
    assert units.ids == [c[0] for c in CLIPS]
    for uid, seconds, rate, fmt in CLIPS:
        audio = load_audio(Path(manifest).parent / "audio" / f"{uid}.{fmt.lower()}", 16000)
        expected, frames = codec.encode(torch.from_numpy(audio)[None], [audio.size])
        assert units[uid].shape == (12, frames[0]) and units[uid].dtype == np.uint16
        np.testing.assert_array_equal(units[uid], expected[0].numpy())
    h = units.header
    assert h["codec"]["frame_rate"] == "50" and h["codec"]["n_codebooks"] == 12
    assert h["codec"]["weights_hash"] == codec.info.weights_hash
    assert h["totals"]["utterances"] == len(CLIPS) and len(h["shards"]) == 5
    assert h["totals"]["audio_seconds"] == pytest.approx(sum(int(s * r) / r for _, s, r, _ in CLIPS), abs=1e-3)
    assert h["config"]["shard_size"] == 2 and "git_revision" in h["provenance"]
    assert verify_store(store) == []
    assert not list(Path(store).glob("shard-*.json")) and not (Path(store) / "extract-run.json").exists()


def test_describe_and_storage_report(store, capsys):
    assert main(["describe", str(store)]) == 0
    out = capsys.readouterr().out
    assert "unit store" in out and "12 codebooks x 1024" in out and "6 kbit/s raw" in out
    assert "16-bit WAV" in out and "FLAC" in out
    assert main(["units", "stats", str(store)]) == 0
    report = capsys.readouterr().out
    # 16-bit WAV at 16 kHz is 256 kbit/s against 12 x 16 bits x 50 = 9.6 kbit/s of uint16 codes
    assert "x the store" in report


def test_header_sizes_the_corpus_as_wav_and_flac(setup, store):
    """A FLAC file counts its own size; a WAV file the size of its audio encoded as FLAC (16-bit)."""
    root, _, _ = setup
    wav = flac = 0
    for uid, seconds, rate, fmt in CLIPS:
        path = root / "corpus" / "audio" / f"{uid}.{fmt.lower()}"
        audio, _ = sf.read(str(path), dtype="float32")
        wav += 44 + 2 * len(audio)
        if fmt == "FLAC":
            flac += path.stat().st_size
        else:
            encoded = io.BytesIO()
            sf.write(encoded, audio, rate, format="FLAC", subtype="PCM_16")
            flac += len(encoded.getvalue())
    totals = UnitStore(store).header["totals"]
    assert (totals["wav_bytes"], totals["flac_bytes"]) == (wav, flac)
    assert 0.2 < flac / wav < 1.0


def test_bitpack_round_trip():
    rng = np.random.default_rng(3)
    for bits, frames, n_q in [(10, 7, 12), (11, 1, 8), (10, 33, 3), (16, 5, 2)]:
        codes = rng.integers(0, 2 ** bits, size=(frames, n_q), dtype=np.uint16)
        packed = pack_codes(codes, "bitpack", bits)
        assert len(packed) == (frames * n_q * bits + 7) // 8
        np.testing.assert_array_equal(unpack_codes(packed, frames, n_q, "bitpack", bits), codes)


def test_bitpack_store_equals_uint16_store(setup, store, tmp_path):
    packed = extract(_config(setup, tmp_path / "packed", packing="bitpack"), progress=False)
    a, b = UnitStore(store), UnitStore(packed)
    for uid in a.ids:
        np.testing.assert_array_equal(a[uid], b[uid])
    codes_a, codes_b = a.header["totals"]["codes_bytes"], b.header["totals"]["codes_bytes"]
    assert codes_b == pytest.approx(codes_a * 10 / 16, abs=len(a))  # per-utterance byte alignment
    assert verify_store(packed) == []


def test_verify_names_a_flipped_byte_and_a_truncated_shard(setup, store, tmp_path):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for p in Path(store).iterdir():
        (damaged / p.name).write_bytes(p.read_bytes())
    units = UnitStore(damaged)
    entry = units.entries["d"]
    shard = damaged / entry.shard
    data = bytearray(shard.read_bytes())
    data[entry.offset + 5] ^= 0x01
    shard.write_bytes(bytes(data))
    problems = verify_store(damaged)
    assert any("'d'" in p and "crc32" in p for p in problems), problems
    assert any(entry.shard in p and "sha256" in p for p in problems)

    last = damaged / units.entries["i"].shard
    last.write_bytes(last.read_bytes()[:-3])
    problems = verify_store(damaged)
    assert any("truncated" in p and last.name in p for p in problems), problems
    assert main(["verify", str(damaged)]) == 6
    assert main(["verify", str(store)]) == 0


def test_killed_at_random_points_resumes_to_the_same_store(setup, store, tmp_path):
    """SIGKILL at seeded points after 1, 2 and 3 shards are written, then the same command: the store
    is byte-identical to an uninterrupted run's, verifies, and no temporary is left."""
    _, codec_dir, manifest = setup
    killed_mid_run = 0
    for seed in (1, 2, 3):
        out = tmp_path / f"killed-{seed}"
        args = ["extract", "--corpus", str(manifest), "--out", str(out), "--codec", codec_dir, "--quiet",
                "shard_size=2", "max_batch_seconds=0.5"]
        killed_mid_run += kill_at_random_point(cli(*args), lambda: len(list(out.glob("shard-*.json"))) >= seed,
                                                 seed, 0.5)
        assert main(args) == 0
        assert _store_bytes(out) == _store_bytes(Path(store))
        assert verify_store(out) == [] and not list(out.glob(".*.tmp*"))
    assert killed_mid_run >= 1, "every run finished before it was killed"


def test_two_workers_write_the_same_store(setup, store, tmp_path):
    out = extract(_config(setup, tmp_path / "w2", workers=2), progress=False)
    assert _store_bytes(out) == _store_bytes(Path(store))


def test_torchrun_two_ranks_gloo(setup, store, tmp_path):
    _, codec_dir, manifest = setup
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", "29517", "-m", "codec2vec.cli", "extract", "--corpus", str(manifest),
                          "--out", str(out), "--codec", codec_dir, "--device", "cpu", "--quiet", "shard_size=2"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-5000:]  # a rank's message precedes torchrun's report
    assert _store_bytes(out) == _store_bytes(Path(store))


def test_rerun_on_finished_store_is_a_no_op(setup, store, capsys):
    before = (Path(store) / "header.json").read_bytes()
    extract(_config(setup, store), progress=False)
    assert "already complete" in capsys.readouterr().out
    assert (Path(store) / "header.json").read_bytes() == before


def test_mismatches_are_refused(setup, store, tmp_path):
    root, codec_dir, manifest = setup
    # A partial run cannot be finished with another codec or packing.
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "extract-run.json").write_text(json.dumps({"codec": {}, "manifest_sha256": "x", "packing": "uint16",
                                                          "shard_size": 2, "skip_bad": False}))
    with pytest.raises(StoreError, match="partial extraction with different codec, manifest_sha256"):
        extract(_config(setup, partial), progress=False)
    # Codes are refused for a codec with other weights.
    other = load_codec(str(save_tiny_dac(tmp_path / "other")))
    torch.nn.init.normal_(other.model.quantizer.quantizers[0].codebook.weight)
    other._info = None
    with pytest.raises(StoreError, match="weights_hash"):
        UnitStore(store).require_codec(other.info, "the model's codec")
    # Unknown ids and unfinished stores are named.
    with pytest.raises(StoreError, match="no utterance 'zz'"):
        UnitStore(store)["zz"]
    with pytest.raises(StoreError, match="extraction has not finished"):
        (tmp_path / "half").mkdir()
        (tmp_path / "half" / "extract-run.json").write_text("{}")
        UnitStore(tmp_path / "half")
    # A codec whose codes need more than the store's 16 bits is refused before any work.
    from transformers import DacConfig, DacModel
    DacModel(DacConfig(**{**tiny_dac().config.to_dict(), "n_codebooks": 1, "codebook_size": 1 << 17})) \
        .save_pretrained(tmp_path / "wide")
    with pytest.raises(ConfigError, match="codebooks of 131072 codes do not fit the store's 16-bit codes"):
        extract(ExtractConfig(corpus=str(manifest), out=str(tmp_path / "w"), codec=str(tmp_path / "wide")),
                progress=False)
    assert not (tmp_path / "w").exists()


def test_bad_audio_is_named_or_skipped(setup, tmp_path):
    _, codec_dir, manifest = setup
    folder = tmp_path / "bad"
    good = str(Path(manifest).parent / "audio" / "a.wav")  # 0.51 s
    rows = [Utterance("good", good, 0.51, 16000, "s", "train"),
            Utterance("broken", "broken.wav", 1.0, 16000, "s", "train"),
            Utterance("overrun", good, 0.5, 16000, "s", "train", start=0.3, end=0.8),
            Utterance("wrong-rate", good, 0.51, 8000, "s", "train")]
    folder.mkdir()
    (folder / "broken.wav").write_bytes(b"RIFF not really a wav file")
    bad_manifest = write_manifest(folder / "bad.jsonl", ManifestHeader("tiny", "bad"), rows)
    cfg = ExtractConfig(corpus=str(bad_manifest), out=str(tmp_path / "s1"), codec=codec_dir)
    with pytest.raises(AudioError, match="utterance '(broken|overrun|wrong-rate)'.*--skip-bad"):
        extract(cfg, progress=False)
    cfg = ExtractConfig(corpus=str(bad_manifest), out=str(tmp_path / "s2"), codec=codec_dir, skip_bad=True)
    units = UnitStore(extract(cfg, progress=False))
    assert units.ids == ["good"]
    skipped = json.loads((tmp_path / "s2" / "skipped.json").read_text())
    assert [s["id"] for s in skipped] == ["broken", "overrun", "wrong-rate"] and "broken.wav" in skipped[0]["error"]
    assert "segment [0.3, 0.8) s runs past the file's end (0.510 s)" in skipped[1]["error"]
    assert "declares sample_rate 8000 Hz for 'wrong-rate', the file is 16000 Hz" in skipped[2]["error"]


def test_splits_select_rows_with_the_same_codes(setup, store, tmp_path):
    _, codec_dir, manifest = setup
    full = UnitStore(store)
    lines = Path(manifest).read_text().splitlines()
    rows = [json.loads(line) for line in lines[1:]]
    for k, row in enumerate(rows):
        row["split"] = "test" if k % 3 == 0 else "train"
    split_manifest = Path(manifest).parent / "split.jsonl"
    split_manifest.write_text("\n".join([lines[0]] + [json.dumps(r) for r in rows]) + "\n")
    cfg = ExtractConfig(corpus=str(split_manifest), out=str(tmp_path / "test-only"), codec=codec_dir, shard_size=2,
                        splits=["test"])
    part = UnitStore(extract(cfg, progress=False))
    assert list(part.ids) == [r["id"] for r in rows if r["split"] == "test"] == ["a", "d", "g"]
    for uid in part.ids:
        np.testing.assert_array_equal(part[uid], full[uid])
    assert part.header["corpus"]["splits"] == ["test"]
    with pytest.raises(StoreError, match=r"finished store of the splits \['test'\], not all"):
        extract(ExtractConfig(corpus=str(split_manifest), out=cfg.out, codec=codec_dir), progress=False)
    from codec2vec.errors import ConfigError
    with pytest.raises(ConfigError, match=r"no split dev-clean \(it has test, train\)"):
        extract(ExtractConfig(corpus=str(split_manifest), out=str(tmp_path / "x"), codec=codec_dir,
                              splits=["dev-clean"]), progress=False)


def test_utterances_longer_than_a_batch_are_encoded_in_windows_with_the_same_codes(setup, store, tmp_path):
    """Extraction bounds memory by max_batch_seconds: longer utterances go through codec.encode_long;
    with 0.25 s of context the tiny DAC gives the codes of whole-utterance encoding."""
    windowed = extract(_config(setup, tmp_path / "windowed", max_batch_seconds=0.3, long_context_seconds=0.25),
                       progress=False)
    assert _store_bytes(Path(windowed)) == _store_bytes(Path(store))


@pytest.mark.slow  # compiling takes a minute or two on 2 cores; tests/test_codecs.py checks the codes in CI
def test_compiled_extraction_writes_the_same_store(setup, store, tmp_path):
    compiled = extract(_config(setup, tmp_path / "compiled", compile="true"), progress=False)
    assert _store_bytes(compiled) == _store_bytes(store)
    assert UnitStore(compiled).header["config"]["compile"] == "true"


def test_compile_auto_waits_for_enough_audio():
    from codec2vec.units.extract import COMPILE_AFTER_SECONDS, _compile_wanted

    assert not _compile_wanted("auto", COMPILE_AFTER_SECONDS - 1) and _compile_wanted("auto", COMPILE_AFTER_SECONDS)
    assert _compile_wanted("true", 1.0) and not _compile_wanted("false", 1e9)


def test_compile_override_from_the_command_line_is_read_as_its_word():
    from codec2vec.config import load_config
    from codec2vec.units.extract import ExtractConfig, validate

    for word in ("false", "true", "auto"):
        cfg = load_config(ExtractConfig, None, ["corpus=c.jsonl", "out=o", f"compile={word}"])
        validate(cfg)
        assert cfg.compile == word


def test_unknown_compile_setting_is_refused(setup, tmp_path):
    with pytest.raises(ConfigError, match="compile must be one of auto, true, false, got 'yes'"):
        extract(_config(setup, tmp_path / "x", compile="yes"), progress=False)


def test_extraction_keeps_large_blocks_in_the_heap_only_while_it_runs(setup, tmp_path, monkeypatch):
    import codec2vec.memory as memory

    calls = []

    class FakeLibc:
        def mallopt(self, parameter, value):
            calls.append((parameter, value))

        def malloc_trim(self, pad):
            pass

    monkeypatch.setattr(memory, "_libc", lambda: FakeLibc())
    extract(_config(setup, tmp_path / "heap"), progress=False)
    mib = 1 << 20
    # Blocks up to 512 MiB from the heap, trimmed past 1 GiB, during extraction (no page faults for
    # every batch's activations); after it glibc's long-run values (mmap 32 MiB, trim 64 MiB).
    assert calls == [(-3, 512 * mib), (-1, 1024 * mib), (-3, 32 * mib), (-1, 64 * mib)]


def test_segments_of_one_file_give_the_codes_of_the_cut_files(setup, tmp_path):
    _, codec_dir, _ = setup
    rng = np.random.default_rng(3)
    audio = (0.2 * rng.standard_normal(3 * 16000)).astype(np.float32)
    sf.write(str(tmp_path / "session.wav"), audio, 16000, subtype="PCM_16")
    pieces = [(0.0, 0.75), (0.75, 2.1), (2.4, 3.0)]
    cut_rows, segment_rows = [], []
    for k, (start, end) in enumerate(pieces):
        piece = audio[int(start * 16000): int(end * 16000)]
        sf.write(str(tmp_path / f"cut{k}.wav"), piece, 16000, subtype="PCM_16")
        cut_rows.append(Utterance(f"u{k}", f"cut{k}.wav", len(piece) / 16000, 16000, "s", "train"))
        segment_rows.append(Utterance(f"u{k}", "session.wav", round(end - start, 4), 16000, "s", "train",
                                      start=start, end=end))
    cut = extract(ExtractConfig(corpus=str(write_manifest(tmp_path / "cut.jsonl", ManifestHeader("c", "s"), cut_rows)),
                                out=str(tmp_path / "cut-units"), codec=codec_dir), progress=False)
    seg = extract(ExtractConfig(corpus=str(write_manifest(tmp_path / "seg.jsonl", ManifestHeader("c", "s"),
                                                          segment_rows)),
                                out=str(tmp_path / "seg-units"), codec=codec_dir, max_batch_seconds=1.0),
                  progress=False)  # 1 s batches: the 1.35 s segment is streamed and encoded in windows
    a, b = UnitStore(cut), UnitStore(seg)
    assert all(np.array_equal(a[f"u{k}"], b[f"u{k}"]) for k in range(3))
    assert b.header["totals"]["audio_seconds"] == pytest.approx(3.0 - 0.3)  # the segments, not the file x 3


@pytest.mark.parametrize("fmt", ["webdataset", "parquet"])
def test_export_and_import_keep_every_code_and_the_header(setup, store, tmp_path, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    shared = tmp_path / "shared"
    assert main(["units", "export", str(store), "--format", fmt, "--out", str(shared)]) == 0
    metadata = json.loads((shared / "metadata.json").read_text())
    assert metadata["format"] == fmt and metadata["store_header"]["codec"] == UnitStore(store).header["codec"]
    assert main(["units", "import", str(shared), "--out", str(tmp_path / "back")]) == 0
    original, back = UnitStore(store), UnitStore(tmp_path / "back")
    assert back.ids == original.ids and all(np.array_equal(back[i], original[i]) for i in original.ids)
    assert back.header["codec"] == original.header["codec"] and back.header["imported"]["format"] == fmt
    assert verify_store(tmp_path / "back") == []  # shards, index and header checksums all hold


def test_webdataset_shards_are_plain_tar_and_numpy(setup, store, tmp_path):
    import tarfile

    from codec2vec.units.share import export_store

    out = export_store(store, tmp_path / "wds", "webdataset", shard_size=4)
    original = UnitStore(store)
    assert sorted(p.name for p in out.glob("*.tar")) == ["units-000000.tar", "units-000001.tar", "units-000002.tar"]
    with tarfile.open(out / "units-000000.tar") as tar:
        names = tar.getnames()
        assert names[:2] == ["000000000.codes.npy", "000000000.json"] and len(names) == 8
        meta = json.loads(tar.extractfile("000000000.json").read())
        codes = np.load(io.BytesIO(tar.extractfile("000000000.codes.npy").read()))
    assert meta["id"] == original.ids[0] and np.array_equal(codes, original[original.ids[0]])
    assert export_store(store, tmp_path / "again", "webdataset", shard_size=4) and \
        (tmp_path / "again" / "units-000000.tar").read_bytes() == (out / "units-000000.tar").read_bytes()


def test_import_refuses_an_incomplete_export(setup, store, tmp_path):
    from codec2vec.units.share import export_store, import_store

    out = export_store(store, tmp_path / "wds", "webdataset", shard_size=4)
    (out / "units-000001.tar").unlink()
    with pytest.raises(StoreError, match="units-000001.tar: missing shard of the export"):
        import_store(out, tmp_path / "back")
    with pytest.raises(StoreError, match="no metadata.json"):
        import_store(tmp_path, tmp_path / "back2")

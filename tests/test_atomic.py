import pytest

from codec2vec.atomic import atomic_path, atomic_write_text, remove_stale_temporaries


def test_failed_write_leaves_nothing(tmp_path):
    atomic_write_text(tmp_path / "f.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "f.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert (tmp_path / "f.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_stale_temporaries_are_found_and_only_they(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / ".x.flac.abc123.tmp.flac").write_bytes(b"half")
    (tmp_path / ".y.jsonl.zz.tmp").write_bytes(b"half")
    (tmp_path / "a" / "keep.flac").write_bytes(b"whole")
    with atomic_path(tmp_path / "done.txt") as tmp:
        tmp.write_text("ok")
    assert remove_stale_temporaries(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["done.txt", "keep.flac"]

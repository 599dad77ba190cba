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


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_artifacts_follow_the_umask(tmp_path, umask, mode):
    """Temporary files are private (mkstemp); what they become must be as shareable as the umask says."""
    import os

    from codec2vec.models import ModelConfig, build_model, save_pretrained

    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "f.txt", "x")
        cfg = ModelConfig()
        cfg.encoder.preset = "tiny"
        save_pretrained(tmp_path / "model", build_model(cfg, 2, 8), cfg, {})
    finally:
        os.umask(old)
    for path in (tmp_path / "f.txt", tmp_path / "model" / "config.json", tmp_path / "model" / "model.safetensors"):
        assert path.stat().st_mode & 0o777 == mode, path

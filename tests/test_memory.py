"""codec2vec's allocator settings: the CLI under mimalloc on Linux unless the user says otherwise, huge
pages for PyTorch's CPU allocator unless the user says otherwise, and the feature cache keeping the
heap only where huge pages are on."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pytest

from codec2vec import memory
from codec2vec.data.manifest import read_manifest
from codec2vec.eval import features
from codec2vec.eval.upstream import load_upstream
from eval_fixtures import write_task_corpus


@pytest.mark.parametrize("given,expected", [(None, "1"), ("0", "0"), ("1", "1")])
def test_import_turns_huge_pages_on_unless_the_environment_says(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if given is not None:
        env["THP_MEM_ALLOC_ENABLE"] = given
    out = subprocess.run([sys.executable, "-c", "import os, codec2vec; print(os.environ['THP_MEM_ALLOC_ENABLE'])"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected


@pytest.mark.parametrize("huge_pages,kept", [("1", 1), ("0", 0)])
def test_the_feature_cache_keeps_the_heap_only_with_huge_pages(tmp_path, monkeypatch, huge_pages, kept):
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", huge_pages)
    entered = []

    @contextlib.contextmanager
    def spy():
        entered.append(True)
        yield

    monkeypatch.setattr(features, "reused_heap", spy)
    manifest = read_manifest(write_task_corpus(tmp_path / "corpus", seed=0) / "ks.jsonl")
    rows = manifest.split("dev")
    cached = features.cached_features(load_upstream("fbank"), manifest, "dev", rows, "mean", False, tmp_path / "c",
                                      None, progress=False)
    assert len(entered) == kept and len(cached) == len(rows)


_LINUX_WITH_MIMALLOC = pytest.mark.skipif(not sys.platform.startswith("linux") or memory.mimalloc_library() is None,
                                          reason="mimalloc is installed with the package on Linux only")


def _cli(env_changes: dict, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", memory.ALLOCATOR_ENV)}
    env.update(env_changes)
    code = "import sys; from codec2vec.cli import main; sys.exit(main())"  # the program, as the console script runs it
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120)


@_LINUX_WITH_MIMALLOC
def test_the_cli_runs_under_mimalloc_that_keeps_freed_pages():
    done = _cli({"MIMALLOC_VERBOSE": "1"}, "codec", "list")
    assert done.returncode == 0, done.stderr[-2000:]
    # mimalloc's own report of its options: loaded, freed memory never purged, large pages on
    assert "option 'purge_delay': -1" in done.stderr and "option 'allow_large_os_pages': 1" in done.stderr
    assert "default" in done.stdout  # the command itself ran (the codec list)


@_LINUX_WITH_MIMALLOC
def test_a_preload_the_loader_refuses_is_not_retried_nor_reported(tmp_path):
    broken = tmp_path / "libmimalloc.so.3"
    broken.write_bytes(b"not a shared library")
    code = ("import sys; from codec2vec.cli import main; from codec2vec.memory import preloaded_allocator; "
            "print(preloaded_allocator()); sys.exit(main())")
    env = {**{k: v for k, v in os.environ.items() if k != memory.ALLOCATOR_ENV}, "LD_PRELOAD": str(broken)}
    done = subprocess.run([sys.executable, "-c", code, "codec", "list"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.splitlines()[0] == "system" and "default" in done.stdout


@_LINUX_WITH_MIMALLOC
def test_the_system_allocator_on_request_and_a_bad_name_refused():
    system = _cli({"MIMALLOC_VERBOSE": "1", memory.ALLOCATOR_ENV: "system"}, "codec", "list")
    assert system.returncode == 0 and "mimalloc" not in system.stderr and "default" in system.stdout
    bad = _cli({memory.ALLOCATOR_ENV: "jemalloc"}, "codec", "list")
    assert bad.returncode == 2 and "CODEC2VEC_ALLOCATOR='jemalloc': choose mimalloc or system" in bad.stderr


def test_allocator_environment_preloads_mimalloc_once(monkeypatch):
    library = memory.mimalloc_library()
    monkeypatch.delenv(memory.ALLOCATOR_ENV, raising=False)
    monkeypatch.setenv("LD_PRELOAD", "/opt/other.so")
    env = memory.allocator_environment()
    if library is None or not sys.platform.startswith("linux"):
        assert env is None
        return
    assert env["LD_PRELOAD"] == f"{library} /opt/other.so" and env["MIMALLOC_PURGE_DELAY"] == "-1"
    monkeypatch.setenv("LD_PRELOAD", env["LD_PRELOAD"])  # the restarted process: nothing more to do
    assert memory.allocator_environment() is None
    assert memory.preloaded_allocator() == "system"  # what is mapped counts: this process never loaded it
    monkeypatch.setenv("MIMALLOC_PURGE_DELAY", "100")  # a user's own mimalloc setting wins
    monkeypatch.setenv("LD_PRELOAD", "")
    assert memory.allocator_environment()["MIMALLOC_PURGE_DELAY"] == "100"

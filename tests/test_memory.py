"""codec2vec's allocator settings: huge pages for PyTorch's CPU allocator unless the user says
otherwise, and the feature cache keeping the heap only where huge pages are on."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pytest

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

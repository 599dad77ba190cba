"""benchmarks/corpus_intelligibility.py: pooled WER of a corpus per subset and voice, with an interval."""

import pytest

from codec2vec.codecs.evaluate import pick_evenly
from codec2vec.data.manifest import read_manifest
from conftest import benchmark_module
from eval_fixtures import write_task_corpus


def test_judge_subset_pools_word_errors_per_subset_and_voice(tmp_path):
    module = benchmark_module("corpus_intelligibility")
    manifest = read_manifest(write_task_corpus(tmp_path / "corpus") / "read.jsonl")
    train = [r for r in manifest.rows if r.split == "train"]
    rows = pick_evenly(train, 6)
    assert len(rows) == 6 and (rows[0], rows[-1]) == (train[0], train[-1])
    heard = iter(rows)

    def transcribe(audio):  # a judge that is right for spk0 and adds one word for everyone else
        row = next(heard)
        assert audio.shape == manifest.load_audio(row).shape
        return row.text if row.speaker == "spk0" else row.text + " extra"

    result = module.judge_subset(manifest, rows, transcribe)
    words = sum(len(r.text.split()) for r in rows)
    wrong = sum(r.speaker != "spk0" for r in rows)
    assert 0 < wrong < 6 and result["utterances"] == 6 and result["words"] == words
    assert result["wer_percent"] == pytest.approx(100 * wrong / words)
    low, high = result["wer_interval"]
    assert low <= result["wer_percent"] <= high and low < high
    assert result["by_voice"]["spk0"]["wer_percent"] == 0.0
    assert list(result["by_voice"])[-1] == "spk0"  # worst voices first
    assert result["items"][rows[0].id] == [0 if rows[0].speaker == "spk0" else 1, len(rows[0].text.split())]

"""benchmarks/codec_pnmi.py: per-codebook and latent k-means PNMI of codecs, with jackknife intervals."""

import json
import sys

import numpy as np

from conftest import benchmark_module
from codec_fixtures import save_tiny_dac
from eval_fixtures import write_task_corpus


def test_codec_pnmi_scores_each_codebook_and_the_latent_side_by_side(tmp_path, monkeypatch):
    corpus = write_task_corpus(tmp_path / "corpus")
    rows = [json.loads(line) for line in (corpus / "read.jsonl").read_text().splitlines()[1:]]
    (tmp_path / "alignments.json").write_text(json.dumps({r["id"]: r["phonemes"] for r in rows}))
    codec = str(save_tiny_dac(tmp_path / "codec"))
    out = tmp_path / "pnmi.json"
    monkeypatch.setattr(sys, "argv", ["codec_pnmi", "--codec", codec, "--codec", codec, "--alignments",
                                      str(tmp_path / "alignments.json"), "--corpus", str(corpus), "--groups", "4",
                                      "--codebooks", "2", "--clusters", "4", "--out", str(out)])
    benchmark_module("codec_pnmi").main()
    result = json.loads(out.read_text())
    assert result["clips"] == len(rows) == 20
    assert result["units"] == ["codebook 1", "codebook 2", "latent k-means 4"]
    scores = result["results"][codec]
    for measure in result["units"]:
        pnmi, (low, high) = scores[measure]["pnmi"], scores[measure]["pnmi_interval"]
        assert 0.0 < pnmi <= 1.0 and low <= pnmi <= high
        # a codec against itself: no difference, and none on any jackknife resample either
        difference = result["differences"][f"{codec} - {codec}, {measure}"]
        assert difference == {"pnmi": 0.0, "interval": [0.0, 0.0]}
    assert scores["codebook 1"]["pnmi"] != scores["codebook 2"]["pnmi"]


def test_latent_labels_cluster_the_sum_of_codebook_vectors():
    module = benchmark_module("codec_pnmi")

    class Codec:  # two codebooks whose vectors put the frames in two clear groups
        def codebook_vectors(self):
            import torch

            return torch.tensor([[[0.0], [10.0]], [[0.0], [0.1]]])

    codes = [np.array([[0, 1, 0, 1], [1, 0, 0, 1]])]  # latents 0.1, 10, 0, 10.1
    labels = module.latent_labels(Codec(), codes, 2)[0]
    assert labels[0] == labels[2] != labels[1] == labels[3]

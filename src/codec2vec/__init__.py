"""codec2vec: self-supervised speech representation learning on discrete neural-codec units."""

import os

__version__ = "0.1.0"

# PyTorch's CPU allocator backs blocks of 2 MiB and more with transparent huge pages when this is 1
# (c10's alloc_cpu; read at allocation time). Without it the large activations of a batch are
# faulted in 4 KiB at a time: a waveform model's training step spent a third of its CPU time in the
# kernel (docs/performance.md). Set THP_MEM_ALLOC_ENABLE=0 to opt out.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")


def load(model: str, device: str = "cpu"):
    """A frozen upstream: a shipped model's name, a model, run or export folder, "fbank" or "codec:<name>".

    upstream = codec2vec.load("synth-hubert1-2x128"); hidden, frames = upstream.embed(audio_16khz)
    """
    from codec2vec.eval.upstream import load_upstream

    return load_upstream(model, device)

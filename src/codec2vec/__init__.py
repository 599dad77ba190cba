"""codec2vec: self-supervised speech representation learning on discrete neural-codec units."""

__version__ = "0.1.0"


def load(model: str, device: str = "cpu"):
    """A frozen upstream: a shipped model's name, a model, run or export folder, "fbank" or "codec:<name>".

    upstream = codec2vec.load("synth-online-2x128"); hidden, frames = upstream.embed(audio_16khz)
    """
    from codec2vec.eval.upstream import load_upstream

    return load_upstream(model, device)

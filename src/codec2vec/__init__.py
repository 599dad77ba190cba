"""codec2vec: self-supervised speech representation learning on discrete neural-codec units."""

__version__ = "0.1.0"

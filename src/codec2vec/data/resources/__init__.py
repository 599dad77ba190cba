"""Data files shipped with codec2vec (sentence list and its licence)."""

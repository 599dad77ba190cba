"""Stage 1: corpora. Audio I/O, manifests, the offline synthetic corpus and readers for standard corpora."""

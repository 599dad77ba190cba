"""Stage 4 clustering: HuBERT-style offline k-means targets (`codec2vec kmeans`)."""

from codec2vec.clustering.kmeans import KMeansConfig, run_kmeans

__all__ = ["KMeansConfig", "run_kmeans"]

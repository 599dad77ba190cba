"""Stage 4 training: pre-training data order and the `codec2vec pretrain` loop."""

from codec2vec.train.data import DataConfig, PretrainData, epoch_batches
from codec2vec.train.trainer import OptimConfig, PretrainConfig, pretrain

__all__ = ["DataConfig", "PretrainData", "epoch_batches", "OptimConfig", "PretrainConfig", "pretrain"]

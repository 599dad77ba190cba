"""SUPERB's light task heads on top of the featurizer (the weighted sum of frozen hidden states)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from codec2vec.eval.featurizer import WeightedLayerSum


class CTCHead(nn.Module):
    """[B, T, D] -> CTC log-probabilities [B, T, vocab + 1] (blank = 0). Without an LSTM it is
    SUPERB's PR head (one linear layer); with one, the ASR head (BiLSTM layers, then linear)."""

    def __init__(self, in_dim: int, vocab_size: int, lstm_hidden: int = 0, lstm_layers: int = 2, dropout: float = 0.2):
        super().__init__()
        self.lstm = (nn.LSTM(in_dim, lstm_hidden, lstm_layers, batch_first=True, bidirectional=True,
                             dropout=dropout if lstm_layers > 1 else 0.0) if lstm_hidden else None)
        self.out = nn.Linear(2 * lstm_hidden if lstm_hidden else in_dim, vocab_size + 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.lstm is not None:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            x, _ = nn.utils.rnn.pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=x.shape[1])
        return self.out(x).log_softmax(-1)


class UtteranceHead(nn.Module):
    """Pooled [B, D] -> class logits through one hidden layer; `embed` gives the hidden layer
    (the speaker embedding scored for verification)."""

    def __init__(self, in_dim: int, n_classes: int, hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.embedding = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.out = nn.Linear(hidden, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(x))

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets)

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(-1)


class Downstream(nn.Module):
    """Featurizer + head. A head that reads frames (`frames`) takes stacked states [L, B, T, D] and
    lengths; the others take mean-pooled states [L, B, D] (pooling commutes with the linear
    weighted sum)."""

    def __init__(self, n_hidden: int, head: nn.Module, layer_norm: bool = False, frames: bool = False):
        super().__init__()
        self.featurizer = WeightedLayerSum(n_hidden, layer_norm)
        self.head = head
        self.frames = frames

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = self.featurizer(hidden)
        return self.head(x) if lengths is None else self.head(x, lengths)

    def embed(self, hidden: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = self.featurizer(hidden)
        return self.head.embed(x) if lengths is None else self.head.embed(x, lengths)

"""Train one task head on cached frozen features: one loop, early stopping on dev, fixed seeds."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from codec2vec.eval.features import CachedFeatures
from codec2vec.eval.heads import CTCHead, Downstream, UtteranceHead
from codec2vec.eval.metrics import (char_error_rate, ctc_greedy, equal_error_rate, phone_error_rate,
                                    word_error_rate)
from codec2vec.eval.tasks import ASR_VOCAB, PR_VOCAB, Task


@dataclass
class HeadConfig:
    lr: dict[str, float] = field(default_factory=dict)  # per task, e.g. {asr: 0.003}; missing = DEFAULT_LR
    max_epochs: dict[str, int] = field(default_factory=dict)  # per task, e.g. {asr: 10}; missing = DEFAULT_EPOCHS
    patience: int = 10  # epochs without a better dev score before stopping
    batch_size: int = 0  # utterances per step; 0 = 16 for frame tasks, 64 for utterance tasks
    # normalise each hidden state before the weighted sum (s3prl's option); None: on for upstreams with
    # pre-LN blocks, whose hidden states grow with depth, off for the rest
    layer_norm: bool | None = None
    mlp_hidden: int = 256  # utterance heads' hidden layer (the ASV embedding size)
    asr_hidden: int = 1024  # BiLSTM units per direction (SUPERB: 1024)
    asr_layers: int = 2
    dropout: float = 0.2


DEFAULT_LR = {"pr": 1e-2, "asr": 1e-3, "ks": 1e-3, "sid": 1e-3, "ic": 1e-3, "er": 1e-3, "asv": 1e-3}
DEFAULT_EPOCHS = {"pr": 40, "asr": 30, "ks": 100, "sid": 100, "ic": 100, "er": 100, "asv": 100}


@dataclass
class Examples:
    """One split: (cache entry, row) pairs, their targets (token ids or class ids) and speakers."""

    items: list[tuple[CachedFeatures, int]] = field(default_factory=list)
    targets: list = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)
    unlabelled: int = 0  # PR: rows left out for want of phones (words a lexicon lacks)
    trials: list[tuple[int, int, int]] = field(default_factory=list)  # ASV: (same speaker 1/0, item a, item b)

    def __len__(self) -> int:
        return len(self.items)


def vocabulary(task: Task) -> list[str]:
    return PR_VOCAB if task.name == "pr" else ASR_VOCAB


def _frame_batch(items: list[tuple[CachedFeatures, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    arrays = [cache[i] for cache, i in items]
    lengths = torch.tensor([a.shape[0] for a in arrays])
    x = torch.zeros(len(arrays), int(lengths.max()), *arrays[0].shape[1:])
    for row, a in enumerate(arrays):
        x[row, : a.shape[0]] = torch.from_numpy(np.asarray(a, dtype=np.float32))
    return x.permute(2, 0, 1, 3), lengths  # [L, B, T, D]


def _pooled_batch(items: list[tuple[CachedFeatures, int]]) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(cache[i], dtype=np.float32) for cache, i in items])).permute(1, 0, 2)


def _batches(n: int, size: int, rng: np.random.Generator | None = None) -> list[np.ndarray]:
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return [order[i: i + size] for i in range(0, n, size)]


def build_downstream(task: Task, n_hidden: int, width: int, n_classes: int, cfg: HeadConfig) -> Downstream:
    if task.level == "frame":
        lstm = cfg.asr_hidden if task.name == "asr" else 0
        head = CTCHead(width, n_classes, lstm, cfg.asr_layers, cfg.dropout)
        return Downstream(n_hidden, head, cfg.layer_norm)
    # Pooled features were layer-normalised (if asked) before pooling, in the cache.
    return Downstream(n_hidden, UtteranceHead(width, n_classes, cfg.mlp_hidden, cfg.dropout))


def _loss(task: Task, model: Downstream, data: Examples, index: np.ndarray) -> torch.Tensor:
    items = [data.items[i] for i in index]
    if task.level == "frame":
        x, lengths = _frame_batch(items)
        log_probs = model(x, lengths)
        targets = [torch.tensor(data.targets[i]) + 1 for i in index]  # 0 is the blank
        return F.ctc_loss(log_probs.transpose(0, 1), torch.cat(targets), lengths,
                          torch.tensor([len(t) for t in targets]), blank=0, zero_infinity=True)
    return F.cross_entropy(model(_pooled_batch(items)), torch.tensor([data.targets[i] for i in index]))


@torch.no_grad()
def score(task: Task, model: Downstream, data: Examples, batch_size: int, enroll: Examples | None = None) -> dict:
    """The task's metrics on one split; ASV scores each utterance against every speaker's mean
    embedding over `enroll` (the training split) by cosine similarity."""
    model.eval()
    if task.level == "frame":
        vocab = vocabulary(task)
        refs, hyps = [], []
        for index in _batches(len(data), batch_size):
            x, lengths = _frame_batch([data.items[i] for i in index])
            best = model(x, lengths).argmax(-1)
            for row, i in enumerate(index):
                hyps.append([vocab[k - 1] for k in ctc_greedy(best[row, : lengths[row]].tolist())])
                refs.append([vocab[k] for k in data.targets[i]])
        if task.name == "pr":
            return {"per": phone_error_rate(refs, hyps)}
        refs_text, hyps_text = ["".join(r) for r in refs], ["".join(h) for h in hyps]
        return {"wer": word_error_rate(refs_text, hyps_text), "cer": char_error_rate(refs_text, hyps_text)}
    if task.name == "asv":
        if data.trials:
            return {"eer": _trial_list_eer(model, data, batch_size)}
        return {"eer": _verification_eer(model, data, enroll, batch_size)}
    correct = 0
    for index in _batches(len(data), batch_size):
        predicted = model(_pooled_batch([data.items[i] for i in index])).argmax(-1)
        correct += int((predicted == torch.tensor([data.targets[i] for i in index])).sum())
    return {"accuracy": correct / max(1, len(data))}


def _embeddings(model: Downstream, data: Examples, batch_size: int) -> torch.Tensor:
    parts = [model.embed(_pooled_batch([data.items[i] for i in index])) for index in _batches(len(data), batch_size)]
    return F.normalize(torch.cat(parts), dim=-1)


def _trial_list_eer(model: Downstream, data: Examples, batch_size: int) -> float:
    """SUPERB's ASV: the cosine similarity of the two utterances' embeddings, for every listed trial."""
    embedded = _embeddings(model, data, batch_size)
    labels, a, b = (np.array(column) for column in zip(*data.trials))
    return equal_error_rate((embedded[a] * embedded[b]).sum(-1).numpy(), labels)


def _verification_eer(model: Downstream, data: Examples, enroll: Examples, batch_size: int) -> float:
    speakers = sorted(set(enroll.speakers))
    enrolled = _embeddings(model, enroll, batch_size)
    models = F.normalize(torch.stack([enrolled[[i for i, s in enumerate(enroll.speakers) if s == spk]].mean(0)
                                      for spk in speakers]), dim=-1)
    scores = _embeddings(model, data, batch_size) @ models.T  # [utterances, speakers]: every trial
    labels = np.array([[s == spk for spk in speakers] for s in data.speakers], dtype=np.int64)
    return equal_error_rate(scores.numpy().ravel(), labels.ravel())


def train_head(task: Task, data: dict[str, Examples], n_hidden: int, width: int, n_classes: int,
               cfg: HeadConfig, lr: float, seed: int) -> tuple[Downstream, dict]:
    """Train on data["train"], keep the epoch with the best dev score, stop after `patience` bad
    epochs; returns the best model and its history."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_downstream(task, n_hidden, width, n_classes, cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    batch_size = cfg.batch_size or (16 if task.level == "frame" else 64)
    max_epochs = cfg.max_epochs.get(task.name) or DEFAULT_EPOCHS[task.name]
    sign = 1.0 if task.higher_is_better else -1.0  # every selection metric shares the task's direction
    best, best_state, best_epoch, history = None, None, 0, []
    for epoch in range(1, max_epochs + 1):
        model.train()
        total = 0.0
        for index in _batches(len(data["train"]), batch_size, rng):
            loss = _loss(task, model, data["train"], index)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            total += float(loss.detach()) * len(index)
        dev = score(task, model, data["dev"], batch_size, data["train"])[task.select]
        history.append({"epoch": epoch, "train_loss": total / len(data["train"]), f"dev_{task.select}": dev})
        if best is None or sign * dev > sign * best:
            best, best_state, best_epoch = dev, copy.deepcopy(model.state_dict()), epoch
        elif epoch - best_epoch >= cfg.patience:
            break
    model.load_state_dict(best_state)
    return model, {"lr": lr, "best_epoch": best_epoch, "epochs": len(history), "dev": best, "history": history}

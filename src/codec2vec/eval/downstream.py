"""Train one task head on cached frozen features, in one of two profiles, with fixed seeds.

- quick (default): light heads trained by epochs with early stopping on dev: minutes on a CPU; the
  offline suite's profile. Numbers compare upstreams with each other, not with SUPERB's.
- superb: s3prl's own heads, optimisers, learning rates, clipping, batch sizes and step counts
  (codec2vec.eval.superb); dev is scored every s3prl `eval_step` and the best checkpoint tested.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from codec2vec.errors import ConfigError
from codec2vec.eval.features import CachedFeatures
from codec2vec.eval.heads import CTCHead, Downstream, UtteranceHead
from codec2vec.eval.intervals import correct_outcome, errors_outcome, metric_value, trials_outcome
from codec2vec.eval.metrics import ctc_greedy, edit_counts
from codec2vec.eval.superb import (GRADIENT_CLIPPING, SUPERB, ProjectedCTCHead, ProjectedUtteranceHead,
                                   XVectorHead)
from codec2vec.eval.tasks import ASR_VOCAB, PR_VOCAB, TASKS, Task


PROFILES = ("quick", "superb")


@dataclass
class HeadConfig:
    profile: str = "quick"  # "quick": the light heads below, by epochs; "superb": s3prl's (codec2vec.eval.superb)
    seeds: int = 1  # heads trained per task and learning rate (seeds seed, seed+1, ...); results average them
    task_seeds: dict[str, int] = field(default_factory=dict)  # per task, e.g. {asr: 1}; missing = seeds
    lr: dict[str, float] = field(default_factory=dict)  # per task, e.g. {asr: 0.003}; missing = the profile's
    batch_size: int = 0  # utterances per step; 0 = the profile's (quick: 16 frame tasks, 64 utterance tasks)
    steps: dict[str, int] = field(default_factory=dict)  # superb: optimizer updates per task; missing = s3prl's
    # quick profile only:
    max_epochs: dict[str, int] = field(default_factory=dict)  # per task, e.g. {asr: 10}; missing = DEFAULT_EPOCHS
    patience: int = 10  # epochs without a better dev score before stopping
    # normalise each hidden state before the weighted sum (s3prl's option); None: on for upstreams with
    # pre-LN blocks, whose hidden states grow with depth, off for the rest
    layer_norm: bool | None = None
    mlp_hidden: int = 256  # utterance heads' hidden layer (the ASV embedding size)
    asr_hidden: int = 1024  # BiLSTM units per direction (SUPERB: 1024)
    asr_layers: int = 2
    dropout: float = 0.2

    def seeds_for(self, task: str) -> int:
        return self.task_seeds.get(task, self.seeds)


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


def check_profile(cfg: HeadConfig) -> None:
    if cfg.seeds < 1:
        raise ConfigError(f"head.seeds must be >= 1, got {cfg.seeds}")
    for task, seeds in cfg.task_seeds.items():
        if task not in TASKS:
            raise ConfigError(f"head.task_seeds.{task}: no such task (tasks: {', '.join(TASKS)})")
        if seeds < 1:
            raise ConfigError(f"head.task_seeds.{task} must be >= 1, got {seeds}")
    if cfg.profile not in PROFILES:
        raise ConfigError(f"head.profile '{cfg.profile}': choose from {', '.join(PROFILES)}")


def reads_frames(task: Task, cfg: HeadConfig) -> bool:
    """Whether the head reads frames (else features mean-pooled per utterance, in the cache)."""
    return task.level == "frame" or (cfg.profile == "superb" and task.name == "asv")


def default_lr(task: Task, cfg: HeadConfig) -> float:
    return cfg.lr.get(task.name) or (SUPERB[task.name].lr if cfg.profile == "superb" else DEFAULT_LR[task.name])


def build_downstream(task: Task, n_hidden: int, width: int, n_classes: int | list[int], cfg: HeadConfig) -> Downstream:
    """n_classes: a list gives one classifier per slot (superb IC: action, object, location)."""
    check_profile(cfg)
    if cfg.profile == "superb":
        if task.name == "pr":
            head = ProjectedCTCHead(width, n_classes, project_dim=256)
        elif task.name == "asr":
            head = ProjectedCTCHead(width, n_classes, project_dim=1024, rnn_layers=2, rnn_hidden=1024, dropout=0.2,
                                    spec_augment=True)
        elif task.name == "asv":
            head = XVectorHead(width, n_classes)
        else:
            head = ProjectedUtteranceHead(width, n_classes)
    elif task.level == "frame":
        head = CTCHead(width, n_classes, cfg.asr_hidden if task.name == "asr" else 0, cfg.asr_layers, cfg.dropout)
    else:
        head = UtteranceHead(width, n_classes, cfg.mlp_hidden, cfg.dropout)
    frames = reads_frames(task, cfg)
    # Pooled features were layer-normalised (if asked) before pooling, in the cache.
    return Downstream(n_hidden, head, bool(cfg.layer_norm) and frames, frames)


def _inputs(model: Downstream, data: Examples, index: np.ndarray, device: torch.device):
    """The batch as the model reads it: (states [L, B, T, D], lengths) or (pooled states [L, B, D],)."""
    items = [data.items[i] for i in index]
    if model.frames:
        x, lengths = _frame_batch(items)
        return x.to(device), lengths.to(device)
    return (_pooled_batch(items).to(device),)


def _loss(task: Task, model: Downstream, data: Examples, index: np.ndarray, device: torch.device) -> torch.Tensor:
    inputs = _inputs(model, data, index, device)
    out = model(*inputs)
    if task.level == "frame":
        targets = [torch.tensor(data.targets[i]) + 1 for i in index]  # 0 is the blank
        return F.ctc_loss(out.transpose(0, 1), torch.cat(targets).to(device), inputs[1],
                          torch.tensor([len(t) for t in targets], device=device), blank=0, zero_infinity=True)
    return model.head.loss(out, torch.tensor([data.targets[i] for i in index], device=device))


@torch.no_grad()
def score_items(task: Task, model: Downstream, data: Examples, batch_size: int,
                enroll: Examples | None = None) -> dict[str, dict]:
    """Per-item outcomes of every metric of the task on one split (codec2vec.eval.intervals):
    per-utterance edit counts for PER/WER/CER, right/wrong for accuracy, per-trial scores for EER
    (ASV scores each utterance against every speaker's mean embedding over `enroll`, the training
    split, by cosine similarity, unless the split lists its trials)."""
    model.eval()
    device = next(model.parameters()).device
    if task.level == "frame":
        vocab = vocabulary(task)
        refs, hyps = [], []
        for index in _batches(len(data), batch_size):
            x, lengths = _inputs(model, data, index, device)
            best = model(x, lengths).argmax(-1).cpu()
            for row, i in enumerate(index):
                hyps.append([vocab[k - 1] for k in ctc_greedy(best[row, : lengths[row]].tolist())])
                refs.append([vocab[k] for k in data.targets[i]])
        if task.name == "pr":
            return {"per": errors_outcome(*zip(*(edit_counts(r, h) for r, h in zip(refs, hyps))))}
        words = [edit_counts("".join(r).split(), "".join(h).split()) for r, h in zip(refs, hyps)]
        chars = [edit_counts("".join(r).strip(), "".join(h).strip()) for r, h in zip(refs, hyps)]
        return {"wer": errors_outcome(*zip(*words)), "cer": errors_outcome(*zip(*chars))}
    if task.name == "asv":
        if data.trials:
            return {"eer": trials_outcome(*_trial_list_scores(model, data, batch_size))}
        return {"eer": trials_outcome(*_verification_scores(model, data, enroll, batch_size))}
    correct = []
    for index in _batches(len(data), batch_size):
        out = model(*_inputs(model, data, index, device))
        predicted = model.head.predict(out).cpu()
        right = predicted == torch.tensor([data.targets[i] for i in index])
        correct.extend(right.reshape(len(index), -1).all(1).tolist())  # every slot right
    return {"accuracy": correct_outcome(correct)}


def score(task: Task, model: Downstream, data: Examples, batch_size: int, enroll: Examples | None = None) -> dict:
    """The task's metrics on one split."""
    return {name: metric_value(outcome) for name, outcome in score_items(task, model, data, batch_size, enroll).items()}


def _embeddings(model: Downstream, data: Examples, batch_size: int) -> torch.Tensor:
    device = next(model.parameters()).device
    parts = [model.embed(*_inputs(model, data, index, device)).float().cpu()
             for index in _batches(len(data), batch_size)]
    return F.normalize(torch.cat(parts), dim=-1)


def _trial_list_scores(model: Downstream, data: Examples, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """SUPERB's ASV: the cosine similarity of the two utterances' embeddings, for every listed trial."""
    embedded = _embeddings(model, data, batch_size)
    labels, a, b = (np.array(column) for column in zip(*data.trials))
    return (embedded[a] * embedded[b]).sum(-1).numpy(), labels


def _verification_scores(model: Downstream, data: Examples, enroll: Examples,
                         batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    speakers = sorted(set(enroll.speakers))
    enrolled = _embeddings(model, enroll, batch_size)
    models = F.normalize(torch.stack([enrolled[[i for i, s in enumerate(enroll.speakers) if s == spk]].mean(0)
                                      for spk in speakers]), dim=-1)
    scores = _embeddings(model, data, batch_size) @ models.T  # [utterances, speakers]: every trial
    labels = np.array([[s == spk for spk in speakers] for s in data.speakers], dtype=np.int64)
    return scores.numpy().ravel(), labels.ravel()


def train_head(task: Task, data: dict[str, Examples], n_hidden: int, width: int, n_classes: int | list[int],
               cfg: HeadConfig, lr: float, seed: int, device: str | torch.device = "cpu") -> tuple[Downstream, dict]:
    """Train on data["train"] and keep the checkpoint with the best dev score (quick: by epochs,
    stopping after `patience` bad ones; superb: s3prl's steps, dev every `eval_every`); returns the
    best model (on `device`) and its history."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_downstream(task, n_hidden, width, n_classes, cfg).to(device)
    train = _train_superb if cfg.profile == "superb" else _train_quick
    return train(task, data, model, cfg, lr, rng, torch.device(device))


class _BestOnDev:
    """Keeps the state of the best dev score seen (every selection metric shares the task's direction)."""

    def __init__(self, task: Task):
        self.sign = 1.0 if task.higher_is_better else -1.0
        self.score, self.state, self.at = None, None, 0

    def offer(self, model: Downstream, dev: float, at: int) -> None:
        if self.score is None or self.sign * dev > self.sign * self.score:
            self.score, self.state, self.at = dev, copy.deepcopy(model.state_dict()), at


def _train_quick(task: Task, data: dict[str, Examples], model: Downstream, cfg: HeadConfig, lr: float,
                 rng: np.random.Generator, device: torch.device) -> tuple[Downstream, dict]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    batch_size = cfg.batch_size or (16 if task.level == "frame" else 64)
    max_epochs = cfg.max_epochs.get(task.name) or DEFAULT_EPOCHS[task.name]
    best, history = _BestOnDev(task), []
    for epoch in range(1, max_epochs + 1):
        model.train()
        total = 0.0
        for index in _batches(len(data["train"]), batch_size, rng):
            loss = _loss(task, model, data["train"], index, device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            total += float(loss.detach()) * len(index)
        dev = score(task, model, data["dev"], batch_size, data["train"])[task.select]
        history.append({"epoch": epoch, "train_loss": total / len(data["train"]), f"dev_{task.select}": dev})
        best.offer(model, dev, epoch)
        if epoch - best.at >= cfg.patience:
            break
    model.load_state_dict(best.state)
    return model, {"lr": lr, "best_epoch": best.at, "epochs": len(history), "dev": best.score, "history": history}


def _train_superb(task: Task, data: dict[str, Examples], model: Downstream, cfg: HeadConfig, lr: float,
                  rng: np.random.Generator, device: torch.device) -> tuple[Downstream, dict]:
    """s3prl's runner: `steps` updates of `accumulate` micro-batches each (the loss divided by it),
    gradients clipped to norm 1 (a non-finite norm skips the update, as s3prl does), dev scored every
    `eval_every` updates and after the last."""
    settings = SUPERB[task.name]
    steps = cfg.steps.get(task.name) or settings.steps
    batch_size = cfg.batch_size or settings.batch_size
    optimizer = getattr(torch.optim, settings.optimizer)(model.parameters(), lr=lr)
    best, history = _BestOnDev(task), []
    batches: list[np.ndarray] = []
    window, skipped = [], 0
    for step in range(1, steps + 1):
        model.train()
        for _ in range(settings.accumulate):
            if not batches:  # a new epoch: reshuffled
                batches = _batches(len(data["train"]), batch_size, rng)[::-1]
            loss = _loss(task, model, data["train"], batches.pop(), device)
            (loss / settings.accumulate).backward()
            window.append(float(loss.detach()))
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), GRADIENT_CLIPPING)
        if torch.isfinite(norm):
            optimizer.step()
        else:
            skipped += 1
        optimizer.zero_grad(set_to_none=True)
        if step % settings.eval_every == 0 or step == steps:
            dev = score(task, model, data["dev"], batch_size, data["train"])[task.select]
            history.append({"step": step, "train_loss": float(np.mean(window)), f"dev_{task.select}": dev})
            window = []
            best.offer(model, dev, step)
    model.load_state_dict(best.state)
    return model, {"lr": lr, "best_step": best.at, "steps": steps, "skipped_steps": skipped, "dev": best.score,
                   "history": history}

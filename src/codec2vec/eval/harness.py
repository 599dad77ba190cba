"""`codec2vec evaluate`: the SUPERB protocol on one frozen upstream, task by task.

For each task: find its corpus subset, cache the upstream's features per split (unit upstreams
read that subset's unit store, extracted with the upstream's own codec if missing), train the
head once per learning rate (`lr_sweep`), keep the best dev score, report dev and test. Each task
writes OUT/<task>.json when done, so a rerun skips finished tasks; OUT/results.json and
OUT/results.md gather them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from codec2vec.atomic import atomic_write_text
from codec2vec.config import config_to_dict, save_config
from codec2vec.data.manifest import Manifest
from codec2vec.data.trials import read_trials, trials_file
from codec2vec.errors import ConfigError
from codec2vec.eval.downstream import (Examples, HeadConfig, check_profile, default_lr, reads_frames, score, score_items,
                                      train_head, vocabulary)
from codec2vec.eval.features import cached_features, default_cache_root, unit_store_for
from codec2vec.eval.intervals import CONFIDENCE, bootstrap_interval, metric_value, size
from codec2vec.eval.tasks import Task, folds, parse_tasks, split_names, task_manifest
from codec2vec.eval.upstream import Upstream, load_upstream
from codec2vec.provenance import provenance
from codec2vec.units.store import file_sha256

RESULT_FORMAT = "codec2vec-eval"
RESULT_VERSION = 2  # 2: per-item test outcomes, bootstrap intervals, head seeds
# Settings that do not change a task's numbers: a finished task is reused when only these differ.
_NOT_RESULT_KEYS = ("tasks", "out", "cache", "device", "threads", "units")
PROTOCOL_NOTES = {
    "asv": "closed-set proxy: trials score each test utterance against the mean embedding of every "
           "training speaker (SUPERB's ASV uses unseen speakers and an x-vector head)",
    "asv-trials": "SUPERB's protocol: the corpus's trial list over speakers unseen in training, cosine "
                  "similarity of the head's speaker embeddings",
    "asr": "greedy CTC decoding, no language model",
}


@dataclass
class EvalConfig:
    model: str = ""  # model folder (RUN/model), "fbank" or "codec:<name>"
    tasks: list[str] = field(default_factory=lambda: ["pr", "asr", "ks", "sid", "ic", "er", "asv"])
    corpus: str = ""  # corpus folder (corpus.json): synthetic, or `codec2vec corpus prepare`d
    units: str = ""  # folder of unit stores named by subset (UNITS/read, ...); missing ones are extracted
    out: str = ""  # results folder
    cache: str = ""  # feature cache root; "" = default_cache_root(): not in the results folder
    seed: int = 1
    lr_sweep: list[float] = field(default_factory=list)  # learning rates to try on every task; [] = head.lr
    splits: dict[str, str] = field(default_factory=dict)  # train/dev/test -> manifest split names ({} = standard)
    dev_ratio: float = 0.2  # cross-validated corpora (IEMOCAP sessions): share of training rows held out as dev
    head: HeadConfig = field(default_factory=HeadConfig)
    max_batch_frames: int = 20_000  # padded frames per upstream forward pass
    device: str = "auto"
    # a codec2vec model's forward pass: fp32, or bf16 autocast (fast where native: GPUs, CPUs with AVX-512
    # BF16 or AMX); FBANK, the codec latent and hf: upstreams stay fp32
    precision: str = "fp32"
    threads: int = 0  # torch threads; 0 = torch's default


def _device(name: str) -> str:
    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def _result_settings(cfg: EvalConfig) -> dict:
    settings = config_to_dict(cfg)
    return {k: v for k, v in settings.items() if k not in _NOT_RESULT_KEYS}


class TaskRunner:
    """Caches and trains for one task of one upstream."""

    def __init__(self, cfg: EvalConfig, upstream: Upstream, task: Task, log, progress: bool = True):
        self.cfg, self.upstream, self.task, self.log, self.progress = cfg, upstream, task, log, progress
        self.manifest: Manifest = task_manifest(cfg.corpus, task)
        self.cache_root = Path(cfg.cache) if cfg.cache else default_cache_root()
        if task.level == "frame":
            self.classes = vocabulary(task)
        else:
            self.classes = sorted({str(task.label(r)) for r in self.manifest.rows})
        # superb IC: one classifier per part of 'action|object|location', as s3prl's fluent_commands expert
        self.slots = _intent_slots(self.manifest, task) if task.name == "ic" and cfg.head.profile == "superb" else None
        self._caches: dict = {}
        self.trial_lists = False  # ASV scored the corpus's trial lists

    def _split(self, name: str):
        if name not in self._caches:
            rows = self.manifest.split(name)
            pooling = "frames" if reads_frames(self.task, self.cfg.head) else "mean"
            self._caches[name] = (rows, cached_features(
                self.upstream, self.manifest, name, rows, pooling, self.cfg.head.layer_norm, self.cache_root,
                lambda: unit_store_for(self.upstream, self.manifest, self.cfg.units, self.cfg.device, self.log,
                                       self.progress),
                self.cfg.max_batch_frames, self.progress))
        return self._caches[name]

    def _examples(self, parts: list[tuple[str, list[int] | None]]) -> Examples:
        out = Examples()
        for split, keep in parts:
            rows, cache = self._split(split)
            for i in range(len(rows)) if keep is None else keep:
                if self.task.name == "pr" and not self.task.has_label(rows[i]):
                    out.unlabelled += 1  # the preparer's lexicon report names their words
                    continue
                label = self.task.label(rows[i])
                out.items.append((cache, i))
                if self.task.level == "frame":
                    out.targets.append([self.classes.index(t) for t in label])
                elif self.slots:
                    out.targets.append([values.index(part) for values, part in zip(self.slots, str(label).split("|"))])
                else:
                    out.targets.append(self.classes.index(str(label)))
                out.speakers.append(rows[i].speaker)
            if not out.items and out.unlabelled:
                raise ConfigError(f"{self.manifest.path}: no utterance of split '{split}' has phones for PR; "
                                  "prepare the corpus with a pronunciation lexicon (see docs/corpus.md)")
            if self.task.name == "asv":
                out.trials += self._trials(split, {rows[i].id: k for k, (_, i) in enumerate(out.items)})
        return out

    def _trials(self, split: str, position: dict[str, int]) -> list[tuple[int, int, int]]:
        """The corpus's trial list of a split (codec2vec.data.trials), as positions in the examples."""
        path = trials_file(Path(self.manifest.path).parent, self.manifest.header.subset, split)
        if not path.is_file():
            return []
        trials = []
        for number, (label, a, b) in enumerate(read_trials(path), start=1):
            missing = [u for u in (a, b) if u not in position]
            if missing:
                raise ConfigError(f"{path}:{number}: utterance(s) {missing} are not in split '{split}' of "
                                  f"{self.manifest.path}")
            trials.append((label, position[a], position[b]))
        self.trial_lists = True
        return trials

    def setups(self) -> list[tuple[str, dict[str, Examples]]]:
        """(fold name, train/dev/test examples): one setup, or one per fold of a cross-validated corpus."""
        names = split_names(self.manifest, self.cfg.splits)
        if names:
            return [("", {s: self._examples([(names[s], None)]) for s in ("train", "dev", "test")})]
        fold_names = folds(self.manifest)
        setups = []
        for k, test in enumerate(fold_names):
            rng = np.random.default_rng(self.cfg.seed + k)
            train, dev = [], []
            for split in fold_names:
                if split == test:
                    continue
                n = len(self.manifest.split(split))
                held = set(rng.choice(n, size=int(round(n * self.cfg.dev_ratio)), replace=False).tolist())
                train.append((split, [i for i in range(n) if i not in held]))
                dev.append((split, sorted(held)))
            setups.append((test, {"train": self._examples(train), "dev": self._examples(dev),
                                  "test": self._examples([(test, None)])}))
        return setups

    def run(self) -> dict:
        task, cfg = self.task, self.cfg
        started = time.perf_counter()
        setups = self.setups()
        feature_seconds = time.perf_counter() - started
        lrs = cfg.lr_sweep or [default_lr(task, cfg.head)]
        sign = 1.0 if task.higher_is_better else -1.0
        n_seeds = cfg.head.seeds_for(task.name)
        per_fold = []
        for fold, data in setups:
            cache = data["train"].items[0][0]
            n_hidden, width = cache.header["n_hidden"], cache.header["width"]
            n_classes = [len(values) for values in self.slots] if self.slots else len(self.classes)
            sweep = []
            for lr in lrs:
                runs = []
                for seed in range(cfg.seed, cfg.seed + n_seeds):
                    model, info = train_head(task, data, n_hidden, width, n_classes, cfg.head, lr, seed,
                                             _device(cfg.device))
                    runs.append((seed, info, model))
                    self.log(f"{self.upstream.name} {task.name}{' ' + fold if fold else ''} lr {lr:g} seed {seed}: "
                             f"dev {task.select} {info['dev']:.4f} ({trained(info)})")
                sweep.append((lr, float(np.mean([info["dev"] for _, info, _ in runs])), runs))
            lr, _, runs = max(sweep, key=lambda t: sign * t[1])  # the learning rate best on dev, over seeds
            batch = cfg.head.batch_size or 64
            seeds = []
            for seed, info, model in runs:
                outcomes = score_items(task, model, data["test"], batch, data["train"])
                seeds.append({
                    "seed": seed,
                    **{k: info[k] for k in ("best_epoch", "epochs", "best_step", "steps", "skipped_steps") if k in info},
                    "dev": score(task, model, data["dev"], batch, data["train"]),
                    "test": {m: metric_value(o) for m, o in outcomes.items()},
                    "test_outcomes": outcomes,
                    "layer_weights": model.featurizer.layer_weights(),
                    "history": info["history"],
                })
            per_fold.append({
                "fold": fold or None, "lr": lr,
                "dev": {m: float(np.mean([s["dev"][m] for s in seeds])) for m in seeds[0]["dev"]},
                "test": {m: float(np.mean([s["test"][m] for s in seeds])) for m in seeds[0]["test"]},
                "layer_weights": np.mean([s["layer_weights"] for s in seeds], axis=0).tolist(),
                "seeds": seeds,
                "examples": {s: len(e) for s, e in data.items()},
                **({"unlabelled": {s: e.unlabelled for s, e in data.items()}}
                   if any(e.unlabelled for e in data.values()) else {}),
                "sweep": [{"lr": lr_, "dev": dev, "trained": [trained(info) for _, info, _ in runs_]}
                          for lr_, dev, runs_ in sweep],
            })
        mean = lambda part, key: float(np.mean([f[part][key] for f in per_fold]))  # noqa: E731
        metrics = sorted(per_fold[0]["test"])
        intervals = {m: bootstrap_interval([[s["test_outcomes"][m] for s in f["seeds"]] for f in per_fold],
                                           seed=cfg.seed) for m in metrics}
        # Spread over head seeds: the standard deviation of the (fold-averaged) test metric.
        by_seed = [float(np.mean([f["seeds"][k]["test"][task.metric] for f in per_fold])) for k in range(n_seeds)]
        header = self.manifest.header
        return {
            "codec2vec": RESULT_FORMAT, "version": RESULT_VERSION, "task": task.name, "description": task.description,
            "profile": cfg.head.profile,
            "metric": task.metric, "higher_is_better": task.higher_is_better,
            "dev": mean("dev", task.metric), "test": mean("test", task.metric),
            "test_interval": intervals[task.metric], "confidence": CONFIDENCE,
            "test_items": sum(size(f["seeds"][0]["test_outcomes"][task.metric]) for f in per_fold),
            "seeds": n_seeds, "test_by_seed": by_seed, "test_seed_std": float(np.std(by_seed)),
            "dev_metrics": {m: mean("dev", m) for m in metrics}, "test_metrics": {m: mean("test", m) for m in metrics},
            "test_intervals": intervals,
            "layer_weights": np.mean([f["layer_weights"] for f in per_fold], axis=0).tolist(),
            "classes": len(self.classes), "folds": per_fold,
            "upstream": {"spec": cfg.model, "name": self.upstream.name, "key": self.upstream.key,
                         **self.upstream.identity},
            "corpus": {"folder": cfg.corpus, "name": header.corpus, "subset": header.subset,
                       "manifest_sha256": file_sha256(self.manifest.path)},
            "proxy": [n for n in (header.notes if "PROXY" in header.notes else "",
                                  "synthetic speech (TTS voices)" if header.corpus == "synth" else "") if n],
            "protocol": PROTOCOL_NOTES.get("asv-trials" if self.trial_lists else task.name, ""),
            "seconds": {"features": round(feature_seconds, 1), "total": round(time.perf_counter() - started, 1)},
            "settings": _result_settings(cfg), "provenance": provenance(),
        }


def _intent_slots(manifest: Manifest, task: Task) -> list[list[str]]:
    """The values of each slot of the intent labels ('action|object|location'), sorted."""
    parts = [(row.id, str(task.label(row)).split("|")) for row in manifest.rows]
    count = len(parts[0][1]) if parts else 0
    odd = next((uid for uid, p in parts if len(p) != count or count < 2), None)
    if odd is not None:
        raise ConfigError(f"{manifest.path}: utterance '{odd}': superb IC needs intents of the same number of "
                          f"'|'-separated slots (action|object|location); use head.profile=quick for other labels")
    return [sorted({p[k] for _, p in parts}) for k in range(count)]


def _with_defaults(stored: dict, defaults: dict) -> dict:
    """A result written before a setting existed ran with that setting's default."""
    merged = dict(stored)
    for key, value in defaults.items():
        if key not in merged:
            merged[key] = value
        elif isinstance(value, dict) and isinstance(merged[key], dict):
            merged[key] = _with_defaults(merged[key], value)
    return merged


def _finished(path: Path, cfg: EvalConfig, upstream: Upstream) -> dict | None:
    if not path.is_file():
        return None
    result = json.loads(path.read_text(encoding="utf-8"))
    if result.get("version", 1) < RESULT_VERSION:
        return None  # written before test outcomes were kept: no interval can be computed from it
    settings = _with_defaults(result.get("settings", {}), _result_settings(EvalConfig()))
    if settings == _result_settings(cfg) and result.get("upstream", {}).get("key") == upstream.key:
        return result
    return None


def trained(info: dict) -> str:
    """Where the kept checkpoint was: 'epoch 7/17' (quick profile) or 'step 4000/200000' (superb)."""
    if "best_step" in info:
        return f"step {info['best_step']}/{info['steps']}"
    return f"epoch {info['best_epoch']}/{info['epochs']}"


def results_table(results: list[dict]) -> str:
    lines = ["| task | profile | metric | dev | test | lr | best checkpoint | top layer (weight) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        weights = r["layer_weights"]
        top = int(np.argmax(weights))
        lrs = ",".join(sorted({f"{f['lr']:g}" for f in r["folds"]}))
        kept = ", ".join(trained(s) for f in r["folds"] for s in f["seeds"])
        lines.append(f"| {r['task']} | {r.get('profile', 'quick')} | {r['metric']} | {format_metric(r, 'dev')} | "
                     f"{format_test(r)} | {lrs} | {kept} | {top} ({weights[top]:.2f}) |")
    return "\n".join(lines) + "\n"


def format_metric(result: dict, part: str) -> str:
    """Error rates and accuracies in percent, as SUPERB reports them."""
    return f"{100 * result[part]:.1f}"


def format_test(result: dict) -> str:
    """'74.1 [71.2, 77.0]': the test metric with its 95 % interval, and with several head seeds
    their standard deviation ('sd 0.8')."""
    cell = format_metric(result, "test")
    if result.get("test_interval"):
        low, high = result["test_interval"]
        cell += f" [{100 * low:.1f}, {100 * high:.1f}]"
    if result.get("seeds", 1) > 1:
        cell += f" sd {100 * result['test_seed_std']:.1f}"
    return cell


def evaluate(cfg: EvalConfig, progress: bool = True) -> Path:
    """Run every task of cfg.tasks on cfg.model; returns the results folder."""
    if not cfg.model or not cfg.corpus or not cfg.out:
        raise ConfigError("evaluate needs model, corpus and out")
    tasks = parse_tasks(cfg.tasks)
    check_profile(cfg.head)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    upstream = load_upstream(cfg.model, _device(cfg.device), cfg.precision)
    if cfg.head.layer_norm is None:  # recorded resolved, in config.yaml and every result (a copy: the
        # caller's config may serve other upstreams)
        cfg = replace(cfg, head=replace(cfg.head, layer_norm=upstream.pre_layer_norm))
    save_config(cfg, out / "config.yaml")
    log = print if progress else (lambda *_: None)
    results = []
    for task in tasks:
        path = out / f"{task.name}.json"
        result = _finished(path, cfg, upstream)
        if result is None:
            log(f"{upstream.name}: {task.name} ({task.description})")
            result = TaskRunner(cfg, upstream, task, log, progress).run()
            atomic_write_text(path, json.dumps(result, indent=2) + "\n")
        log(f"{upstream.name} {task.name}: dev {result['metric']} {format_metric(result, 'dev')}, "
            f"test {format_metric(result, 'test')}")
        results.append(result)
    summary = {"codec2vec": RESULT_FORMAT + "-summary", "version": 1, "profile": cfg.head.profile,
               "upstream": results[0]["upstream"],
               "tasks": {r["task"]: {k: r[k] for k in ("metric", "higher_is_better", "dev", "test", "test_interval",
                                                        "seeds", "layer_weights", "proxy")} for r in results},
               "provenance": provenance()}
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "results.md", f"# {upstream.name} ({cfg.model})\n\nCorpus: {cfg.corpus}. "
                      f"Downstream profile: {cfg.head.profile}. "
                      "Percent; PER/WER/EER lower is better, accuracy higher; test [95 % bootstrap interval over "
                      "test utterances (trials for EER)].\n\n" + results_table(results))
    return out

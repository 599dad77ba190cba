"""`codec2vec benchmark`: the offline suite for one or more upstreams with one command.

For each upstream: `evaluate` on every task of the synthetic corpus, then unit quality (k-means
units of a hidden state; PNMI against the synthetic phone times and against pocketsphinx
alignments of the real English clips), then one report over all of them. Every piece is cached
or written per upstream, so a rerun resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codec2vec.atomic import atomic_write_text
from codec2vec.config import config_to_dict, save_config
from codec2vec.data.corpus import corpus_manifest, read_corpus_header
from codec2vec.errors import ConfigError
from codec2vec.eval.downstream import HeadConfig
from codec2vec.eval.harness import EvalConfig, evaluate
from codec2vec.eval.features import batch_inputs, cached_features, unit_store_for
from codec2vec.eval.pnmi import OnlineCodebookUnits, aligned_rows, frame_phones, score_units
from codec2vec.eval.report import UNIT_QUALITY_FILE, report
from codec2vec.eval.tasks import TASKS, task_manifest
from codec2vec.eval.upstream import ModelUpstream, load_upstream, upstream_name
from codec2vec.provenance import provenance
from codec2vec.units.store import UnitStore


REAL_SID_FOLDER = "real-sid"  # under OUT and each upstream's folder: SID on real speakers, its own report


@dataclass
class UnitQualityConfig:
    layer: int = -1  # hidden state clustered; -1 = the middle one (HuBERT's choice for its targets)
    n_clusters: int = 100
    fit_frames: int = 100_000
    seed: int = 1


@dataclass
class BenchmarkConfig:
    models: list[str] = field(default_factory=list)  # upstreams: model folders, "fbank", "codec:<name>"
    out: str = ""
    corpus: str = "data/synth-small"  # the synthetic corpus: every task, and phone times
    units: str = "data/synth-small-units"  # its unit stores by subset (extracted when missing)
    real: str = "data/real-en"  # real English clips for PNMI ("" to leave out; `make real-en` makes them)
    real_units: str = "data/real-en-units"
    # real speakers: SID on a corpus with a `sid` subset ("" to leave out; `make packaged-speech` makes it)
    real_sid: str = "data/packaged-speech"
    real_sid_units: str = "data/packaged-speech-units"
    tasks: list[str] = field(default_factory=lambda: list(TASKS))
    seed: int = 1
    lr_sweep: list[float] = field(default_factory=list)
    head: HeadConfig = field(default_factory=HeadConfig)
    unit_quality: UnitQualityConfig = field(default_factory=UnitQualityConfig)
    device: str = "auto"
    precision: str = "fp32"  # of codec2vec models' forward passes (EvalConfig.precision)


def _kmeans_units(train, cfg: UnitQualityConfig, layer: int):
    from sklearn.cluster import MiniBatchKMeans

    rng = np.random.default_rng(cfg.seed)
    frames = np.concatenate([train[i][:, layer] for i in range(len(train))]).astype(np.float32)
    if len(frames) > cfg.fit_frames:
        frames = frames[rng.choice(len(frames), cfg.fit_frames, replace=False)]
    return MiniBatchKMeans(cfg.n_clusters, random_state=cfg.seed, n_init=3, batch_size=10_000).fit(frames)


def _kmeans_labels(kmeans, features, layer: int) -> list[np.ndarray]:
    """Each cached utterance's frames of one hidden state -> its k-means unit ids."""
    return [kmeans.predict(np.asarray(features[i][:, layer], dtype=np.float32)) for i in range(len(features))]


def layer_pnmi(spec: str, corpus: str, units: str, cache_root: Path, q: UnitQualityConfig, device: str = "auto",
               split: str = "dev", log=print) -> list[dict]:
    """PNMI and purities of k-means units of every hidden state of an upstream, fitted on the
    phone-labelled subset's train split and scored on `split`: how HuBERT picks the layer whose
    clusters become the next iteration's targets. Scored on dev, the choice leaves test untouched."""
    upstream = load_upstream(spec, _device(device))
    manifest = task_manifest(corpus, TASKS["pr"])

    def features(name):
        return cached_features(upstream, manifest, name, manifest.split(name), "frames", False, cache_root,
                               lambda: unit_store_for(upstream, manifest, units, device, log, progress=False),
                               progress=False)

    train, scored = features("train"), features(split)
    phones = [frame_phones(row.phonemes, scored.lengths[i], scored.header["frame_rate"])
              for i, row in enumerate(manifest.split(split))]
    result = []
    for layer in range(upstream.n_hidden):
        kmeans = _kmeans_units(train, q, layer)
        labels = _kmeans_labels(kmeans, scored, layer)
        result.append({"layer": layer, "utterances": len(labels), **dataclasses.asdict(score_units(phones, labels))})
    return result


def unit_quality_report(cfg: BenchmarkConfig, spec: str, cache_root: Path, alignments: dict, log=print) -> dict:
    """PNMI and purities of an upstream's k-means units (and, for the codec, its first codebook)."""
    upstream = load_upstream(spec, _device(cfg.device), cfg.precision)
    manifest = task_manifest(cfg.corpus, TASKS["pr"])
    q = cfg.unit_quality
    layer = q.layer if q.layer >= 0 else upstream.n_hidden // 2
    if layer >= upstream.n_hidden:
        raise ConfigError(f"unit_quality.layer {layer}: {upstream.name} has hidden states 0..{upstream.n_hidden - 1}")

    def features(man, split, rows):
        root = cfg.units if man is manifest else cfg.real_units
        return cached_features(upstream, man, split, rows, "frames", False, cache_root,
                               lambda: unit_store_for(upstream, man, root, cfg.device, log, progress=False),
                               progress=False)

    def _store(man, name):
        return UnitStore(unit_store_for(upstream, man, cfg.units if name == "synthetic" else cfg.real_units,
                                        cfg.device, log)) if upstream.input == "units" else None

    online = None
    if isinstance(upstream, ModelUpstream) and (upstream.folder.parent / "checkpoint.pt").is_file() \
            and upstream.identity.get("objective") == "online":
        online = OnlineCodebookUnits(upstream.folder.parent, upstream)
    kmeans = _kmeans_units(features(manifest, "train", manifest.split("train")), q, layer)
    units_name = f"k-means {q.n_clusters} @ hidden {layer}"
    result = {"upstream": upstream.name, "key": upstream.key, "layer": layer, "settings": dataclasses.asdict(q),
              "precision": cfg.precision,
              "synthetic": [], "real": [], "provenance": provenance()}
    sets = [("synthetic", manifest, manifest.split("test"), [r.phonemes for r in manifest.split("test")])]
    if alignments:
        real = corpus_manifest(cfg.real, next(iter(read_corpus_header(cfg.real)["subsets"])))
        rows = [r for r in real.rows if r.id in alignments]
        sets.append(("real", real, rows, [alignments[r.id] for r in rows]))
    for name, man, rows, phone_times in sets:
        feats = features(man, "test" if name == "synthetic" else "aligned", rows)
        phones = [frame_phones(p, feats.lengths[i], feats.header["frame_rate"]) for i, p in enumerate(phone_times)]
        units = _kmeans_labels(kmeans, feats, layer)
        quality = score_units(phones, units)
        result[name].append({"units": units_name, "utterances": len(rows), **dataclasses.asdict(quality)})
        if online is not None:
            units = []
            for start in range(0, len(rows), 16):
                part = rows[start: start + 16]
                units += online(batch_inputs(upstream, man, part, _store(man, name), upstream.device))
            quality = score_units(phones, units)
            result[name].append({"units": "online codebook (top layer)", "utterances": len(rows),
                                 **dataclasses.asdict(quality)})
        if upstream.name.startswith("codec-"):
            store = _store(man, name)
            codes = [store[r.id][0] for r in rows]
            quality = score_units(phones, codes)
            result[name].append({"units": "codec codebook 1", "utterances": len(rows), **dataclasses.asdict(quality)})
    return result


def _device(name: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def _real_alignments(cfg: BenchmarkConfig, out: Path, log) -> dict:
    """id -> phone times of the real clips (pocketsphinx), computed once and kept in OUT."""
    if not cfg.real:
        return {}
    if not (Path(cfg.real) / "corpus.json").is_file():
        log(f"real-speech PNMI left out: {cfg.real} is not a corpus folder (`make real-en` makes it)")
        return {}
    path = out / "real-alignments.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    header = read_corpus_header(cfg.real)
    manifest = corpus_manifest(cfg.real, next(iter(header["subsets"])))
    rows, alignments = aligned_rows(manifest, manifest.rows, log)
    result = {r.id: a for r, a in zip(rows, alignments)}
    atomic_write_text(path, json.dumps(result) + "\n")
    return result


def _real_sid_corpus(cfg: BenchmarkConfig, log) -> str:
    """cfg.real_sid when it is a corpus with a subset tagged sid, else "" (logged: it is optional)."""
    if not cfg.real_sid:
        return ""
    header_path = Path(cfg.real_sid) / "corpus.json"
    if not header_path.is_file():
        log(f"real-speaker SID left out: {cfg.real_sid} is not a corpus folder (`make packaged-speech` makes it)")
        return ""
    if not any("sid" in info.get("tasks", []) for info in read_corpus_header(cfg.real_sid)["subsets"].values()):
        log(f"real-speaker SID left out: {cfg.real_sid} has no sid subset (made before it had one: "
            "rerun `make packaged-speech`)")
        return ""
    return cfg.real_sid


def run_benchmark(cfg: BenchmarkConfig, progress: bool = True) -> Path:
    """Evaluate every model, score its units, write OUT/report.md; returns its path."""
    if not cfg.models or not cfg.out:
        raise ConfigError("benchmark needs models and out")
    from tqdm import tqdm

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    log = tqdm.write if progress else (lambda *_: None)
    cache = out / "feature-cache"
    alignments = _real_alignments(cfg, out, log)
    real_sid = _real_sid_corpus(cfg, log)
    runs, real_sid_runs = [], []
    bar = tqdm(total=len(cfg.models) * 2, desc="benchmark", disable=not progress)
    for spec in cfg.models:
        run_out = out / upstream_name(spec)
        bar.set_postfix_str(f"{upstream_name(spec)}: tasks")
        common = dict(model=spec, cache=str(cache), seed=cfg.seed, lr_sweep=cfg.lr_sweep, head=cfg.head,
                      device=cfg.device, precision=cfg.precision)
        evaluate(EvalConfig(tasks=cfg.tasks, corpus=cfg.corpus, units=cfg.units, out=str(run_out), **common),
                 progress=False)
        if real_sid:
            evaluate(EvalConfig(tasks=["sid"], corpus=real_sid, units=cfg.real_sid_units,
                                out=str(run_out / REAL_SID_FOLDER), **common), progress=False)
            real_sid_runs.append(run_out / REAL_SID_FOLDER)
        bar.update()
        bar.set_postfix_str(f"{upstream_name(spec)}: unit quality")
        quality_path = run_out / UNIT_QUALITY_FILE
        settings = config_to_dict(cfg.unit_quality)
        done = json.loads(quality_path.read_text(encoding="utf-8")) if quality_path.is_file() else None
        if not done or done.get("settings") != settings or bool(done.get("real")) != bool(alignments) \
                or done.get("precision", "fp32") != cfg.precision:
            atomic_write_text(quality_path, json.dumps(unit_quality_report(cfg, spec, cache, alignments, log),
                                                      indent=2) + "\n")
        bar.update()
        runs.append(run_out)
    bar.close()
    if real_sid_runs:
        report(real_sid_runs, out / REAL_SID_FOLDER, title=f"Real-speaker SID ({real_sid})")
    return report(runs, out, title="Offline benchmark")

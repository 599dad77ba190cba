"""`codec2vec kmeans`: HuBERT's offline clustering, one iteration per call.

Features come from a chosen layer of a pre-trained model (`--model RUN/model`) or, for the first
iteration, from the codec itself (`--model codec`: each frame's quantized latent, the sum of its
codebook vectors, which is what the unit input layer starts from). k-means is fitted on a random
sample of at most `fit_frames` frames (scikit-learn MiniBatchKMeans: memory bounded by the sample),
then every frame of every given unit store is assigned in streaming batches and written as a label
store (the unit-store layout, one cluster id per frame, header "labels" with the units' codec).

Output folder: centroids.safetensors, kmeans.json (written after the centroids: the fit is done),
labels/<store name>/ (one label store per unit store; resumable shard by shard like extract).
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file

from codec2vec.atomic import atomic_path, atomic_write_text, remove_stale_temporaries
from codec2vec.config import config_to_dict, save_config
from codec2vec.errors import ConfigError
from codec2vec.memory import release_free_memory
from codec2vec.models.inputs import pad_codes
from codec2vec.provenance import provenance
from codec2vec.ranks import process_group, rank_device, torchrun_ranks
from codec2vec.units.extract import length_sorted_batches
from codec2vec.units.store import LABELS_FORMAT, STORE_VERSION, StoreError, UnitStore, file_sha256, write_index, \
    write_shard


@dataclass
class KMeansConfig:
    out: str = ""  # iteration folder
    units: list[str] = field(default_factory=list)  # unit stores to label; k-means is fitted on the first
    model: str = "codec"  # "codec" (the units' quantized latent) or a model folder (a pretrain run's model/)
    layer: int = -1  # model: hidden state (0 = input to the Transformer, L = last); -1 = the middle layer
    n_clusters: int = 100  # HuBERT Base: 100 (iteration 1), 500 (iteration 2)
    fit_frames: int = 500_000  # frames sampled to fit k-means (1.5 GB at 768 dims; 1,000 per cluster at 500)
    fit_frames_per_utterance: int = 100  # at most this many (random) frames of one utterance; 0: all
    # layer-normalise each frame's features before fitting and labelling; None: on for a model's hidden
    # states (higher PNMI, benchmarks/kmeans_layer_norm.py), off for the codec latent (not measured)
    layer_norm: bool | None = None
    # fairseq's HuBERT k-means (simple_kmeans/learn_kmeans.py): MiniBatchKMeans with these settings
    kmeans_batch: int = 10_000
    max_iter: int = 100
    n_init: int = 20
    max_no_improvement: int = 100
    reassignment_ratio: float = 0.0
    seed: int = 1
    max_batch_frames: int = 20_000  # padded frames per feature batch
    shard_size: int = 256  # utterances per label shard: the unit of resumption
    device: str = "auto"
    codec: str = ""  # where the units' codec loads from, if not where it was (checked by weights hash)


class Featurizer:
    """Frame features of a unit store's utterances: the codec latent or a model's hidden layer."""

    def __init__(self, cfg: KMeansConfig, store: UnitStore, device: torch.device):
        self.device, self.layer_norm = device, cfg.layer_norm
        if cfg.model == "codec":
            from codec2vec.models.inputs import InputConfig, UnitInput

            # The unit input layer as initialised from the codec: its sum is the quantized latent.
            vectors = store.codebook_vectors("for k-means features", cfg.codec)
            self.latent = UnitInput(InputConfig(), store.info.n_codebooks, store.info.codebook_size,
                                    vectors).to(device).eval()
            self.model, self.layer, self.source = None, None, {"features": "codec latent", "codec": store.info.codec_id}
        else:
            from codec2vec.models import load_pretrained

            self.model, meta = load_pretrained(cfg.model, device)
            if self.model.kind != "units":
                raise ConfigError(f"{cfg.model} reads {self.model.kind}; k-means features come from a unit-input "
                                  "model (label stores serve the baselines too: they share the frame grid)")
            if meta.get("codec") is None:
                raise ConfigError(f"{cfg.model}: its config.json names no codec")
            from codec2vec.codecs.base import CodecInfo

            store.require_codec(CodecInfo.from_header(meta["codec"]), f"the units model {cfg.model} was trained on")
            n_hidden = self.model.n_hidden
            self.layer = cfg.layer if cfg.layer >= 0 else n_hidden // 2
            if self.layer >= n_hidden:
                raise ConfigError(f"layer {self.layer} does not exist: {cfg.model} has hidden states 0..{n_hidden - 1}")
            self.source = {"features": f"layer {self.layer}", "model": str(cfg.model),
                           "model_sha256": file_sha256(Path(cfg.model) / "model.safetensors")}

        if cfg.layer_norm:
            self.source["features"] += ", layer-normalised"

    @torch.inference_mode()
    def __call__(self, codes: list[np.ndarray]) -> list[np.ndarray]:
        """codes: [Q, T_i] per utterance -> features [T_i, D] per utterance (float32)."""
        units, frames = pad_codes(codes)
        units = units.to(self.device)
        if self.model is None:
            x = self.latent(units)  # [B, T, D]
        else:
            hidden, _ = self.model({"units": units, "frames": torch.tensor(frames, device=self.device)})
            x = hidden[self.layer]
        x = x.float()
        if self.layer_norm:
            x = torch.nn.functional.layer_norm(x, x.shape[-1:])
        x = x.cpu().numpy()
        return [x[row, :n] for row, n in enumerate(frames)]


def _features(featurizer: Featurizer, store: UnitStore, ids: list[str], budget: int):
    """Yield (id, features [T, D]) for `ids`, computed in length-sorted batches, in `ids` order per batch."""
    for batch in length_sorted_batches([store.frames(i) for i in ids], budget):
        feats = featurizer([store[ids[i]] for i in batch])
        for i, f in zip(batch, feats):
            yield ids[i], f
        del feats
        release_free_memory()


def fit(cfg: KMeansConfig, featurizer: Featurizer, store: UnitStore):
    """Fit MiniBatchKMeans on a random sample of at most fit_frames frames, drawn from utterances in
    random order with at most fit_frames_per_utterance from each (so the sample spans many
    utterances and speakers); returns (centroids, info)."""
    from sklearn.cluster import MiniBatchKMeans

    rng = np.random.default_rng(cfg.seed)
    order = [store.ids[i] for i in rng.permutation(len(store))]
    cap = cfg.fit_frames_per_utterance
    chosen, total = [], 0
    for uid in order:
        if total >= cfg.fit_frames:
            break
        chosen.append(uid)
        total += min(store.frames(uid), cap) if cap else store.frames(uid)
    pieces = []
    for _, f in _features(featurizer, store, chosen, cfg.max_batch_frames):
        pieces.append(f[np.sort(rng.choice(len(f), cap, replace=False))] if cap and len(f) > cap else f)
    sample = np.concatenate(pieces)
    if len(sample) > cfg.fit_frames:
        sample = sample[np.sort(rng.choice(len(sample), cfg.fit_frames, replace=False))]
    if len(sample) < cfg.n_clusters:
        raise ConfigError(f"{store.path} has {len(sample)} frames, fewer than n_clusters={cfg.n_clusters}")
    kmeans = MiniBatchKMeans(n_clusters=cfg.n_clusters, init="k-means++", batch_size=cfg.kmeans_batch,
                             max_iter=cfg.max_iter, tol=0.0, max_no_improvement=cfg.max_no_improvement,
                             n_init=cfg.n_init, reassignment_ratio=cfg.reassignment_ratio, random_state=cfg.seed,
                             compute_labels=False)
    kmeans.fit(sample)
    inertia = float(-kmeans.score(sample)) / len(sample)
    return kmeans.cluster_centers_.astype(np.float32), {"fit_frames": int(len(sample)),
                                                        "fit_utterances": len(chosen),
                                                        "inertia_per_frame": inertia}


def _run_descriptor(cfg: KMeansConfig) -> dict:
    d = config_to_dict(cfg)
    return {k: d[k] for k in ("units", "model", "layer", "n_clusters", "fit_frames", "fit_frames_per_utterance",
                              "layer_norm", "kmeans_batch", "max_iter", "n_init", "max_no_improvement",
                              "reassignment_ratio", "seed", "shard_size")}


def _shards(cfg: KMeansConfig, store: UnitStore) -> list[list[str]]:
    return [store.ids[i: i + cfg.shard_size] for i in range(0, len(store), cfg.shard_size)]


def label_shards(cfg: KMeansConfig, featurizer: Featurizer, centroids: torch.Tensor, store: UnitStore,
                 out: Path, rank: int, world: int, progress: bool) -> None:
    """Assign every frame of this rank's shards (every world-th, from the rank-th) to its nearest
    centroid; each finished shard is a file, so a rerun does only what is missing."""
    shards = _shards(cfg, store)
    bits = max(1, int(np.ceil(np.log2(cfg.n_clusters))))
    mine = range(rank, len(shards), world)
    bar = None
    if progress and rank == 0:
        from tqdm import tqdm
        bar = tqdm(total=sum(len(shards[k]) for k in mine), unit="utt", desc=f"labels {out.name}", file=sys.stderr)
    for k in mine:
        ids, name = shards[k], f"shard-{k:05d}"
        if not (out / f"{name}.json").is_file():
            labels = {}
            for uid, feats in _features(featurizer, store, ids, cfg.max_batch_frames):
                x = torch.from_numpy(feats).to(centroids.device)
                labels[uid] = torch.cdist(x, centroids).argmin(-1).cpu().numpy().astype(np.uint16)[:, None]
            record = write_shard(out, name, [(uid, labels[uid]) for uid in ids], "uint16", bits)
            record["histogram"] = np.bincount(np.concatenate([labels[u][:, 0] for u in ids]),
                                              minlength=cfg.n_clusters).tolist()
            atomic_write_text(out / f"{name}.json", json.dumps(record) + "\n")
        if bar is not None:
            bar.update(len(ids))
    if bar is not None:
        bar.close()


def finish_label_store(cfg: KMeansConfig, featurizer: Featurizer, store: UnitStore, out: Path,
                       fit_info: dict) -> Path:
    """Once every shard is labelled: the index and the header (last: a store with a header is complete)."""
    shards = _shards(cfg, store)
    records = [json.loads((out / f"shard-{k:05d}.json").read_text(encoding="utf-8")) for k in range(len(shards))]
    index = write_index(out, records)
    histogram = np.sum([r["histogram"] for r in records], axis=0).tolist()
    header = {
        "codec2vec": LABELS_FORMAT, "version": STORE_VERSION, "codec": store.info.to_header(), "packing": "uint16",
        "labels": {"n_clusters": cfg.n_clusters, "histogram": histogram, **featurizer.source,
                   "centroids_sha256": file_sha256(Path(cfg.out) / "centroids.safetensors"), **fit_info},
        "units": {"path": str(store.path), "index_sha256": store.header["index_sha256"]},
        "corpus": store.header.get("corpus", {}),
        "shards": index["shards"], "index_sha256": index["index_sha256"],
        "totals": {"utterances": len(store), "frames": int(sum(histogram)),
                   "store_bytes": sum(r["bytes"] for r in records) + index["index_bytes"]},
        "config": config_to_dict(cfg), "provenance": provenance(),
    }
    atomic_write_text(out / "header.json", json.dumps(header, indent=2) + "\n")
    for k in range(len(shards)):
        (out / f"shard-{k:05d}.json").unlink(missing_ok=True)
    return out


def run_kmeans(cfg: KMeansConfig, progress: bool = True) -> list[Path]:
    """Fit (or reuse) this iteration's centroids and label every store; returns the label stores.

    Under torchrun, rank 0 fits while the others wait, then every rank labels its share of each
    store's shards (the labels are the same as one process's: each frame's nearest centroid)."""
    if not cfg.out or not cfg.units:
        raise ConfigError("kmeans needs --out FOLDER and at least one --units STORE")
    if cfg.n_clusters < 2 or cfg.n_clusters > 65535:
        raise ConfigError(f"n_clusters must be in 2..65535, got {cfg.n_clusters}")
    if cfg.layer_norm is None:  # resolved, so the run's record says what was done
        cfg = replace(cfg, layer_norm=cfg.model != "codec")
    out = Path(cfg.out)
    rank, world, _ = torchrun_ranks()
    stores = [UnitStore(path) for path in cfg.units]
    for store in stores:
        if store.kind != "units":
            raise StoreError(f"{store.path} is a label store; kmeans reads unit stores")
        stores[0].require_codec(store.info, f"the units of {store.path}")
    names = [s.path.name for s in stores]
    if len(set(names)) != len(names):
        raise ConfigError(f"unit stores must have distinct folder names (they name the label stores): {names}")
    run_file = out / "kmeans-run.json"
    descriptor = _run_descriptor(cfg)
    if run_file.is_file() and json.loads(run_file.read_text(encoding="utf-8")) != descriptor:
        raise ConfigError(f"{out} holds a k-means iteration with other settings; use a new --out")

    device = rank_device(cfg.device)
    with process_group(device) if world > 1 else contextlib.nullcontext():
        if rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(run_file, json.dumps(descriptor, indent=2) + "\n")
            save_config(cfg, out / "config.yaml")
        featurizer = Featurizer(cfg, stores[0], device)
        summary_path = out / "kmeans.json"
        if rank == 0 and not summary_path.is_file():
            centroids_np, fit_info = fit(cfg, featurizer, stores[0])
            with atomic_path(out / "centroids.safetensors") as tmp:
                save_file({"centroids": torch.from_numpy(centroids_np)}, str(tmp))
            summary = {"fit": fit_info, "source": featurizer.source, "fitted_on": str(stores[0].path),
                       "config": config_to_dict(cfg), **provenance()}
            atomic_write_text(summary_path, json.dumps(summary, indent=2) + "\n")
        _barrier(world)
        fit_info = json.loads(summary_path.read_text(encoding="utf-8"))["fit"]
        centroids = load_file(str(out / "centroids.safetensors"))["centroids"].to(device)
        finished = []
        for store in stores:
            folder = out / "labels" / store.path.name
            if not (folder / "header.json").is_file():
                if rank == 0:
                    folder.mkdir(parents=True, exist_ok=True)
                    remove_stale_temporaries(folder)
                _barrier(world)
                label_shards(cfg, featurizer, centroids, store, folder, rank, world, progress)
                _barrier(world)
                if rank == 0:
                    finish_label_store(cfg, featurizer, store, folder, fit_info)
                _barrier(world)
            finished.append(folder)
        return finished


def _barrier(world: int) -> None:
    if world > 1:
        dist.barrier()

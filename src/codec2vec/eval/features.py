"""Frozen upstream features, computed once per (upstream, corpus subset, split) and cached on disk.

A cache entry is a folder: features.bin (float16 frames [sum T, L, D], or float32 pooled
[N, L, D]) and index.json (written last, so its presence means the entry is complete) with the
ids, lengths and offsets and what the features depend on: the upstream's identity (weights hash,
codec), the manifest's hash, the split, the pooling. An entry whose record does not match is
recomputed, never reused.

Utterance tasks only ever see mean-pooled features, and the featurizer's weighted sum is linear,
so the cache stores each layer's mean over valid frames (of the layer-normalised frames when the
featurizer normalises): the same numbers as pooling after the weighted sum, at 1/T the size.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from codec2vec.atomic import atomic_write_text
from codec2vec.data.manifest import Manifest, Utterance
from codec2vec.errors import ConfigError
from codec2vec.eval.upstream import Upstream
from codec2vec.memory import huge_pages, release_free_memory, reused_heap
from codec2vec.models.inputs import AUDIO_HOP, AUDIO_RATE, frames_for_samples, pad_codes
from codec2vec.units.extract import length_sorted_batches
from codec2vec.units.store import StoreError, UnitStore, file_sha256

CACHE_FORMAT = "codec2vec-features"


@dataclass
class CachedFeatures:
    """Read-only view of one cache entry: `features[i]` -> [T_i, L, D] (frames) or [L, D] (mean)."""

    path: Path
    header: dict
    data: np.memmap

    @property
    def ids(self) -> list[str]:
        return self.header["ids"]

    @property
    def lengths(self) -> list[int]:
        return self.header["lengths"]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> np.ndarray:
        if self.header["pooling"] == "mean":
            return self.data[i]
        start = self.header["offsets"][i]
        return self.data[start: start + self.lengths[i]]


def _open(path: Path) -> CachedFeatures:
    """A cache entry, after the cheap check that features.bin has the size index.json records."""
    header = json.loads((path / "index.json").read_text(encoding="utf-8"))
    size = (path / "features.bin").stat().st_size if (path / "features.bin").is_file() else -1
    if size != header.get("features_bytes", size):
        raise StoreError(f"{path / 'features.bin'}: {size} bytes, index.json records {header['features_bytes']}")
    rows = len(header["ids"]) if header["pooling"] == "mean" else sum(header["lengths"])
    shape = (rows, header["n_hidden"], header["width"])
    dtype = np.float32 if header["pooling"] == "mean" else np.float16
    data = np.memmap(path / "features.bin", dtype=dtype, mode="r", shape=shape) if rows else np.zeros(shape, dtype)
    return CachedFeatures(path, header, data)


def batch_inputs(upstream: Upstream, manifest: Manifest, rows: list[Utterance], store: UnitStore | None,
                  device: torch.device) -> dict:
    if upstream.input == "units":
        units, frames = pad_codes([store[r.id] for r in rows])
        return {"units": units.to(device), "frames": torch.tensor(frames, device=device)}
    audio = [manifest.load_audio(r, AUDIO_RATE) for r in rows]
    samples = torch.tensor([len(a) for a in audio])
    batch = torch.zeros(len(rows), int(samples.max()))  # zero past each end: batch == single
    for i, a in enumerate(audio):
        batch[i, : len(a)] = torch.from_numpy(a)
    return {"audio": batch.to(device), "frames": frames_for_samples(samples).to(device), "samples": samples.to(device)}


def _unit_store(upstream: Upstream, units: str | Path | None, rows: list[Utterance], what: str) -> UnitStore | None:
    if upstream.input != "units":
        return None
    if not units:
        raise ConfigError(f"{upstream.name} reads codec units: give the unit store of {what}")
    store = UnitStore(units)
    store.require_codec(upstream.codec, f"the codec of upstream {upstream.name}")
    missing = [r.id for r in rows if r.id not in store]
    if missing:
        raise StoreError(f"{units}: no units for {len(missing)} utterance(s) of {what}, e.g. '{missing[0]}'; "
                         "extract the subset again with the upstream's codec")
    return store


def unit_store_for(upstream: Upstream, manifest: Manifest, units_root: str | Path, device: str = "auto",
                   log=print, progress: bool = True) -> Path | None:
    """UNITS/<subset>: the unit store a unit upstream reads for `manifest`, extracted with the
    upstream's own codec when it does not exist yet. Where UNITS/<subset> holds another codec's
    units, this codec's go beside them in UNITS/<subset>@<its weights hash, 12 digits>, so upstreams
    of different codecs share one units folder. None for audio upstreams."""
    if upstream.input != "units":
        return None
    if not units_root:
        raise ConfigError(f"{upstream.name} reads codec units: give `units` (a folder of unit stores by subset)")
    store = Path(units_root) / manifest.header.subset
    if (store / "header.json").is_file() and UnitStore(store).info.differences(upstream.codec, "store", ""):
        store = store.with_name(f"{store.name}@{upstream.codec.weights_hash[:12]}")
    if not (store / "header.json").is_file():
        from codec2vec.units.extract import ExtractConfig, extract

        codec = upstream.codec_source or upstream.codec.codec_id
        log(f"extracting {manifest.path} with codec '{codec}' into {store}")
        extract(ExtractConfig(corpus=str(manifest.path), out=str(store), codec=codec, device=device),
                progress=progress)
    return store


def _remove_dead_temporaries(path: Path) -> None:
    """Half-written entries of killed processes (NAME.tmp-PID); a live process's stays untouched."""
    for stale in path.parent.glob(f"{path.name}.tmp-*") if path.parent.is_dir() else []:
        pid = stale.name.rsplit("-", 1)[-1]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(stale, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass


CACHE_ENV = "CODEC2VEC_CACHE"


def default_cache_root() -> Path:
    """Where `evaluate` caches features unless told (`cache=DIR`): $CODEC2VEC_CACHE/features, else
    $XDG_CACHE_HOME/codec2vec/features (~/.cache/...). Not the results folder: features of one
    upstream can be hundreds of MB, and results are what gets kept and shared. Entries are keyed by
    the upstream's weights and the manifest's hash, so runs share them safely."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / "features"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "codec2vec" / "features"


def cached_features(upstream: Upstream, manifest: Manifest, split: str, rows: list[Utterance], pooling: str,
                    layer_norm: bool, cache_root: str | Path, units: str | Path | Callable | None = None,
                    max_batch_frames: int = 20_000, progress: bool = True) -> CachedFeatures:
    """The cached features of `rows` (one split of `manifest`), computing them on a miss. `units`
    (the unit store of a unit upstream) may be a function giving it, called only on a miss."""
    if pooling not in ("frames", "mean"):
        raise ValueError(f"pooling must be 'frames' or 'mean', got {pooling!r}")
    name = f"{manifest.header.corpus}-{manifest.header.subset}-{split}-{pooling}" + ("-ln" if pooling == "mean" and layer_norm else "")
    path = Path(cache_root) / upstream.key / name
    record = {"upstream": upstream.identity, "manifest_sha256": file_sha256(manifest.path), "split": split, "pooling": pooling,
              "layer_norm": bool(layer_norm and pooling == "mean"), "ids": [r.id for r in rows]}
    if (path / "index.json").is_file():
        try:
            cached = _open(path)
            if all(cached.header.get(k) == v for k, v in record.items()):
                return cached
        except StoreError as e:  # a cache: recompute what is damaged
            print(f"feature cache damaged, recomputing: {e}", file=sys.stderr)
    if callable(units):
        units = units()
    store = _unit_store(upstream, units, rows, f"{manifest.path.name} ({split})")
    estimated = [store.frames(r.id) if store else max(1, round(r.duration * AUDIO_RATE / AUDIO_HOP)) for r in rows]
    batches = length_sorted_batches(estimated, min(max_batch_frames, upstream.max_batch_frames or max_batch_frames))

    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    _remove_dead_temporaries(path)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    lengths, offsets, written, n_hidden, width = [0] * len(rows), [0] * len(rows), 0, 0, 0
    pooled = [None] * len(rows)
    digest = hashlib.sha256()
    from tqdm import tqdm

    # Batches reuse the heap's pages instead of faulting in their activations again (a waveform
    # upstream: 1.8x faster, a tenth of the kernel time); only with huge pages, without which the
    # heap's gaps grew to 7 GB for the same features (docs/performance.md).
    heap = reused_heap() if huge_pages() else contextlib.nullcontext()
    with heap, open(tmp / "features.bin", "wb") as out:
        for batch in tqdm(batches, desc=f"features {upstream.name} {manifest.header.subset}/{split}",
                          disable=not progress, leave=False):
            inputs = batch_inputs(upstream, manifest, [rows[i] for i in batch], store, upstream.device)
            hidden = torch.stack(upstream.hidden(inputs), dim=2).float()  # [B, T, L, D]
            n_hidden, width = hidden.shape[2], hidden.shape[3]
            for j, i in enumerate(batch):
                t = int(inputs["frames"][j])
                frames = hidden[j, :t]
                lengths[i] = t
                if pooling == "mean":
                    pooled[i] = (F.layer_norm(frames, frames.shape[-1:]) if layer_norm else frames).mean(0).cpu().numpy()
                else:
                    offsets[i] = written
                    data = frames.to(torch.float16).cpu().numpy().tobytes()
                    out.write(data)
                    digest.update(data)
                    written += t
            del inputs, hidden
        if pooling == "mean" and rows:
            data = np.stack(pooled).astype(np.float32).tobytes()
            out.write(data)
            digest.update(data)
        out.flush()
        os.fsync(out.fileno())
    release_free_memory()
    header = {"codec2vec": CACHE_FORMAT, "version": 1, "manifest": str(manifest.path), **record, "frame_rate": upstream.frame_rate,
              "n_hidden": n_hidden or upstream.n_hidden, "width": width, "lengths": lengths, "offsets": offsets,
              "features_bytes": (tmp / "features.bin").stat().st_size, "features_sha256": digest.hexdigest()}
    atomic_write_text(tmp / "index.json", json.dumps(header) + "\n")
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
    return _open(path)


def verify_features(path: str | Path) -> list[str]:
    """The problems of one cache entry (empty when whole): every byte of features.bin against its sha256."""
    path = Path(path)
    try:
        cached = _open(path)
    except (OSError, ValueError, KeyError, StoreError) as e:
        return [f"{path}: {e}"]
    recorded = cached.header.get("features_sha256")
    if recorded is None:
        return [f"{path}: index.json records no checksum (written by an older codec2vec); delete it to recompute"]
    if file_sha256(path / "features.bin") != recorded:
        return [f"{path / 'features.bin'}: checksum differs from index.json (damaged)"]
    return []

"""Pre-training data: which utterances, their inputs and targets, and the order they come in.

Every batch is a pure function of (seed, epoch, batch number): the length-bucketed, token-budget
batches of an epoch, the crop of each long utterance and the span mask are all drawn from a
generator seeded with those numbers. Resuming at step N therefore rebuilds exactly the batches the
uninterrupted run would have used, without replaying data, and N processes see the same batches as
one process that accumulates N micro-batches.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import torch

from codec2vec.data.manifest import read_manifest
from codec2vec.errors import ConfigError
from codec2vec.models.inputs import AUDIO_HOP, AUDIO_RATE
from codec2vec.objectives.masking import MaskConfig, span_mask
from codec2vec.units.store import LABELS_FORMAT, StoreError, UnitStore


@dataclass
class DataConfig:
    units: str = ""  # unit store: the input (input.kind=units) and the reconstruction targets
    codec: str = ""  # where the store's codec loads from, if not where it was (checked by weights hash)
    audio: str = ""  # corpus manifest: the baselines' input (waveform, logmel)
    max_frames: int = 6000  # token budget of a micro-batch: padded frames (50 per second at 50 Hz)
    crop_frames: int = 500  # longer utterances are cropped at random to this (HuBERT: ~780 frames)
    min_frames: int = 20  # shorter utterances are left out (and counted)
    # pad each batch's time axis up to a multiple of this many frames: fewer distinct shapes for the
    # GPU libraries to plan for (cuDNN attention and convolution); 1 = pad to the longest only
    pad_multiple: int = 1
    workers: int = 0  # DataLoader worker processes preparing batches


def label_entropy(histogram: list[int]) -> float:
    """Entropy of the label distribution divided by log(cluster count): 1 = uniform use."""
    counts = np.asarray(histogram, dtype=np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum() / math.log(len(counts))) if len(counts) > 1 else 0.0


class PretrainData:
    """The training utterances and how to read one crop of one utterance."""

    def __init__(self, cfg: DataConfig, kind: str, objective: str, labels: str = ""):
        self.cfg = cfg
        self.units = UnitStore(cfg.units) if cfg.units else None
        self.labels = UnitStore(labels) if labels else None
        self.manifest = None
        if kind == "units" and self.units is None:
            raise ConfigError("input.kind=units needs data.units (a unit store from `codec2vec extract`)")
        if objective == "reconstruction" and self.units is None:
            raise ConfigError("objective reconstruction needs data.units: its targets are the codec units")
        if objective == "kmeans" and self.labels is None:
            raise ConfigError("objective kmeans needs objective.labels (--labels): a label store from `codec2vec kmeans`")
        if kind != "units":
            if not cfg.audio:
                raise ConfigError(f"input.kind={kind} needs data.audio (the corpus manifest)")
            self.manifest = read_manifest(cfg.audio, check_files=False)
            self.rows = {row.id: row for row in self.manifest.rows}

        if self.units is not None:
            all_ids = list(self.units.ids)
            frames = {i: self.units.frames(i) for i in all_ids}
        else:
            all_ids = [row.id for row in self.manifest.rows]
            frames = {row.id: max(1, math.ceil(round(row.duration * AUDIO_RATE) / AUDIO_HOP))
                      for row in self.manifest.rows}
        self._check_grid(all_ids, frames, kind)
        self.ids = [i for i in all_ids if frames[i] >= cfg.min_frames]
        self.too_short = len(all_ids) - len(self.ids)
        if not self.ids:
            raise ConfigError(f"no utterance has at least data.min_frames={cfg.min_frames} frames")
        self.frames = np.array([frames[i] for i in self.ids], dtype=np.int64)
        self.n_clusters = int(self.labels.header["labels"]["n_clusters"]) if self.labels is not None else 0

    def _check_grid(self, ids: list[str], frames: dict[str, int], kind: str) -> None:
        """Inputs and targets must lie on one frame grid: same codec, rates and frame counts."""
        if self.labels is not None:
            if self.labels.kind != LABELS_FORMAT:
                raise StoreError(f"{self.labels.path} is a unit store, not a label store from `codec2vec kmeans`")
            if self.units is not None:
                self.labels.require_codec(self.units.info, f"the units of {self.units.path}")
            for i in ids:
                if i not in self.labels:
                    raise StoreError(f"{self.labels.path} has no labels for utterance '{i}'")
                if self.labels.frames(i) != frames[i]:
                    raise StoreError(f"utterance '{i}': {self.labels.frames(i)} label frames in {self.labels.path} "
                                     f"but {frames[i]} input frames; labels and units differ")
            histogram = self.labels.header["labels"]["histogram"]
            used = sum(1 for c in histogram if c > 0)
            if used < 2:
                raise StoreError(f"{self.labels.path}: only {used} cluster(s) in use; the k-means run collapsed")
            entropy = label_entropy(histogram)
            if entropy < 0.5:
                print(f"warning: {self.labels.path}: label entropy is {entropy:.2f} of its maximum "
                      f"({used} of {len(histogram)} clusters used); targets this uneven train poorly",
                      file=sys.stderr)
        if kind != "units":
            stores = [s for s in (self.units, self.labels) if s is not None]
            for store in stores:
                if store.info.sample_rate != AUDIO_RATE or store.info.frame_rate != AUDIO_RATE // AUDIO_HOP:
                    raise StoreError(f"{store.path}: its codec runs at {store.info.sample_rate} Hz, "
                                     f"{store.info.frame_rate} frames/s; the {kind} baseline needs a "
                                     f"{AUDIO_RATE} Hz, {AUDIO_RATE // AUDIO_HOP} frames/s codec for aligned targets")
            for i in ids:
                if i not in self.rows:
                    raise StoreError(f"utterance '{i}' of the stores is not in {self.cfg.audio}")

    def __len__(self) -> int:
        return len(self.ids)

    def read(self, index: int, start: int, length: int) -> dict:
        """Frames [start, start + length) of utterance `index`: its units, labels and/or audio."""
        uid = self.ids[index]
        item = {"id": uid}
        if self.units is not None:
            item["units"] = self.units[uid][:, start: start + length]
        if self.labels is not None:
            labels = self.labels[uid][0, start: start + length]
            if labels.size and int(labels.max()) >= self.n_clusters:
                raise StoreError(f"{self.labels.path}: utterance '{uid}' has label {int(labels.max())} "
                                 f">= {self.n_clusters} clusters")
            item["labels"] = labels
        if self.manifest is not None:
            audio = self.manifest.load_audio(self.rows[uid], AUDIO_RATE)
            have = math.ceil(audio.size / AUDIO_HOP)
            if abs(have - int(self.frames[index])) > 1:
                raise StoreError(f"utterance '{uid}': the audio has {have} frames of {AUDIO_HOP} samples, "
                                 f"the store {int(self.frames[index])}; audio and units differ")
            item["audio"] = audio[start * AUDIO_HOP: (start + length) * AUDIO_HOP]
        return item


def epoch_batches(frames: np.ndarray, max_frames: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Utterance indices of each micro-batch of an epoch: similar lengths together, padded size
    (longest x count) within max_frames, in random order. Lengths are the cropped lengths."""
    rng = np.random.default_rng([seed, epoch, 0])
    order = rng.permutation(len(frames))
    order = order[np.argsort(frames[order], kind="stable")]  # random ties, sorted by length
    batches, current, longest = [], [], 0
    for i in order:
        n = int(frames[i])
        if current and max(longest, n) * (len(current) + 1) > max_frames:
            batches.append(np.array(current))
            current, longest = [], 0
        current.append(i)
        longest = max(longest, n)
    if current:
        batches.append(np.array(current))
    return [batches[i] for i in rng.permutation(len(batches))]


class BatchPlan:
    """Maps an optimizer step to the micro-batches each rank reads: step s uses `per_step` batches
    of the epoch's list in order; batch j of the step goes to rank j % world (micro-batch j // world).
    An epoch's leftover batches (fewer than one step's worth) are not used."""

    def __init__(self, frames: np.ndarray, cfg: DataConfig, seed: int, per_step: int):
        self.lengths = np.minimum(frames, cfg.crop_frames)
        if int(self.lengths.max()) > cfg.max_frames:
            raise ConfigError(f"data.max_frames={cfg.max_frames} is below data.crop_frames "
                              f"({int(self.lengths.max())} frames): no batch could hold a long utterance")
        self.cfg, self.seed, self.per_step = cfg, seed, per_step
        self._epochs: list[list[np.ndarray]] = []

    def epoch(self, e: int) -> list[np.ndarray]:
        while len(self._epochs) <= e:
            batches = epoch_batches(self.lengths, self.cfg.max_frames, self.seed, len(self._epochs))
            if len(batches) < self.per_step:
                raise ConfigError(f"an epoch has {len(batches)} micro-batches, fewer than the "
                                  f"{self.per_step} one step needs (ranks x accumulation); lower data.max_frames")
            self._epochs.append(batches)
        return self._epochs[e]

    def locate(self, step: int) -> tuple[int, int]:
        """(epoch, index of the step's first batch in that epoch)."""
        epoch = 0
        while True:
            steps = len(self.epoch(epoch)) // self.per_step
            if step < steps:
                return epoch, step * self.per_step
            step -= steps
            epoch += 1

    def keys(self, start_step: int, end_step: int, rank: int, world: int):
        """(epoch, batch number, step) of this rank's micro-batches for steps [start, end)."""
        for step in range(start_step, end_step):
            epoch, first = self.locate(step)
            for j in range(rank, self.per_step, world):
                yield epoch, first + j, step


class BatchReader(torch.utils.data.Dataset):
    """(epoch, batch number, step) -> a collated micro-batch with its crops and span mask."""

    def __init__(self, data: PretrainData, plan: BatchPlan, mask: MaskConfig):
        self.data, self.plan, self.mask = data, plan, mask

    def __getitem__(self, key: tuple[int, int, int]) -> dict:
        epoch, number, step = key
        indices = self.plan.epoch(epoch)[number]
        rng = np.random.default_rng([self.plan.seed, epoch, number + 1])
        crop = self.data.cfg.crop_frames
        items = []
        for i in indices:
            n = int(self.data.frames[i])
            start = int(rng.integers(0, n - crop + 1)) if n > crop else 0
            items.append(self.data.read(int(i), start, min(n, crop)))
        frames = [min(int(self.data.frames[i]), crop) for i in indices]
        multiple = max(1, self.data.cfg.pad_multiple)
        total = -(-max(frames) // multiple) * multiple
        batch = {"frames": torch.tensor(frames), "step": step, "key": (epoch, number),
                 "mask": torch.from_numpy(span_mask(frames, total, self.mask, rng))}
        if "units" in items[0]:
            units = torch.zeros(len(items), items[0]["units"].shape[0], total, dtype=torch.long)
            for row, item in enumerate(items):
                units[row, :, : item["units"].shape[1]] = torch.from_numpy(item["units"].astype(np.int64))
            batch["units"] = units
        if "labels" in items[0]:
            labels = torch.zeros(len(items), total, dtype=torch.long)
            for row, item in enumerate(items):
                labels[row, : item["labels"].size] = torch.from_numpy(item["labels"].astype(np.int64))
            batch["labels"] = labels
        if "audio" in items[0]:
            audio = torch.zeros(len(items), total * AUDIO_HOP)
            for row, item in enumerate(items):
                audio[row, : item["audio"].size] = torch.from_numpy(item["audio"][: total * AUDIO_HOP])
            batch["audio"] = audio
        return batch


def describe_data(data: PretrainData) -> str:
    hours = float(data.frames.sum()) / (AUDIO_RATE / AUDIO_HOP) / 3600 if data.units is None else \
        float(data.frames.sum()) / float(data.units.info.frame_rate) / 3600
    text = f"{len(data)} utterances, {hours:.3f} h"
    if data.too_short:
        text += f" ({data.too_short} shorter than data.min_frames left out)"
    return text


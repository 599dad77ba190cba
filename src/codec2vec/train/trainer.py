"""`codec2vec pretrain`: masked prediction on codec units (or audio, for the baselines).

One loop, nanoGPT style. A run folder holds config.yaml (resolved), checkpoint.pt (everything to
resume: model, teacher and codebooks, optimizer, RNG states, step), metrics.jsonl, tb/ (TensorBoard)
and model/ (the exported model: config.json + model.safetensors). Under torchrun every rank runs
this function; gradients are averaged by DDP and the loss of a step is normalised by the masked
frames of all its micro-batches on all ranks, so N ranks equal one process accumulating N.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from codec2vec.atomic import atomic_write_text, remove_stale_temporaries
from codec2vec.config import config_to_dict, save_config
from codec2vec.errors import Codec2VecError, ConfigError
from codec2vec.integrity import load_checkpoint, save_checkpoint
from codec2vec.models.model import ModelConfig, build_model, compile_regions
from codec2vec.models.saved import load_pretrained, save_pretrained
from codec2vec.objectives import MaskConfig, ObjectiveConfig, OnlineClustering, build_objective
from codec2vec.provenance import provenance
from codec2vec.ranks import process_group, rank_device, torchrun_ranks
from codec2vec.train.data import BatchPlan, BatchReader, DataConfig, PretrainData, describe_data

CHECKPOINT_FORMAT = "codec2vec-pretrain-checkpoint"
# Settings that may change when a run is resumed: they do not change what is computed (accumulate
# is checked as ranks x accumulate, which fixes the batches; the encoder's attention kernel and
# positional convolution compute the same function of the same weights).
RESUMABLE_KEYS = ("log_every", "save_every", "keep_every", "stop_after", "threads", "device", "data.workers",
                  "compile", "cudnn_benchmark", "data.codec", "optim.accumulate", "model.encoder.attention",
                  "model.encoder.pos_conv")


@dataclass
class OptimConfig:
    steps: int = 2000  # optimizer steps of the whole run
    lr: float = 5e-4  # peak learning rate (HuBERT Base: 5e-4)
    schedule: str = "linear"  # linear (HuBERT) | tri_stage (DinoSR: fairseq's warm-up, hold, exponential decay)
    warmup_steps: int = 200  # linear warm-up, then (linear) decay ...
    final_lr_scale: float = 0.0  # ... to lr x this at the last step (tri_stage: > 0; DinoSR 0.01)
    hold_steps: int = 0  # tri_stage: steps at the peak after warm-up (DinoSR: 47 % of the run); decay takes the rest
    init_lr_scale: float = 0.01  # tri_stage: the warm-up starts at lr x this (fairseq's default)
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-6
    weight_decay: float = 0.01
    grad_clip: float = 10.0
    accumulate: int = 1  # micro-batches per optimizer step and rank


@dataclass
class PretrainConfig:
    out: str = ""  # the run folder
    seed: int = 1
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    masking: MaskConfig = field(default_factory=MaskConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    init_from: str = ""  # a model folder whose weights start this run (e.g. the previous HuBERT iteration)
    device: str = "auto"  # auto: cuda:LOCAL_RANK when available, else cpu (codec2vec.ranks.rank_device)
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 on CPU), fp32, bf16
    threads: int = 0  # torch CPU threads; 0 = torch's default
    compile: bool = False  # torch.compile the Transformer blocks and the waveform CNN (compile_regions)
    # cuDNN times its algorithms per input shape and keeps the fastest (else its heuristic picks, which
    # chose slow per-group kernels for the positional convolution on an H200); pays with few batch
    # shapes (data.pad_multiple), costs a search for each new one
    cudnn_benchmark: bool = False
    log_every: int = 10
    save_every: int = 250
    # also keep the model at step 0 and every keep_every steps as OUT/snapshots/step-NNNNNN (0: never):
    # a probe curve (score vs audio seen) evaluates them
    keep_every: int = 0
    stop_after: int = 0  # end this invocation at this step (0: at optim.steps); rerun to continue


class Pretrainer(nn.Module):
    """The model and its objective as one module, so DDP sees every trained parameter."""

    def __init__(self, model: nn.Module, objective: nn.Module):
        super().__init__()
        self.model, self.objective = model, objective

    def forward(self, batch: dict, mask: torch.Tensor, kept_layers: list[bool] | None):
        self.model.feature_penalty = None
        out = self.objective(self.model, batch, mask, kept_layers)
        loss, stats = out.loss, out.stats
        penalty = self.model.feature_penalty
        if penalty is not None and self.model.feature_penalty_weight > 0:
            # HuBERT adds weight x penalty per masked frame: the loss is a sum over masked frames
            loss = loss + self.model.feature_penalty_weight * penalty * mask.sum()
            stats = {**stats, "feature_penalty": penalty.detach()}
        return loss, out.correct, stats


def lr_at(step: int, cfg: OptimConfig) -> float:
    if cfg.schedule == "tri_stage":
        if step < cfg.warmup_steps:
            return cfg.lr * (cfg.init_lr_scale + (1 - cfg.init_lr_scale) * step / cfg.warmup_steps)
        if step < cfg.warmup_steps + cfg.hold_steps:
            return cfg.lr
        decay_steps = max(1, cfg.steps - cfg.warmup_steps - cfg.hold_steps)
        progress = min(1.0, (step - cfg.warmup_steps - cfg.hold_steps) / decay_steps)
        return cfg.lr * cfg.final_lr_scale ** progress  # exponential: lr x exp(log(final scale) x progress)
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (1.0 - (1.0 - cfg.final_lr_scale) * min(1.0, progress))


def _autocast(cfg: PretrainConfig, device: torch.device):
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    raise ConfigError(f"precision must be auto, fp32 or bf16, got '{precision}'")


def _flatten(d: dict, prefix: str = "") -> dict:
    flat = {}
    for k, v in d.items():
        if isinstance(v, dict):
            flat.update(_flatten(v, f"{prefix}{k}."))
        else:
            flat[prefix + k] = v
    return flat


def _check_same_run(saved: dict, cfg: PretrainConfig, out: Path) -> None:
    mine, theirs = _flatten(config_to_dict(cfg)), _flatten(saved)
    changed = sorted(k for k in set(mine) | set(theirs)
                     if k not in RESUMABLE_KEYS and mine.get(k) != theirs.get(k) and k != "model.input.embed_dim")
    if changed:
        details = "; ".join(f"{k}: {theirs.get(k)!r} -> {mine.get(k)!r}" for k in changed)
        raise ConfigError(f"{out} holds a run with other settings ({details}); resume with the same "
                          "settings or use a new --out")


def _check_same_batches(state: dict, cfg: PretrainConfig, world: int, out: Path) -> None:
    """A step's batches are a function of ranks x accumulate: resuming under another product would
    silently train on other batches (and another effective batch size)."""
    saved_world = state.get("world_size")
    if saved_world is None:  # checkpoints written before world_size was recorded
        return
    saved_accumulate = int(state["config"]["optim"]["accumulate"])
    before, now = saved_world * saved_accumulate, world * cfg.optim.accumulate
    if before != now:
        hint = (f"optim.accumulate={before // world}" if before % world == 0
                else f"a number of ranks that divides {before}")
        raise ConfigError(f"{out} was trained with {saved_world} rank(s) x optim.accumulate={saved_accumulate} = "
                          f"{before} micro-batches per step; this resume has {world} x {cfg.optim.accumulate} = "
                          f"{now}, which would train on other batches. Resume with {hint}, or use a new --out")


def _codebook_vectors(data: PretrainData, cfg: PretrainConfig) -> torch.Tensor | None:
    """The codec's codebook vectors, from the very weights that made the units."""
    if cfg.model.input.kind != "units" or not cfg.model.input.init_from_codec:
        return None
    return data.units.codebook_vectors("to initialise the input layer", cfg.data.codec)


def _load_checkpoint(path: Path) -> dict:
    state = load_checkpoint(path)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise Codec2VecError(f"{path}: not a codec2vec pre-training checkpoint")
    return state


class MetricsLog:
    """metrics.jsonl and TensorBoard, on rank 0. A resumed run drops records past its checkpoint."""

    def __init__(self, out: Path, start_step: int):
        self.path = out / "metrics.jsonl"
        kept = []
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # the half-written last line of a killed run
                if record.get("step", 0) <= start_step:
                    kept.append(line)
        atomic_write_text(self.path, "".join(line + "\n" for line in kept))
        self.file = open(self.path, "a", encoding="utf-8")
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # a bare GPU image may lack it: metrics.jsonl still has everything
            print("note: tensorboard is not installed; metrics go to metrics.jsonl only", file=sys.stderr)
            self.tb = None
        else:
            self.tb = SummaryWriter(str(out / "tb"), purge_step=start_step + 1 if start_step else None)

    def write(self, record: dict) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.tb is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, record["step"])

    def close(self) -> None:
        self.file.close()
        if self.tb is not None:
            self.tb.close()


def pretrain(cfg: PretrainConfig, progress: bool = True) -> Path:
    """Train (or resume) a run; returns its exported model folder."""
    if not cfg.out:
        raise ConfigError("pretrain needs --out RUN_FOLDER")
    if cfg.optim.steps < 1 or cfg.optim.accumulate < 1:
        raise ConfigError("optim.steps and optim.accumulate must be >= 1")
    if cfg.optim.schedule not in ("linear", "tri_stage"):
        raise ConfigError(f"optim.schedule must be linear or tri_stage, got '{cfg.optim.schedule}'")
    if cfg.optim.schedule == "tri_stage" and cfg.optim.final_lr_scale <= 0:
        raise ConfigError("optim.schedule=tri_stage decays exponentially to lr x optim.final_lr_scale, which must "
                          "be > 0 (DinoSR, fairseq: 0.01)")
    out = Path(cfg.out)
    cfg.model.encoder.norm_first, cfg.model.encoder.ffn_dropout = cfg.model.encoder.resolved_norm()  # as recorded
    rank, world, _ = torchrun_ranks()
    device = rank_device(cfg.device)
    # Under torchrun (even with one rank) training runs through DDP and its collectives, as on many GPUs.
    with process_group(device) if "WORLD_SIZE" in os.environ else contextlib.nullcontext():
        return _pretrain(cfg, out, rank, world, device, progress)


def _pretrain(cfg: PretrainConfig, out: Path, rank: int, world: int, device: torch.device, progress: bool) -> Path:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
    data = PretrainData(cfg.data, cfg.model.input.kind, cfg.objective.name, cfg.objective.labels)
    store = data.units if data.units is not None else data.labels
    n_codebooks = data.units.info.n_codebooks if data.units is not None else 0
    codebook_size = data.units.info.codebook_size if data.units is not None else 0
    frame_rate = float(store.info.frame_rate) if store is not None else 50.0

    checkpoint_path = out / "checkpoint.pt"
    state = _load_checkpoint(checkpoint_path) if checkpoint_path.is_file() else None
    if state is not None:
        _check_same_run(state["config"], cfg, out)
        _check_same_batches(state, cfg, world, out)
        if state["step"] >= cfg.optim.steps:
            if rank == 0:
                print(f"{out}: already trained to step {state['step']}")
            return out / "model"

    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    vectors = _codebook_vectors(data, cfg) if state is None else None
    if state is not None and cfg.model.input.kind == "units" and cfg.model.input.init_from_codec:
        cfg.model.input.embed_dim = int(state["config"]["model"]["input"]["embed_dim"])
    model = build_model(cfg.model, n_codebooks, codebook_size, vectors)
    if cfg.init_from and state is None:
        source, _ = load_pretrained(cfg.init_from)
        try:
            model.load_state_dict(source.state_dict())
        except RuntimeError as e:
            raise ConfigError(f"init_from {cfg.init_from}: another model shape ({str(e).splitlines()[0]})") from None
    objective = build_objective(cfg.objective, model, n_codebooks, codebook_size, data.n_clusters)
    module = Pretrainer(model, objective).to(device)
    if cfg.compile:
        compile_regions(module)  # after the objective: the online teacher's blocks are compiled too
    trained = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=cfg.optim.lr, betas=(cfg.optim.beta1, cfg.optim.beta2),
                                  eps=cfg.optim.eps, weight_decay=cfg.optim.weight_decay,
                                  fused=device.type in ("cuda", "cpu"))  # one kernel for all parameters
    start_step, skipped_steps = 0, 0
    if state is not None:
        module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"]["torch"])
        start_step, skipped_steps = int(state["step"]), int(state["skipped_steps"])
        del state

    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out)
        save_config(cfg, out / "config.yaml")
        n_params = sum(p.numel() for p in model.parameters())
        print(f"pretrain {cfg.objective.name} on {cfg.model.input.kind}: {describe_data(data)}; "
              f"{n_params / 1e6:.1f} M parameters; {world} rank(s) on {device}; "
              + (f"resuming at step {start_step}" if start_step else "from scratch"), file=sys.stderr)
    ddp = module
    if dist.is_initialized():
        ddp = nn.parallel.DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False,
            # layers dropped, or input layers frozen with the teacher, get no gradient in some steps
            find_unused_parameters=cfg.model.encoder.layerdrop > 0 or cfg.objective.freeze_teacher_step > 0)

    end_step = min(cfg.optim.steps, cfg.stop_after) if cfg.stop_after else cfg.optim.steps
    per_step = world * cfg.optim.accumulate
    plan = BatchPlan(data.frames, cfg.data, cfg.seed, per_step)
    loader = torch.utils.data.DataLoader(
        BatchReader(data, plan, cfg.masking), batch_size=None,
        sampler=list(plan.keys(start_step, end_step, rank, world)), num_workers=cfg.data.workers,
        pin_memory=device.type == "cuda", persistent_workers=False, prefetch_factor=4 if cfg.data.workers else None)
    batches = iter(loader)
    log = MetricsLog(out, start_step) if rank == 0 else None
    bar = None
    if progress and rank == 0:
        from tqdm import tqdm
        bar = tqdm(total=end_step, initial=start_step, unit="step", desc=f"pretrain {out.name}", file=sys.stderr)

    online = objective if isinstance(objective, OnlineClustering) else None
    window = _new_window()
    if cfg.keep_every and start_step == 0 and rank == 0:
        save_pretrained(out / "snapshots" / "step-000000", module.model, cfg.model, _model_meta(cfg, data, 0))
    module.train()
    for step in range(start_step, end_step):
        waiting = time.perf_counter()
        micro = [next(batches) for _ in range(cfg.optim.accumulate)]
        window["data_seconds"] += time.perf_counter() - waiting
        # Collectives run on the device (NCCL needs CUDA tensors). One host sync per step (is the
        # gradient finite?); the figures of a log window are summed on the device and read at its end.
        masked_here = float(sum(int(b["mask"].sum()) for b in micro))
        masked = torch.tensor(masked_here, device=device)
        if world > 1:
            dist.all_reduce(masked)
        kept_layers = None
        if cfg.model.encoder.layerdrop > 0:  # the same layers on every rank and micro-batch of the step
            draw = np.random.default_rng([cfg.seed, step, 1]).random(model.encoder.n_layers)
            kept_layers = (draw >= cfg.model.encoder.layerdrop).tolist()
        lr = lr_at(step, cfg.optim)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if online is not None:
            online.at_step(step)
        sums, frames = None, 0.0  # sums: the loss, each accuracy count, each statistic (mean over micro-batches)
        for m, batch in enumerate(micro):
            epoch, number = batch["key"]
            torch.manual_seed(cfg.seed * 1_000_003 + epoch * 1_000_033 + number)  # dropout: a function of the batch
            inputs = {k: v.to(device, non_blocking=True) for k, v in batch.items() if isinstance(v, torch.Tensor)}
            mask = inputs.pop("mask")
            sync = m == len(micro) - 1 or world == 1
            with (contextlib.nullcontext() if sync else ddp.no_sync()):
                with _autocast(cfg, device):
                    loss_sum, correct, stats = ddp(inputs, mask, kept_layers)
                (loss_sum.float() * world / masked.clamp_min(1.0)).backward()
            values = torch.stack([loss_sum.detach().float(), *(v.float() for v in correct.values()),
                                  *(v.float() / len(micro) for v in stats.values())])
            sums = values if sums is None else sums + values
            frames += float(batch["frames"].sum())
            window["padded"] += mask.numel()
        names = (list(correct), list(stats))
        grad_norm = torch.nn.utils.clip_grad_norm_(trained, cfg.optim.grad_clip)
        finite = bool(torch.isfinite(grad_norm))
        if finite:
            optimizer.step()
            if online is not None:
                online.update(model.encoder, step + 1)
        else:  # a NaN/Inf step changes nothing; it is counted and logged
            skipped_steps += 1
            if online is not None:
                online.discard_statistics()
        optimizer.zero_grad(set_to_none=True)

        # This rank's loss, accuracy counts, statistics, masked and real frames: summed over ranks at the log.
        totals = torch.cat([sums.double(), torch.tensor([masked_here, frames], dtype=torch.float64, device=device)])
        window["totals"] = totals if window["totals"] is None else window["totals"] + totals
        window["names"] = names
        window["own_frames"] += frames
        window["steps"] += 1
        window["grad_norm"] += float(grad_norm) if finite else 0.0

        done = step + 1
        if done % cfg.log_every == 0 or done == end_step:
            record = _window_record(window, done, lr, skipped_steps, frame_rate, world)
            if online is not None and record.get("codebook_usage", 1.0) < cfg.objective.collapse_threshold:
                record["collapse_warning"] = True
                if rank == 0:
                    print(f"warning: step {done}: only {record['codebook_usage']:.1%} of the online codewords are "
                          "in use; the targets may be collapsing", file=sys.stderr)
            if log is not None:
                log.write(record)
            if bar is not None:
                bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record.get('acc', 0):.3f}")
            window = _new_window()
        if bar is not None:
            bar.update(1)
        keep = bool(cfg.keep_every) and done % cfg.keep_every == 0
        if done % cfg.save_every == 0 or done == end_step or keep:
            _save(cfg, out, module, optimizer, done, skipped_steps, data, rank, world, keep)
    if bar is not None:
        bar.close()
    if log is not None:
        log.close()
    return out / "model"


def _new_window() -> dict:
    return {"totals": None, "names": ([], []), "own_frames": 0.0, "padded": 0, "grad_norm": 0.0, "steps": 0,
            "data_seconds": 0.0, "t0": time.time()}


def _window_record(window: dict, step: int, lr: float, skipped: int, frame_rate: float, world: int) -> dict:
    """The log record of a window; a collective under torchrun (every rank calls it)."""
    totals = window["totals"]
    if world > 1:
        dist.all_reduce(totals)
    correct_names, stat_names = window["names"]
    loss, *values, masked, frames = totals.tolist()
    masked = max(masked, 1.0)
    seconds = max(time.time() - window["t0"], 1e-9)
    record = {"step": step, "loss": loss / masked, "lr": lr,
              "grad_norm": window["grad_norm"] / window["steps"], "masked_frames": int(masked),
              "audio_s": frames / frame_rate,  # audio the window's steps trained on (summed: audio seen)
              "audio_s_per_s": frames / frame_rate / seconds, "skipped_steps": skipped,
              # this rank's share of the window spent waiting for batches, and of its frames that were padding
              "data_wait_fraction": window["data_seconds"] / seconds,
              "padding_fraction": 1.0 - window["own_frames"] / max(window["padded"], 1)}
    record.update({k: v / masked for k, v in zip(correct_names, values)})
    record.update({k: v / window["steps"] / world for k, v in zip(stat_names, values[len(correct_names):])})
    return record


def _model_meta(cfg: PretrainConfig, data: PretrainData, step: int) -> dict:
    return {"codec": data.units.info.to_header() if data.units is not None else None,
            "n_codebooks": data.units.info.n_codebooks if data.units is not None else 0,
            "codebook_size": data.units.info.codebook_size if data.units is not None else 0,
            "objective": cfg.objective.name, "step": step, "pretrain_config": config_to_dict(cfg), **provenance()}


def _save(cfg: PretrainConfig, out: Path, module: Pretrainer, optimizer, step: int, skipped: int,
          data: PretrainData, rank: int, world: int, keep: bool = False) -> None:
    if rank == 0:
        state = {"format": CHECKPOINT_FORMAT, "version": 1, "step": step, "skipped_steps": skipped,
                 "world_size": world,
                 "model": module.state_dict(), "optimizer": optimizer.state_dict(),
                 "rng": {"torch": torch.get_rng_state()}, "config": config_to_dict(cfg)}
        save_checkpoint(state, out / "checkpoint.pt")
        meta = _model_meta(cfg, data, step)
        save_pretrained(out / "model", module.model, cfg.model, meta)
        if keep:
            save_pretrained(out / "snapshots" / f"step-{step:06d}", module.model, cfg.model, meta)
    if world > 1:
        dist.barrier()


"""`codec2vec codec train`: train a codec of DAC's architecture (how the shipped default codec was
made) or the spectral one (codecs/spectral.py), chosen by `model.kind`.

One plain loop, DAC's recipe: random segments -> encoder, residual VQ with quantizer dropout,
decoder; a discriminator step (DAC's multi-period + multi-band STFT discriminators, least-squares
GAN), then a generator step on 15 x multi-scale mel + 1 x adversarial + 2 x feature matching +
0.25 x commitment. Codebooks follow moving averages (CodebookEMA, docs/codecs.md).
Batches are a pure function of (seed, step), so a resumed run continues exactly where it stopped.
Every `checkpoint_every` steps, held-out clips are resynthesised and their STOI logged (the curve).
`decoder_only` is a second phase: the run starts from a trained codec (`init_from`), keeps its encoder
and quantizer (so its codes) fixed and trains the decoder alone, typically with the GAN.
The result is a codec folder (config.json + model.safetensors: a `transformers` DAC folder for
`kind: dac`) plus training.json.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

import numpy as np
import torch
from torch.nn.utils import parametrize

from codec2vec.atomic import atomic_write_text
from codec2vec.codecs.discriminators import Discriminator, discriminator_loss, generator_losses
from codec2vec.codecs.losses import MultiScaleMelLoss
from codec2vec.config import config_to_dict, save_config
from codec2vec.data.manifest import read_manifest
from codec2vec.errors import ConfigError
from codec2vec.integrity import load_checkpoint, save_checkpoint, tensors_digest
from codec2vec.provenance import provenance


@dataclass
class CodecArchitecture:
    """The codec's hyper-parameters. `kind: dac` (the default): DAC 16 kHz's layout (hop 320, 50
    frames/s, 12 x 1024 codebooks of dimension 8) with narrower convolutions to train on a CPU, and an
    encoder that downsamples in three stages (8 x 5 x 8) instead of four (2 x 4 x 5 x 8): its full-rate
    block is the costly one, and this made extraction 2.2x faster (docs/codecs.md). `kind: spectral`
    (codecs/spectral.py): a log-mel front-end and ConvNeXt encoder of `encoder_layers` blocks of width
    `encoder_hidden_size`, the same quantizer, and a Vocos decoder (`decoder_layers` blocks of width
    `decoder_hidden_size`, inverse STFT of `n_fft`); its hop is the product of `downsampling_ratios`,
    and `upsampling_ratios` are DAC's alone."""

    kind: str = "dac"  # dac | spectral
    sample_rate: int = 16000
    encoder_hidden_size: int = 16
    decoder_hidden_size: int = 256
    hidden_size: int = 256
    downsampling_ratios: List[int] = field(default_factory=lambda: [8, 5, 8])
    upsampling_ratios: List[int] = field(default_factory=lambda: [8, 5, 4, 2])
    n_codebooks: int = 12
    codebook_size: int = 1024
    codebook_dim: int = 8
    quantizer_dropout: float = 0.5
    encoder_layers: int = 4  # spectral only
    decoder_layers: int = 8  # spectral only
    n_mels: int = 80  # spectral only
    n_fft: int = 1280  # spectral only


@dataclass
class CodecTrainConfig:
    manifests: List[str] = field(default_factory=list)  # train-split rows of each are used
    out: str = "codec-run"
    model: CodecArchitecture = field(default_factory=CodecArchitecture)
    seed: int = 1
    steps: int = 4000
    batch_size: int = 8
    segment_seconds: float = 0.64
    lr: float = 1e-3
    final_lr_fraction: float = 0.1  # cosine decay to lr * this
    weight_decay: float = 0.0
    mel_weight: float = 15.0
    commitment_weight: float = 0.25
    adversarial: bool = True  # DAC's GAN; false: mel + commitment only (the first shipped codec)
    discriminator_width: float = 0.25  # scales DAC's discriminator channels (1.0 = DAC's own)
    adversarial_weight: float = 1.0
    feature_matching_weight: float = 2.0
    discriminator_grad_clip: float = 10.0
    validation_manifest: str = ""  # held-out clips resynthesised at each checkpoint (STOI, mel distance)
    validation_clips: int = 16
    quantizer_warmup_steps: int = 200  # first steps: plain autoencoder; then codebooks start from latents
    ema_decay: float = 0.99  # codebook entries are moving averages of the latents assigned to them
    dead_code_threshold: float = 0.01  # entries whose average use falls below this restart on a latent
    grad_clip: float = 1e3
    checkpoint_every: int = 200
    log_every: int = 20
    threads: int = 0  # torch CPU threads; 0 = torch's default
    device: str = "auto"
    init_from: str = ""  # a codec folder (same architecture) whose weights start the run
    decoder_only: bool = False  # keep init_from's encoder and quantizer (its codes); train the decoder alone


# Settings a resumed run may change: where and how fast it runs, how often it logs and saves; not
# what it computes (another thread count changes float sums' order, not the recipe).
RESUMABLE_KEYS = ("threads", "device", "log_every", "checkpoint_every")


def build_codec_model(arch: CodecArchitecture):
    """A freshly initialised model of `arch.kind` (a transformers DacModel or a SpectralCodecModel)."""
    hop = math.prod(arch.downsampling_ratios)
    if arch.kind == "spectral":
        from codec2vec.codecs.spectral import SpectralCodecConfig, SpectralCodecModel

        try:
            config = SpectralCodecConfig(
                sampling_rate=arch.sample_rate, hop_length=hop, n_mels=arch.n_mels,
                encoder_hidden_size=arch.encoder_hidden_size, encoder_layers=arch.encoder_layers,
                hidden_size=arch.hidden_size, n_codebooks=arch.n_codebooks, codebook_size=arch.codebook_size,
                codebook_dim=arch.codebook_dim, quantizer_dropout=arch.quantizer_dropout,
                decoder_hidden_size=arch.decoder_hidden_size, decoder_layers=arch.decoder_layers, n_fft=arch.n_fft)
        except ValueError as e:
            raise ConfigError(f"codec model: {e}") from None
        return SpectralCodecModel(config)
    if arch.kind != "dac":
        raise ConfigError(f"codec model: kind must be 'dac' or 'spectral', got {arch.kind!r}")
    from transformers import DacConfig, DacModel

    if math.prod(arch.upsampling_ratios) != hop:
        raise ConfigError(f"codec model: upsampling_ratios {arch.upsampling_ratios} must multiply to the hop "
                          f"of downsampling_ratios {arch.downsampling_ratios} ({hop})")
    config = DacConfig(
        encoder_hidden_size=arch.encoder_hidden_size, decoder_hidden_size=arch.decoder_hidden_size,
        hidden_size=arch.hidden_size, downsampling_ratios=list(arch.downsampling_ratios),
        upsampling_ratios=list(arch.upsampling_ratios), hop_length=hop,
        n_codebooks=arch.n_codebooks, codebook_size=arch.codebook_size, codebook_dim=arch.codebook_dim,
        quantizer_dropout=arch.quantizer_dropout, sampling_rate=arch.sample_rate,
        commitment_loss_weight=1.0, codebook_loss_weight=1.0,
    )
    model = DacModel(config)
    for module in model.modules():
        # transformers initialises convolutions with N(0, 0.02), under which signals vanish through the
        # deep encoder and training stalled here; PyTorch's default (fan-in scaled) init trains.
        if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            module.reset_parameters()
    return model


class SegmentSampler:
    """All training audio in memory as int16, and random fixed-length segments from it."""

    def __init__(self, manifests: list[str], sample_rate: int, segment: int):
        if not manifests:
            raise ConfigError("codec train: give at least one manifest (manifests=[...])")
        pieces, self.ids = [], []
        for path in manifests:
            manifest = read_manifest(path)
            for row in manifest.split("train"):
                audio = manifest.load_audio(row, sample_rate)
                if audio.size >= segment:
                    pieces.append((np.clip(audio, -1, 1) * 32767).astype(np.int16))
                    self.ids.append(row.id)
        if not pieces:
            raise ConfigError(f"codec train: no train-split utterance of {manifests} is longer than one segment")
        self.lengths = np.array([p.size for p in pieces])
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.audio = np.concatenate(pieces)
        self.segment = segment
        self.hours = self.audio.size / sample_rate / 3600

    def batch(self, seed: int, step: int, batch_size: int) -> torch.Tensor:
        rng = np.random.default_rng([seed, step])
        # Utterances weighted by length, so every second of audio is equally likely.
        items = rng.choice(len(self.lengths), size=batch_size, p=self.lengths / self.lengths.sum())
        offsets = (rng.random(batch_size) * (self.lengths[items] - self.segment + 1)).astype(np.int64)
        rows = [self.audio[s + o: s + o + self.segment] for s, o in zip(self.starts[items], offsets)]
        return torch.from_numpy(np.stack(rows).astype(np.float32) / 32767)


class CodebookEMA:
    """Codebook learning by moving averages (SoundStream/EnCodec style) instead of DAC's codebook loss.

    Within an hour of CPU the gradient-trained codebooks barely moved and reconstruction stalled;
    averaging the latents each entry is assigned (with restarts of unused entries) converges in a
    few hundred steps. The lookup stays DAC's (cosine in the 8-dimensional factorised space), so the
    result is a plain DAC model.
    """

    def __init__(self, model, decay: float, dead_threshold: float):
        self.quantizers = model.quantizer.quantizers
        weights = torch.stack([q.codebook.weight.detach() for q in self.quantizers])
        self.sums = weights.clone()
        self.counts = torch.ones(weights.shape[:2], device=weights.device)
        self.decay, self.dead_threshold = decay, dead_threshold
        for q in self.quantizers:
            q.codebook.weight.requires_grad_(False)

    @torch.no_grad()
    def start_from(self, latent: torch.Tensor, generator: torch.Generator) -> None:
        """Set each codebook in turn to random projected residuals of this batch (latent: [B, D, T])."""
        residual = latent
        for i, q in enumerate(self.quantizers):
            projected = q.in_proj(residual).transpose(1, 2).reshape(-1, self.sums.shape[2])
            pick = torch.randint(0, projected.shape[0], (self.sums.shape[1],), generator=generator)
            self.sums[i] = projected[pick.to(projected.device)]
            self.counts[i] = 1.0
            q.codebook.weight.copy_(self.sums[i])
            residual = residual - q(residual)[0]

    @torch.no_grad()
    def update(self, projected: torch.Tensor, codes: torch.Tensor, generator: torch.Generator) -> float:
        """Move each used entry toward the mean of its latents; restart dead ones. Returns the share
        of entries in use (averaged over codebooks)."""
        size = self.sums.shape[1]
        in_use = 0.0
        for i, latents in enumerate(self._per_quantizer(projected)):
            assigned = codes[:, i].reshape(-1)
            counts = torch.bincount(assigned, minlength=size).to(latents.dtype)
            sums = torch.zeros_like(self.sums[i]).index_add_(0, assigned, latents)
            self.counts[i].mul_(self.decay).add_(counts, alpha=1 - self.decay)
            self.sums[i].mul_(self.decay).add_(sums, alpha=1 - self.decay)
            dead = self.counts[i] < self.dead_threshold
            if dead.any():
                pick = torch.randint(0, latents.shape[0], (int(dead.sum()),), generator=generator)
                self.sums[i][dead] = latents[pick.to(latents.device)]
                self.counts[i][dead] = 1.0
            self.quantizers[i].codebook.weight.copy_(self.sums[i] / self.counts[i][:, None])
            in_use += float((counts > 0).float().mean())
        return in_use / len(self.quantizers)

    def _per_quantizer(self, projected: torch.Tensor) -> list[torch.Tensor]:
        dim = self.sums.shape[2]
        return [projected[:, i * dim: (i + 1) * dim].transpose(1, 2).reshape(-1, dim) for i in range(len(self.quantizers))]

    def state_dict(self) -> dict:
        return {"sums": self.sums, "counts": self.counts}

    def load_state_dict(self, state: dict) -> None:
        self.sums.copy_(state["sums"])
        self.counts.copy_(state["counts"])


def _lr(cfg: CodecTrainConfig, step: int) -> float:
    warmup = min(100, cfg.steps // 10)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, cfg.steps - warmup)
    floor = cfg.final_lr_fraction
    return cfg.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


class ValidationClips:
    """`count` rows spread over a held-out manifest, resynthesised at each checkpoint: the training curve."""

    def __init__(self, manifest_path: str, count: int, sample_rate: int):
        manifest = read_manifest(manifest_path)
        rows = sorted(manifest.rows, key=lambda r: r.id)
        rows = rows[:: max(1, len(rows) // count)][:count]  # spread over the manifest's sources
        if not rows:
            raise ConfigError(f"codec train: validation_manifest {manifest_path} has no rows")
        self.ids = [r.id for r in rows]
        self.audio = [manifest.load_audio(r, sample_rate) for r in rows]

    @torch.no_grad()
    def measure(self, model, mel_loss: MultiScaleMelLoss, device: torch.device) -> dict:
        from codec2vec.codecs.quality import stoi

        model.eval()
        stois, mels = [], []
        for audio in self.audio:
            x = torch.from_numpy(audio).to(device)[None]
            decoded = model.decode(model.encode(x[:, None]).quantized_representation).audio_values[:, : x.shape[-1]]
            x = x[:, : decoded.shape[-1]]
            stois.append(stoi(x[0].cpu().numpy(), decoded[0].cpu().numpy()))
            mels.append(float(mel_loss(decoded, x)))
        model.train()
        return {"val_stoi": float(np.mean(stois)), "val_mel": float(np.mean(mels)), "val_clips": len(self.audio)}


def train_codec(cfg: CodecTrainConfig, progress: bool = True, export_now: bool = False) -> Path:
    """Train (or resume) a codec in cfg.out; returns the exported codec folder.

    export_now: export the latest checkpoint as cfg.out/codec-step<N> without training (an
    unfinished run's codec, to evaluate it while it trains)."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out / "checkpoint.pt"
    if (out / "config.yaml").exists() and checkpoint_path.exists():
        import yaml

        saved, mine = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8")), config_to_dict(cfg)
        changed = sorted(k for k in set(saved) | set(mine) if k not in RESUMABLE_KEYS and saved.get(k) != mine.get(k))
        if changed:
            raise ConfigError(f"{out} holds a run with a different config ({', '.join(changed)}); use another --out "
                              "or delete it")
    if export_now and not checkpoint_path.exists():
        raise ConfigError(f"{out}: no checkpoint.pt to export yet")
    save_config(cfg, out / "config.yaml")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = _device(cfg.device)

    if cfg.decoder_only and not cfg.init_from:
        raise ConfigError("codec train: decoder_only needs init_from, the trained codec whose codes to keep")
    torch.manual_seed(cfg.seed)
    model = build_codec_model(cfg.model)
    initial, init_hash = _initial_weights(model, cfg.init_from) if cfg.init_from else (None, None)
    if initial is not None:
        model.load_state_dict(initial)
    model.apply_weight_norm()  # as DAC trains; folded back into plain weights on export
    if cfg.decoder_only:
        _freeze_units(model, initial)
    model = model.to(device).train()
    codebooks = CodebookEMA(model, cfg.ema_decay, cfg.dead_code_threshold)
    # DAC: AdamW (betas 0.8, 0.99) for the generator and the discriminator alike.
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, betas=(0.8, 0.99),
                                  weight_decay=cfg.weight_decay)
    discriminator = Discriminator(width=cfg.discriminator_width).to(device).train() if cfg.adversarial else None
    optimizer_d = (torch.optim.AdamW(discriminator.parameters(), lr=cfg.lr, betas=(0.8, 0.99),
                                     weight_decay=cfg.weight_decay) if discriminator is not None else None)
    mel_loss = MultiScaleMelLoss(cfg.model.sample_rate).to(device)
    step, elapsed = 0, 0.0
    if checkpoint_path.exists():
        state = load_checkpoint(checkpoint_path, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        codebooks.load_state_dict(state["codebooks"])
        if discriminator is not None:
            discriminator.load_state_dict(state["discriminator"])
            optimizer_d.load_state_dict(state["optimizer_d"])
        step, elapsed = int(state["step"]), float(state["elapsed"])
        print(f"resuming {out} at step {step}")

    segment = int(round(cfg.segment_seconds * cfg.model.sample_rate))
    hop = model.config.hop_length
    segment -= segment % hop
    data = SegmentSampler(cfg.manifests, cfg.model.sample_rate, segment)
    if export_now:
        return export_codec(model, cfg, data, elapsed, out / f"codec-step{step}", steps_done=step,
                            init_hash=init_hash)
    validation = (ValidationClips(cfg.validation_manifest, cfg.validation_clips, cfg.model.sample_rate)
                  if cfg.validation_manifest else None)
    print(f"codec train: {len(data.ids)} utterances, {data.hours:.2f} h; "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters; device {device}")

    log = open(out / "train_log.jsonl", "a", encoding="utf-8")
    started = time.monotonic() - elapsed
    while step < cfg.steps:
        audio = data.batch(cfg.seed, step, cfg.batch_size).to(device)
        torch.manual_seed(cfg.seed * 1_000_003 + step)  # quantizer dropout draws: reproducible on resume
        lr = _lr(cfg, step)
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        with torch.set_grad_enabled(not cfg.decoder_only):
            latent = model.encoder(audio[:, None])
            quantize = step >= cfg.quantizer_warmup_steps or cfg.decoder_only
            if quantize:
                if step == cfg.quantizer_warmup_steps and not cfg.decoder_only:
                    codebooks.start_from(latent, generator)
                # Quantizer dropout stays on in decoder_only: the decoder still learns every bitrate.
                quantized, codes, projected, commitment, _ = model.quantizer(latent)
                commitment = commitment.mean()
            else:
                quantized, commitment = latent, torch.zeros((), device=device)
        recon = model.decoder(quantized)[:, 0]  # DAC's decoder gives a few samples less than the input
        target = audio[:, : recon.shape[-1]]
        record = {}
        if discriminator is not None:
            # DAC's order: the discriminator learns on this step's (detached) output first.
            d_loss = discriminator_loss(discriminator(recon.detach()), discriminator(target))
            _set_lr(optimizer_d, lr)
            optimizer_d.zero_grad(set_to_none=True)
            d_loss.backward()
            d_grad_norm = torch.nn.utils.clip_grad_norm_(discriminator.parameters(), cfg.discriminator_grad_clip)
            optimizer_d.step()
            with torch.no_grad():  # feature matching's targets: no gradient, so no graph to keep
                real = discriminator(target)
            adversarial, matching = generator_losses(discriminator(recon), real)
            record.update(d_loss=d_loss.item(), adversarial=adversarial.item(), feature_matching=matching.item(),
                          d_grad_norm=d_grad_norm.item())
        else:
            adversarial = matching = torch.zeros((), device=device)
        mel = mel_loss(recon, target)
        loss = (cfg.mel_weight * mel + cfg.commitment_weight * commitment
                + cfg.adversarial_weight * adversarial + cfg.feature_matching_weight * matching)
        _set_lr(optimizer, lr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        usage = (codebooks.update(projected.detach(), codes, generator) if quantize and not cfg.decoder_only
                 else None)
        step += 1
        if step % cfg.log_every == 0 or step == cfg.steps:
            record = {"step": step, "loss": loss.item(), "mel": mel.item(), "commitment": commitment.item(),
                      **record, "codebook_usage": usage, "grad_norm": grad_norm.item(), "lr": lr,
                      "elapsed_s": round(time.monotonic() - started, 1)}
            _log(log, record, progress)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            if validation is not None:
                _log(log, {"step": step, **validation.measure(model, mel_loss, device)}, progress)
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "codebooks": codebooks.state_dict(), "step": step, "elapsed": time.monotonic() - started}
            if discriminator is not None:
                state.update(discriminator=discriminator.state_dict(), optimizer_d=optimizer_d.state_dict())
            save_checkpoint(state, checkpoint_path)
    log.close()
    return export_codec(model, cfg, data, time.monotonic() - started, out / "codec", steps_done=step,
                        init_hash=init_hash)


def _initial_weights(model, folder: str) -> tuple[dict, str]:
    """A codec folder's weights, checked against `model`'s, and the hash of the file's tensors."""
    from safetensors.torch import load_file

    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        raise ConfigError(f"codec train: init_from {folder}: no model.safetensors there (a codec folder is needed)")
    saved = load_file(str(path))
    mine = model.state_dict()
    if saved.keys() != mine.keys() or any(saved[k].shape != mine[k].shape for k in mine):
        raise ConfigError(f"codec train: init_from {folder} is not a codec of this run's architecture (model.*); "
                          "set model.* to the folder's config")
    return {name: tensor.float() for name, tensor in saved.items()}, tensors_digest(sorted(saved.items()))


def _freeze_units(model, initial: dict) -> None:
    """Fix the encoder and quantizer at their initial weights. Their weight norm goes: folding it back on
    export would change the weights' last bits, and so, rarely, a code."""
    for part in (model.encoder, model.quantizer):
        for module in part.modules():
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        part.requires_grad_(False)
    model.load_state_dict({k: v for k, v in initial.items() if k.startswith(("encoder.", "quantizer."))},
                          strict=False)


def _log(log, record: dict, progress: bool) -> None:
    log.write(json.dumps(record) + "\n")
    log.flush()
    if progress:
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()), flush=True)


def export_codec(model, cfg: CodecTrainConfig, data: SegmentSampler, seconds: float, folder: Path,
                 steps_done: int, init_hash: str | None = None) -> Path:
    """Write a `transformers` DAC folder plus training.json (how it was made) atomically."""
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model = copy.deepcopy(model).eval().cpu()  # the run's own model keeps its weight norm
    for module in model.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    model.save_pretrained(tmp)
    record = {"codec2vec": "codec", "training": config_to_dict(cfg), "train_hours": round(data.hours, 3),
              "train_utterances": len(data.ids), "train_seconds": round(seconds, 1), "steps_done": steps_done,
              "parameters": sum(p.numel() for p in model.parameters()), "init_weights_hash": init_hash,
              "provenance": provenance()}
    atomic_write_text(tmp / "training.json", json.dumps(record, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder

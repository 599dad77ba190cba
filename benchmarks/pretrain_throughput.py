"""Pre-training throughput: seconds of audio trained on per second, units vs waveform vs log-mel.

    .venv/bin/python benchmarks/pretrain_throughput.py [--device cuda] [--preset base] [--steps 10]
        [--batch 16 48] [--compile both] [--kinds units waveform logmel]

The same model (encoder preset, objective, batch of B utterances x S seconds) is trained with each
input layer, one after the other in this run, each configuration in its own process (so peak
memory is its own), eager and/or with `compile_regions` (what `pretrain compile=true` does):
codec units (12 codebooks x 1024, tables 1024 wide as DAC 16 kHz's latent), HuBERT's waveform CNN,
and 80-bin log-mel. Each step is the real trainer's: forward, loss, backward, gradient clipping,
AdamW (fused on CUDA), bf16 autocast on CUDA. The objective is HuBERT's (k-means targets, 500
clusters, random labels: the compute does not depend on them). Reports audio-seconds per second,
the ratio to the waveform baseline at the same batch and compilation, model FLOP utilisation
against the GPU's bf16 matmul peak measured in this run (8192^3 products), and peak memory.
Writes benchmarks/results/pretrain_throughput_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from codec2vec.memory import preloaded_allocator, restart_under_preferred_allocator
from codec2vec.provenance import provenance

KINDS = ("units", "waveform", "logmel")
N_CODEBOOKS, CODEBOOK_SIZE, CODEC_DIM, CLUSTERS = 12, 1024, 1024, 500


def measured_matmul_peak(device: str) -> float:
    """FLOP/s of a dense bf16 8192^3 matrix product on this GPU (mean of 10 after 3 warm-ups): the
    denominator of MFU, the same measurement as the peer anchors' gpu_limit.py."""
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn_like(a)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(10):
        a @ b
    torch.cuda.synchronize()
    return 2 * 8192 ** 3 * 10 / (time.perf_counter() - started)


def model_flops_per_frame(model, kind: str, frames: int) -> float:
    """Forward FLOPs per frame of the model (matrix multiplies and convolutions), for utterances of
    `frames` frames; training costs three times this (forward + backward)."""
    enc = model.encoder
    width, layers = enc.width, enc.n_layers
    ffn = enc.layers[0].ffn[0].out_features
    per_layer = 2 * (4 * width * width + 2 * width * ffn) + 4 * frames * width  # matmuls + attention scores/values
    pos = model.encoder.pos_conv.conv
    total = layers * per_layer + 2 * width * (width // pos.groups) * pos.kernel_size[0]
    total += 2 * model.frontend.out_dim * width  # projection to the encoder
    total += 2 * width * 256 + 2 * 256 * CLUSTERS  # HuBERT's projection and cosine logits
    if kind == "waveform":  # conv layer i yields 320 / (its cumulative stride) outputs per frame
        hop = 1
        for conv in model.frontend.convs:
            hop *= conv.stride[0]
            total += 2 * conv.in_channels * conv.out_channels * conv.kernel_size[0] * (320 // hop)
    if kind == "logmel":
        total += 2 * 201 * 80 * 2  # mel projection of two 10 ms frames (the FFT is negligible)
    return float(total)


def run_kind(kind: str, device: str, preset: str, batch: int, seconds: float, steps: int, warmup: int,
             compiled: bool, peak: float, objective_name: str, ragged: bool) -> dict:
    from codec2vec.models import ModelConfig, build_model, compile_regions
    from codec2vec.objectives import ObjectiveConfig, build_objective
    from codec2vec.objectives.masking import MaskConfig, span_mask
    from codec2vec.train.trainer import Pretrainer

    torch.manual_seed(0)
    cfg = ModelConfig()
    cfg.input.kind, cfg.input.init_from_codec, cfg.input.embed_dim = kind, False, CODEC_DIM
    cfg.encoder.preset = preset
    model = build_model(cfg, N_CODEBOOKS, CODEBOOK_SIZE)
    objective = build_objective(ObjectiveConfig(name=objective_name), model, N_CODEBOOKS, CODEBOOK_SIZE, CLUSTERS)
    module = Pretrainer(model, objective).to(device).train()
    if compiled:
        compile_regions(module)
    params = [p for p in module.parameters() if p.requires_grad]
    cuda = device.startswith("cuda")
    optimizer = torch.optim.AdamW(params, lr=1e-4, fused=cuda)
    frames = int(seconds * 50)
    g = torch.Generator().manual_seed(0)
    # ragged: lengths from half to all of `seconds`, as a padded batch of real utterances (attention mask)
    lengths = torch.randint(frames // 2, frames + 1, (batch,), generator=g) if ragged else torch.full((batch,), frames)
    lengths[0] = frames
    data = {"frames": lengths,
            "units": torch.randint(0, CODEBOOK_SIZE, (batch, N_CODEBOOKS, frames), generator=g),
            "labels": torch.randint(0, CLUSTERS, (batch, frames), generator=g),
            "audio": 0.1 * torch.randn(batch, frames * 320, generator=g)}
    if kind != "units":
        del data["units"]
    else:
        del data["audio"]
    mask = torch.from_numpy(span_mask(lengths.tolist(), frames, MaskConfig(), np.random.default_rng(0)))
    data = {k: v.to(device) for k, v in data.items()}
    mask = mask.to(device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)

    def step():
        with autocast:
            loss, _, _ = module(data, mask, None)
        (loss / mask.sum()).backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        optimizer.step()
        if objective_name == "online":  # codebooks and EMA teacher, as the trainer does after each step
            objective.update(model.encoder, 1)
        optimizer.zero_grad(set_to_none=True)

    started = time.perf_counter()
    for _ in range(warmup):  # compiling happens here
        step()
    if cuda:
        torch.cuda.synchronize()
    warmup_seconds = time.perf_counter() - started
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - started
    audio_seconds = steps * float(lengths.sum()) / 50
    flops = 3 * model_flops_per_frame(model, kind, frames) * frames * batch * steps
    result = {"kind": kind, "batch": batch, "compiled": compiled, "objective": objective_name, "ragged": ragged,
              "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
              "warmup_seconds": round(warmup_seconds, 1), "wall_seconds": round(wall, 3), "steps": steps,
              "audio_seconds_per_second": round(audio_seconds / wall, 2),
              "model_tflops_per_second": round(flops / wall / 1e12, 3)}
    if cuda:
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if peak:
            result["mfu"] = round(flops / wall / peak, 4)
    else:
        result["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", default="base")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--batch", type=int, nargs="+", help="utterances per step, one run each (default: 8 on GPU, "
                        "2 on CPU)")
    parser.add_argument("--compile", choices=("no", "yes", "both"), default="no",
                        help="eager, compiled (compile_regions), or both")
    parser.add_argument("--compile-batch", type=int, nargs="+",
                        help="with --compile both: the batch sizes to compile (default: all of --batch)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per utterance")
    parser.add_argument("--objective", choices=("kmeans", "online"), default="kmeans")
    parser.add_argument("--ragged", action="store_true",
                        help="utterances of 50-100 %% of --seconds: padded batches with an attention mask")
    parser.add_argument("--steps", type=int, help="timed steps (default: 20 on GPU, 3 on CPU)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--kind", choices=KINDS, help=argparse.SUPPRESS)  # one measurement, in a child process
    parser.add_argument("--peak", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    cuda = args.device.startswith("cuda")
    batches = args.batch or [8 if cuda else 2]
    steps = args.steps or (20 if cuda else 3)
    if args.kind:
        print(json.dumps(run_kind(args.kind, args.device, args.preset, batches[0], args.seconds, steps, args.warmup,
                                  args.compile == "yes", args.peak, args.objective, args.ragged)))
        return
    peak = measured_matmul_peak(args.device) if cuda else 0.0
    if cuda:
        print(f"measured bf16 matmul peak: {peak / 1e12:.0f} TFLOP/s", flush=True)
    modes = {"no": [False], "yes": [True], "both": [False, True]}[args.compile]
    runs = [(kind, batch, compiled) for compiled in modes for kind in args.kinds for batch in batches
            if not (compiled and args.compile == "both" and args.compile_batch and batch not in args.compile_batch)]
    device_name = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    report = {"benchmark": "pretrain_throughput", "device": device_name, "preset": args.preset,
              "utterance_seconds": args.seconds, "precision": "bf16 autocast" if cuda else "fp32",
              "objective": args.objective + (f" ({CLUSTERS} clusters)" if args.objective == "kmeans" else ""),
              "ragged": args.ragged, "steps": steps, "warmup_steps": args.warmup,
              "matmul_peak_tflops": round(peak / 1e12, 1) if cuda else None, "allocator": preloaded_allocator(),
              "results": [], **provenance()}
    out = Path(args.out or Path(__file__).parent / "results" / f"pretrain_throughput_{'cuda' if cuda else 'cpu'}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    results = report["results"]
    for kind, batch, compiled in runs:
        child = subprocess.run([sys.executable, __file__, "--kind", kind, "--device", args.device, "--preset",
                                args.preset, "--batch", str(batch), "--seconds", str(args.seconds), "--steps",
                                str(steps), "--warmup", str(args.warmup), "--compile", "yes" if compiled else "no",
                                "--peak", str(peak), "--objective", args.objective]
                               + (["--ragged"] if args.ragged else []), capture_output=True, text=True)
        if child.returncode != 0:  # one failed configuration (out of memory, a compiler error) is recorded
            error = (child.stderr.strip().splitlines() or ["no output"])[-1][-500:]
            results.append({"kind": kind, "batch": batch, "compiled": compiled, "error": error})
        else:
            results.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
        for r in results:
            baseline = next((w for w in results if w["kind"] == "waveform" and w["batch"] == r["batch"]
                             and w["compiled"] == r["compiled"] and "error" not in w), None)
            if baseline and "error" not in r:
                ratio = r["audio_seconds_per_second"] / baseline["audio_seconds_per_second"]
                r["speedup_vs_waveform"] = round(ratio, 2)
        out.write_text(json.dumps(report, indent=2) + "\n")  # after each configuration: a stopped run keeps them
    print(f"{'input':<9} {'batch':>5} {'compiled':>8} {'audio s/s':>10} {'vs waveform':>12} {'TFLOP/s':>9}  memory")
    for r in results:
        if "error" in r:
            print(f"{r['kind']:<9} {r['batch']:>5} {str(r['compiled']):>8}  failed: {r['error'][:80]}")
            continue
        memory = r.get("peak_memory_gib", r.get("peak_rss_gib"))
        ratio = f"{r['speedup_vs_waveform']}x" if "speedup_vs_waveform" in r else "-"
        print(f"{r['kind']:<9} {r['batch']:>5} {str(r['compiled']):>8} {r['audio_seconds_per_second']:>10} "
              f"{ratio:>12} {r['model_tflops_per_second']:>9}  {memory} GiB"
              + (f"  MFU {r['mfu']:.1%}" if "mfu" in r else ""))
    print(f"written to {out}")


if __name__ == "__main__":
    restart_under_preferred_allocator()  # time the steps under the allocator the CLI runs with (its children too)
    main()

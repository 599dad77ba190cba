"""End-to-end pre-training throughput: the whole `codec2vec pretrain` loop, data included.

    .venv/bin/python benchmarks/pipeline_throughput.py [--preset base] [--steps 40] [--workers 2]
        [--corpus DIR | --hours 0.3 --seed 1] [--device cuda] [--compile] [--profile DIR]

Where benchmarks/pretrain_throughput.py times the model step on tensors already in memory, this
runs the real trainer (`codec2vec.train.pretrain`) from files on disk, one input at a time in its
own process, with the same encoder, objective, token budget, crops, masking and steps:
- units: the unit store, memory-mapped (what Codec2Vec reads);
- waveform and logmel: the corpus's FLAC files, decoded, resampled and cropped in DataLoader
  workers (what a continuous-input model reads).
The corpus is an offline synthetic one generated from a seed (or `--corpus`, a `corpus synth`
folder) and encoded with the default codec first. From the trainer's own metrics (the first log
window, which holds start-up and compilation, is left out) it reports audio-seconds per second of
the whole loop, the share of time spent waiting for batches, the share of frames that are padding,
and peak memory (host RSS; GPU allocator peak on CUDA). Writes benchmarks/results/
pipeline_throughput_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from codec2vec.provenance import provenance

KINDS = ("units", "waveform", "logmel")


def peak_rss_gib() -> float:
    """This process's own high-water mark (VmHWM), not one inherited across fork (ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 2**20, 2)
    return float("nan")


def run_kind(args, kind: str) -> dict:
    from codec2vec.train.trainer import PretrainConfig, pretrain

    root = Path(args.work)
    cfg = PretrainConfig(out=str(root / f"run-{kind}-{args.packing}"), seed=1, device=args.device,
                         compile=args.compile, log_every=args.log_every, save_every=10**9)
    cfg.model.input.kind = kind
    cfg.model.encoder.preset = args.preset
    cfg.objective.name = args.objective
    cfg.objective.top_k = 4 if args.preset != "base" else 8
    reads_units = kind == "units" or args.objective == "reconstruction"
    cfg.data.units = str(root / f"units-{args.packing}") if reads_units else ""
    cfg.data.audio = "" if kind == "units" else str(Path(args.corpus) / "pretrain.jsonl")
    cfg.data.max_frames, cfg.data.crop_frames, cfg.data.workers = args.max_frames, args.crop_frames, args.workers
    cfg.optim.steps, cfg.optim.warmup_steps = args.steps, max(1, args.steps // 10)
    if args.profile:
        profile = profiled(lambda: pretrain(cfg, progress=False), args.device)
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        (Path(args.profile) / f"profile-{kind}.txt").write_text(profile.pop("tables"))
    else:
        pretrain(cfg, progress=False)
    records = [json.loads(line) for line in (Path(cfg.out) / "metrics.jsonl").read_text().splitlines()]
    timed = records[1:] or records  # the first window holds loader start-up and compilation

    def mean(key: str) -> float:
        return sum(r[key] for r in timed) / len(timed)

    result = {"kind": kind, "packing": args.packing if kind == "units" else None,
              "audio_seconds_per_second": round(mean("audio_s_per_s"), 2),
              "data_wait_fraction": round(mean("data_wait_fraction"), 4),
              "padding_fraction": round(mean("padding_fraction"), 4),
              "loss_first": round(records[0]["loss"], 4), "loss_last": round(records[-1]["loss"], 4),
              "timed_steps": len(timed) * args.log_every, "peak_rss_gib": peak_rss_gib()}
    if args.profile:
        result["profile"] = profile
    if args.device.startswith("cuda"):
        result["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return result


def profiled(run, device: str) -> dict:
    """Runs `run()` under torch.profiler (start-up included): how long the device was busy (the union
    of its kernels' time spans, and their plain sum) against the wall time, and the ops that take the
    most device and host time: whether the loop waits on the device or on the host launching work."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        run()
    wall = time.perf_counter() - start
    spans = sorted((e.time_range.start, e.time_range.end) for e in prof.events()
                   if e.device_type == torch.autograd.DeviceType.CUDA)
    busy, reach = 0.0, float("-inf")
    for begin, end in spans:  # the union of the spans: kernels on several streams may overlap
        busy += max(0.0, end - max(begin, reach))
        reach = max(reach, end)
    averages = prof.key_averages()
    device_key = "self_device_time_total" if cuda else "self_cpu_time_total"

    def top(key: str) -> list[dict]:
        rows = sorted(averages, key=lambda e: getattr(e, key), reverse=True)[:15]
        return [{"op": e.key[:80], "calls": e.count, "ms": round(getattr(e, key) / 1e3, 1)} for e in rows]

    tables = "\n\n".join(averages.table(sort_by=key, row_limit=30) for key in dict.fromkeys([device_key, "cpu_time_total"]))
    kernel_seconds = sum(end - begin for begin, end in spans) / 1e6  # overlapping kernels counted twice
    return {"wall_seconds": round(wall, 2), "device_busy_seconds": round(busy / 1e6, 2),
            "device_kernel_seconds": round(kernel_seconds, 2),
            "device_busy_fraction": round(busy / 1e6 / wall, 3) if cuda else None,
            "kernels": len(spans), "top_device_ops": top(device_key), "top_host_ops": top("self_cpu_time_total"),
            "tables": tables}


def prepare(args) -> None:
    """The corpus (generated from its seed unless given) and its unit store, in the work folder."""
    from codec2vec.data.synth import SynthConfig, synth_corpus
    from codec2vec.units.extract import ExtractConfig, extract

    if not args.corpus:
        args.corpus = str(synth_corpus(SynthConfig(out=str(Path(args.work) / "corpus"), hours=args.hours,
                                                   seed=args.seed, engines=["espeak"], workers=args.workers or 1),
                                       progress=False))
    for packing in args.packings:
        extract(ExtractConfig(corpus=str(Path(args.corpus) / "pretrain.jsonl"), codec=args.codec, device=args.device,
                              out=str(Path(args.work) / f"units-{packing}"), packing=packing), progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", default="base")
    parser.add_argument("--objective", default="online", choices=("online", "reconstruction"))
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--max-frames", type=int, default=1000, help="token budget per step (frames, 50 per s)")
    parser.add_argument("--crop-frames", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (and corpus synthesis)")
    parser.add_argument("--compile", action="store_true", help="pretrain compile=true")
    parser.add_argument("--codec", default="default")
    parser.add_argument("--packings", nargs="+", choices=("uint16", "bitpack"), default=["uint16"],
                        help="unit stores to read (one units run each)")
    parser.add_argument("--packing", default="uint16", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", default="", help="a `corpus synth` folder (default: generate one)")
    parser.add_argument("--hours", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", default="", help="work folder (default: a temporary one, removed)")
    parser.add_argument("--kind", choices=KINDS, help=argparse.SUPPRESS)  # one measurement, in a child process
    parser.add_argument("--profile", default="", help="a folder: run each input under torch.profiler and write its "
                        "tables there (the run is slower; compare its figures with unprofiled ones only as shares)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.kind:
        print(json.dumps(run_kind(args, args.kind)))
        return
    temporary = not args.work
    corpus = args.corpus or f"synthetic (espeak-ng), {args.hours} h, seed {args.seed}, generated in this run"
    args.work = args.work or tempfile.mkdtemp(prefix="c2v-pipeline-")
    try:
        prepare(args)
        results = []
        runs = [(kind, packing) for kind in args.kinds
                for packing in (args.packings if kind == "units" else args.packings[:1])]
        for kind, packing in runs:
            command = [sys.executable, __file__, "--kind", kind, "--device", args.device, "--preset", args.preset,
                       "--objective", args.objective, "--steps", str(args.steps), "--log-every", str(args.log_every),
                       "--max-frames", str(args.max_frames), "--crop-frames", str(args.crop_frames),
                       "--workers", str(args.workers), "--corpus", args.corpus, "--work", args.work,
                       "--packing", packing] + (["--profile", args.profile] if args.profile else [])
            child = subprocess.run(command + (["--compile"] if args.compile else []), capture_output=True, text=True)
            if child.returncode != 0:
                error = (child.stderr.strip().splitlines() or ["no output"])[-1][-500:]
                results.append({"kind": kind, "packing": packing if kind == "units" else None, "error": error})
            else:
                results.append(json.loads(child.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    finally:
        if temporary:
            shutil.rmtree(args.work, ignore_errors=True)
    waveform = next((r for r in results if r["kind"] == "waveform" and "error" not in r), None)
    for r in results:
        if waveform and "error" not in r:
            r["speedup_vs_waveform"] = round(r["audio_seconds_per_second"] / waveform["audio_seconds_per_second"], 2)
    cuda = args.device.startswith("cuda")
    device_name = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    report = {"benchmark": "pipeline_throughput", "device": device_name, "preset": args.preset,
              "objective": args.objective, "compiled": args.compile, "steps": args.steps,
              "max_frames": args.max_frames, "crop_frames": args.crop_frames, "workers": args.workers,
              "corpus": corpus,
              "precision": "bf16 autocast" if cuda else "fp32", "results": results, **provenance()}
    out = Path(args.out or Path(__file__).parent / "results" / f"pipeline_throughput_{'cuda' if cuda else 'cpu'}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'input':<16} {'audio s/s':>10} {'vs waveform':>12} {'data wait':>10} {'padding':>8}  loss first -> last")
    for r in results:
        name = r["kind"] + (f" {r['packing']}" if r["packing"] else "")
        if "error" in r:
            print(f"{name:<16} failed: {r['error'][:100]}")
            continue
        ratio = f"{r['speedup_vs_waveform']}x" if "speedup_vs_waveform" in r else "-"
        print(f"{name:<16} {r['audio_seconds_per_second']:>10} {ratio:>12} {r['data_wait_fraction']:>10.1%} "
              f"{r['padding_fraction']:>8.1%}  {r['loss_first']} -> {r['loss_last']}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()

"""Extraction throughput: seconds of audio encoded per second of wall time.

    .venv/bin/python benchmarks/extract_throughput.py [--device cuda] [--seconds 120]

Measures, side by side in one run: the encoder of the paper's DAC 16 kHz architecture (descript/dac_16khz
config, random weights: same compute as the real ones), in fp32 and under bf16 autocast (with the share of
its codes equal to fp32's), the shipped default codec eager and compiled (`Codec.compile`, the same codes),
and the full `codec2vec extract` pipeline (audio decoding, resampling,
batching, packing, writing) with the default codec on a synthetic corpus's utterances of about 4 s:
compiled, once with the allocator's large-block mapping during extraction (the default,
codec2vec.memory) and once without; and eager with the mapping (what `compile=auto` does below
10 minutes of audio).
Each pipeline run extracts the corpus twice and reports the second pass (compiled kernels come from
torch's on-disk cache, as in every run after a machine's first) and the first pass's extra seconds
(compiling). Writes JSON (benchmarks/results/extract_throughput_<device>.json).

    .venv/bin/python benchmarks/extract_throughput.py --codec FOLDER --corpus data/synth-eval/read.jsonl ...

With `--corpus` (repeatable), only the pipeline is measured, on each given manifest, with the CLI's
defaults (`codec2vec extract --corpus M --out S --codec C`: compile=auto, all cores), for `--codec`
and for the default codec side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from codec2vec.codecs import load_codec
from codec2vec.codecs.hf import wrap_model
from codec2vec.memory import reused_heap
from codec2vec.memory import preloaded_allocator
from codec2vec.provenance import machine, provenance

# descript/dac_16khz's config.json
DAC_16KHZ = dict(encoder_hidden_size=64, decoder_hidden_size=1536, hidden_size=1024, downsampling_ratios=[2, 4, 5, 8],
                 upsampling_ratios=[8, 5, 4, 2], hop_length=320, n_codebooks=12, codebook_size=1024, codebook_dim=8,
                 sampling_rate=16000)


def encode_rate(codec, device: str, seconds: float, batch: int, utterance_seconds: float,
                precision: str = "fp32") -> dict:
    """precision bf16: under bf16 autocast, with the share of codes equal to fp32's on the same batch
    (quantization is a nearest-codeword choice: rounding can flip it)."""
    codec.to(device)
    n = int(utterance_seconds * codec.sample_rate)
    audio = torch.randn(batch, n) * 0.1
    lengths = [n] * batch
    autocast = torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=precision == "bf16")
    with autocast:
        codes, _ = codec.encode(audio, lengths)  # warm-up (kernels, allocator)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    done, started = 0.0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        with autocast:
            codec.encode(audio, lengths)
        done += batch * utterance_seconds
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - started
    result = {"audio_seconds": done, "wall_seconds": round(wall, 2), "audio_seconds_per_second": round(done / wall, 1),
              "batch": batch, "utterance_seconds": utterance_seconds, "precision": precision}
    if precision == "bf16":
        exact, _ = codec.encode(audio, lengths)
        result["codes_equal_to_fp32"] = round((codes == exact).float().mean().item(), 4)
        result["first_codebook_equal_to_fp32"] = round((codes[:, 0] == exact[:, 0]).float().mean().item(), 4)
    return result


def pipeline_rate(corpus: Path, codec: str, device: str, workers: int, reuse_heap: bool,
                  compile: str = "true") -> dict:
    import contextlib

    import codec2vec.units.extract as extract_module
    from codec2vec.units.extract import ExtractConfig, extract
    from codec2vec.units.store import UnitStore

    if not reuse_heap:
        extract_module.reused_heap = contextlib.nullcontext
    root = Path(tempfile.mkdtemp(prefix="c2v-bench-"))
    try:
        walls = []
        for attempt in range(2):
            started = time.perf_counter()
            store = extract(ExtractConfig(corpus=str(corpus), out=str(root / f"units-{attempt}"), codec=codec,
                                          device=device,
                                          workers=workers, compile=compile), progress=False)
            walls.append(time.perf_counter() - started)
        seconds = UnitStore(store).header["totals"]["audio_seconds"]
        return {"audio_seconds": seconds, "wall_seconds": round(walls[1], 2), "workers": workers,
                "audio_seconds_per_second": round(seconds / walls[1], 1),
                "first_pass_extra_seconds": round(walls[0] - walls[1], 1), "reuse_heap": reuse_heap,
                "compile": compile,
                "includes": "codec load, audio I/O, writing"}
    finally:
        extract_module.reused_heap = reused_heap
        shutil.rmtree(root, ignore_errors=True)


def cli_defaults(args) -> None:
    """`codec2vec extract` with its defaults on each manifest, --codec beside the default codec."""
    from codec2vec.units.extract import ExtractConfig

    defaults = ExtractConfig()
    results = {}
    for corpus in args.corpus:
        for codec in dict.fromkeys([args.codec, "default"]):
            results[f"{Path(corpus).parent.name}/{Path(corpus).stem} {codec}"] = pipeline_rate(
                Path(corpus), codec, args.device, defaults.workers, True, compile=defaults.compile)
    record = {"benchmark": "extract_throughput_cli_defaults", "device": f"CPU x{os.cpu_count()}",
              "machine": machine(), "allocator": preloaded_allocator(), "torch_threads": torch.get_num_threads(),
              "codec": args.codec,
              "codec_weights_hash": load_codec(args.codec).info.weights_hash, "results": results, **provenance()}
    out = Path(args.out or "benchmarks/results/extract_throughput_cli_defaults.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seconds", type=float, default=60.0, help="time per encoder measurement")
    parser.add_argument("--batch", type=int, default=0, help="utterances per forward (default: 1 on CPU, 32 on GPU)")
    parser.add_argument("--pipeline-hours", type=float, default=1.0,
                        help="synthetic corpus size for the pipeline runs (its pre-training subset, about a "
                             "third, is encoded)")
    parser.add_argument("--codec", default="default", help="the codec measured as 'default_codec' (a name or folder)")
    parser.add_argument("--corpus", action="append", default=[],
                        help="manifest: measure only the CLI-default pipeline on it (repeatable)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.corpus:
        cli_defaults(args)
        return
    from transformers import DacConfig, DacModel

    batch = args.batch or (32 if args.device.startswith("cuda") else 1)
    torch.manual_seed(0)
    paper = wrap_model(DacModel(DacConfig(**DAC_16KHZ)).eval(), "dac-16khz-architecture")
    results = {
        "dac_16khz_architecture": encode_rate(paper, args.device, args.seconds, batch, 10.0),
        "dac_16khz_architecture_bf16": encode_rate(paper, args.device, args.seconds, batch, 10.0, "bf16"),
        "default_codec": encode_rate(load_codec(args.codec), args.device, args.seconds, batch, 10.0),
        "default_codec_compiled": encode_rate(load_codec(args.codec).compile(), args.device, args.seconds, batch, 10.0),
    }
    from codec2vec.data.synth import SynthConfig, synth_corpus

    with tempfile.TemporaryDirectory(prefix="c2v-bench-corpus-") as tmp:
        corpus = synth_corpus(SynthConfig(out=tmp, hours=args.pipeline_hours, engines=["espeak"], workers=2),
                              progress=False) / "pretrain.jsonl"
        if args.device == "cpu":  # the heap setting is glibc's, for host memory: a CPU question
            # Without it first: its long-run allocator settings stay for the process.
            results["default_codec_extract_pipeline_glibc_default"] = pipeline_rate(corpus, args.codec, args.device, 1,
                                                                                    False)
        results["default_codec_extract_pipeline"] = pipeline_rate(corpus, args.codec, args.device, 1, True)
        results["default_codec_extract_pipeline_eager"] = pipeline_rate(corpus, args.codec, args.device, 1, True,
                                                                        compile="false")
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU x{os.cpu_count()}"
    record = {"benchmark": "extract_throughput", "device": device_name, "torch_threads": torch.get_num_threads(),
              "codec": args.codec, "codec_weights_hash": load_codec(args.codec).info.weights_hash,
              "allocator": preloaded_allocator(), "results": results, **provenance()}
    out = Path(args.out or f"benchmarks/results/extract_throughput_{args.device.split(':')[0]}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["results"], indent=2))


if __name__ == "__main__":
    from codec2vec.memory import restart_under_preferred_allocator

    restart_under_preferred_allocator()  # measure under the allocator the CLI runs with (mimalloc on Linux)
    main()

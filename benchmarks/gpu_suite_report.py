"""Join the GPU suite's step results into one JSON and print its table (benchmarks/gpu_suite.sh).

    python benchmarks/gpu_suite_report.py JSON_DIR --logs LOG_DIR --out gpu_suite.json

Reads each step's status and JSON, the real pre-training run's metrics, and the peer anchors'
figures (their JSON, or the lines they printed before a time limit stopped them), and checks the
performance goals of the GPU suite's issue against what was measured.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
from pathlib import Path

import torch

from codec2vec.provenance import provenance

GOALS = {"units_base_audio_s_per_s": 10000, "units_base_mfu": 0.40, "units_vs_waveform": 2.3,
         "dac_16khz_extract_audio_s_per_s": 3000}


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def anchor_lines(log: Path) -> dict:
    """What an anchor script printed, one `name flag {figures}` line per configuration."""
    found = {}
    if not log.is_file():
        return found
    for line in log.read_text(errors="replace").splitlines():
        peak = re.match(r"measured bf16 matmul peak ([\d.]+) TFLOP/s", line)
        if peak:
            found["peak_tflops"] = float(peak.group(1))
            continue
        match = re.match(r"^(\S+) (\S+)(?: (\S+))? (\{.*\})$", line)
        if match:
            try:
                found["_".join(p for p in match.groups()[:3] if p)] = ast.literal_eval(match.group(4))
            except (ValueError, SyntaxError):
                continue
    return found


# gpu_suite.sh's real pre-training runs (its real_run calls) and the settings each adds
REAL_RUNS = {"real_steps": "eager", "real_steps_fft": "eager, model.encoder.pos_conv=fft",
             "real_steps_efficient": "eager, model.encoder.attention=efficient",
             "real_steps_cudnn": "eager, cudnn_benchmark=true data.pad_multiple=64"}


def real_steps(metrics: Path) -> dict | None:
    if not metrics.is_file():
        return None
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    if not records:
        return None
    timed = records[1:] or records
    return {"steps": records[-1]["step"], "loss_first_window": round(records[0]["loss"], 4),
            "loss_last_window": round(records[-1]["loss"], 4), "loss_fell": records[-1]["loss"] < records[0]["loss"],
            "audio_seconds_per_second": round(sum(r["audio_s_per_s"] for r in timed) / len(timed), 1),
            "data_wait_fraction": round(sum(r["data_wait_fraction"] for r in timed) / len(timed), 4),
            "curve": [[r["step"], round(r["loss"], 4)] for r in records]}


def goals(suite: dict) -> dict:
    """Each goal: the best measured value beside its target (None where not measured)."""
    throughput = [r for r in (suite.get("pretrain_throughput") or {}).get("results", []) if "error" not in r]
    units = [r for r in throughput if r["kind"] == "units"]
    best = max(units, key=lambda r: r["audio_seconds_per_second"], default=None)
    ratios = [r["speedup_vs_waveform"] for r in units if "speedup_vs_waveform" in r]
    pipeline = [r for r in (suite.get("pipeline_throughput") or {}).get("results", []) if r["kind"] == "units"]
    extract = ((suite.get("extract_throughput") or {}).get("results") or {}).get("dac_16khz_architecture")
    measured = {
        "units_base_audio_s_per_s": best["audio_seconds_per_second"] if best else None,
        "units_base_mfu": best.get("mfu") if best else None,
        "units_vs_waveform": max(ratios) if ratios else None,
        "units_vs_waveform_end_to_end": pipeline[0].get("speedup_vs_waveform") if pipeline else None,
        "dac_16khz_extract_audio_s_per_s": extract["audio_seconds_per_second"] if extract else None,
    }
    out = {}
    for name, value in measured.items():
        target = GOALS.get(name, GOALS["units_vs_waveform"])
        out[name] = {"measured": value, "goal": target, "met": None if value is None else value >= target}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--logs", type=Path, required=True)
    parser.add_argument("--log", default="")
    parser.add_argument("--mode", default="gpu")
    parser.add_argument("--seconds", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    suite = {"benchmark": "gpu_suite", "mode": args.mode,
             "device": torch.cuda.get_device_name() if cuda else "CPU (smoke run)",
             "torch": torch.__version__, "suite_seconds": args.seconds,
             "steps": [read_json(p) for p in sorted(args.folder.glob("step-*.json"))]}
    for name in ("pretrain_throughput", "pretrain_throughput_online", "pretrain_throughput_ragged",
                 "pipeline_throughput", "extract_throughput"):
        suite[name] = read_json(args.folder / f"{name}.json")
    for name in REAL_RUNS:
        suite[name] = real_steps(args.folder / f"{name}_metrics.jsonl")
    suite["anchors"] = {name: read_json(args.folder / f"{name}.json") or anchor_lines(args.logs / f"{log}.log")
                        for name, log in (("gpu_limit", "anchor_limit"), ("gpu_anchor", "anchor_hubert"))}
    suite["goals"] = goals(suite)
    suite.update(provenance())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(suite, indent=2) + "\n")

    print(f"\nGPU suite on {suite['device']} (torch {suite['torch']}), {args.seconds} s")
    for step in suite["steps"]:
        print(f"  {step['step']:<14} {step['status']}" + (f" ({step['seconds']} s)" if "seconds" in step else ""))
    throughput = suite["pretrain_throughput"]
    if throughput:
        peak = throughput.get("matmul_peak_tflops")
        print(f"\npre-training step, {throughput['preset']}, {throughput['precision']}"
              + (f", matmul peak {peak} TFLOP/s" if peak else ""))
        for r in throughput["results"]:
            if "error" in r:
                print(f"  {r['kind']:<9} B={r['batch']:<3} {'compiled' if r['compiled'] else 'eager':<8} failed: "
                      f"{r['error'][:70]}")
                continue
            print(f"  {r['kind']:<9} B={r['batch']:<3} {'compiled' if r['compiled'] else 'eager':<8} "
                  f"{r['audio_seconds_per_second']:>9.0f} audio-s/s  x{r.get('speedup_vs_waveform', '-')} vs waveform"
                  + (f"  MFU {r['mfu']:.1%}" if "mfu" in r else "")
                  + (f"  {r['peak_memory_gib']} GiB" if "peak_memory_gib" in r else ""))
    for name, label in (("pretrain_throughput_online", "online targets"), ("pretrain_throughput_ragged",
                                                                          "padded batches (50-100 % lengths)")):
        for r in (suite[name] or {}).get("results", []):
            print(f"  units     B={r['batch']:<3} {label}: " + (f"failed: {r['error'][:70]}" if "error" in r else
                  f"{r['audio_seconds_per_second']:.0f} audio-s/s"))
    for name, label in REAL_RUNS.items():
        if suite[name]:
            r = suite[name]
            print(f"\nreal pre-training (torchrun, 1 rank, {label}): {r['steps']} steps, loss "
                  f"{r['loss_first_window']} -> {r['loss_last_window']}, {r['audio_seconds_per_second']} audio-s/s "
                  "(first window left out)")
    if suite["pipeline_throughput"]:
        print("\nwhole training loop from disk:")
        for r in suite["pipeline_throughput"]["results"]:
            print(f"  {r['kind']:<9} " + (f"failed: {r['error'][:70]}" if "error" in r else
                  f"{r['audio_seconds_per_second']:>9.0f} audio-s/s  x{r.get('speedup_vs_waveform', '-')}  "
                  f"data wait {r['data_wait_fraction']:.1%}  padding {r['padding_fraction']:.1%}"))
    if suite["extract_throughput"]:
        print("\nextraction:")
        for name, r in suite["extract_throughput"]["results"].items():
            print(f"  {name:<32} {r['audio_seconds_per_second']:>9} audio-s/s"
                  + (f"  codes equal to fp32: {r['codes_equal_to_fp32']:.1%}" if "codes_equal_to_fp32" in r else ""))
    for name, figures in suite["anchors"].items():
        if figures:
            print(f"\nanchor {name}:")
            for key, value in figures.items():
                if isinstance(value, dict):
                    shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in value.items()}
                    print(f"  {key:<26} {shown}")
                else:
                    print(f"  {key:<26} {value}")
    print("\ngoals:")
    for name, g in suite["goals"].items():
        print(f"  {name:<32} measured {g['measured']}  goal >= {g['goal']}  "
              + {True: "met", False: "NOT met", None: "not measured"}[g["met"]])
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()

"""Issue 35's goals for a candidate default codec, met or missed, from the result files that measured
them (benchmarks/results/default_codec_v3/goals.json).

    .venv/bin/python benchmarks/default_codec_goals.py \
        --latent RESULTS/latent/results.json --fbank RESULTS/fbank/results.json \
        --codec-eval RESULTS/codec_eval_real_en/intervals_vs_codec2.json --system "NAME (6 kbit/s)" \
        --extract RESULTS/extract_throughput_cli_defaults.json --out benchmarks/results/default_codec_v3/goals.json

Rates are percent. Intervals are the files' own 95 % intervals: test-utterance bootstraps for the
latent probe, paired bootstraps over the 60 real English clips for `codec eval` (a goal "better than
Codec 2" is met only where the paired difference's interval excludes 0). The offline proof's keys
stay null, with the reason, until `--proof` names its rerun (`recipes/offline_proof.sh`'s EXP or its
published copy: goals/goals.json and benchmark/). Its goal: the best unit model (the proof's, by mean
rank over the tasks) within 2 PER points of the log-mel model on PR or better, not separated below it
on SID, and every unit model's PR separated better than the codec latent's.

    ... --proof benchmarks/results/offline_proof_default_v3
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from codec2vec.eval.intervals import separated
from codec2vec.provenance import machine, provenance

CODEC2 = "Codec 2 3.2 kbit/s"
UNIT_MODELS = ("recon", "online", "hubert1", "hubert2")  # recipes/offline_proof.sh's runs on units
LOGMEL, LATENT = "logmel-online", "codec-default"
PR_MARGIN = 2.0  # PER points the best unit model may trail the log-mel model by


def _task(results: Path, task: str) -> tuple[float, list[float]]:
    entry = json.loads(results.read_text(encoding="utf-8"))["tasks"][task]
    return round(100 * entry["test"], 2), [round(100 * x, 2) for x in entry["test_interval"]]


def proof_goals(proof: Path) -> tuple[dict, bool]:
    """The proof's keys (percent, with intervals) and whether its goal is met."""
    summary_file, bench = proof / "goals" / "goals.json", proof / "benchmark"
    if not summary_file.is_file():
        raise SystemExit(f"{proof}: no goals/goals.json (stage 9 of recipes/offline_proof.sh writes it)")
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    best = summary["best_unit_model"]

    def task(model: str, name: str) -> tuple[float, list[float]]:
        results = bench / model / "results.json"
        if not results.is_file():
            raise SystemExit(f"{results}: missing ({model} was not benchmarked in {proof})")
        return _task(results, name)

    keys: dict = {"proof_best_unit_model": best, "proof_compute": summary["compute"]}
    for key, model, name in (("proof_best_unit_pr_per", best, "pr"), ("proof_logmel_pr_per", LOGMEL, "pr"),
                             ("proof_best_unit_sid_acc", best, "sid"), ("proof_logmel_sid_acc", LOGMEL, "sid"),
                             ("proof_latent_pr_per", LATENT, "pr")):
        keys[key], keys[f"{key}_interval"] = task(model, name)
    units_pr = {model: task(model, "pr") for model in UNIT_MODELS}
    keys["proof_unit_pr_per"] = {model: value for model, (value, _) in units_pr.items()}

    sid_below = keys["proof_best_unit_sid_acc"] < keys["proof_logmel_sid_acc"] and separated(
        keys["proof_best_unit_sid_acc_interval"], keys["proof_logmel_sid_acc_interval"])
    latent, latent_interval = keys["proof_latent_pr_per"], keys["proof_latent_pr_per_interval"]
    above_latent = all(value < latent and separated(interval, latent_interval)
                       for value, interval in units_pr.values())
    close_on_pr = keys["proof_best_unit_pr_per"] - keys["proof_logmel_pr_per"] <= PR_MARGIN
    return keys, close_on_pr and not sid_below and above_latent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latent", type=Path, required=True, help="`evaluate` results.json of the codec latent")
    parser.add_argument("--fbank", type=Path, required=True, help="`evaluate` results.json of FBANK, same corpus")
    parser.add_argument("--codec-eval", type=Path, required=True, help="codec_eval_intervals.py's JSON vs Codec 2")
    parser.add_argument("--system", required=True, help="the candidate's row name in the codec eval")
    parser.add_argument("--extract", type=Path, required=True, help="extract_throughput.py --corpus JSON")
    parser.add_argument("--proof", type=Path, help="the offline proof's rerun on this codec (EXP or its publication)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    goals: dict = {"codec": args.system}
    goals["latent_pr_per"], goals["latent_pr_per_interval"] = _task(args.latent, "pr")
    goals["fbank_pr_per"], goals["fbank_pr_per_interval"] = _task(args.fbank, "pr")
    goals["latent_sid_acc"], goals["latent_sid_acc_interval"] = _task(args.latent, "sid")

    table = json.loads(args.codec_eval.read_text(encoding="utf-8"))
    if table["reference"] != CODEC2:
        parser.error(f"{args.codec_eval}: differences are taken from {table['reference']!r}, not {CODEC2!r}")
    mine, codec2 = table["systems"][args.system], table["systems"][CODEC2]
    raw = json.loads(Path(table["results"]).read_text(encoding="utf-8"))
    originals = raw["intervals"]["original audio"]["wer"]
    for key, measure in (("stoi", "stoi"), ("pesq", "pesq_wb"), ("wer", "wer"),
                         ("speaker_similarity", "speaker_similarity")):
        goals[f"real_en_{key}"], goals[f"real_en_{key}_interval"] = mine[measure]["value"], mine[measure]["interval"]
        goals[f"codec2_{key}"], goals[f"codec2_{key}_interval"] = codec2[measure]["value"], codec2[measure]["interval"]
    goals["originals_wer"], goals["originals_wer_interval"] = originals["value"], originals["interval"]

    extract = json.loads(args.extract.read_text(encoding="utf-8"))
    rates = {name: r["audio_seconds_per_second"] for name, r in extract["results"].items()
             if name.endswith(" " + extract["codec"])}
    goals["extract_audio_s_per_s"] = min(rates.values())  # the slowest subset decides
    goals["extract_audio_s_per_s_interval"] = None  # one timed pass per subset: no interval
    goals["extract_by_subset"] = rates

    proof_met = None
    if args.proof:
        proof_keys, proof_met = proof_goals(args.proof)
        goals.update(proof_keys)
    else:
        for key in ("proof_best_unit_pr_per", "proof_logmel_pr_per", "proof_best_unit_sid_acc",
                    "proof_logmel_sid_acc"):
            goals[key] = goals[f"{key}_interval"] = None
        goals["proof_not_run"] = "the offline proof has not been rerun on this codec"

    def better(measure: str, lower_is_better: bool) -> bool:
        diff = mine[measure]["difference"]
        return diff["separated"] and (diff["value"] < 0) == lower_is_better

    verdicts = {
        "latent PR PER <= FBANK's": goals["latent_pr_per"] <= goals["fbank_pr_per"],
        "latent PR PER separated from FBANK's": separated(goals["latent_pr_per_interval"],
                                                            goals["fbank_pr_per_interval"]),
        "latent SID >= 80": goals["latent_sid_acc"] >= 80,
        "STOI better than Codec 2, separated": better("stoi", False),
        "PESQ better than Codec 2, separated": better("pesq_wb", False),
        "WER better than Codec 2, separated": better("wer", True),
        "speaker similarity better than Codec 2, separated": better("speaker_similarity", False),
        "WER within 15 points of the originals'": goals["real_en_wer"] - goals["originals_wer"] <= 15,
        "extraction >= 300 audio-s/s": goals["extract_audio_s_per_s"] >= 300,
        "offline proof": proof_met,
    }
    record = {"benchmark": "default_codec_goals", "goals": goals, "met": verdicts,
              "sources": {k: None if getattr(args, k) is None else str(getattr(args, k))
                          for k in ("latent", "fbank", "codec_eval", "extract", "proof")},
              "hardware": machine(), "extract_hardware": extract.get("machine", extract["device"]), **provenance()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    for goal, met in verdicts.items():
        print(f"{'n/a ' if met is None else 'met ' if met else 'MISS'}  {goal}")


if __name__ == "__main__":
    main()

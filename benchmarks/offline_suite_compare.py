"""Before/after table of the offline suite (markdown, to stdout): the 2026-11-23 run
(benchmarks/results/offline_suite_cpu/results.json) against a newer `codec2vec benchmark` folder.

    python3 benchmarks/offline_suite_compare.py exp/offline-suite/bench > before_after.md
"""
import json
import sys
from pathlib import Path

before = json.load(open("benchmarks/results/offline_suite_cpu/results.json"))["upstreams"]
bench = Path(sys.argv[1])
tasks = ["pr", "asr", "ks", "sid", "ic", "er", "asv"]
names = {"fbank": "fbank", "codec-default": "codec latent", "small-reconstruction": "small reconstruction",
         "small-kmeans": "small k-means", "small-online": "small online", "small-waveform-online": "waveform online (40 steps)"}
def cell(r):
    if r is None: return "-"
    c = f"{100 * r['test']:.1f}"
    if r.get("metric") == "wer" or "cer" in r.get("test_metrics", {}):
        c = f"{100 * r['test']:.1f} ({100 * r['test_metrics']['cer']:.1f})"
    return c
def pnmi(q, which):
    if not q or not q.get(which): return "-"
    return f"{q[which][0]['pnmi']:.3f}"
print("| upstream | run | " + " | ".join(t.upper() for t in tasks) + " | PNMI synth | PNMI real |")
print("|---" * (4 + len(tasks)) + "|")
for key, name in names.items():
    old = before.get(key)
    new_dir = bench / key
    new = {t: json.load(open(new_dir / f"{t}.json")) for t in tasks if (new_dir / f"{t}.json").is_file()}
    q = json.load(open(new_dir / "unit_quality.json")) if (new_dir / "unit_quality.json").is_file() else None
    if old:
        oq = old.get("unit_quality") or old.get("units")
        print(f"| {name} | 2026-11-23 | " + " | ".join(cell(old["tasks"].get(t)) for t in tasks)
              + f" | {pnmi(oq, 'synthetic')} | {pnmi(oq, 'real')} |")
    print(f"| {name} | now | " + " | ".join(cell(new.get(t)) for t in tasks) + f" | {pnmi(q, 'synthetic')} | {pnmi(q, 'real')} |")

"""`codec2vec describe PATH`: say what any codec2vec artifact is and what it holds."""

from __future__ import annotations

import json
from pathlib import Path

from codec2vec.data.corpus import CORPUS_FILE, read_corpus_header
from codec2vec.data.manifest import read_manifest
from codec2vec.errors import Codec2VecError


def _describe_corpus(folder: Path) -> str:
    h = read_corpus_header(folder)
    rate = h.get("sample_rate")
    rates = ", ".join(map(str, h.get("sample_rates") or [])) or "each row gives its own"
    lines = [f"codec2vec corpus '{h['name']}' at {folder}",
             f"  sample rate: {f'{rate} Hz' if rate else f'mixed ({rates} Hz)'}   "
             f"phone set: {h.get('phone_set') or 'none (no phone labels)'}"]
    if "engines_used" in h:
        lines.append(f"  voices: {len(h.get('voices', []))} from engines {h['engines_used']}"
                     + (f" (requested but not installed: {h['engines_missing']})" if h.get("engines_missing") else ""))
    lines.append(f"  {'subset':<10} {'tasks':<12} {'utts':>7} {'hours':>8} {'speakers':>9}  splits")
    for name, s in h["subsets"].items():
        splits = " ".join(f"{k}={v}" for k, v in s["splits"].items())
        lines.append(f"  {name:<10} {','.join(s['tasks']):<12} {s['utterances']:>7} {s['hours']:>8.3f} {s['speakers']:>9}  {splits}")
    total = sum(s["hours"] for s in h["subsets"].values())
    lines.append(f"  total: {total:.3f} h")
    if h.get("notes"):
        lines.append(f"  note: {h['notes']}")
    prov = h.get("provenance", {})
    lines.append(f"  made by codec2vec {prov.get('versions', {}).get('codec2vec')} at git {prov.get('git_revision')}")
    return "\n".join(lines)


def _describe_manifest(path: Path) -> str:
    m = read_manifest(path)
    labels = [f for f in ("text", "phonemes", "keyword", "intent", "emotion") if any(getattr(r, f) for r in m.rows)]
    splits = " ".join(f"{s}={len(m.split(s))}" for s in m.splits)
    lines = [
        f"codec2vec manifest: corpus '{m.header.corpus}', subset '{m.header.subset}', tasks {m.header.tasks}",
        f"  {len(m.rows)} utterances, {m.hours:.3f} h, {len({r.speaker for r in m.rows})} speakers; splits: {splits}",
        f"  labels: {', '.join(labels) or 'none'}",
    ]
    resampled = sum(1 for r in m.rows if r.source_sample_rate)
    if resampled:
        lines.append(f"  {resampled} utterances were resampled from another rate (source_sample_rate)")
    if m.header.notes:
        lines.append(f"  note: {m.header.notes}")
    return "\n".join(lines)


def _describe_model(folder: Path) -> str:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("codec2vec") != "codec2vec-model":
        return f"{folder}: a model folder, but not a codec2vec pre-trained model"
    enc, inp = config["model"]["encoder"], config["model"]["input"]
    codec = config.get("codec") or {}
    lines = [f"codec2vec model at {folder}: {inp['kind']} input, objective {config.get('objective')}, "
             f"step {config.get('step')}",
             f"  encoder preset {enc['preset']} (layers/width/heads/ffn overrides: "
             f"{enc['layers']}/{enc['width']}/{enc['heads']}/{enc['ffn']}; 0 = preset)"]
    if codec:
        lines.append(f"  codec {codec['codec_id']} ({codec['architecture']}), {codec['frame_rate']} frames/s, "
                     f"{codec['n_codebooks']} x {codec['codebook_size']}")
    lines.append(f"  made by codec2vec {config.get('versions', {}).get('codec2vec')} at git {config.get('git_revision')}")
    return "\n".join(lines)


def _describe_results(folder: Path) -> str:
    from codec2vec.eval.harness import results_table
    from codec2vec.eval.report import load_run

    run = load_run(folder)
    upstream = next(iter(run["tasks"].values()))["upstream"]
    return (f"codec2vec evaluation results at {folder}: upstream {upstream['name']} ({upstream['spec']}), "
            f"{len(run['tasks'])} task(s)\n" + results_table(list(run["tasks"].values())).rstrip())


def describe(path: str | Path) -> str:
    path = Path(path)
    if not path.exists():
        raise Codec2VecError(f"{path}: no such file or folder")
    if path.is_dir() and (path / CORPUS_FILE).is_file():
        return _describe_corpus(path)
    if path.is_dir() and ((path / "header.json").is_file() or (path / "extract-run.json").is_file()):
        from codec2vec.units import UnitStore

        return UnitStore(path).describe()
    if path.is_dir() and (path / "config.json").is_file() and (path / "model.safetensors").is_file():
        return _describe_model(path)
    if path.is_dir() and (path / "checkpoint.pt").is_file() and (path / "model").is_dir():
        return _describe_model(path / "model")
    if path.is_dir() and (path / "results.json").is_file():
        return _describe_results(path)
    if path.is_file() and path.name == CORPUS_FILE:
        return _describe_corpus(path.parent)
    if path.is_file() and path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as f:
            first = f.readline()
        try:
            kind = json.loads(first).get("codec2vec")
        except (json.JSONDecodeError, AttributeError):
            kind = None
        if kind == "manifest":
            return _describe_manifest(path)
    raise Codec2VecError(f"{path}: not a codec2vec artifact (expected a corpus folder, a manifest .jsonl, a unit or label store, a model or run folder, evaluation results)")

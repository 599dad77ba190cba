import re
import subprocess
import sys
from pathlib import Path

import yaml

from codec2vec.cli import main


def test_synth_describe_and_overrides(tmp_path, capsys):
    out = tmp_path / "c"
    code = main(["corpus", "synth", "--out", str(out), "--hours", "0.01", "--voices", "4", "--engines", "espeak",
                 "--workers", "1", "--quiet", "shares.er=0", "shares.sid=0"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"codec2vec corpus 'synth' at {out}" in printed
    assert "voices: 4 from engines ['espeak']" in printed
    assert "er " not in printed and "ks         ks" in printed
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["hours"] == 0.01 and saved["shares"]["er"] == 0 and saved["engines"] == ["espeak"]

    assert main(["describe", str(out / "ks.jsonl")]) == 0
    printed = capsys.readouterr().out
    assert "codec2vec manifest: corpus 'synth', subset 'ks', tasks ['ks']" in printed
    assert "labels: text, phonemes, keyword" in printed


def test_config_errors_exit_2(tmp_path, capsys):
    assert main(["corpus", "synth", "--out", str(tmp_path / "c"), "hourz=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("codec2vec: error: override 'hourz=1': unknown config key 'hourz'")
    assert "Did you mean 'hours'?" in err
    assert not (tmp_path / "c").exists()


def test_yaml_config_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"out: {tmp_path / 'from-yaml'}\nhours: 0.01\nvoices: 3\nengines: [espeak]\nworkers: 1\n")
    assert main(["corpus", "synth", "--config", str(cfg), "--quiet"]) == 0
    assert (tmp_path / "from-yaml" / "corpus.json").is_file()


def test_describe_errors(tmp_path, capsys):
    (tmp_path / "x.jsonl").write_text('{"a": 1}\n')
    assert main(["describe", str(tmp_path / "x.jsonl")]) == 1
    assert "not a codec2vec artifact" in capsys.readouterr().err
    assert main(["describe", str(tmp_path / "missing")]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_manifest_errors_exit_4(tmp_path, capsys):
    code = main(["corpus", "prepare", "voxceleb1", "--src", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 4
    assert "iden_split.txt: not found" in capsys.readouterr().err


def test_voices(capsys):
    assert main(["corpus", "voices", "--engines", "espeak"]) == 0
    out = capsys.readouterr().out
    count = int(re.search(r"espeak: (\d+) voices, \1 speakers", out).group(1))
    assert count >= 100 and f"total: {count} distinct speakers" in out and "espeak-m3" in out


def test_console_script_runs_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "codec2vec.cli", "describe", str(tmp_path / "nope")],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "no such file or folder" in result.stderr




def test_evaluate_given_a_benchmark_config_says_what_to_run(tmp_path, capsys):
    offline = str(Path(__file__).resolve().parents[1] / "configs" / "eval" / "offline.yaml")
    assert main(["evaluate", "--config", offline, "--model", "fbank", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'real'" in err
    assert f"{offline} is a `codec2vec benchmark` config: run `codec2vec benchmark --config {offline} " \
           "--models MODEL --out OUT`" in err
    (tmp_path / "bad.yaml").write_text("seeed: 1\n")  # a plain typo gets no benchmark hint
    assert main(["evaluate", "--config", str(tmp_path / "bad.yaml"), "--model", "fbank", "--out", str(tmp_path)]) == 2
    assert "benchmark" not in capsys.readouterr().err

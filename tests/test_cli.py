"""Tests of the ``cfan`` command line (tfx_pipeline/cli.py)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import pytest

from preprocessing import config as cfg_lib
from preprocessing import features as F
from tfx_pipeline import cli

SUBCOMMANDS = ("demo-data", "build-examples", "run", "demo", "predict",
               "configs")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFAN = os.path.join(os.path.dirname(sys.executable), "cfan")


def _help(capsys, argv):
  with pytest.raises(SystemExit) as exc:
    cli.main(argv)
  assert exc.value.code == 0
  return capsys.readouterr().out


def test_top_level_help_lists_subcommands(capsys):
  out = _help(capsys, ["--help"])
  assert out.startswith("usage: cfan")
  for name in SUBCOMMANDS:
    assert name in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_subcommand_help(capsys, name):
  out = _help(capsys, [name, "--help"])
  assert out.startswith(f"usage: cfan {name}")


def _parsers(parser, name="cfan"):
  """(name, parser) of ``parser`` and of every subcommand under it."""
  yield name, parser
  for action in parser._actions:  # pylint: disable=protected-access
    if isinstance(action, argparse._SubParsersAction):  # pylint: disable=protected-access
      for sub_name, sub in action.choices.items():
        yield from _parsers(sub, f"{name} {sub_name}")


def test_every_flag_of_every_command_has_help():
  parser = cli.build_parser()
  names = [name for name, _ in _parsers(parser)]
  assert len(names) == 1 + len(
      parser._subparsers._group_actions[0].choices)  # pylint: disable=protected-access
  missing = []
  for name, p in _parsers(parser):
    for action in p._actions:  # pylint: disable=protected-access
      if isinstance(action, argparse._SubParsersAction):  # pylint: disable=protected-access
        continue
      text = action.help
      if not text or text == argparse.SUPPRESS or not text.strip():
        flag = "/".join(action.option_strings) or action.dest
        missing.append(f"{name} {flag}")
    p.format_help()  # every %(default)s expands
  assert not missing, f"flags without help text: {missing}"


def test_tag_rule_flags_default_to_the_share():
  parser = cli.build_parser()
  for command in ("build-examples", "run", "experiment"):
    base = [command, "--data", "D"] + (
        ["--out", "O"] if command != "run" else ["--workdir", "W"])
    args = parser.parse_args(base)
    assert args.min_tag_images is None
    assert args.min_tag_share == F.DEFAULT_MIN_TAG_SHARE
    args = parser.parse_args(base + ["--min-tag-images", "40"])
    assert (args.min_tag_images, args.min_tag_share) == (
        40, F.DEFAULT_MIN_TAG_SHARE)  # the count wins (build_examples)
    with pytest.raises(SystemExit):
      parser.parse_args(base + ["--min-tag-images", "40",
                                "--min-tag-share", "0.1"])


def test_no_command_is_a_usage_error(capsys):
  with pytest.raises(SystemExit) as exc:
    cli.main([])
  assert exc.value.code == 2
  assert "COMMAND" in capsys.readouterr().err


def test_console_script_help_is_fast_and_imports_no_tensorflow():
  if not os.path.exists(CFAN):
    pytest.skip(f"console script not installed at {CFAN}")
  t0 = time.time()
  proc = subprocess.run([CFAN, "--help"], capture_output=True, text=True,
                        timeout=30, cwd=REPO)
  elapsed = time.time() - t0
  assert proc.returncode == 0, proc.stderr
  for name in SUBCOMMANDS:
    assert name in proc.stdout
  assert elapsed < 5.0, f"cfan --help took {elapsed:.1f} s"
  # And the CLI module itself does not pull in TensorFlow or Beam.
  code = ("import sys; from tfx_pipeline import cli; "
          "bad = [m for m in ('tensorflow', 'apache_beam', 'tfx') "
          "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, timeout=60, cwd=REPO)
  assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("argv,own,beam", [
    ([], [], []),
    (["run", "--data", "d"], ["run", "--data", "d"], []),
    (["build-examples", "--data", "d", "--out", "o", "--",
      "--runner=DirectRunner", "--direct_num_workers=2"],
     ["build-examples", "--data", "d", "--out", "o"],
     ["--runner=DirectRunner", "--direct_num_workers=2"]),
    (["run", "--"], ["run"], []),
    (["a", "--", "b", "--", "c"], ["a"], ["b", "--", "c"]),  # first "--" only
])
def test_split_beam_args(argv, own, beam):
  assert cli._split_beam_args(argv) == (own, beam)  # pylint: disable=protected-access


def test_split_beam_args_accepts_tuples():
  assert cli._split_beam_args(("x", "--", "y")) == (["x"], ["y"])  # pylint: disable=protected-access


def test_build_examples_missing_dir_exits_2(tmp_path, capsys):
  missing = str(tmp_path / "no_such_dir")
  rc = cli.main(["build-examples", "--data", missing, "--out",
                 str(tmp_path / "out")])
  assert rc == 2
  err = capsys.readouterr().err
  assert "cfan build-examples: error:" in err
  assert missing in err


def test_configs_cpu_prints_json(capsys):
  assert cli.main(["configs", "cpu"]) == 0
  data = json.loads(capsys.readouterr().out)
  assert list(data) == ["cpu"]
  assert data["cpu"]["image_size"] == cfg_lib.get_config("cpu").image_size
  assert cfg_lib.ModelConfig.from_dict(data["cpu"]) == \
      cfg_lib.get_config("cpu")


def test_configs_all(capsys):
  assert cli.main(["configs"]) == 0
  data = json.loads(capsys.readouterr().out)
  assert sorted(data) == sorted(cfg_lib.CONFIGS)
  assert data["paper"]["image_size"] == 320


def test_configs_unknown_name_is_a_usage_error(capsys):
  with pytest.raises(SystemExit) as exc:
    cli.main(["configs", "gpu-monster"])
  assert exc.value.code == 2
  assert "invalid choice" in capsys.readouterr().err

"""Preflight of ``cfan run`` (tfx_pipeline/preflight.py, issue 12): each
failure is found before any Beam stage, named, and comes with its fix."""
from __future__ import annotations

import os

import pytest

import demo_data
from preprocessing import config as cfg_lib
from preprocessing import images
from tfx_pipeline import preflight

GB = 10**9


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
  root = tmp_path_factory.mktemp("preflight")
  data = str(root / "data")
  gen = demo_data.generate(data, users=8, images=24, seed=4, layout="uir")
  return data, gen


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
  """No VGG-16 weights anywhere the config looks."""
  monkeypatch.delenv(cfg_lib.VGG16_WEIGHTS_ENV, raising=False)
  monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
  return tmp_path


def _plenty(_):
  return (10 * GB, 0, 10 * GB)


def test_paper_config_without_weights_names_paths_and_fix(no_weights):
  problem, _ = preflight.check_weights(cfg_lib.get_config("paper"))
  text = str(problem)
  assert problem.check == "ImageNet weights"
  assert cfg_lib.keras_cache_weights_path() in text
  assert str(no_weights / "keras_home") in cfg_lib.keras_cache_weights_path()
  assert f"${cfg_lib.VGG16_WEIGHTS_ENV}=(not set)" in text
  assert f"{cfg_lib.VGG16_WEIGHTS_ENV}=/path/to/{cfg_lib.VGG16_WEIGHTS_FILE}" \
      in problem.fix
  assert "--config cpu" in problem.fix


def test_weights_placed_by_env_pass(no_weights, monkeypatch):
  weights = no_weights / cfg_lib.VGG16_WEIGHTS_FILE
  weights.write_bytes(b"h5")
  monkeypatch.setenv(cfg_lib.VGG16_WEIGHTS_ENV, str(weights))
  problem, note = preflight.check_weights(cfg_lib.get_config("paper"))
  assert problem is None and str(weights) in note
  # A config without the VGG-16 backbone needs none.
  monkeypatch.delenv(cfg_lib.VGG16_WEIGHTS_ENV)
  assert preflight.check_weights(cfg_lib.get_config("cpu"))[0] is None


def test_unwritable_workdir(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a directory")
  problem, _ = preflight.check_workdir(str(blocker / "run"))
  assert problem.check == "work directory"
  assert f"{blocker / 'run'} is not writable" in problem.message
  assert "--workdir" in problem.fix
  ok, note = preflight.check_workdir(str(tmp_path / "new" / "run"))
  assert ok is None and os.path.isdir(tmp_path / "new" / "run")
  assert os.listdir(tmp_path / "new" / "run") == []  # the probe is gone


def test_projection_counts_reviews_and_stored_image_bytes(small_data):
  data, gen = small_data
  need, how = preflight.projected_bytes(data)
  assert f"{gen['reviews']:,d} reviews" in how  # uir.txt: one a line
  folder = os.path.join(data, "images")
  stored = []
  for name in os.listdir(folder):
    with open(os.path.join(folder, name), "rb") as fh:
      stored.append(len(images.reencode_image(fh.read())))
  per_review = need / gen["reviews"] / preflight.DATA_COPIES
  assert min(stored) <= per_review <= max(stored)


def test_too_little_disk_fails_with_sizes(small_data, tmp_path):
  data, _ = small_data
  need, _ = preflight.projected_bytes(data)
  problem, _ = preflight.check_disk(data, str(tmp_path),
                                    lambda _: (GB, GB, need // 2))
  assert problem.check == "disk space"
  assert f"about {need / GB:.2f} GB" in problem.message
  assert "larger disk" in problem.fix
  assert preflight.check_disk(data, str(tmp_path), _plenty)[0] is None


def test_versions_against_the_lock(tmp_path):
  ok, note = preflight.check_versions()  # this environment is the lock's
  assert ok is None, str(ok)
  assert "TensorFlow" in note
  lock = tmp_path / "uv.lock"
  lock.write_text('version = 1\nrequires-python = "==2.7.*"\n\n'
                  '[[package]]\nname = "tensorflow"\nversion = "0.0.1"\n')
  problem, _ = preflight.check_versions(str(lock), python_version="3.10.13")
  assert problem.check == "versions"
  assert "Python 3.10.13 (lock: ==2.7.*)" in problem.message
  assert "tensorflow " in problem.message and "(lock: 0.0.1)" in \
      problem.message
  assert "uv sync --frozen" in problem.fix


def test_every_problem_is_listed_at_once(small_data, no_weights):
  data, _ = small_data
  blocker = no_weights / "a_file"
  blocker.write_text("")
  with pytest.raises(preflight.PreflightError) as exc:
    preflight.check(data, str(blocker / "run"), cfg_lib.get_config("paper"),
                    disk_usage=_plenty)
  msg = str(exc.value)
  assert isinstance(exc.value, ValueError)  # cfan prints it, exits 2
  assert "2 problem(s) found before any data was processed" in msg
  assert "ImageNet weights:" in msg and "work directory:" in msg
  assert msg.count("fix: ") == 2


def test_cfan_run_fails_before_any_beam_stage(small_data, no_weights,
                                             capsys):
  from tfx_pipeline import cli  # pylint: disable=g-import-not-at-top
  data, _ = small_data
  workdir = no_weights / "run"
  assert cli.main(["run", "--data", data, "--workdir", str(workdir),
                   "--config", "paper"]) == 2
  err = capsys.readouterr().err
  assert "cfan run: error: preflight: 1 problem(s)" in err
  assert cfg_lib.VGG16_WEIGHTS_FILE in err
  assert not os.path.exists(workdir / "examples")  # build-examples never ran

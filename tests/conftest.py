"""Shared fixtures.

``tiny_pipeline_run`` runs the whole TFX pipeline once per test session on a
tiny demo dataset (about four minutes on 2 cores) and is shared by every
slow test that needs a trained, pushed model. Tests that rerun the pipeline in
its workdir must leave the first pushed model in place.
"""
from __future__ import annotations

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

import preprocessing  # noqa: E402,F401  (pins Keras 3 before TF)
import pytest  # noqa: E402

TINY_USERS = 16
TINY_IMAGES = 90
TINY_SEED = 3
TINY_TRAIN_STEPS = 40
TINY_MIN_TAG_IMAGES = 6


@pytest.fixture(scope="session")
def tiny_demo_data(tmp_path_factory):
  """One tiny demo AVA-review directory, shared read-only by the fixtures."""
  import demo_data  # pylint: disable=g-import-not-at-top
  data = str(tmp_path_factory.mktemp("tiny_data") / "data")
  demo_data.generate(data, users=TINY_USERS, images=TINY_IMAGES,
                     seed=TINY_SEED)
  return data


@pytest.fixture(scope="session")
def tiny_pipeline_run(tmp_path_factory, tiny_demo_data):
  """(data_dir, workdir, RunResult) of one full pipeline run (min_auc=0, no
  floor gate)."""
  from tfx_pipeline import local_runner  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp("tiny_run")
  data = tiny_demo_data
  workdir = str(root / "work")
  # min_auc=0 and no floor gate: the tiny model (a few steps) must be pushed
  # so the export can be checked; tests/test_validation_gates.py gates it.
  res = local_runner.run(data, workdir, config_name="cpu",
                         train_steps=TINY_TRAIN_STEPS, min_auc=0.0,
                         min_tag_images=TINY_MIN_TAG_IMAGES, floor_gate=False)
  return data, workdir, res


# ``cfan experiment`` on tiny demo data (tests/test_experiment.py and the
# experiment notebook); a few variants, every protocol, few steps.
TINY_EXPERIMENT_VARIANTS = ("bpr", "cfn-1task", "cfan-1task")
TINY_EXPERIMENT_FIG9 = (1, 8)
TINY_EXPERIMENT_STEPS = 15


@pytest.fixture(scope="session")
def tiny_experiment_run(tmp_path_factory, tiny_demo_data):
  """(data_dir, out_dir, exit code) of one tiny ``cfan experiment`` run."""
  from tfx_pipeline import cli  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp("tiny_experiment")
  data = tiny_demo_data
  out = str(root / "results")
  rc = cli.main([
      "experiment", "--data", data, "--out", out,
      "--variants", *TINY_EXPERIMENT_VARIANTS,
      "--train-steps", str(TINY_EXPERIMENT_STEPS),
      "--fig9-levels", *map(str, TINY_EXPERIMENT_FIG9),
      "--min-tag-images", str(TINY_MIN_TAG_IMAGES)])
  return data, out, rc


@pytest.fixture
def rows_seen_by(monkeypatch):
  """``rows_seen_by(layer)`` -> a list that collects the batch size of each
  later call of ``layer`` (counts backbone rows against distinct images)."""

  def watch(layer):
    seen = []
    original = layer.call

    def counting_call(x, *args, **kwargs):
      seen.append(int(x.shape[0]))
      return original(x, *args, **kwargs)

    monkeypatch.setattr(layer, "call", counting_call)
    return seen

  return watch

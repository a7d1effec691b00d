"""Tests of ``cfan experiment`` (the ``experiments`` package).

Fast: the protocol splits (cold images, reviews per image) and the floors on
hand-made columns. Slow: one tiny ``cfan experiment`` run (the
``tiny_experiment_run`` fixture) writes results.json/.md and the figures from
a single Transform, and the Trainer's ``run_fn`` trains and exports every
model variant from that Transform output through the pipeline's export path.
"""
from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest

import experiments
from evaluation import metrics
from experiments import data
from experiments import results
from preprocessing import features as F

from tests.conftest import TINY_EXPERIMENT_FIG9
from tests.conftest import TINY_EXPERIMENT_VARIANTS

NUM_IMAGES = 41  # 40 known images + the OOV index 40


def _columns(n: int = 400, seed: int = 0) -> dict:
  rng = np.random.default_rng(seed)
  images = rng.integers(0, NUM_IMAGES, n)  # some rows at the OOV index
  return {
      F.USER_XF: rng.integers(0, 9, n),
      F.IMAGE_ID_XF: images,
      F.REVIEW_XF: rng.integers(0, 30, (n, 4)),
      F.IMAGE_XF: np.array([b"jpeg-%d" % i for i in images], dtype=object),
      F.TAG_XF: images % 3,
      F.LABEL_KEY: rng.integers(0, 2, n),
      F.AGNOSTIC_LABEL_KEY: (images % 2).astype(np.int64),
      # what each review says the photo looks like (features.SAID_KEY)
      F.SAID_KEY: rng.integers(0, 3 ** len(F.SAID_ATTRIBUTES), n),
  }


# --------------------------------------------------------------------------
# Splits and floors (fast)
# --------------------------------------------------------------------------


def test_cold_image_split_has_disjoint_images_scored_as_oov():
  cols = _columns()
  train, test = data.cold_image_split(cols, NUM_IMAGES, fraction=0.25)
  assert data.num_rows(train) + data.num_rows(test) == 400
  train_imgs = set(train[F.IMAGE_XF].tolist())
  test_imgs = set(test[F.IMAGE_XF].tolist())
  assert train_imgs and test_imgs and not train_imgs & test_imgs
  # Every test row is scored through the OOV image index, and rows that
  # already were OOV are test rows.
  np.testing.assert_array_equal(test[F.IMAGE_ID_XF], NUM_IMAGES - 1)
  assert NUM_IMAGES - 1 not in set(train[F.IMAGE_ID_XF].tolist())
  # The split is a stable function of the image index.
  for img in {int(x[len(b"jpeg-"):]) for x in test_imgs} - {NUM_IMAGES - 1}:
    assert data.image_bucket(img) < 250
  again, _ = data.cold_image_split(cols, NUM_IMAGES, fraction=0.25)
  np.testing.assert_array_equal(again[F.USER_XF], train[F.USER_XF])


def test_subsample_per_image_keeps_at_most_k_rows_per_image():
  cols = _columns()
  for k in (1, 2, 4):
    sub = data.subsample_per_image(cols, k, seed=1)
    _, counts = np.unique(sub[F.IMAGE_ID_XF], return_counts=True)
    assert counts.max() <= k
    # Images with at least k rows keep exactly k.
    full = dict(zip(*np.unique(cols[F.IMAGE_ID_XF], return_counts=True)))
    kept = dict(zip(*np.unique(sub[F.IMAGE_ID_XF], return_counts=True)))
    assert all(kept[i] == min(k, n) for i, n in full.items())
    assert data.mean_reviews_per_image(sub) <= k
  a = data.subsample_per_image(cols, 2, seed=1)
  b = data.subsample_per_image(cols, 2, seed=1)
  np.testing.assert_array_equal(a[F.USER_XF], b[F.USER_XF])


def test_floors_by_hand():
  """evaluation.metrics' floors, from the *training* rows, grouped by tag."""
  def cols(users, labels, b, votes):
    n = len(users)
    return {F.USER_XF: np.array(users), F.LABEL_KEY: np.array(labels),
            F.AGNOSTIC_LABEL_KEY: np.array(b),
            F.MEAN_SCORE_KEY: np.array(votes, np.float64),
            F.IMAGE_XF: np.array([b"%d" % i for i in range(n)], dtype=object)}
  train = cols([0, 0, 1], [1, 0, 1], [1, 1, 1], [6.0, 4.0, 7.0])
  # Mostly negative test rows: a majority taken from them would be "bad";
  # the training majority is "good". User 2 is unseen.
  test = cols([0, 1, 2], [0, 0, 1], [0, 0, 1], [4.0, 4.5, 6.0])
  tags = np.array(["a", "a", "b"], dtype=object)
  f = results.floors(train, test, tags)
  assert set(f) == set(metrics.FLOOR_NAMES)
  # majority: the training rate 2/3 -> always "good".
  assert f["majority"]["overall"]["accuracy"] == pytest.approx(1 / 3)
  assert f["majority"]["overall"]["auc"] == 0.5
  # Tag "a": rows 0-1 (both bad); tag-mean averages the tags.
  assert f["majority"]["per_tag"]["a"]["accuracy"] == 0.0
  assert f["majority"]["tag_mean"]["accuracy"] == pytest.approx(0.5)
  # user_rate, prior 5 x base rate 2/3: u0 13/21, u1 13/18, unseen u2 2/3:
  # the positive (u2) ranks between the negatives.
  assert f["user_rate"]["overall"]["auc"] == 0.5
  assert f["user_rate"]["overall"]["accuracy"] == pytest.approx(1 / 3)
  # mean_vote: good iff the vote > 5; it orders these rows perfectly.
  assert f["mean_vote"]["overall"]["accuracy"] == 1.0
  assert f["mean_vote"]["overall"]["auc"] == 1.0
  assert "ece" not in f["mean_vote"]["overall"]  # a vote, not a probability
  assert f["vote_plus_user"]["overall"]["auc"] == 1.0
  assert f["vote_plus_user"]["per_tag"]["b"]["count"] == 1


def test_agnostic_floor_is_the_training_images_majority():
  def cols(images, b):
    return {F.IMAGE_XF: np.array(images, dtype=object),
            F.AGNOSTIC_LABEL_KEY: np.array(b)}
  # Training images: 2 of 3 bad (image y appears twice, counted once).
  train = cols([b"x", b"y", b"y", b"z"], [1, 0, 0, 0])
  test = cols([b"u", b"u", b"v"], [1, 1, 0])
  f = results.agnostic_floor(train, test, np.array(["t", "t", "s"]))
  # Per test image: u (b_v 1) and v (b_v 0), both scored "bad".
  assert f["overall"]["count"] == 2
  assert f["overall"]["accuracy"] == 0.5


def test_per_image_averages_scores_per_image():
  test = {F.IMAGE_XF: np.array([b"x", b"y", b"x"], dtype=object),
          F.AGNOSTIC_LABEL_KEY: np.array([1, 0, 1])}
  b, p, tags = results.per_image(test, np.array(["t", "u", "t"]),
                                    np.array([0.2, 0.9, 0.6]))
  np.testing.assert_array_equal(b, [1, 0])
  np.testing.assert_allclose(p, [0.4, 0.9])
  assert tags.tolist() == ["t", "u"]


def test_cli_experiment_help_and_bad_names(capsys, tmp_path):
  from tfx_pipeline import cli  # pylint: disable=g-import-not-at-top
  with pytest.raises(SystemExit) as exc:
    cli.main(["experiment", "--help"])
  assert exc.value.code == 0
  out = capsys.readouterr().out
  for flag in ("--data", "--out", "--variants", "--protocols",
               "--train-steps"):
    assert flag in out
  # Names are checked before any data work starts.
  for argv, word in ((["--variants", "svm"], "svm"),
                     (["--protocols", "leave-one-out"], "leave-one-out")):
    rc = cli.main(["experiment", "--data", str(tmp_path / "none"), "--out",
                   str(tmp_path / "r")] + argv)
    assert rc == 2
    assert word in capsys.readouterr().err
  assert not os.path.exists(tmp_path / "r")


# --------------------------------------------------------------------------
# A tiny ``cfan experiment`` run (slow)
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_experiment_writes_results_tables_and_figures(tiny_experiment_run):
  _, out, rc = tiny_experiment_run
  assert rc == 0
  with open(os.path.join(out, experiments.RESULTS_JSON)) as fh:
    res = json.load(fh)
  assert set(res["protocols"]) == {"paper", "review-free", "cold-image"}
  for proto, block in res["protocols"].items():
    assert set(block["variants"]) == set(TINY_EXPERIMENT_VARIANTS), proto
    assert set(block["floors"]) == set(metrics.FLOOR_NAMES)
    for v in block["variants"].values():
      assert 0.0 <= v["overall"]["accuracy"] <= 1.0
      assert v["per_tag"], "no per-tag metrics"
      assert sum(m["count"] for m in v["per_tag"].values()) == \
          block["test_rows"]
      assert 0.0 <= v["agnostic"]["overall"]["accuracy"] <= 1.0
  assert res["protocols"]["paper"]["review"] == "given"
  assert res["protocols"]["review-free"]["review"] == "free"
  # Models without a review read the same input in both protocols.
  for name in ("bpr", "cfn-1task"):
    assert (res["protocols"]["paper"]["variants"][name]["overall"] ==
            res["protocols"]["review-free"]["variants"][name]["overall"])
  assert res["protocols"]["paper"]["variants"]["bpr"]["bpr_threshold"] \
      is not None
  rpi = res["reviews_per_image"]
  assert [p["max_reviews"] for p in rpi["points"]] == list(
      TINY_EXPERIMENT_FIG9)
  assert rpi["points"][0]["mean_reviews_per_image"] == 1.0
  assert (rpi["points"][0]["train_rows"] < rpi["points"][-1]["train_rows"])
  assert res["timing"]["wall_seconds"] > 0
  assert res["timing"]["cpu_user_seconds"] > 0
  for fname in (experiments.FIG7_FILE, experiments.FIG8_FILE,
                experiments.FIG9_FILE):
    assert os.path.getsize(os.path.join(out, fname)) > 5000, fname
  with open(os.path.join(out, experiments.RESULTS_MD)) as fh:
    md = fh.read()
  for heading in ("Protocol `paper`", "Protocol `review-free`",
                  "Protocol `cold-image`", "Reviews per image (Fig. 9)",
                  f"floor: {experiments.FIGURE_FLOOR}", "floor: majority"):
    assert heading in md, heading


@pytest.mark.slow
def test_experiment_ran_transform_once(tiny_experiment_run):
  _, out, _ = tiny_experiment_run
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import metadata  # pylint: disable=g-import-not-at-top
  store = metadata_store.MetadataStore(
      metadata.connection_config(os.path.join(out, "work")))
  types = {t.id: t.name for t in store.get_execution_types()}
  names = [types[e.type_id] for e in store.get_executions()]
  assert sum(n.endswith("Transform") for n in names) == 1, names
  assert not any(n.endswith("Trainer") for n in names), names
  uris = metadata.transform_outputs(os.path.join(out, "work"))
  assert os.path.isdir(os.path.join(uris["transformed_examples"],
                                    "Split-train"))


def _fn_args(uris, tmp, cfg, steps, early_stopping=None):
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  from keras_model import trainer  # pylint: disable=g-import-not-at-top
  ex = uris["transformed_examples"]
  custom = {trainer.MODEL_CONFIG_KEY: cfg.to_dict()}
  if early_stopping:
    custom[trainer.EARLY_STOPPING_KEY] = early_stopping
  return tfx.components.FnArgs(
      working_dir=str(tmp), train_files=[os.path.join(ex, "Split-train", "*")],
      eval_files=[os.path.join(ex, "Split-eval", "*")], train_steps=steps,
      eval_steps=2, transform_output=uris["transform_graph"],
      transform_graph_path=uris["transform_graph"],
      serving_model_dir=str(tmp / "serving"),
      model_run_dir=str(tmp / "model_run"),
      custom_config=custom)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["bpr", "vbpr", "cfn-pure-2task",
                                     "cfn-1task", "cfan-1task", "mtrl-cnn"])
def test_run_fn_trains_and_exports_every_variant(tiny_experiment_run, variant,
                                                 tmp_path):
  """The pipeline's Trainer path for each variant (cfan-3task: e2e tests).

  cfan-2task differs from cfan-3task/cfan-1task only in its heads and is
  covered by the fast round trip. CFN-1task also early-stops on a validation
  share of the training rows; no variant validates on the eval split.
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  import tensorflow_transform as tft
  from keras_model import inputs
  from keras_model import signatures
  from keras_model import trainer
  from preprocessing import config as cfg_lib
  from preprocessing import labelled
  from tfx_pipeline import metadata
  from tfx_pipeline import prepare
  # pylint: enable=g-import-not-at-top
  _, out, _ = tiny_experiment_run
  uris = metadata.transform_outputs(os.path.join(out, "work"))
  cfg = cfg_lib.get_config("cpu", variant=variant, batch_size=16)
  early = ({"validation_fraction": 0.2, "patience": 1}
           if variant == "cfn-1task" else None)
  trainer.run_fn(_fn_args(uris, tmp_path, cfg, steps=4, early_stopping=early))

  with open(tmp_path / "model_run" / trainer.TRAIN_METRICS_FILE) as fh:
    metrics = json.load(fh)
  assert metrics["variant"] == variant
  pairwise = variant in ("bpr", "vbpr")
  assert (metrics["bpr_threshold"] is not None) == pairwise
  assert metrics["eval"]["review_free"]
  assert (metrics["validation_examples"] > 0) == bool(early)
  assert ("val_loss" in metrics["history"]) == bool(early)
  # Reviews, not records: a transformed training record is one image.
  train_rows = inputs.Rows.from_files(
      [os.path.join(uris["transformed_examples"], "Split-train", "*")],
      tft.TFTransformOutput(uris["transform_graph"]))
  assert (metrics["train_examples"] + metrics["calibration_examples"] +
          metrics["validation_examples"]) == train_rows.num_rows()
  model = signatures.load_serving_model(str(tmp_path / "serving"))
  heads = {h.decode() for h in model.heads.numpy()}
  assert (F.PERSONAL_OUTPUT in heads) == (variant != "mtrl-cnn")
  # Serving requests: one review each, from the eval split's examples.
  raw = [one for ex in prepare.read_tfrecords(os.path.join(
      out, "work", "examples", "examples", f"*-{F.EVAL_SPLIT}-*"))
         for one in labelled.one_review_examples(ex)][:6]
  for sig in (signatures.SERVING_DEFAULT, signatures.SERVING_REVIEW_FREE):
    res = model.signatures[sig](examples=tf.constant(raw))
    for key in (F.PERSONAL_OUTPUT, F.AGNOSTIC_OUTPUT):
      p = res[key].numpy()
      assert p.shape == (6,) and np.all((p >= 0) & (p <= 1)), (sig, key)
    np.testing.assert_allclose(res[F.TAG_OUTPUT].numpy().sum(-1), 1.0,
                               atol=1e-5)
    assert res[F.ATTENTION_OUTPUT].shape[0] == 6
    if F.AGNOSTIC_OUTPUT not in heads:
      np.testing.assert_array_equal(res[F.AGNOSTIC_OUTPUT].numpy(), 0.5)
  assert glob.glob(str(tmp_path / "serving" / "saved_model.pb"))

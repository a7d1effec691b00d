"""Tests of ``cfan experiment`` (tfx_pipeline/experiment.py).

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

from preprocessing import features as F
from tfx_pipeline import experiment

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
  }


# --------------------------------------------------------------------------
# Splits and floors (fast)
# --------------------------------------------------------------------------


def test_cold_image_split_has_disjoint_images_scored_as_oov():
  cols = _columns()
  train, test = experiment.cold_image_split(cols, NUM_IMAGES, fraction=0.25)
  assert experiment.num_rows(train) + experiment.num_rows(test) == 400
  train_imgs = set(train[F.IMAGE_XF].tolist())
  test_imgs = set(test[F.IMAGE_XF].tolist())
  assert train_imgs and test_imgs and not train_imgs & test_imgs
  # Every test row is scored through the OOV image index, and rows that
  # already were OOV are test rows.
  np.testing.assert_array_equal(test[F.IMAGE_ID_XF], NUM_IMAGES - 1)
  assert NUM_IMAGES - 1 not in set(train[F.IMAGE_ID_XF].tolist())
  # The split is a stable function of the image index.
  for img in {int(x[len(b"jpeg-"):]) for x in test_imgs} - {NUM_IMAGES - 1}:
    assert experiment.image_bucket(img) < 250
  again, _ = experiment.cold_image_split(cols, NUM_IMAGES, fraction=0.25)
  np.testing.assert_array_equal(again[F.USER_XF], train[F.USER_XF])


def test_subsample_per_image_keeps_at_most_k_rows_per_image():
  cols = _columns()
  for k in (1, 2, 4):
    sub = experiment.subsample_per_image(cols, k, seed=1)
    _, counts = np.unique(sub[F.IMAGE_ID_XF], return_counts=True)
    assert counts.max() <= k
    # Images with at least k rows keep exactly k.
    full = dict(zip(*np.unique(cols[F.IMAGE_ID_XF], return_counts=True)))
    kept = dict(zip(*np.unique(sub[F.IMAGE_ID_XF], return_counts=True)))
    assert all(kept[i] == min(k, n) for i, n in full.items())
    assert experiment.mean_reviews_per_image(sub) <= k
  a = experiment.subsample_per_image(cols, 2, seed=1)
  b = experiment.subsample_per_image(cols, 2, seed=1)
  np.testing.assert_array_equal(a[F.USER_XF], b[F.USER_XF])


def test_floors_by_hand():
  def cols(users, labels, b):
    n = len(users)
    return {F.USER_XF: np.array(users), F.LABEL_KEY: np.array(labels),
            F.AGNOSTIC_LABEL_KEY: np.array(b),
            F.IMAGE_XF: np.array([b"%d" % i for i in range(n)], dtype=object)}
  train = cols([0, 0, 1], [1, 0, 1], [1, 1, 1])
  test = cols([0, 1, 2], [0, 1, 1], [0, 0, 1])  # user 2 is unseen
  tags = np.array(["a", "a", "b"], dtype=object)
  f = experiment.floors(train, test, tags)
  # user_mean scores: 0.5 (u0), 1.0 (u1), 2/3 (global rate, unseen u2).
  assert f["user_mean"]["overall"]["accuracy"] == pytest.approx(2 / 3)
  assert f["user_mean"]["overall"]["auc"] == 1.0
  # majority: the training rate 2/3 -> always "good".
  assert f["majority"]["overall"]["accuracy"] == pytest.approx(2 / 3)
  assert f["majority"]["overall"]["auc"] == 0.5
  # ava_label: b_v as the score; one tie with the negative.
  assert f["ava_label"]["overall"]["accuracy"] == pytest.approx(2 / 3)
  assert f["ava_label"]["overall"]["auc"] == 0.75
  # Tag "a": rows 0-1; tag-mean averages the tags.
  assert f["majority"]["per_tag"]["a"]["accuracy"] == 0.5
  assert f["majority"]["tag_mean"]["accuracy"] == pytest.approx(0.75)


def test_per_image_averages_scores_per_image():
  test = {F.IMAGE_XF: np.array([b"x", b"y", b"x"], dtype=object),
          F.AGNOSTIC_LABEL_KEY: np.array([1, 0, 1])}
  b, p, tags = experiment.per_image(test, np.array(["t", "u", "t"]),
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
  with open(os.path.join(out, experiment.RESULTS_JSON)) as fh:
    res = json.load(fh)
  assert set(res["protocols"]) == {"paper", "review-free", "cold-image"}
  for proto, block in res["protocols"].items():
    assert set(block["variants"]) == set(TINY_EXPERIMENT_VARIANTS), proto
    assert set(block["floors"]) == {"majority", "user_mean", "ava_label"}
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
  for fname in (experiment.FIG7_FILE, experiment.FIG8_FILE,
                experiment.FIG9_FILE):
    assert os.path.getsize(os.path.join(out, fname)) > 5000, fname
  with open(os.path.join(out, experiment.RESULTS_MD)) as fh:
    md = fh.read()
  for heading in ("Protocol `paper`", "Protocol `review-free`",
                  "Protocol `cold-image`", "Reviews per image (Fig. 9)",
                  "floor: user_mean", "floor: majority"):
    assert heading in md, heading


@pytest.mark.slow
def test_experiment_ran_transform_once(tiny_experiment_run):
  _, out, _ = tiny_experiment_run
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import local_runner  # pylint: disable=g-import-not-at-top
  store = metadata_store.MetadataStore(
      local_runner.metadata_config(os.path.join(out, "work")))
  types = {t.id: t.name for t in store.get_execution_types()}
  names = [types[e.type_id] for e in store.get_executions()]
  assert sum(n.endswith("Transform") for n in names) == 1, names
  assert not any(n.endswith("Trainer") for n in names), names
  uris = experiment.transform_outputs(os.path.join(out, "work"))
  assert os.path.isdir(os.path.join(uris["transformed_examples"],
                                    "Split-train"))


def _fn_args(uris, tmp, cfg, steps):
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  from keras_model import trainer  # pylint: disable=g-import-not-at-top
  ex = uris["transformed_examples"]
  return tfx.components.FnArgs(
      working_dir=str(tmp), train_files=[os.path.join(ex, "Split-train", "*")],
      eval_files=[os.path.join(ex, "Split-eval", "*")], train_steps=steps,
      eval_steps=2, transform_output=uris["transform_graph"],
      transform_graph_path=uris["transform_graph"],
      serving_model_dir=str(tmp / "serving"),
      model_run_dir=str(tmp / "model_run"),
      custom_config={trainer.MODEL_CONFIG_KEY: cfg.to_dict()})


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["bpr", "vbpr", "cfn-pure-2task",
                                     "cfn-1task", "cfan-1task", "mtrl-cnn"])
def test_run_fn_trains_and_exports_every_variant(tiny_experiment_run, variant,
                                                 tmp_path):
  """The pipeline's Trainer path for each variant (cfan-3task: e2e tests).

  cfan-2task differs from cfan-3task/cfan-1task only in its heads and is
  covered by the fast round trip.
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from keras_model import signatures
  from keras_model import trainer
  from preprocessing import config as cfg_lib
  from tfx_pipeline import report
  # pylint: enable=g-import-not-at-top
  _, out, _ = tiny_experiment_run
  uris = experiment.transform_outputs(os.path.join(out, "work"))
  cfg = cfg_lib.get_config("cpu", variant=variant, batch_size=16)
  trainer.run_fn(_fn_args(uris, tmp_path, cfg, steps=4))

  with open(tmp_path / "model_run" / trainer.TRAIN_METRICS_FILE) as fh:
    metrics = json.load(fh)
  assert metrics["variant"] == variant
  pairwise = variant in ("bpr", "vbpr")
  assert (metrics["bpr_threshold"] is not None) == pairwise
  assert metrics["eval"]["review_free"]
  model = signatures.load_serving_model(str(tmp_path / "serving"))
  heads = {h.decode() for h in model.heads.numpy()}
  assert (F.PERSONAL_OUTPUT in heads) == (variant != "mtrl-cnn")
  raw = report.read_tfrecords(os.path.join(
      out, "work", "examples", "examples", "*"))[:6]
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

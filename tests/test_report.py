"""The run report (tfx_pipeline/report.py) reads what TFMA computed.

A real TFMA run (model-agnostic: the predictions are features of the
examples) over a few hundred rows with two slicing features checks that
``read_tfma`` finds every slice, that the ECE from TFMA's calibration
histogram equals ``evaluation.metrics.expected_calibration_error`` on the
same rows, and that ``build_report`` places the Trainer's protocol, the
calibration block and the floors where ``cfan run``, the notebooks and the
tests read them. The TFMA run (Beam, about a minute on 2 cores) makes those
two tests slow.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from evaluation import metrics
from preprocessing import features as F
from tfx_pipeline import report

ROWS = 400
TAGS = ("landscape", "portrait", "macro")
SLICE_FEATURE = "image_slice"


def _rows(seed=0):
  rng = np.random.default_rng(seed)
  z = rng.normal(0, 1.5, ROWS)
  return {
      F.LABEL_KEY: (rng.random(ROWS) < 1 / (1 + np.exp(-z))).astype(int),
      F.AGNOSTIC_LABEL_KEY: rng.integers(0, 2, ROWS),
      # overconfident, and some exactly 0 and 1 (the edge bins)
      F.PERSONAL_OUTPUT: np.clip(1 / (1 + np.exp(-2.5 * z)) +
                                 rng.normal(0, 0.05, ROWS), 0.0, 1.0),
      F.AGNOSTIC_OUTPUT: rng.random(ROWS),
      F.TAG_KEY: rng.choice(TAGS, ROWS),
      SLICE_FEATURE: rng.choice(("warm", "cold"), ROWS, p=(0.8, 0.2)),
  }


def _write(rows, path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with tf.io.TFRecordWriter(path) as w:
    for i in range(ROWS):
      f = {}
      for k, v in rows.items():
        x = v[i]
        if isinstance(x, str):
          f[k] = tf.train.Feature(bytes_list=tf.train.BytesList(
              value=[x.encode()]))
        elif isinstance(x, (np.integer, int)):
          f[k] = tf.train.Feature(int64_list=tf.train.Int64List(
              value=[int(x)]))
        else:
          f[k] = tf.train.Feature(float_list=tf.train.FloatList(
              value=[float(x)]))
      w.write(tf.train.Example(features=tf.train.Features(
          feature=f)).SerializeToString())


@pytest.fixture(scope="module")
def tfma_run(tmp_path_factory):
  """(rows, evaluation dir) of one model-agnostic TFMA run."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp("tfma")
  rows = _rows()
  # TFMA reads float features as float32: score what it scores.
  for k in (F.PERSONAL_OUTPUT, F.AGNOSTIC_OUTPUT):
    rows[k] = rows[k].astype(np.float32).astype(np.float64)
  data = str(root / "data.tfrecord")
  _write(rows, data)
  config = tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(
          prediction_keys={F.PERSONAL_OUTPUT: F.PERSONAL_OUTPUT,
                           F.AGNOSTIC_OUTPUT: F.AGNOSTIC_OUTPUT},
          label_keys={F.PERSONAL_OUTPUT: F.LABEL_KEY,
                      F.AGNOSTIC_OUTPUT: F.AGNOSTIC_LABEL_KEY})],
      slicing_specs=[tfma.SlicingSpec(),
                     tfma.SlicingSpec(feature_keys=[F.TAG_KEY]),
                     tfma.SlicingSpec(feature_keys=[SLICE_FEATURE])],
      metrics_specs=[
          tfma.MetricsSpec(output_names=[F.PERSONAL_OUTPUT], metrics=[
              tfma.MetricConfig(class_name="ExampleCount"),
              tfma.MetricConfig(class_name="MeanLabel"),
              tfma.MetricConfig(class_name="BinaryAccuracy"),
              tfma.MetricConfig(class_name="AUC"),
              tfma.MetricConfig(class_name="CalibrationPlot", config=json.dumps(
                  {"num_buckets": metrics.ECE_BINS, "left": 0.0,
                   "right": 1.0}))]),
          tfma.MetricsSpec(output_names=[F.AGNOSTIC_OUTPUT], metrics=[
              tfma.MetricConfig(class_name="BinaryAccuracy"),
              tfma.MetricConfig(class_name="AUC")]),
      ])
  out = str(root / "evaluation")
  tfma.run_model_analysis(eval_config=config, data_location=data,
                          output_path=out)
  return rows, out


@pytest.mark.slow
def test_every_slice_and_the_ece_come_from_tfma(tfma_run):
  rows, out = tfma_run
  slices = report.read_tfma(out)
  assert set(slices) == ({()} | {((F.TAG_KEY, t),) for t in TAGS} |
                         {((SLICE_FEATURE, v),) for v in ("warm", "cold")})
  y, p = rows[F.LABEL_KEY], rows[F.PERSONAL_OUTPUT]
  for key, by_output in slices.items():
    mask = np.ones(ROWS, bool)
    for column, value in key:
      mask &= rows[column] == value
    personal = by_output[F.PERSONAL_OUTPUT]
    assert personal["example_count"] == mask.sum()
    assert personal["mean_label"] == pytest.approx(y[mask].mean())
    assert personal["binary_accuracy"] == pytest.approx(
        metrics.accuracy(y[mask], p[mask]))
    assert personal["ece"] == pytest.approx(
        metrics.expected_calibration_error(y[mask], p[mask]), abs=1e-9)
    # The reliability diagram's bins: the rows of each equal-width bin.
    bins = personal["reliability"]
    idx = np.clip((p[mask] * metrics.ECE_BINS).astype(int), 0,
                  metrics.ECE_BINS - 1)
    assert bins["counts"] == pytest.approx(
        np.bincount(idx, minlength=metrics.ECE_BINS))
    assert bins["label_sums"] == pytest.approx(
        np.bincount(idx, y[mask], minlength=metrics.ECE_BINS))
    assert bins["prob_sums"] == pytest.approx(
        np.bincount(idx, p[mask], minlength=metrics.ECE_BINS), abs=1e-4)
    # TFMA's AUC is approximate (bucketed thresholds).
    assert personal["auc"] == pytest.approx(metrics.auc(y[mask], p[mask]),
                                            abs=0.01)


@pytest.mark.slow
def test_report_layout_from_a_real_tfma_result(tfma_run, tmp_path):
  rows, out = tfma_run
  trainer = {
      "eval": {"review_given": {"loss": 0.4, "p_personal_accuracy": 0.81,
                                "p_personal_auc": 0.88,
                                "p_agnostic_accuracy": 0.7,
                                "p_agnostic_auc": 0.75}},
      "calibration": {"review_given": {"temperature": 1.0},
                      "review_free": {"temperature": 1.4}},
  }
  floors = {
      "overall": {"rows": ROWS, "best": "mean_vote", "floors": {
          "mean_vote": {"accuracy": 0.6, "auc": 0.65},
          "majority": {"accuracy": 0.55, "auc": 0.5}}},
      "cold": {"floors": {"mean_vote": {"accuracy": 0.58, "auc": 0.61}}},
  }
  m = report.build_report(report.read_tfma(out), trainer=trainer,
                          floors=floors, extra={"blessed": True})
  assert m["rows"] == ROWS
  assert m["positive_ratio"] == pytest.approx(rows[F.LABEL_KEY].mean())
  assert sorted(m["per_tag"]) == sorted(TAGS)
  assert sum(b["rows"] for b in m["per_tag"].values()) == m["rows"]
  assert sorted(m["slices"]) == sorted([F.TAG_KEY, SLICE_FEATURE])
  o = m["overall"]
  assert o["review_free"]["source"] == report.SOURCE_TFMA
  assert set(o["review_free"]) == {"source", "personal", "agnostic"}
  assert o["review_given"] == {
      "source": report.SOURCE_TRAINER,
      "personal": {"accuracy": 0.81, "auc": 0.88},
      "agnostic": {"accuracy": 0.7, "auc": 0.75}}
  assert "review_given" not in m["per_tag"]["macro"]  # the Trainer: overall
  assert m["calibration"] == trainer["calibration"]
  assert m["trainer"] == trainer
  # Floors go beside the model figures of the slice of the same name.
  assert o["floors"] == floors["overall"]["floors"]
  cold = m["slices"][SLICE_FEATURE]["cold"]
  assert cold["floors"] == floors["cold"]["floors"]
  assert "floors" not in m["slices"][SLICE_FEATURE]["warm"]
  assert m["floors"] == floors
  assert m["blessed"] is True
  lines = "\n".join(report.format_metrics(m))
  assert "floor: mean_vote" in lines and "(trainer)" in lines
  assert f"slice {SLICE_FEATURE}=cold" in lines
  assert "reliability" in o["review_free"]["personal"]
  paths = report.write_report(m, str(tmp_path / "r"))
  assert os.path.getsize(paths["figure"]) > 1000
  with open(paths["metrics"]) as fh:
    assert json.load(fh)["rows"] == ROWS


def test_report_without_trainer_metrics_or_floors():
  slices = {(): {F.PERSONAL_OUTPUT: {"example_count": 10.0, "auc": 0.7,
                                     "binary_accuracy": 0.6, "ece": 0.1}}}
  m = report.build_report(slices)
  assert m["rows"] == 10 and m["per_tag"] == {} and m["floors"] == {}
  assert "review_given" not in m["overall"]
  assert "calibration" not in m and "trainer" not in m
  assert m["overall"]["review_free"]["personal"] == {
      "accuracy": 0.6, "auc": 0.7, "count": 10, "ece": 0.1}


def test_binned_ece_is_the_row_ece():
  rng = np.random.default_rng(1)
  y = rng.integers(0, 2, 500)
  p = rng.random(500)
  p[:5] = 1.0
  idx = np.clip((p * metrics.ECE_BINS).astype(int), 0, metrics.ECE_BINS - 1)
  sums = [np.bincount(idx, weights=w, minlength=metrics.ECE_BINS)
          for w in (y, p, np.ones(500))]
  assert metrics.binned_calibration_error(*sums) == pytest.approx(
      metrics.expected_calibration_error(y, p))
  assert np.isnan(metrics.binned_calibration_error([0.0], [0.0], [0.0]))

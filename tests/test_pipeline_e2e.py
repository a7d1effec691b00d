"""End-to-end: the whole TFX pipeline on a tiny demo dataset (slow suite).

One module-scoped run, then a cached rerun and a gated run, asserting:
every component executed (ML Metadata), a numeric version dir with
saved_model.pb, the SavedModel loads in a fresh process and its signatures
return probabilities in [0, 1], per-tag slices in the TFMA result, the rerun
is served from cache, and a threshold that cannot be met blocks the push.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import textwrap

import pytest

import demo_data
from preprocessing import features as F
from tfx_pipeline import local_runner

pytestmark = pytest.mark.slow

EXPECTED_COMPONENTS = {
    "ImportExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
    "AnomaliesGate", "Transform", "Trainer", "latest_blessed_model_resolver",
    "Evaluator", "Pusher", "CfanReport"}
from tests.conftest import TINY_MIN_TAG_IMAGES as MIN_TAG_IMAGES  # noqa: E402
from tests.conftest import TINY_TRAIN_STEPS as TRAIN_STEPS  # noqa: E402


def _versions(serving_dir):
  if not os.path.isdir(serving_dir):
    return []
  return sorted(d for d in os.listdir(serving_dir) if d.isdigit())


@pytest.fixture(scope="module")
def first_run(tiny_pipeline_run):
  return tiny_pipeline_run


def test_every_component_executed(first_run):
  _, _, res = first_run
  assert set(res.executions) == EXPECTED_COMPONENTS, res.executions
  assert all(state == "COMPLETE" for state in res.executions.values()), \
      res.executions


def test_pushed_numeric_version_with_saved_model(first_run):
  _, _, res = first_run
  versions = _versions(res.serving_dir)
  assert len(versions) == 1
  assert res.pushed_model == os.path.join(res.serving_dir, versions[0])
  assert os.path.isfile(os.path.join(res.pushed_model, "saved_model.pb"))


def test_report_written_with_both_protocols(first_run):
  _, workdir, res = first_run
  with open(os.path.join(workdir, "reports", "metrics.json")) as fh:
    m = json.load(fh)
  assert m["rows"] > 0
  for proto in ("review_given", "review_free"):
    for head in ("personal", "agnostic"):
      assert 0.0 <= m["overall"][proto][head]["accuracy"] <= 1.0
  assert m["per_tag"], "no per-tag rows"
  assert sum(t["rows"] for t in m["per_tag"].values()) == m["rows"]
  assert os.path.getsize(os.path.join(workdir, "reports",
                                      "per_tag_accuracy.png")) > 1000
  assert m["trainer"]["eval"]["review_free"]


def test_tfma_has_per_tag_slices(first_run):
  _, workdir, _ = first_run
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  eval_dir = glob.glob(os.path.join(workdir, "tfx", "Evaluator", "evaluation",
                                    "*"))[0]
  slices = set()
  for m in tfma.load_metrics(eval_dir):
    keys = tuple(k.column for k in m.slice_key.single_slice_keys)
    slices.add(keys)
    names = {(k.key.name, k.key.output_name)
             for k in m.metric_keys_and_values}
    assert ("auc", F.PERSONAL_OUTPUT) in names
    assert ("binary_accuracy", F.AGNOSTIC_OUTPUT) in names
  assert () in slices and (F.TAG_KEY,) in slices


def test_saved_model_loads_in_fresh_process(first_run):
  data, workdir, res = first_run
  eval_files = glob.glob(os.path.join(workdir, "tfx", "ImportExampleGen",
                                      "examples", "*", "Split-eval", "*"))
  script = textwrap.dedent(f"""
      import glob, json, sys
      import preprocessing  # pins Keras before TF
      import tensorflow as tf
      from keras_model import signatures
      m = signatures.load_serving_model({res.pushed_model!r})
      from preprocessing import labelled
      ds = tf.data.TFRecordDataset({eval_files!r}, compression_type="GZIP")
      # one review per request (eval examples hold an image's reviews)
      ex = tf.constant([one for r in ds.take(5)
                        for one in labelled.one_review_examples(r.numpy())][:5])
      out = {{}}
      for sig in ("serving_default", "serving_review_free"):
        r = m.signatures[sig](examples=ex)
        out[sig] = [r["p_personal"].numpy().tolist(),
                    r["p_agnostic"].numpy().tolist()]
      img = open(sorted(glob.glob({data!r} + "/images/*.jpg"))[0], "rb").read()
      r = m.signatures["serving_raw"](
          user_id=tf.constant(["nobody-knows-me", "x"]),
          image_bytes=tf.constant([img, img]),
          review=tf.constant(["", "great light and sharp focus"]),
          profile=tf.constant(["", ""]))
      out["serving_raw"] = [r["p_personal"].numpy().tolist(),
                            r["p_agnostic"].numpy().tolist(),
                            r["known_user"].numpy().tolist(),
                            r["attention"].shape.as_list()]
      print("RESULT" + json.dumps(out))
  """)
  proc = subprocess.run([sys.executable, "-c", script], capture_output=True,
                        text=True, timeout=300, cwd=os.getcwd())
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = json.loads(proc.stdout.split("RESULT", 1)[1])
  for sig in ("serving_default", "serving_review_free"):
    for probs in out[sig]:
      assert len(probs) == 5 and all(0.0 <= p <= 1.0 for p in probs)
  personal, agnostic, known, att_shape = out["serving_raw"]
  assert all(0.0 <= p <= 1.0 for p in personal + agnostic)
  assert known == [False, False]
  # Cold start: an unknown user gets the user-agnostic probability.
  assert personal == agnostic
  assert att_shape[0] == 2 and len(att_shape) == 3


def test_rerun_is_served_from_cache(first_run):
  data, workdir, _ = first_run

  def rerun():
    return local_runner.run(data, workdir, config_name="cpu",
                            train_steps=TRAIN_STEPS, min_auc=0.0,
                            min_tag_images=MIN_TAG_IMAGES, floor_gate=False)

  second = rerun()
  cached = {k for k, v in second.executions.items() if v == "CACHED"}
  # Data, Transform and Trainer are reused. The Evaluator's inputs did change:
  # the resolver now finds run 1's blessed model as the baseline, so TFX
  # evaluates again (candidate against that baseline), and the blessing it
  # writes is a new input of the Pusher and the report.
  assert {"ImportExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
          "Transform", "Trainer"} <= cached, second.executions
  # From then on nothing changes: every component is served from cache.
  third = rerun()
  not_cached = {k: v for k, v in third.executions.items()
                if v != "CACHED" and k != "latest_blessed_model_resolver"}
  assert not not_cached, third.executions
  assert third.pushed_model is not None


def test_unmeetable_threshold_blocks_push(first_run):
  data, workdir, res0 = first_run
  before = _versions(res0.serving_dir)
  res = local_runner.run(data, workdir, config_name="cpu",
                         train_steps=TRAIN_STEPS, min_auc=1.01,
                         min_tag_images=MIN_TAG_IMAGES, floor_gate=False)
  assert res.executions["Trainer"] == "CACHED"
  assert res.executions["Evaluator"] == "COMPLETE"
  assert "Pusher" not in res.executions or \
      res.executions["Pusher"] not in ("COMPLETE", "CACHED")
  assert res.pushed_model is None
  assert _versions(res.serving_dir) == before
  assert res.metrics["blessed"] is False


def test_predict_cli_keeps_every_row_in_order(first_run, tmp_path):
  data, _, res = first_run
  from tfx_pipeline import cli  # pylint: disable=g-import-not-at-top
  images = tmp_path / "images"
  images.mkdir()
  src = sorted(glob.glob(os.path.join(data, "images", "*.jpg")))[:2]
  ids = [os.path.splitext(os.path.basename(p))[0] for p in src]
  for p in src:
    with open(p, "rb") as fh, open(images / os.path.basename(p), "wb") as out:
      out.write(fh.read())
  (images / "999001.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
  truth = json.load(open(os.path.join(data, demo_data.TRUTH_FILE)))
  import collections  # pylint: disable=g-import-not-at-top
  known_user = collections.Counter(
      r["user_id"] for r in truth["reviews"]).most_common(1)[0][0]
  pairs = tmp_path / "pairs.csv"
  pairs.write_text(
      "user_id,image_id,extra,review\n"
      f"{known_user},{ids[0]},x,\n"
      f"never-seen-user,{ids[1]},y,\n"
      f"{known_user},999001,z,\n"  # corrupt image
      f"{known_user},424242,w,\n"  # no such image
      f"{known_user},{ids[1]},v,lovely light but the focus is soft\n")
  out = tmp_path / "scores.csv"
  rc = cli.main(["predict", "--model", res.serving_dir, "--pairs", str(pairs),
                 "--images", str(images), "--out", str(out)])
  assert rc == 0
  import csv  # pylint: disable=g-import-not-at-top
  rows = list(csv.DictReader(open(out)))
  assert [r["image_id"] for r in rows] == [ids[0], ids[1], "999001", "424242",
                                           ids[1]]
  assert list(rows[0]) == ["user_id", "image_id", "p_personal", "p_agnostic",
                           "tag", "known_user", "error"]
  ok = [rows[0], rows[1], rows[4]]
  for r in ok:
    assert r["error"] == ""
    assert 0.0 <= float(r["p_personal"]) <= 1.0
    assert 0.0 <= float(r["p_agnostic"]) <= 1.0
    assert r["tag"]
  assert rows[0]["known_user"] == "1"
  assert rows[1]["known_user"] == "0"
  assert rows[1]["p_personal"] == rows[1]["p_agnostic"]  # cold start
  assert rows[2]["error"].startswith("corrupt image")
  assert rows[3]["error"] == "image not found"
  assert rows[2]["p_personal"] == "" and rows[3]["p_personal"] == ""

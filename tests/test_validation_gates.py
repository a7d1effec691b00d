"""The two gates of the pipeline (issue 7).

* Data: ExampleValidator anomalies stop the run before Transform/Trainer
  (``components.AnomaliesGate``), with a message naming each anomaly, and
  ``cfan run`` prints it and exits non-zero. A curated schema is passed with
  ``schema_path`` / ``cfan run --schema`` (ImportSchemaGen).
* Model: a model worse than the blessed baseline is never pushed (the
  Evaluator's change threshold), even with ``min_auc=0``; nor is a model
  whose review-free AUC is not above the best floor of the eval rows
  (overall and on cold images); the run's result line says which slice and
  bound stopped it (``tfx_pipeline/gate.py``).

The slow tests reuse the session fixture ``tiny_pipeline_run`` (its schema,
examples and blessed model) but never run in its workdir.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

import pytest

from preprocessing import config as cfg_lib
from preprocessing import features as F
from tfx_pipeline import components
from tests.conftest import TINY_MIN_TAG_IMAGES, TINY_TRAIN_STEPS

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write_anomalies(root: str, per_split) -> None:
  for split, anomalies in per_split.items():
    os.makedirs(os.path.join(root, f"Split-{split}"))
    with open(os.path.join(root, f"Split-{split}", components.ANOMALIES_FILE),
              "wb") as fh:
      fh.write(anomalies.SerializeToString())


# --------------------------------------------------------------------------
# Gate logic (fast)
# --------------------------------------------------------------------------
def test_check_anomalies_lists_every_anomaly(tmp_path):
  from tensorflow_metadata.proto.v0 import anomalies_pb2  # pylint: disable=g-import-not-at-top
  bad = anomalies_pb2.Anomalies()
  info = bad.anomaly_info["rating"]
  info.short_description = "Multiple errors"
  for short, desc in (("Column dropped", "present in 83% of examples"),
                      ("Out-of-range values", "Integers (such as 7) not in "
                       "{0, 1}")):
    r = info.reason.add()
    r.short_description, r.description = short, desc
  other = bad.anomaly_info["challenge_id"]
  other.short_description = "Unexpected data type"
  other.description = "Expected data of type: INT but got FLOAT"
  good = anomalies_pb2.Anomalies()
  _write_anomalies(str(tmp_path), {"train": bad, "eval": good})
  with pytest.raises(components.DataAnomaliesError) as exc:
    components.check_anomalies(str(tmp_path), '["train", "eval"]')
  msg = str(exc.value)
  assert isinstance(exc.value, ValueError)  # the CLI reports ValueErrors
  assert "3 anomaly(ies)" in msg
  for line in (
      "split 'train': feature 'challenge_id': Unexpected data type "
      "(Expected data of type: INT but got FLOAT)",
      "split 'train': feature 'rating': Column dropped (present in 83% of "
      "examples)",
      "split 'train': feature 'rating': Out-of-range values (Integers (such "
      "as 7) not in {0, 1})"):
    assert line in msg
  assert "'eval'" not in msg


def test_check_anomalies_passes_clean_data(tmp_path):
  from tensorflow_metadata.proto.v0 import anomalies_pb2  # pylint: disable=g-import-not-at-top
  _write_anomalies(str(tmp_path), {"train": anomalies_pb2.Anomalies(),
                                   "eval": anomalies_pb2.Anomalies()})
  components.check_anomalies(str(tmp_path), '["train", "eval"]')


def test_dataset_level_anomaly_is_reported(tmp_path):
  from tensorflow_metadata.proto.v0 import anomalies_pb2  # pylint: disable=g-import-not-at-top
  a = anomalies_pb2.Anomalies()
  a.dataset_anomaly_info.short_description = "Low num examples in dataset"
  a.dataset_anomaly_info.description = "at least 10 expected, got 2"
  _write_anomalies(str(tmp_path), {"train": a})
  with pytest.raises(components.DataAnomaliesError,
                     match="dataset: Low num examples"):
    components.check_anomalies(str(tmp_path), '["train"]')


def test_gate_runs_before_transform_in_both_schema_modes(tmp_path):
  from tfx_pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  for schema_path in (None, str(tmp_path / "schema.pbtxt")):
    p = pipeline_lib.create_pipeline(
        pipeline_name="p", pipeline_root=str(tmp_path / "root"),
        examples_dir=str(tmp_path / "ex"),
        serving_model_dir=str(tmp_path / "serving"),
        model_config=cfg_lib.get_config("cpu"), schema_path=schema_path)
    ids = pipeline_lib.component_ids(p)
    assert ids.index("ExampleValidator") < ids.index("AnomaliesGate") < \
        ids.index("Transform") < ids.index("Trainer")
    schema_node = "ImportSchemaGen" if schema_path else "SchemaGen"
    assert schema_node in ids
    assert ("ImportSchemaGen" if not schema_path else "SchemaGen") not in ids


# --------------------------------------------------------------------------
# Model gate: bounds from the floors, and the one-line reason (fast)
# --------------------------------------------------------------------------
FLOORS = {"overall": ("vote_plus_user", 0.7), "warm": ("mean_vote", 0.68),
          "cold": ("vote_plus_user", 0.802)}


def _auc_thresholds(config):
  """{slice feature values (() = overall): MetricThreshold} of the AUC."""
  (spec,) = [m for m in config.metrics_specs
             if list(m.output_names) == [F.PERSONAL_OUTPUT]]
  (auc,) = [m for m in spec.metrics if m.class_name == "AUC"]
  out = {}
  for t in auc.per_slice_thresholds:
    for s in t.slicing_specs:
      out[tuple(sorted(s.feature_values.items()))] = t.threshold
  return out


def test_eval_config_gates_overall_and_cold_on_the_best_floor():
  from tfx_pipeline import gate  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  config = pipeline_lib.eval_config(min_auc=0.5, floors=FLOORS,
                                    floor_margin=0.01)
  got = _auc_thresholds(config)
  cold = ((F.SLICE_KEY, F.SLICE_COLD),)
  assert set(got) == {(), cold}  # warm images are reported, not gated
  overall = got[()].value_threshold.lower_bound.value
  assert overall == pytest.approx(0.7 + 0.01 + gate.STRICT_EPSILON)
  assert got[cold].value_threshold.lower_bound.value == pytest.approx(
      0.802 + 0.01 + gate.STRICT_EPSILON)
  # The baseline comparison stays on the overall slice.
  assert got[()].HasField("change_threshold")
  assert not got[cold].HasField("change_threshold")
  # Slices: overall, warm/cold, per tag.
  keys = [list(s.feature_keys) for s in config.slicing_specs]
  assert keys == [[], [F.SLICE_KEY], [F.TAG_KEY]]
  # min_auc stays an absolute floor: it wins when it is the higher bound.
  high = _auc_thresholds(pipeline_lib.eval_config(min_auc=0.9,
                                                  floors=FLOORS))
  assert high[()].value_threshold.lower_bound.value == 0.9
  assert high[cold].value_threshold.lower_bound.value == 0.9


def test_gate_without_cold_floor_holds_on_overall_only():
  """No cold rows, or one class only: the floors' AUC (and TFMA's) is
  undefined there, so only the overall slice is gated, and the line says
  so. Without floors at all (e.g. compiled for Kubeflow before the
  examples exist) the gate is min_auc and the baseline."""
  from tfx_pipeline import gate  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  floors = {"overall": FLOORS["overall"]}
  got = _auc_thresholds(pipeline_lib.eval_config(min_auc=0.5, floors=floors))
  assert set(got) == {()}
  bounds = gate.auc_bounds(0.5, floors)
  assert gate.ungated_note(bounds, floors) == (
      "gated on all eval rows only: no floor AUC on cold images (too few "
      "rows or one class)")
  assert gate.ungated_note(gate.auc_bounds(0.5, FLOORS), FLOORS) == ""
  none = _auc_thresholds(pipeline_lib.eval_config(min_auc=0.55))
  assert set(none) == {()}
  assert none[()].value_threshold.lower_bound.value == 0.55
  assert "floor gate off" in gate.ungated_note(gate.auc_bounds(0.55, None),
                                               None)


def _validation(failures):
  """A ValidationResult with (slice value or None, is_diff, value) fails."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  from tensorflow_model_analysis.proto import validation_result_pb2  # pylint: disable=g-import-not-at-top
  result = tfma.ValidationResult(validation_ok=not failures)
  for slice_value, is_diff, value in failures:
    per = result.metric_validations_per_slice.add()
    if slice_value:
      key = per.slice_key.single_slice_keys.add()
      key.column, key.bytes_value = F.SLICE_KEY, slice_value.encode()
    f = per.failures.add()
    f.metric_key.name, f.metric_key.is_diff = "auc", is_diff
    f.metric_value.double_value.value = value
  assert isinstance(result, validation_result_pb2.ValidationResult)
  return result


def test_result_line_names_slice_metric_and_bound():
  from tfx_pipeline import gate  # pylint: disable=g-import-not-at-top
  bounds = gate.auc_bounds(0.5, FLOORS)
  aucs = {"overall": 0.71, "cold": 0.594, "warm": 0.8}
  line = gate.explain(_validation([("cold", False, 0.594)]), aucs, bounds)
  assert line == ("not pushed: review-free AUC 0.594 on cold images <= best "
                  "floor vote_plus_user 0.802")
  line = gate.explain(_validation([(None, True, -0.031)]), aucs, bounds)
  assert line == ("not pushed: review-free AUC on all eval rows is 0.031 "
                  "below the blessed model's (0.710 vs 0.741)")
  ok = gate.explain(_validation([]), {"overall": 0.75, "cold": 0.81},
                    bounds, "note")
  assert ok == ("pushed: review-free AUC 0.750 on all eval rows > best floor "
                "vote_plus_user 0.700, 0.810 on cold images > best floor "
                "vote_plus_user 0.802 [note]")


# --------------------------------------------------------------------------
# Data gate on a real run (slow)
# --------------------------------------------------------------------------
def _fixture_schema(workdir: str) -> str:
  (path,) = glob.glob(os.path.join(workdir, "tfx", "SchemaGen", "schema", "*",
                                   "schema.pbtxt"))
  return path


def _curated_schema(workdir: str, out: str) -> str:
  """The first run's inferred schema, curated by hand as a user would."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  schema = tfdv.load_schema_text(_fixture_schema(workdir))
  tfdv.set_domain(schema, "preference_level",
                  schema_pb2.IntDomain(name="level", min=1, max=5))
  tfdv.write_schema_text(schema, out)
  return out


def _broken_batch(workdir: str, out_dir: str) -> int:
  """Examples of the good run, damaged: rating 7 or missing, and
  challenge_id written as a float in every example. Returns the count.
  Each split's file keeps its name pattern (ImportExampleGen's input)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from preprocessing import build_examples  # pylint: disable=g-import-not-at-top
  os.makedirs(out_dir)
  n = 0
  for split in F.SPLITS:
    pattern = build_examples.split_file_pattern(split)
    files = sorted(glob.glob(os.path.join(workdir, "examples", "examples",
                                          pattern)))
    name = pattern.replace("*", "broken.tfrecord")
    with tf.io.TFRecordWriter(os.path.join(out_dir, name)) as w:
      for record in tf.data.TFRecordDataset(files):
        ex = tf.train.Example.FromString(record.numpy())
        f = ex.features.feature
        if n % 5 == 0:
          f["rating"].int64_list.value[:] = [7]
        elif n % 5 == 1:
          del f["rating"]
        challenge = f["challenge_id"].int64_list.value[0]
        del f["challenge_id"]
        f["challenge_id"].float_list.value.append(challenge + 0.5)
        w.write(ex.SerializeToString())
        n += 1
  return n


@pytest.mark.slow
def test_broken_batch_stops_the_run_before_training(tiny_pipeline_run,
                                                    tmp_path):
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import metadata  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  _, workdir, _ = tiny_pipeline_run
  schema = _curated_schema(workdir, str(tmp_path / "schema.pbtxt"))
  examples = str(tmp_path / "broken")
  assert _broken_batch(workdir, examples) > 20
  run_dir = str(tmp_path / "run")
  os.makedirs(run_dir)
  p = pipeline_lib.create_pipeline(
      pipeline_name="broken-batch", pipeline_root=os.path.join(run_dir, "tfx"),
      examples_dir=examples, serving_model_dir=os.path.join(run_dir, "srv"),
      model_config=cfg_lib.get_config("cpu"), train_steps=5, min_auc=0.0,
      beam_pipeline_args=BEAM_ARGS,
      metadata_connection_config=metadata.connection_config(run_dir),
      schema_path=schema)
  with pytest.raises(components.DataAnomaliesError) as exc:
    tfx.orchestration.LocalDagRunner().run(p)
  msg = str(exc.value)
  assert "data validation failed" in msg
  assert ("feature 'rating': Non-boolean values (Integers (such as 7) not "
          "in {0, 1}") in msg
  assert "feature 'rating': Column dropped" in msg
  assert "feature 'challenge_id': Unexpected data type" in msg
  ran = metadata.latest_run_executions(run_dir)
  assert ran["ImportSchemaGen"] == "COMPLETE"
  assert ran["ExampleValidator"] == "COMPLETE"
  assert ran["AnomaliesGate"] == "FAILED"
  assert not {"Transform", "Trainer", "Evaluator", "Pusher"} & set(ran)
  assert not os.path.exists(os.path.join(run_dir, "tfx", "Transform"))
  assert not os.path.exists(os.path.join(run_dir, "srv"))


@pytest.mark.slow
def test_cfan_run_prints_anomalies_and_exits_nonzero(tiny_pipeline_run,
                                                     tmp_path):
  """A later batch whose tags.txt names changed violates the first run's
  schema (tag domain): ``cfan run --schema`` says so and exits 2."""
  data, workdir, _ = tiny_pipeline_run
  new_batch = str(tmp_path / "batch2")
  shutil.copytree(data, new_batch)
  tags = os.path.join(new_batch, "tags.txt")
  with open(tags, encoding="utf-8") as fh:
    lines = [line.split(None, 1) for line in fh if line.strip()]
  with open(tags, "w", encoding="utf-8") as fh:
    fh.writelines(f"{i} Renamed {name}" for i, name in lines)
  schema = shutil.copy(_fixture_schema(workdir), str(tmp_path / "s.pbtxt"))
  proc = subprocess.run(
      [sys.executable, "-m", "tfx_pipeline.cli", "run", "--data", new_batch,
       "--workdir", str(tmp_path / "w"), "--schema", schema,
       "--min-tag-images", str(TINY_MIN_TAG_IMAGES), "--train-steps", "5",
       f"--beam-arg={BEAM_ARGS[0]}", f"--beam-arg={BEAM_ARGS[1]}"],
      capture_output=True, text=True, timeout=600, cwd=REPO)
  assert proc.returncode == 2, proc.stderr[-3000:]
  # in = kept + rejected, printed among the stage lines (the console's
  # terminal stream, stderr; stdout holds only a command's result lines)
  assert "reviews   in" in proc.stderr, proc.stderr[-3000:]
  err = proc.stderr
  assert "cfan run: error: data validation failed" in err, err[-3000:]
  assert "feature 'tag': Unexpected string values" in err
  assert "Renamed" in err
  assert not os.path.exists(str(tmp_path / "w" / "tfx" / "Trainer"))


# --------------------------------------------------------------------------
# Model gate (slow)
# --------------------------------------------------------------------------
def _auc(eval_dir: str, model_name: str) -> float:
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  from preprocessing import features as F  # pylint: disable=g-import-not-at-top
  for m in tfma.load_metrics(eval_dir):
    if m.slice_key.single_slice_keys:
      continue
    for kv in m.metric_keys_and_values:
      k = kv.key
      if (k.name == "auc" and k.output_name == F.PERSONAL_OUTPUT and
          k.model_name == model_name and not k.is_diff):
        return kv.value.double_value.value
  raise AssertionError(f"no overall AUC for model {model_name!r}")


@pytest.mark.slow
def test_worse_model_than_blessed_baseline_is_not_pushed(tiny_pipeline_run,
                                                         tmp_path):
  """Gradient ascent (negative learning rates) trains the personal head to
  be wrong: its review-free AUC is below the blessed baseline's, so with
  min_auc=0 only the change threshold can stop it, and it does."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import local_runner  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import metadata  # pylint: disable=g-import-not-at-top
  data, workdir, _ = tiny_pipeline_run
  copy = str(tmp_path / "work")
  shutil.copytree(workdir, copy)  # never touch the shared fixture's store
  serving = os.path.join(copy, "serving")
  before = sorted(os.listdir(serving))
  assert before, "the fixture run pushed no model"
  # Both learning rates: the default (residual) trains its image model with
  # ``learning_rate`` and its personal head, which reads the known votes of
  # eval images, with ``personal_learning_rate``.
  cpu = cfg_lib.get_config("cpu")
  res = local_runner.run(data, copy, config_name="cpu",
                         train_steps=TINY_TRAIN_STEPS, min_auc=0.0,
                         min_tag_images=TINY_MIN_TAG_IMAGES,
                         config_overrides={
                             "learning_rate": -cpu.learning_rate,
                             "personal_learning_rate":
                                 -cpu.personal_learning_rate},
                         floor_gate=False)
  assert res.executions["Trainer"] == "COMPLETE"
  assert res.executions["Evaluator"] == "COMPLETE"
  assert res.executions.get("Pusher") not in ("COMPLETE", "CACHED")
  assert res.pushed_model is None
  assert sorted(os.listdir(serving)) == before
  assert res.metrics["blessed"] is False
  assert "none (not blessed)" in local_runner.format_result(res)
  # The evaluation itself shows why: worse than the baseline, and only the
  # change threshold failed (min_auc=0 passes).
  eval_dir = metadata.latest_artifact_uri(copy, "ModelEvaluation")
  assert eval_dir.startswith(copy)
  candidate, baseline = _auc(eval_dir, "candidate"), _auc(eval_dir,
                                                          "baseline")
  assert candidate < baseline, (candidate, baseline)
  result = tfma.load_validation_result(eval_dir)
  assert not result.validation_ok
  failures = [f for mv in result.metric_validations_per_slice
              for f in mv.failures]
  assert failures and all(f.metric_key.name == "auc" and
                          f.metric_key.is_diff for f in failures), failures
  # ... and the run says so in one line.
  assert res.gate.startswith(
      "not pushed: review-free AUC on all eval rows is "), res.gate
  assert "below the blessed model's" in res.gate
  assert "floor gate off" in res.gate
  assert res.gate in local_runner.format_result(res)


@pytest.mark.slow
def test_model_below_the_best_floor_is_not_pushed(tiny_pipeline_run,
                                                  tmp_path):
  """The fixture's run again, against floors no model can beat (its
  examples' summary.json edited: best floor AUC 0.999 overall and on cold
  images; the copied workdir's other paths retrain the model): the
  Evaluator does not bless, nothing is pushed, and the result line names
  the slice, the metric and the floor."""
  import json  # pylint: disable=g-import-not-at-top
  from preprocessing import build_examples  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import local_runner  # pylint: disable=g-import-not-at-top
  data, workdir, _ = tiny_pipeline_run
  copy = str(tmp_path / "work")
  shutil.copytree(workdir, copy)
  serving = os.path.join(copy, "serving")
  before = sorted(os.listdir(serving))
  path = os.path.join(copy, "examples", build_examples.SUMMARY_FILE)
  with open(path, encoding="utf-8") as fh:
    summary = json.load(fh)
  assert summary["split"]["eval_cold"]["rows"] > 0
  for name in ("overall", F.SLICE_COLD):
    summary["floors"][name].update(best="mean_vote", best_auc=0.999)
  with open(path, "w", encoding="utf-8") as fh:
    json.dump(summary, fh)
  res = local_runner.run(data, copy, config_name="cpu",
                         train_steps=TINY_TRAIN_STEPS, min_auc=0.0,
                         min_tag_images=TINY_MIN_TAG_IMAGES)
  assert res.executions["Evaluator"] == "COMPLETE"
  assert res.executions.get("Pusher") not in ("COMPLETE", "CACHED")
  assert res.pushed_model is None
  assert sorted(os.listdir(serving)) == before
  assert res.gate.startswith("not pushed: review-free AUC 0."), res.gate
  assert "on all eval rows <= best floor mean_vote 0.999" in res.gate
  assert "on cold images <= best floor mean_vote 0.999" in res.gate
  assert "\n" not in res.gate
  assert res.gate in local_runner.format_result(res)

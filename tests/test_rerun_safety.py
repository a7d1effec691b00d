"""Safe reruns (issue 7): interrupt and resume, deterministic outputs, and
no half-written output is ever read by a later step.

(a) A pipeline run killed while the Trainer runs is resumed by a plain
    rerun: the finished components are served from ML Metadata's cache.
(b) build-examples twice gives the same examples, byte for byte; Transform
    (tf.Transform over the same examples) twice gives the same vocabularies
    and the same transformed data.
(c) Write-then-rename everywhere a later step reads: Beam writes shards to
    beam-temp-* and renames them when the job succeeds, summary.json is
    written last (atomically) and removed first, the local runner's
    fingerprint is written after the job and removed before a rebuild, the
    report is copied to reports.tmp and renamed, predict's CSV likewise.
(d) Transform's custom_config is only the Transform part of the config: a
    Trainer-only change (learning rate, dropout, variant) reruns the
    Trainer and leaves Transform cached.
"""
from __future__ import annotations

import collections
import functools
import glob
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any, Dict, List

import pytest

import demo_data
from preprocessing import build_examples
from preprocessing import examples_summary
from preprocessing import config as cfg_lib
from preprocessing import labelled
from tfx_pipeline import local_runner
from tfx_pipeline import metadata
from tfx_pipeline import predict
from tfx_pipeline import prepare
from tfx_pipeline import report
from tests.conftest import TINY_MIN_TAG_IMAGES

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_COMPONENTS = ("ImportExampleGen", "StatisticsGen", "SchemaGen",
                   "ExampleValidator", "AnomaliesGate", "Transform")


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> str:
  data = str(tmp_path_factory.mktemp("rerun") / "data")
  demo_data.generate(data, users=12, images=60, seed=1)
  return data


def _shards(out: str, sub: str = build_examples.EXAMPLES_SUBDIR) -> List[str]:
  return sorted(glob.glob(os.path.join(out, sub, f"{sub}-*")))


def _records(out: str) -> List[bytes]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return [r.numpy() for r in tf.data.TFRecordDataset(_shards(out))]


def _read(path: str) -> bytes:
  with open(path, "rb") as fh:
    return fh.read()


# --------------------------------------------------------------------------
# (a) interrupt, rerun, resume from cache
# --------------------------------------------------------------------------
# The killed run and its rerun (the same arguments: a rerun of the same run).
_RESUMED_RUN = dict(config_name="cpu", train_steps=20, min_auc=0.0,
                    min_tag_images=TINY_MIN_TAG_IMAGES, floor_gate=False)
_RUN_SCRIPT = textwrap.dedent(f"""
    import sys
    import preprocessing
    from tfx_pipeline import local_runner
    local_runner.run(sys.argv[1], sys.argv[2], **{_RESUMED_RUN!r})
""")


def _trainer_started(workdir: str) -> bool:
  return bool(glob.glob(os.path.join(workdir, "tfx", "Trainer", "model",
                                     "*")))


@pytest.fixture(scope="module")
def resumed_run(tiny_demo_data, tmp_path_factory):
  """A run killed while its Trainer runs, then a plain rerun in the same
  workdir: (data, workdir, executions when killed, the rerun's RunResult,
  its log lines). test_learning_rate_change_reruns_trainer_not_transform
  runs again in this workdir."""
  data = tiny_demo_data
  root = tmp_path_factory.mktemp("killed")
  workdir = str(root / "work")
  log_path = root / "killed_run.log"
  with open(log_path, "wb") as log_fh:
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN_SCRIPT, data, workdir,
         str(TINY_MIN_TAG_IMAGES)], cwd=REPO, start_new_session=True,
        stdout=log_fh, stderr=subprocess.STDOUT)
  try:
    deadline = time.time() + 480
    while not _trainer_started(workdir):
      assert proc.poll() is None, (
          "the run ended before the Trainer started:\n" +
          log_path.read_text(errors="replace")[-3000:])
      assert time.time() < deadline, "the Trainer never started"
      time.sleep(0.5)
    time.sleep(2.0)  # well inside the Trainer's executor
    assert proc.poll() is None, "the run finished before it could be killed"
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)  # the run and any Beam workers
    proc.wait(timeout=60)
  killed = metadata.latest_run_executions(workdir)
  logs: List[str] = []
  res = local_runner.run(data, workdir, **_RESUMED_RUN, log=logs.append)
  return data, workdir, killed, res, logs


@pytest.mark.slow
def test_killed_run_resumes_from_cache(resumed_run):
  _, _, killed, res, logs = resumed_run
  assert killed["Transform"] == "COMPLETE"
  assert killed["Trainer"] == "RUNNING", killed  # died mid-execution
  assert "Pusher" not in killed

  for node in DATA_COMPONENTS:
    assert res.executions[node] == "CACHED", res.executions
  assert res.executions["Trainer"] == "COMPLETE"
  assert res.executions["Pusher"] == "COMPLETE"
  assert res.pushed_model and os.path.isfile(
      os.path.join(res.pushed_model, "saved_model.pb"))
  assert any("inputs unchanged, reusing" in line for line in logs)
  assert any(line.startswith("reviews   in") for line in
             "\n".join(logs).splitlines())


# --------------------------------------------------------------------------
# (b) deterministic reruns
# --------------------------------------------------------------------------
def _reject_lines(out: str) -> List[bytes]:
  lines = []
  for path in _shards(out, build_examples.REJECTS_SUBDIR):
    lines += _read(path).splitlines()
  return sorted(lines)


@pytest.mark.slow
def test_build_examples_twice_is_byte_identical(small_data, tmp_path):
  """Every example is the same bytes in both runs (so ImportExampleGen's
  hash split puts it in the same split). Used to fail: proto map order is
  random per message unless serialized deterministically. The order of
  records inside a shard is Beam's business and is not compared."""
  outs = [str(tmp_path / "a"), str(tmp_path / "b")]
  summaries = [build_examples.run(small_data, out, min_tag_images=3,
                                  beam_args=BEAM_ARGS) for out in outs]
  assert summaries[0] == summaries[1]
  assert _read(os.path.join(outs[0], build_examples.SUMMARY_FILE)) == _read(
      os.path.join(outs[1], build_examples.SUMMARY_FILE))
  records = sorted(_records(outs[0]))
  reviews = sum(len(labelled.review_rows(r)) for r in records)
  assert reviews == summaries[0]["reviews"]["kept"] > len(records) > 0
  assert records == sorted(_records(outs[1]))
  assert _reject_lines(outs[0]) == _reject_lines(outs[1])
  # Rerunning into the same directory replaces the outputs (no stale shard).
  shards = _shards(outs[0])
  build_examples.run(small_data, outs[0], min_tag_images=3,
                     beam_args=BEAM_ARGS)
  assert _shards(outs[0]) == shards
  assert sorted(_records(outs[0])) == records


def _instances(records: List[bytes]) -> List[Dict[str, Any]]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out = []
  for record in records:
    f = tf.train.Example.FromString(record).features.feature
    row = {}
    for key, feat in f.items():
      kind = feat.WhichOneof("kind")
      values = list(getattr(feat, kind).value)
      row[key] = values if key == "votes" else values[0]
    out.append(row)
  return out


def _transform_once(instances, temp_dir: str):
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  import tensorflow_transform.beam as tft_beam
  from tensorflow_transform.tf_metadata import dataset_metadata
  from tensorflow_transform.tf_metadata import schema_utils
  from preprocessing import features as F
  from preprocessing import transform
  # pylint: enable=g-import-not-at-top
  meta = dataset_metadata.DatasetMetadata(
      schema_utils.schema_from_feature_spec(transform.raw_feature_spec()))
  fn = functools.partial(
      transform.preprocessing_fn,
      custom_config=cfg_lib.get_config("cpu").transform.to_dict())
  with tft_beam.Context(temp_dir=temp_dir, force_tf_compat_v1=False):
    (rows, _), transform_fn = (
        (instances, meta) | tft_beam.AnalyzeAndTransformDataset(fn))
  fn_dir = transform_fn[0][0]
  assets = {os.path.basename(p): _read(p)
            for p in glob.glob(os.path.join(fn_dir, "assets", "*"))}
  canon = sorted(repr({k: (v.tolist() if hasattr(v, "tolist") else v)
                       for k, v in sorted(r.items())}) for r in rows)
  return assets, canon


@pytest.mark.slow
def test_transform_twice_gives_the_same_data(small_data, tmp_path):
  out = str(tmp_path / "ex")
  build_examples.run(small_data, out, min_tag_images=3, beam_args=BEAM_ARGS)
  instances = _instances(_records(out)[:120])
  first = _transform_once(instances, str(tmp_path / "t1"))
  second = _transform_once(list(reversed(instances)), str(tmp_path / "t2"))
  assert set(first[0]) >= {"review_vocab", "user_vocab", "image_vocab",
                           "tag_vocab"}
  assert first[0] == second[0]  # vocabularies, byte for byte
  assert first[1] == second[1]  # transformed rows (order-free)
  assert len(first[1]) == len(instances)


# --------------------------------------------------------------------------
# (c) never read a half-written output
# --------------------------------------------------------------------------
def _crash_after(n: int, monkeypatch) -> None:
  real = build_examples.make_example
  calls = collections.Counter()

  def flaky(*args, **kwargs):
    calls["n"] += 1
    if calls["n"] > n:
      raise RuntimeError("simulated crash mid-job")
    return real(*args, **kwargs)

  monkeypatch.setattr(build_examples, "make_example", flaky)


@pytest.mark.slow
def test_failed_job_is_never_reused(small_data, tmp_path, monkeypatch):
  root = str(tmp_path / "examples")
  fp = os.path.join(root, prepare.FINGERPRINT_FILE)
  logs: List[str] = []
  ensure = functools.partial(prepare.ensure_examples, small_data, root,
                             beam_args=BEAM_ARGS, log=logs.append)
  good = ensure(min_tag_images=3)
  good_records = sorted(_records(root))
  assert os.path.exists(fp)

  # Reuse: nothing rebuilt, and the in = kept + rejected line printed.
  logs.clear()
  assert ensure(min_tag_images=3) == good
  assert "inputs unchanged, reusing" in logs[0]
  assert logs[1] == examples_summary.format_accounting(good)
  assert logs[1].startswith("reviews   in")

  # A rebuild (other settings) that dies half-way through the Beam job.
  _crash_after(3, monkeypatch)
  with pytest.raises(Exception, match="simulated crash mid-job"):
    ensure(min_tag_images=4)
  monkeypatch.undo()
  assert not os.path.exists(fp), "fingerprint must go before a rebuild"
  assert not os.path.exists(os.path.join(root, build_examples.SUMMARY_FILE))
  assert _shards(root) == []  # Beam never renamed its temp files in
  assert glob.glob(os.path.join(root, "examples", "beam-temp-*"))

  # Back to the first settings: the key matches the *finished* build, but
  # that build's output is gone; it must be rebuilt, not reused.
  logs.clear()
  again = ensure(min_tag_images=3)
  assert not any("reusing" in line for line in logs), logs
  assert sorted(_records(root)) == good_records
  assert again["reviews"] == good["reviews"]
  assert not glob.glob(os.path.join(root, "*", "beam-temp-*", "*"))

  # Deleting the fingerprint forces a rebuild too.
  os.remove(fp)
  logs.clear()
  ensure(min_tag_images=3)
  assert not any("reusing" in line for line in logs)
  assert os.path.exists(fp)


@pytest.mark.slow
def test_examples_of_another_data_contract_are_rebuilt(small_data, tmp_path,
                                                      monkeypatch):
  """Examples written when the contract had another feature set (here: one
  feature fewer, as before features.SAID_KEY joined) are not reused."""
  from preprocessing import features  # pylint: disable=g-import-not-at-top
  root = str(tmp_path / "examples")
  logs: List[str] = []
  ensure = functools.partial(prepare.ensure_examples, small_data, root,
                             min_tag_images=3, beam_args=BEAM_ARGS,
                             log=logs.append)
  monkeypatch.setattr(features, "INT_FEATURES", tuple(
      k for k in features.INT_FEATURES if k != features.SAID_KEY))
  ensure()
  monkeypatch.undo()
  logs.clear()
  ensure()
  assert not any("reusing" in line for line in logs), logs
  logs.clear()
  ensure()
  assert "inputs unchanged, reusing" in logs[0]


@pytest.mark.slow
def test_tampered_summary_is_not_reused(small_data, tmp_path):
  root = str(tmp_path / "examples")
  logs: List[str] = []
  prepare.ensure_examples(small_data, root, min_tag_images=3,
                          beam_args=BEAM_ARGS, log=logs.append)
  path = os.path.join(root, build_examples.SUMMARY_FILE)
  with open(path) as fh:
    summary = json.load(fh)
  summary["reviews"]["kept"] += 1  # in != kept + rejected
  with open(path, "w") as fh:
    json.dump(summary, fh)
  logs.clear()
  rebuilt = prepare.ensure_examples(small_data, root, min_tag_images=3,
                                    beam_args=BEAM_ARGS, log=logs.append)
  assert not any("reusing" in line for line in logs)
  assert examples_summary.accounting_ok(rebuilt)


def test_report_copy_is_never_half_written(tmp_path, monkeypatch):
  import shutil  # pylint: disable=g-import-not-at-top
  old, new, dst = tmp_path / "old", tmp_path / "new", tmp_path / "reports"
  for d, text in ((old, "old"), (new, "new")):
    d.mkdir()
    for name in ("metrics.json", "per_tag_accuracy.png"):
      (d / name).write_text(text)
  report.publish(str(old), str(dst))
  real_copytree = shutil.copytree

  def dies_after_one_file(src, target, **kw):
    if os.path.basename(src) == "per_tag_accuracy.png":
      raise OSError("disk full")
    return shutil.copy2(src, target, **kw)

  monkeypatch.setattr(shutil, "copytree", lambda src, dst: real_copytree(
      src, dst, copy_function=dies_after_one_file))
  with pytest.raises(Exception, match="disk full"):
    report.publish(str(new), str(dst))
  monkeypatch.undo()
  assert sorted(os.listdir(dst)) == ["metrics.json", "per_tag_accuracy.png"]
  assert all((dst / n).read_text() == "old" for n in os.listdir(dst))
  report.publish(str(new), str(dst))  # leftovers are cleaned
  assert all((dst / n).read_text() == "new" for n in os.listdir(dst))
  assert sorted(os.listdir(tmp_path)) == ["new", "old", "reports"]


def test_predict_csv_is_never_half_written(tmp_path):
  out = tmp_path / "scores.csv"
  out.write_text("previous complete file\n")
  row = {c: "x" for c in predict.OUTPUT_COLUMNS}

  def rows():
    yield row
    raise RuntimeError("scoring died")

  with pytest.raises(RuntimeError):
    predict.write_rows(str(out), rows())
  assert out.read_text() == "previous complete file\n"
  assert sorted(os.listdir(tmp_path)) == ["scores.csv"]
  predict.write_rows(str(out), [row, row])
  assert out.read_text().count("\n") == 3


# --------------------------------------------------------------------------
# (d) a Trainer-only change keeps Transform cached
# --------------------------------------------------------------------------
def _node_parameters(cfg: cfg_lib.ModelConfig) -> Dict[str, str]:
  """Component id -> its compiled parameters (part of TFX's cache key)."""
  # pylint: disable=g-import-not-at-top
  from tfx.dsl.compiler import compiler
  from tfx_pipeline import pipeline as pipeline_lib
  # pylint: enable=g-import-not-at-top
  ir = compiler.Compiler().compile(pipeline_lib.create_pipeline(
      pipeline_name="t", pipeline_root="/tmp/root", examples_dir="/tmp/ex",
      serving_model_dir="/tmp/serving", model_config=cfg))
  return {n.pipeline_node.node_info.id: str(n.pipeline_node.parameters)
          for n in ir.nodes}


@pytest.mark.parametrize("change,transform_reruns", [
    ({"learning_rate": 0.01}, False),
    ({"dropout": 0.5, "variant": "cfan-3task"}, False),
    ({"train_steps": 7, "batch_size": 8}, False),
    ({"image_size": 32}, True),
    ({"review_vocab_size": 100}, True),
    ({"jpeg_quality": 75}, True),
])
def test_transform_parameters_hold_only_transform_values(change,
                                                         transform_reruns):
  base = cfg_lib.get_config("cpu")
  before, after = _node_parameters(base), _node_parameters(
      base.replace(**change))
  assert (before["Transform"] != after["Transform"]) == transform_reruns
  assert before["Trainer"] != after["Trainer"]  # the Trainer gets it all
  for node in ("ImportExampleGen", "StatisticsGen", "SchemaGen"):
    assert before[node] == after[node]


@pytest.mark.slow
def test_learning_rate_change_reruns_trainer_not_transform(resumed_run):
  """The resumed run again in its workdir with another learning rate:
  every data component, Transform included, is CACHED, and the Trainer
  runs again with the new rate. (A workdir of its own, not a copy of
  another run's: a copy would move the examples, and ImportExampleGen's
  input_base is part of every downstream cache key.)"""
  from keras_model import trainer  # pylint: disable=g-import-not-at-top
  data, workdir, _, first, _ = resumed_run
  lr = 2 * cfg_lib.get_config("cpu").learning_rate
  res = local_runner.run(data, workdir, **_RESUMED_RUN, log=lambda *a: None,
                         config_overrides={"learning_rate": lr})
  assert first.executions["Trainer"] == "COMPLETE", first.executions
  for node in DATA_COMPONENTS:
    assert res.executions[node] == "CACHED", res.executions
  assert res.executions["Trainer"] == "COMPLETE", res.executions
  trainer_uri = metadata.latest_artifact_uri(workdir, "ModelRun")
  with open(os.path.join(trainer_uri, trainer.TRAIN_METRICS_FILE)) as fh:
    assert json.load(fh)["config"]["learning_rate"] == lr

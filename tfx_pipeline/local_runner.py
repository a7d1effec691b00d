"""Runs the pipeline on this machine (LocalDagRunner, SQLite ML Metadata).

``run(...)`` is what ``cfan run`` and ``make demo`` call:

1. ``cfan build-examples`` (Beam) into ``WORKDIR/examples`` unless the data
   directory is unchanged since the last run (fingerprint of names, sizes and
   mtimes), so a rerun keeps ImportExampleGen's input fingerprint and every
   component is served from cache;
2. the TFX pipeline with the metadata store at ``WORKDIR/metadata.sqlite``;
3. a summary read back from ML Metadata: which components ran or were
   cached, where the pushed model and the report are (copied to
   ``WORKDIR/reports``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

from preprocessing import keras_env as _keras_env  # noqa: F401
from preprocessing import config as cfg_lib
from preprocessing import features as F

PIPELINE_NAME = "cfan-aesthetics"
METADATA_FILE = "metadata.sqlite"
FINGERPRINT_FILE = "data_fingerprint.json"


@dataclasses.dataclass
class RunResult:
  workdir: str
  executions: Dict[str, str]  # component id -> COMPLETE / CACHED / FAILED
  pushed_model: Optional[str]  # <serving_dir>/<version> or None
  serving_dir: str
  report_dir: Optional[str]
  metrics: Optional[Dict[str, Any]]
  examples_summary: Dict[str, Any]
  seconds: float

  def to_dict(self) -> Dict[str, Any]:
    d = dataclasses.asdict(self)
    d.pop("metrics")
    return d


def data_fingerprint(data_dir: str) -> str:
  """Hash of every file's relative path, size and mtime under data_dir."""
  h = hashlib.sha256()
  for root, dirs, files in os.walk(data_dir):
    dirs.sort()
    for name in sorted(files):
      path = os.path.join(root, name)
      st = os.stat(path)
      h.update(f"{os.path.relpath(path, data_dir)}\0{st.st_size}\0"
               f"{st.st_mtime_ns}\n".encode())
  return h.hexdigest()


def ensure_examples(data_dir: str, examples_root: str, *,
                    min_tag_images: int, beam_args: Sequence[str],
                    log=print) -> Dict[str, Any]:
  """Runs build-examples unless the same data was already converted."""
  from preprocessing import build_examples  # pylint: disable=g-import-not-at-top
  fp = data_fingerprint(data_dir)
  fp_path = os.path.join(examples_root, FINGERPRINT_FILE)
  key = {"data": os.path.abspath(data_dir), "fingerprint": fp,
         "min_tag_images": min_tag_images}
  summary_path = os.path.join(examples_root, build_examples.SUMMARY_FILE)
  if os.path.exists(fp_path) and os.path.exists(summary_path):
    with open(fp_path) as fh:
      same = json.load(fh) == key
    if same:
      with open(summary_path) as fh:
        summary = json.load(fh)
      if build_examples.accounting_ok(summary):
        log(f"[1/2] build-examples: inputs unchanged, reusing {examples_root}")
        log(build_examples.format_accounting(summary))
        return summary
  # The fingerprint is written last and removed before a rebuild starts, so
  # the output of a job that died half-way is never taken for a finished one.
  if os.path.exists(fp_path):
    os.remove(fp_path)
  log(f"[1/2] build-examples: {data_dir} -> {examples_root}")
  summary = build_examples.run(data_dir, examples_root,
                               min_tag_images=min_tag_images,
                               beam_args=beam_args)
  log(build_examples.format_summary(summary))
  tmp = fp_path + ".tmp"
  with open(tmp, "w") as fh:
    json.dump(key, fh)
  os.replace(tmp, fp_path)
  return summary


def replace_dir(src: str, dst: str) -> None:
  """Copies directory ``src`` to ``dst``; ``dst`` is never half-written.

  The copy goes to a sibling ``dst.tmp`` that is renamed into place once
  complete; a reader sees the old directory, briefly none, or the new one.
  """
  tmp, old = dst + ".tmp", dst + ".old"
  for leftover in (tmp, old):
    if os.path.isdir(leftover):
      shutil.rmtree(leftover)
  shutil.copytree(src, tmp)
  if os.path.isdir(dst):
    os.rename(dst, old)
  os.rename(tmp, dst)
  if os.path.isdir(old):
    shutil.rmtree(old)


def metadata_config(workdir: str):
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  return tfx.orchestration.metadata.sqlite_metadata_connection_config(
      os.path.join(workdir, METADATA_FILE))


def latest_run_executions(workdir: str) -> Dict[str, str]:
  """Component id -> last known state, for the most recent pipeline run."""
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  store = metadata_store.MetadataStore(metadata_config(workdir))
  runs = store.get_contexts_by_type("pipeline_run")
  if not runs:
    return {}
  latest = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
  state_name = metadata_store_pb2.Execution.State.Name
  out: Dict[str, str] = {}
  for ex in store.get_executions_by_context(latest.id):
    node = [c.name for c in store.get_contexts_by_execution(ex.id)
            if c.type == "node"]
    node_id = node[0].split(".", 1)[-1] if node else ex.type
    out[node_id] = state_name(ex.last_known_state)
  return out


def latest_artifact_uri(workdir: str, type_name: str,
                        require_pushed: bool = False) -> Optional[str]:
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  store = metadata_store.MetadataStore(metadata_config(workdir))
  arts = store.get_artifacts_by_type(type_name)
  if require_pushed:
    arts = [a for a in arts if a.custom_properties.get("pushed") is not None
            and a.custom_properties["pushed"].int_value == 1]
  if not arts:
    return None
  art = max(arts, key=lambda a: (a.create_time_since_epoch, a.id))
  if require_pushed:
    return art.custom_properties["pushed_destination"].string_value
  return art.uri


def run(data_dir: str, workdir: str, *, config_name: str =
        cfg_lib.DEFAULT_CONFIG, beam_args: Sequence[str] = (),
        train_steps: Optional[int] = None, min_auc: float =
        cfg_lib.MIN_PERSONAL_AUC, min_tag_images: int =
        F.DEFAULT_MIN_TAG_IMAGES, config_overrides: Optional[Dict[str, Any]]
        = None, schema_path: Optional[str] = None, log=print) -> RunResult:
  """Builds examples if needed, runs the pipeline, returns where things are.

  ``schema_path``: a curated schema.pbtxt to validate the examples against
  instead of the inferred one. Anomalies stop the run before Transform with
  ``components.DataAnomaliesError`` (a ValueError) listing each of them.
  """
  t0 = time.time()
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  examples_root = os.path.join(workdir, "examples")
  summary = ensure_examples(data_dir, examples_root,
                            min_tag_images=min_tag_images,
                            beam_args=beam_args, log=log)
  kept = summary["reviews"]["kept"]
  if kept == 0:
    raise ValueError(f"{data_dir}: no review was kept; nothing to train on "
                     f"(see {examples_root}/rejects)")

  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx
  from preprocessing import build_examples
  from tfx_pipeline import components as cfan_components
  from tfx_pipeline import pipeline as pipeline_lib
  # pylint: enable=g-import-not-at-top
  model_config = cfg_lib.get_config(config_name, **(config_overrides or {}))
  beam = list(beam_args) or pipeline_lib.default_beam_args(
      kept, os.cpu_count() or 1)
  serving_dir = os.path.join(workdir, "serving")
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name=PIPELINE_NAME,
      pipeline_root=os.path.join(workdir, "tfx"),
      examples_dir=os.path.join(examples_root, build_examples.EXAMPLES_SUBDIR),
      serving_model_dir=serving_dir,
      model_config=model_config,
      train_steps=train_steps,
      min_auc=min_auc,
      beam_pipeline_args=beam,
      metadata_connection_config=metadata_config(workdir),
      schema_path=os.path.abspath(schema_path) if schema_path else None)
  log(f"[2/2] TFX pipeline ({len(pipeline.components)} components, config "
      f"'{model_config.name}', Beam: {' '.join(beam)})")
  tfx.orchestration.LocalDagRunner().run(pipeline)

  executions = latest_run_executions(workdir)
  pushed = latest_artifact_uri(workdir, "PushedModel", require_pushed=True)
  if pushed and executions.get("Pusher") not in ("COMPLETE", "CACHED"):
    pushed_now = None  # an older push; this run's model was not blessed
  else:
    pushed_now = pushed
  report_uri = latest_artifact_uri(workdir, cfan_components.REPORT_ARTIFACT_TYPE)
  metrics = None
  report_dir = None
  if report_uri:
    report_dir = os.path.join(workdir, "reports")
    replace_dir(report_uri, report_dir)
    from tfx_pipeline import report as report_lib  # pylint: disable=g-import-not-at-top
    with open(os.path.join(report_dir, report_lib.METRICS_FILE)) as fh:
      metrics = json.load(fh)
  return RunResult(workdir=workdir, executions=executions,
                   pushed_model=pushed_now, serving_dir=serving_dir,
                   report_dir=report_dir, metrics=metrics,
                   examples_summary=summary, seconds=time.time() - t0)


def format_result(res: RunResult) -> str:
  lines = ["components:"]
  for node, state in res.executions.items():
    lines.append(f"  {node:<34s} {state}")
  m = res.metrics
  if m:
    o = m["overall"]
    pos = 100 * m["positive_ratio"]
    lines.append(f"eval rows: {m['rows']:,d} (positive {pos:.1f} %)")
    for proto in ("review_free", "review_given"):
      p = o[proto]["personal"]
      lines.append(f"  personal head, {proto.replace('_', ' '):<13s} "
                   f"acc {p['accuracy']:.3f}  AUC {p['auc']:.3f}")
    a = o["review_free"]["agnostic"]
    lines.append(f"  agnostic head (b_v)          acc {a['accuracy']:.3f}  "
                 f"AUC {a['auc']:.3f}")
    for name, f in o["floors"].items():
      lines.append(f"  floor: {name:<21s} acc {f['accuracy']:.3f}  "
                   f"AUC {f['auc']:.3f}")
    lines.append(f"  blessed by the Evaluator: {m.get('blessed')}")
  lines.append(f"pushed model: {res.pushed_model or 'none (not blessed)'}")
  lines.append(f"report:       {res.report_dir}")
  lines.append(f"ML Metadata:  {os.path.join(res.workdir, METADATA_FILE)}")
  lines.append(f"done in {res.seconds / 60:.1f} min")
  return "\n".join(lines)

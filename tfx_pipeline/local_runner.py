"""Runs the pipeline on this machine (LocalDagRunner, SQLite ML Metadata).

``run(...)`` is what ``cfan run`` and ``make demo`` call: the labelled
examples (``prepare.ensure_examples``: rebuilt only when the data changed),
then the TFX pipeline with its metadata at ``WORKDIR/metadata.sqlite``,
then a summary read back from ML Metadata (``metadata``): which components
ran or were cached, the pushed model, and the report, copied to
``WORKDIR/reports``.

Layout of ``WORKDIR``: ``examples/`` (build-examples), ``tfx/`` (pipeline
root), ``metadata.sqlite``, ``serving/`` (Pusher), ``reports/``.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from preprocessing import keras_env as _keras_env  # noqa: F401
from preprocessing import config as cfg_lib
from preprocessing import features as F
from tfx_pipeline import configs
from tfx_pipeline import metadata
from tfx_pipeline import preflight
from tfx_pipeline import prepare

EXAMPLES_DIR, PIPELINE_ROOT_DIR = "examples", "tfx"
SERVING_DIR, REPORTS_DIR = "serving", "reports"


@dataclasses.dataclass
class RunResult:
  """What one ``run`` did and where its outputs are."""
  workdir: str
  executions: Dict[str, str]  # component id -> COMPLETE / CACHED / FAILED
  pushed_model: Optional[str]  # <serving_dir>/<version> or None
  serving_dir: str
  report_dir: Optional[str]
  metrics: Optional[Dict[str, Any]]  # reports/metrics.json
  examples_summary: Dict[str, Any]
  seconds: float
  # One line: pushed or not, and against which bound (tfx_pipeline/gate.py).
  gate: Optional[str] = None

  def to_dict(self) -> Dict[str, Any]:
    d = dataclasses.asdict(self)
    d.pop("metrics")
    return d


def run(data_dir: str, workdir: str, *, config_name: str =
        cfg_lib.DEFAULT_CONFIG, beam_args: Sequence[str] = (),
        train_steps: Optional[int] = None, min_auc: float =
        cfg_lib.MIN_PERSONAL_AUC, min_tag_images: Optional[int] = None,
        min_tag_share: float = F.DEFAULT_MIN_TAG_SHARE,
        config_overrides: Optional[Dict[str, Any]]
        = None, schema_path: Optional[str] = None,
        floor_gate: bool = True,
        log: Callable[..., None] = print) -> RunResult:
  """Builds examples if needed, runs the pipeline, returns where things are.

  Args:
    data_dir: the AVA-review directory.
    workdir: the run directory (created; reused by a rerun, which is then
      served from cache where nothing changed).
    config_name: a ``preprocessing.config`` model config name.
    beam_args: Beam flags for build-examples and every Beam component
      (default: DirectRunner settings by data size).
    train_steps: overrides the config's training steps.
    min_auc: the Evaluator gate's absolute AUC floor.
    floor_gate: gate on the examples' floors too (the review-free AUC must
      beat the best floor overall and on cold images); False leaves
      ``min_auc`` and the blessed baseline only.
    min_tag_images: the major-tag threshold of build-examples, an absolute
      count; None: ``min_tag_share`` of the images.
    min_tag_share: see ``min_tag_images``.
    config_overrides: ModelConfig fields to override.
    schema_path: a curated schema.pbtxt to validate the examples against
      instead of the inferred one; anomalies stop the run before Transform
      with ``components.DataAnomaliesError`` (a ValueError) listing each.
    log: where progress lines go.

  Returns:
    The RunResult.

  Raises:
    preflight.PreflightError: what a later stage needs is missing (weights,
      a writable workdir, disk space, the locked versions); raised in
      seconds, before any Beam stage.
  """
  preflight.check(data_dir, os.path.abspath(workdir), cfg_lib.get_config(
      config_name, **(config_overrides or {})), log=log)
  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx
  from preprocessing import build_examples
  from preprocessing import eval_split
  from tfx_pipeline import components
  from tfx_pipeline import gate as gate_lib
  from tfx_pipeline import pipeline as pipeline_lib
  from tfx_pipeline import report as report_lib
  from tfx_pipeline import report_html
  # pylint: enable=g-import-not-at-top
  t0 = time.time()
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  examples_root = os.path.join(workdir, EXAMPLES_DIR)
  summary = prepare.ensure_examples(data_dir, examples_root,
                                    min_tag_images=min_tag_images,
                                    min_tag_share=min_tag_share,
                                    beam_args=beam_args, log=log)
  for line in _examples_lines(summary):
    log(line)
  model_config = cfg_lib.get_config(config_name, **(config_overrides or {}))
  beam = list(beam_args) or pipeline_lib.default_beam_args(
      summary["reviews"]["kept"], os.cpu_count() or 1)
  serving_dir = os.path.join(workdir, SERVING_DIR)
  floors = eval_split.best_floors(summary) if floor_gate else None
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name=configs.PIPELINE_NAME,
      pipeline_root=os.path.join(workdir, PIPELINE_ROOT_DIR),
      examples_dir=os.path.join(examples_root, build_examples.EXAMPLES_SUBDIR),
      serving_model_dir=serving_dir, model_config=model_config,
      train_steps=train_steps, min_auc=min_auc,
      floors=floors,
      report_floors=summary.get("floors"), beam_pipeline_args=beam,
      metadata_connection_config=metadata.connection_config(workdir),
      schema_path=os.path.abspath(schema_path) if schema_path else None)
  log(f"[2/2] TFX pipeline ({len(pipeline.components)} components, config "
      f"'{model_config.name}', Beam: {' '.join(beam)})")
  tfx.orchestration.LocalDagRunner().run(pipeline)

  executions = metadata.latest_run_executions(workdir)
  pushed = metadata.latest_pushed_model(workdir)
  if executions.get("Pusher") not in ("COMPLETE", "CACHED"):
    pushed = None  # an older push; this run's model was not blessed
  report_uri = metadata.latest_artifact_uri(workdir,
                                            components.REPORT_ARTIFACT_TYPE)
  report_dir = os.path.join(workdir, REPORTS_DIR) if report_uri else None
  evaluation_uri = metadata.latest_artifact_uri(workdir, "ModelEvaluation")
  gate_line = None
  if evaluation_uri and executions.get("Evaluator") in ("COMPLETE", "CACHED"):
    bounds = gate_lib.auc_bounds(min_auc, floors)
    gate_line = gate_lib.gate_line(evaluation_uri, bounds,
                                   gate_lib.ungated_note(bounds, floors))
  metrics = None
  if report_uri:
    report_lib.publish(report_uri, report_dir)
    metrics = report_lib.load_metrics(report_dir)
    report_html.write_run_page(
        report_dir, summary, gate_line=gate_line, examples_dir=os.path.join(
            examples_root, build_examples.EXAMPLES_SUBDIR), log=log,
        model_dir=pushed or metadata.latest_artifact_uri(workdir, "Model"))
  return RunResult(workdir=workdir, executions=executions,
                   pushed_model=pushed, serving_dir=serving_dir,
                   report_dir=report_dir, metrics=metrics,
                   examples_summary=summary, seconds=time.time() - t0,
                   gate=gate_line)


def _examples_lines(summary: Dict[str, Any]) -> List[str]:
  """Two stage lines of counts: reviews in = kept + rejected (the top
  reasons), images and split."""
  sp = summary["split"]
  reasons = sorted(summary["rejects_by_reason"].items(), key=lambda kv: -kv[1])
  why = ", ".join(f"{k} {n:,d}" for k, n in reasons[:3])
  more = f", {len(reasons) - 3} more reasons" if len(reasons) > 3 else ""
  evals = " + ".join(f"{v} {sp[f'{F.EVAL_SPLIT}_{v}']['rows']:,d}"
                     for v in F.SLICE_VALUES)
  from preprocessing import examples_summary  # pylint: disable=g-import-not-at-top
  accounting = examples_summary.format_accounting(summary).splitlines()[0]
  vote_only = summary["images"].get("vote_only_kept", 0)
  return [f"      {accounting}" + (f" ({why}{more})" if why else ""),
          f"      examples: {summary['images']['with_kept_reviews']:,d} "
          "images" + (f" + {vote_only:,d} with votes only" if vote_only
                      else "")
          + f", {len(summary['major_tags'])} major tags; train "
          f"{sp[F.TRAIN_SPLIT]['rows']:,d} rows, eval {evals} rows"]


def format_result(res: RunResult, components: bool = True) -> str:
  """The summary ``cfan run`` prints.

  Args:
    res: the run.
    components: list every component's state (False: the console has
      shown each component as it finished).

  Returns:
    The lines.
  """
  from tfx_pipeline import report as report_lib  # pylint: disable=g-import-not-at-top
  lines = []
  if components:
    lines.append("components:")
    for node, state in res.executions.items():
      lines.append(f"  {node:<34s} {state}")
  if res.metrics:
    lines += report_lib.format_metrics(res.metrics)
  if res.gate:
    lines.append(res.gate)
  lines.append(f"pushed model: {res.pushed_model or 'none (not blessed)'}")
  lines.append(f"report:       {res.report_dir}")
  if res.report_dir:
    from tfx_pipeline import report_html  # pylint: disable=g-import-not-at-top
    lines.append(f"report page:  "
                 f"{os.path.join(res.report_dir, report_html.PAGE_FILE)}")
  lines.append(f"ML Metadata:  "
               f"{os.path.join(res.workdir, metadata.METADATA_FILE)}")
  lines.append(f"done in {res.seconds / 60:.1f} min")
  return "\n".join(lines)

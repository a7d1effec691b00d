"""Compiles the same ``create_pipeline(...)`` for Kubeflow Pipelines / Vertex.

``cfan compile --target kubeflow --image IMAGE --out pipeline.json`` writes a
KFP v2 PipelineSpec (PipelineJob JSON) with KubeflowV2DagRunner. Nothing runs
here: the container image (``Dockerfile``) carries the project, the pipeline
root and data live on shared storage (``gs://...``), and Beam stages run on
the engine named by the Beam flags (e.g. Dataflow). Submit it with the KFP
SDK or ``gcloud ai pipelines`` / the Vertex AI console (see BUILD.md).

Runtime parameters of the compiled pipeline (overridable per KFP run):
``train-args`` and ``eval-args`` (the Trainer's TrainArgs/EvalArgs as JSON).
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from preprocessing import keras_env as _keras_env  # noqa: F401
from preprocessing import config as cfg_lib

KFP_PIPELINE_NAME = "cfan-aesthetics"
TRAIN_ARGS_PARAM = "train-args"
EVAL_ARGS_PARAM = "eval-args"
# KFP pipeline names: lowercase letters, digits and dashes, starting with a
# letter (they become Kubernetes resource names).
_KFP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,127}$")


def validate_pipeline_name(name: str) -> str:
  if not _KFP_NAME.match(name):
    raise ValueError(f"pipeline name {name!r} is not valid for KFP: use "
                     "lowercase letters, digits and '-', starting with a "
                     "letter")
  return name


def compile_kubeflow(*, image: str, out_path: str, pipeline_root: str,
                     examples_dir: str, serving_model_dir: str,
                     config_name: str = "paper",
                     pipeline_name: str = KFP_PIPELINE_NAME,
                     beam_args: Sequence[str] = (),
                     min_auc: float = cfg_lib.MIN_PERSONAL_AUC,
                     floors: Optional[Mapping[str, Tuple[str, float]]] = None
                     ) -> Dict[str, Any]:
  """Compiles the pipeline to ``out_path``; returns the PipelineJob dict.

  ``floors`` (slice -> (best floor, AUC), ``eval_split.best_floors`` of
  the examples' summary) are fixed at compile time; without them the gate
  falls back to ``min_auc`` and the blessed baseline.
  """
  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx
  from tfx_pipeline import pipeline as pipeline_lib
  # pylint: enable=g-import-not-at-top
  validate_pipeline_name(pipeline_name)
  model_config = cfg_lib.get_config(config_name)
  defaults = {
      TRAIN_ARGS_PARAM: json.dumps({"num_steps": model_config.train_steps}),
      EVAL_ARGS_PARAM: json.dumps({"num_steps": model_config.eval_steps}),
  }
  train_args, eval_args = (
      tfx.dsl.experimental.RuntimeParameter(name=n, ptype=str,
                                            default=defaults[n])
      for n in (TRAIN_ARGS_PARAM, EVAL_ARGS_PARAM))
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name=pipeline_name, pipeline_root=pipeline_root,
      examples_dir=examples_dir, serving_model_dir=serving_model_dir,
      model_config=model_config, min_auc=min_auc, floors=floors,
      beam_pipeline_args=list(beam_args), metadata_connection_config=None,
      train_args=train_args, eval_args=eval_args)
  out_dir = os.path.dirname(os.path.abspath(out_path))
  os.makedirs(out_dir, exist_ok=True)
  runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
      config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
          default_image=image),
      output_dir=out_dir, output_filename=os.path.basename(out_path))
  # Defaults go into the job's runtimeConfig; a KFP run may override them.
  return runner.run(pipeline, parameter_values=defaults, write_out=True)


def task_order(job: Dict[str, Any]) -> List[str]:
  """Task names of a compiled PipelineJob in a dependency-respecting order."""
  tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
  deps = {name: set(t.get("dependentTasks", [])) for name, t in tasks.items()}
  order: List[str] = []
  while deps:
    ready = sorted(n for n, d in deps.items() if not d - set(order))
    if not ready:
      raise ValueError(f"cycle among {sorted(deps)}")
    for n in ready:
      order.append(n)
      del deps[n]
  return order


def runtime_parameters(job: Dict[str, Any]) -> Dict[str, Any]:
  root = job["pipelineSpec"]["root"]
  return dict(root.get("inputDefinitions", {}).get("parameters", {}))


def image_of(job: Dict[str, Any], component: str) -> Optional[str]:
  executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
  for name, spec in executors.items():
    if name.startswith(component) and "container" in spec:
      return spec["container"]["image"]
  return None

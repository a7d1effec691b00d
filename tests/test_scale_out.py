"""Scale-out plumbing: Kubeflow compile, Beam presets, Beam flags reach every
Beam stage unchanged (the engines themselves cannot be started here)."""
from __future__ import annotations

import json

import pytest

from preprocessing import config as cfg_lib
from tfx_pipeline import beam_presets
from tfx_pipeline import cli

BEAM_COMPONENTS = ("ImportExampleGen", "StatisticsGen", "Transform",
                   "Evaluator")
NON_BEAM_COMPONENTS = ("Trainer", "Pusher")
EXPECTED_ORDER = ["ImportExampleGen", "StatisticsGen", "SchemaGen",
                  "ExampleValidator", "Transform", "Trainer", "Evaluator"]
DATAFLOW_FLAGS = ["--runner=DataflowRunner", "--project=my-proj",
                  "--region=europe-west4", "--temp_location=gs://b/tmp",
                  "--sdk_container_image=gcr.io/my-proj/cfan:1.0",
                  "--max_num_workers=32"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
  out = tmp_path_factory.mktemp("kfp") / "pipeline.json"
  rc = cli.main(["compile", "--target", "kubeflow", "--image",
                 "gcr.io/my-proj/cfan:1.0", "--out", str(out),
                 "--pipeline-root", "gs://b/cfan", "--"] + DATAFLOW_FLAGS)
  assert rc == 0
  with open(out) as fh:
    return json.load(fh)


def test_compiled_pipeline_has_every_component_in_order(compiled):
  from tfx_pipeline import kubeflow_runner  # pylint: disable=g-import-not-at-top
  order = kubeflow_runner.task_order(compiled)
  for name in EXPECTED_ORDER + ["Pusher", "CfanReport"]:
    assert name in order, order
  positions = [order.index(n) for n in EXPECTED_ORDER]
  assert positions == sorted(positions), order
  tasks = compiled["pipelineSpec"]["root"]["dag"]["tasks"]
  assert "Transform" in tasks["Trainer"]["dependentTasks"]
  assert "Trainer" in tasks["Evaluator"]["dependentTasks"]
  # The Pusher runs only when the Evaluator blessed the model.
  assert "Evaluator" in json.dumps(tasks["Pusher"].get("triggerPolicy", {}))
  assert compiled["pipelineSpec"]["pipelineInfo"]["name"] == "cfan-aesthetics"


def test_compiled_runtime_parameters_and_image(compiled):
  from tfx_pipeline import kubeflow_runner  # pylint: disable=g-import-not-at-top
  params = kubeflow_runner.runtime_parameters(compiled)
  assert set(params) == {kubeflow_runner.TRAIN_ARGS_PARAM,
                         kubeflow_runner.EVAL_ARGS_PARAM}
  defaults = compiled["runtimeConfig"].get("parameterValues") or \
      compiled["runtimeConfig"].get("parameters")
  train = defaults[kubeflow_runner.TRAIN_ARGS_PARAM]
  train = train.get("stringValue", train) if isinstance(train, dict) else train
  assert json.loads(train) == {
      "num_steps": cfg_lib.get_config("paper").train_steps}
  for comp in BEAM_COMPONENTS + NON_BEAM_COMPONENTS:
    assert kubeflow_runner.image_of(compiled, comp) == "gcr.io/my-proj/cfan:1.0"
  assert compiled["runtimeConfig"]["gcsOutputDirectory"] == "gs://b/cfan"


def test_beam_flags_reach_every_beam_component_unchanged(compiled):
  executors = compiled["pipelineSpec"]["deploymentSpec"]["executors"]
  for comp in BEAM_COMPONENTS:
    args = executors[f"{comp}_executor"]["container"]["args"]
    tail = [a for a in args if a.startswith("--") and a not in (
        "--executor_class_path", "--json_serialized_invocation_args")]
    assert tail == DATAFLOW_FLAGS, (comp, args)


def test_invalid_kfp_pipeline_name_is_rejected(tmp_path, capsys):
  rc = cli.main(["compile", "--image", "i", "--out", str(tmp_path / "p.json"),
                 "--pipeline-name", "CFAN_Pipeline"])
  assert rc == 2
  assert "not valid for KFP" in capsys.readouterr().err


def _local_ir_beam_args(beam_args):
  """Beam flags per node in the pipeline IR the LocalDagRunner executes."""
  # pylint: disable=g-import-not-at-top
  from tfx.dsl.compiler import compiler
  from tfx.proto.orchestration import executable_spec_pb2
  from tfx.proto.orchestration import pipeline_pb2
  from tfx_pipeline import pipeline as pipeline_lib
  # pylint: enable=g-import-not-at-top
  p = pipeline_lib.create_pipeline(
      pipeline_name="t", pipeline_root="/tmp/root", examples_dir="/tmp/ex",
      serving_model_dir="/tmp/serving",
      model_config=cfg_lib.get_config("cpu"), beam_pipeline_args=beam_args)
  ir = compiler.Compiler().compile(p)
  deployment = pipeline_pb2.IntermediateDeploymentConfig()
  ir.deployment_config.Unpack(deployment)
  out = {}
  for node, spec in deployment.executor_specs.items():
    beam = executable_spec_pb2.BeamExecutableSpec()
    if spec.Unpack(beam):
      out[node] = list(beam.beam_pipeline_args)
  return out


@pytest.mark.parametrize("preset,user", [
    ("local", []),
    ("dataflow", DATAFLOW_FLAGS[1:4]),
    ("flink", ["--flink_master=flink-jm:8081", "--parallelism=16"]),
    ("spark", ["--spark_master_url=spark://spark:7077"]),
])
def test_presets_reach_every_local_beam_node_unchanged(preset, user):
  flags = beam_presets.beam_args_for(preset, user)
  assert flags[-len(user):] == user if user else True
  per_node = _local_ir_beam_args(flags)
  for comp in BEAM_COMPONENTS:
    assert per_node.get(comp) == flags, (comp, per_node.get(comp))


def test_preset_requires_site_flags():
  with pytest.raises(ValueError, match="--project"):
    beam_presets.beam_args_for("dataflow", ["--region=r",
                                            "--temp_location=gs://t"])
  with pytest.raises(ValueError, match="unknown Beam preset"):
    beam_presets.beam_args_for("samza", [])


def test_build_examples_passes_flags_to_beam(monkeypatch, tmp_path):
  """cfan build-examples hands the exact flag list to PipelineOptions."""
  from preprocessing import build_examples  # pylint: disable=g-import-not-at-top
  seen = {}

  def fake_run(data_dir, out_dir, **kw):
    seen.update(kw)
    raise SystemExit(0)
  monkeypatch.setattr(build_examples, "run", fake_run)
  flags = beam_presets.beam_args_for("spark",
                                     ["--spark_master_url=spark://s:7077"])
  with pytest.raises(SystemExit):
    cli.main(["build-examples", "--data", str(tmp_path), "--out",
              str(tmp_path / "o"), "--beam-preset", "spark", "--",
              "--spark_master_url=spark://s:7077"])
  assert list(seen["beam_args"]) == flags
  opts = build_examples.pipeline_options(flags).get_all_options()
  assert opts["runner"] == "SparkRunner"
  assert opts["spark_master_url"] == "spark://s:7077"


def test_default_beam_args_follow_data_size():
  from tfx_pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  small = pipeline_lib.default_beam_args(1000, 2)
  big = pipeline_lib.default_beam_args(
      pipeline_lib.MULTIPROCESSING_MIN_EXAMPLES, 2)
  assert "--direct_running_mode=in_memory" in small
  assert "--direct_running_mode=multi_processing" in big
  assert "--direct_running_mode=in_memory" in pipeline_lib.default_beam_args(
      10**9, 1)

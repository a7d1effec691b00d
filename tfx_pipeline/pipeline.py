"""The CFAN TFX pipeline: a pure ``create_pipeline(...)``, penguin-style.

ImportExampleGen (labelled examples of ``cfan build-examples``, one per
image, read as its two splits: train = warm images with all their reviews,
the held-out (user, image) pairs marked; eval = held-out cold images) -> StatisticsGen -> SchemaGen (or
ImportSchemaGen of a curated schema) -> ExampleValidator -> AnomaliesGate
(stops the run on any anomaly) -> Transform
(``preprocessing.transform.preprocessing_fn``)
-> Trainer (``keras_model.trainer.run_fn``) -> Resolver (latest blessed
model) -> Evaluator (TFMA, review-free signature, overall, warm/cold images
and per tag, with a blessing gate: above the best floor overall and on cold
images, see ``tfx_pipeline/gate.py``) -> Pusher (only when blessed) and the
CfanReport component (``tfx_pipeline/report.py``: metrics.json and the
per-slice chart from TFMA's slices, the Trainer's ModelRun and the floors).

The Transform and Trainer code and the Evaluator's module are named by
dotted path (``tfx_pipeline/configs.py``): this module imports no model code.
"""
from __future__ import annotations

import json
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from preprocessing import keras_env as _keras_env  # noqa: F401
import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from evaluation import metrics as metrics_lib
from preprocessing import build_examples
from preprocessing import config as cfg_lib
from preprocessing import features as F
from preprocessing.config import ModelConfig
from tfx_pipeline import components as cfan_components
from tfx_pipeline import configs
from tfx_pipeline import gate as gate_lib

TRAIN_SPLIT, EVAL_SPLIT = F.TRAIN_SPLIT, F.EVAL_SPLIT


# Weighted metrics only: per held-out review (F.REVIEW_WEIGHT_KEY) and per
# image with a held-out review (F.IMAGE_WEIGHT_KEY). An unweighted variant
# would count training reviews and the padding.
_WEIGHTED = tfma.ExampleWeightOptions(weighted=True, unweighted=False)


def _slicing_spec(slice_name: str) -> tfma.SlicingSpec:
  if slice_name == gate_lib.OVERALL:
    return tfma.SlicingSpec()
  return tfma.SlicingSpec(feature_values={F.SLICE_KEY: slice_name})


def eval_config(*, min_auc: float,
                floors: Optional[Mapping[str, Tuple[str, float]]] = None,
                floor_margin: float = cfg_lib.FLOOR_AUC_MARGIN,
                signature: str = F.EVALUATE_REVIEW_FREE
                ) -> tfma.EvalConfig:
  """TFMA config: both rating heads and the tag head, overall, per image
  slice (warm/cold) and per tag.

  The Evaluator reads both splits: an example is one image with all its
  reviews, the held-out ones marked (``F.HELD_OUT_KEY``; warm images in the
  training split, cold ones in eval). The evaluation signature scores every
  review review-free and pads them to the batch's most reviews, and
  ``transform_features`` gives the labels padded the same way with
  ``F.REVIEW_WEIGHT_KEY`` (1 on a held-out review, 0 on a training review
  and on the padding) and ``F.IMAGE_WEIGHT_KEY`` (1 on an image with a
  held-out review). Every metric is weighted, never unweighted: the
  personal head's per held-out review (``example_count`` counts them), the
  agnostic and tag heads' per image with a held-out review.

  The gate (blessing) is on the personal head, review-free (the path
  deployed users get): its AUC must be above the best floor on the
  overall and on the cold slice (``floors``: slice -> (name, AUC), from the
  examples' summary), at least ``min_auc``, and not worse than the latest
  blessed model's on the overall slice (ignored on the first run). See
  :func:`tfx_pipeline.gate.auc_bounds`.
  """
  change = tfma.GenericChangeThreshold(
      direction=tfma.MetricDirection.HIGHER_IS_BETTER,
      absolute={"value": -1e-10})
  thresholds = []
  for slice_name, bound in gate_lib.auc_bounds(min_auc, floors,
                                               floor_margin).items():
    thresholds.append(tfma.PerSliceMetricThreshold(
        slicing_specs=[_slicing_spec(slice_name)],
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(
                lower_bound={"value": bound.value}),
            change_threshold=(change if slice_name == gate_lib.OVERALL
                              else None))))
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(
          signature_name=signature,
          model_type=tfma.TF_GENERIC,
          preprocessing_function_names=[F.TRANSFORM_FEATURES],
          label_keys={F.PERSONAL_OUTPUT: F.LABEL_KEY,
                      F.AGNOSTIC_OUTPUT: F.AGNOSTIC_LABEL_KEY,
                      F.TAG_OUTPUT: F.TAG_XF},
          example_weight_keys={F.PERSONAL_OUTPUT: F.REVIEW_WEIGHT_KEY,
                               F.AGNOSTIC_OUTPUT: F.IMAGE_WEIGHT_KEY,
                               F.TAG_OUTPUT: F.IMAGE_WEIGHT_KEY})],
      slicing_specs=[tfma.SlicingSpec(),
                     tfma.SlicingSpec(feature_keys=[F.SLICE_KEY]),
                     tfma.SlicingSpec(feature_keys=[F.TAG_KEY])],
      metrics_specs=[
          tfma.MetricsSpec(output_names=[F.PERSONAL_OUTPUT],
                           example_weights=_WEIGHTED, metrics=[
              tfma.MetricConfig(class_name="ExampleCount"),
              tfma.MetricConfig(class_name="MeanLabel"),
              tfma.MetricConfig(class_name="BinaryAccuracy"),
              # The report's ECE (evaluation.metrics bins) per slice.
              tfma.MetricConfig(class_name="CalibrationPlot", config=json.dumps(
                  {"num_buckets": metrics_lib.ECE_BINS, "left": 0.0,
                   "right": 1.0})),
              # Gated on the overall and the cold slice; warm images and
              # the (small) tag slices are reported, not gated.
              tfma.MetricConfig(class_name="AUC",
                                per_slice_thresholds=thresholds),
          ]),
          tfma.MetricsSpec(output_names=[F.AGNOSTIC_OUTPUT],
                           example_weights=_WEIGHTED, metrics=[
              tfma.MetricConfig(class_name="BinaryAccuracy"),
              tfma.MetricConfig(class_name="AUC"),
          ]),
          tfma.MetricsSpec(output_names=[F.TAG_OUTPUT],
                           example_weights=_WEIGHTED, metrics=[
              tfma.MetricConfig(class_name="SparseCategoricalAccuracy"),
          ]),
      ])


def create_pipeline(*, pipeline_name: str, pipeline_root: str,
                    examples_dir: str, serving_model_dir: str,
                    model_config: ModelConfig,
                    train_steps: Optional[int] = None,
                    min_auc: float = cfg_lib.MIN_PERSONAL_AUC,
                    floors: Optional[Mapping[str, Tuple[str, float]]] = None,
                    floor_margin: float = cfg_lib.FLOOR_AUC_MARGIN,
                    beam_pipeline_args: Sequence[str] = (),
                    metadata_connection_config: Any = None,
                    enable_cache: bool = True,
                    train_args: Any = None,
                    eval_args: Any = None,
                    schema_path: Optional[str] = None,
                    report_floors: Optional[Mapping[str, Any]] = None
                    ) -> tfx.dsl.Pipeline:
  """Builds the pipeline; no side effects (runners decide where it runs).

  ``report_floors``: the floors the report shows beside the model, {slice
  name: floors} (the ``floors`` of build-examples' summary).

  ``schema_path``: a curated schema.pbtxt to validate the examples against
  (ImportSchemaGen); by default SchemaGen infers the schema from the data.
  Any anomaly the ExampleValidator finds stops the run before Transform
  (``AnomaliesGate``).

  ``train_args`` / ``eval_args`` override the Trainer's TrainArgs/EvalArgs
  protos, e.g. with ``RuntimeParameter`` s when compiling for Kubeflow.

  ``floors``: slice -> (best floor, AUC) of the eval rows
  (``eval_split.best_floors`` of the examples' summary); the Evaluator
  blesses only a model above them (``floor_margin`` more) on the overall and
  the cold slice. None (e.g. when compiling before the examples exist): the
  gate is ``min_auc`` and the baseline only.
  """
  example_gen = tfx.components.ImportExampleGen(
      input_base=examples_dir,
      input_config=tfx.proto.Input(splits=[
          tfx.proto.Input.Split(name=n,
                                pattern=build_examples.split_file_pattern(n))
          for n in (TRAIN_SPLIT, EVAL_SPLIT)]))
  # TFX's StatisticsGen; examples that mix value types in one feature stop
  # it with a listed anomaly (DataAnomaliesError), not a Beam traceback.
  statistics_gen = cfan_components.StatisticsGen(
      examples=example_gen.outputs["examples"])
  if schema_path:
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_path)
  else:
    schema_gen = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs["statistics"],
        infer_feature_shape=True)
  example_validator = tfx.components.ExampleValidator(
      statistics=statistics_gen.outputs["statistics"],
      schema=schema_gen.outputs["schema"])
  anomalies_gate = cfan_components.AnomaliesGate(
      anomalies=example_validator.outputs["anomalies"])
  transform = tfx.components.Transform(
      examples=example_gen.outputs["examples"],
      schema=schema_gen.outputs["schema"],
      preprocessing_fn=configs.PREPROCESSING_FN,
      # Only what preprocessing_fn reads: a Trainer-only change (learning
      # rate, variant, ...) keeps Transform cached on a rerun.
      custom_config=model_config.transform.to_dict())
  transform.add_upstream_node(anomalies_gate)  # no training on bad data
  trainer = tfx.components.Trainer(
      run_fn=configs.RUN_FN,
      examples=transform.outputs["transformed_examples"],
      transform_graph=transform.outputs["transform_graph"],
      schema=schema_gen.outputs["schema"],
      train_args=train_args if train_args is not None else
      tfx.proto.TrainArgs(num_steps=int(train_steps or
                                        model_config.train_steps)),
      eval_args=eval_args if eval_args is not None else
      tfx.proto.EvalArgs(num_steps=model_config.eval_steps),
      custom_config={cfg_lib.MODEL_CONFIG_KEY: model_config.to_dict()})
  model_resolver = tfx.dsl.Resolver(
      strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
      model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
      model_blessing=tfx.dsl.Channel(
          type=tfx.types.standard_artifacts.ModelBlessing)).with_id(
              "latest_blessed_model_resolver")
  evaluator = tfx.components.Evaluator(
      examples=example_gen.outputs["examples"],
      model=trainer.outputs["model"],
      baseline_model=model_resolver.outputs["model"],
      # Held-out reviews are in both splits (features.HELD_OUT_KEY).
      example_splits=[TRAIN_SPLIT, EVAL_SPLIT],
      eval_config=eval_config(min_auc=min_auc, floors=floors,
                              floor_margin=floor_margin),
      module_path=configs.EVALUATOR_MODULE)
  with tfx.dsl.Cond(evaluator.outputs["blessing"].future()[0]
                    .custom_property("blessed") == 1):
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=serving_model_dir)))
  report = cfan_components.CfanReport(
      model_run=trainer.outputs["model_run"],
      evaluation=evaluator.outputs["evaluation"],
      blessing=evaluator.outputs["blessing"],
      floors=json.dumps(report_floors or {}, sort_keys=True))
  components: List[Any] = [
      example_gen, statistics_gen, schema_gen, example_validator,
      anomalies_gate, transform, trainer, model_resolver, evaluator, pusher,
      report]
  return tfx.dsl.Pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      components=components,
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=list(beam_pipeline_args))


def component_ids(pipeline: tfx.dsl.Pipeline) -> List[str]:
  return [c.id for c in pipeline.components]


def default_beam_args(num_examples: int, cores: int) -> List[str]:
  """DirectRunner settings that follow the data size (see BUILD.md).

  Each multi-processing worker re-imports TensorFlow and every element is
  pickled between processes, so the in-memory runner wins on small data;
  only above ``MULTIPROCESSING_MIN_EXAMPLES`` do the parallel workers pay for
  that. Past a single machine, use a real engine (``--beam-preset``).
  """
  if num_examples >= MULTIPROCESSING_MIN_EXAMPLES and cores > 1:
    return ["--direct_running_mode=multi_processing",
            f"--direct_num_workers={cores}"]
  return ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


# `make bench` (docs/benchmarks.md, section 2) on 2 cores, build-examples +
# Transform: multi-processing took 4.07x / 3.23x / 2.62x the in-memory time at
# 1.9k / 8.7k / 34k kept reviews; it never won. The ratio falls by ~0.6 per 4x
# more data, which extrapolates to a crossover near a million reviews: that
# extrapolation (not a measurement) is the threshold.
MULTIPROCESSING_MIN_EXAMPLES = 1_000_000

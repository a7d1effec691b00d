"""Custom TFX components of the CFAN pipeline."""

import collections
import json
import os
from typing import Any, Dict, List, Mapping

from preprocessing import keras_env as _keras_env  # noqa: F401
from tfx import v1 as tfx
from tfx.components.statistics_gen import executor as statistics_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact as artifact_lib
from tfx.types import artifact_utils
from tfx.types import standard_artifacts

# "namespace.Name": the form KFP v2 requires of custom artifact types.
REPORT_ARTIFACT_TYPE = "cfan.RunReport"


class CfanReportArtifact(artifact_lib.Artifact):
  """Directory with metrics.json and the per-tag chart of one run."""
  TYPE_NAME = REPORT_ARTIFACT_TYPE


@tfx.dsl.components.component
def CfanReport(  # pylint: disable=invalid-name
    model_run: tfx.dsl.components.InputArtifact[standard_artifacts.ModelRun],
    evaluation: tfx.dsl.components.InputArtifact[
        standard_artifacts.ModelEvaluation],
    blessing: tfx.dsl.components.InputArtifact[
        standard_artifacts.ModelBlessing],
    report: tfx.dsl.components.OutputArtifact[CfanReportArtifact],
    floors: tfx.dsl.components.Parameter[str] = "{}"):
  """Writes metrics.json and the per-slice chart from what the run measured.

  Reads TFMA's per-slice metrics and validation result from the Evaluator's
  ``evaluation``, the Trainer's ``train_metrics.json`` from its ``model_run``
  and the blessing; nothing is re-scored here. ``floors``: JSON
  {slice name: floors} (build-examples' summary), shown beside the model
  figures of the slice of that name (see ``tfx_pipeline.report``).
  """
  from keras_model import trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import report as report_lib  # pylint: disable=g-import-not-at-top
  trainer = None
  path = os.path.join(model_run.uri, trainer_lib.TRAIN_METRICS_FILE)
  if os.path.exists(path):
    with open(path) as fh:
      trainer = json.load(fh)
  extra = {
      "blessed": bool(blessing.get_int_custom_property("blessed")),
      "validation": report_lib.read_validation(evaluation.uri),
      "evaluation_uri": evaluation.uri,
      "model_run_uri": model_run.uri,
  }
  result = report_lib.build_report(
      report_lib.read_tfma(evaluation.uri), trainer=trainer,
      floors=json.loads(floors or "{}"), extra=extra)
  report_lib.write_report(result, report.uri)


# ----------------------------------------------------------------------------
# Data validation gate
# ----------------------------------------------------------------------------
ANOMALIES_FILE = "SchemaDiff.pb"  # what ExampleValidator writes per split


class DataAnomaliesError(ValueError):
  """The ExampleValidator found anomalies: the run stops before Transform."""


def _read_anomalies(anomalies_uri: str, split_names: str) -> Dict[str, Any]:
  """{split: tensorflow_metadata Anomalies proto} of an ExampleAnomalies."""
  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import anomalies_pb2
  from tfx.types import artifact_utils
  from tfx.utils import io_utils
  # pylint: enable=g-import-not-at-top
  out = {}
  for split in artifact_utils.decode_split_names(split_names):
    path = os.path.join(anomalies_uri, f"Split-{split}", ANOMALIES_FILE)
    out[split] = anomalies_pb2.Anomalies.FromString(
        io_utils.read_bytes_file(path))
  return out


def _describe_anomalies(per_split: Dict[str, Any]) -> List[str]:
  """One readable line per anomaly: split, feature, short description."""
  lines = []
  for split, anomalies in sorted(per_split.items()):
    for feature, info in sorted(anomalies.anomaly_info.items()):
      # "Multiple errors" is one AnomalyInfo with a reason per problem.
      reasons = [(r.short_description, r.description) for r in info.reason]
      for short, detail in reasons or [(info.short_description,
                                        info.description)]:
        lines.append(f"split '{split}': feature '{feature}': {short} "
                     f"({detail})")
    if anomalies.HasField("dataset_anomaly_info"):
      info = anomalies.dataset_anomaly_info
      lines.append(f"split '{split}': dataset: {info.short_description} "
                   f"({info.description})")
  return lines


def check_anomalies(anomalies_uri: str, split_names: str) -> None:
  """Raises DataAnomaliesError listing every anomaly, if there is any."""
  problems = _describe_anomalies(_read_anomalies(anomalies_uri, split_names))
  if problems:
    raise DataAnomaliesError(
        f"data validation failed: {len(problems)} anomaly(ies) against the "
        "schema; the run stops before Transform and training:\n  " +
        "\n  ".join(problems) + f"\n(details: {anomalies_uri})")


def mixed_type_anomalies(split_uris: Mapping[str, str]) -> List[str]:
  """One line per feature whose value type differs between examples.

  TFDV infers one type per feature and StatisticsGen fails on the first
  example of another type (tfx_bsl: "Feature had wrong type"), before any
  schema is read; this names every such feature, its types with their
  counts and where the first example of each type is.

  Args:
    split_uris: {split name: directory of its TFRecord files (GZIP when the
      name ends in .gz)}.

  Returns:
    "split 'S': feature 'F': Mixed value types (...)" lines, sorted.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  lines = []
  for split, uri in sorted(split_uris.items()):
    kinds: Dict[str, collections.Counter] = collections.defaultdict(
        collections.Counter)
    first: Dict[tuple, str] = {}
    for path in sorted(tf.io.gfile.glob(os.path.join(uri, "*"))):
      records = tf.data.TFRecordDataset(
          path, compression_type="GZIP" if path.endswith(".gz") else "")
      for i, record in enumerate(records.as_numpy_iterator()):
        for name, feature in tf.train.Example.FromString(
            record).features.feature.items():
          kind = feature.WhichOneof("kind")
          if kind:  # a feature with no value list has no type
            kinds[name][kind] += 1
            first.setdefault((name, kind), f"{os.path.basename(path)} "
                             f"record {i + 1}")
    for name, counts in sorted(kinds.items()):
      if len(counts) > 1:
        found = ", ".join(f"{kind} in {n:,d} (first: {first[(name, kind)]})"
                          for kind, n in counts.most_common())
        lines.append(f"split '{split}': feature '{name}': Mixed value types "
                     f"(examples with {found}; one type per feature is "
                     "needed)")
  return lines


class _TypeCheckingStatisticsExecutor(statistics_executor.Executor):
  """StatisticsGen's executor; when it fails on examples that mix value
  types in one feature, the failure becomes ``DataAnomaliesError`` listing
  each such feature (the scan runs only then: no cost on good data)."""

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    try:
      super().Do(input_dict, output_dict, exec_properties)
    except Exception as e:  # pylint: disable=broad-except
      examples = artifact_utils.get_single_instance(input_dict["examples"])
      problems = mixed_type_anomalies({
          split: artifact_utils.get_split_uri([examples], split)
          for split in artifact_utils.decode_split_names(
              examples.split_names)})
      if not problems:
        raise
      raise DataAnomaliesError(
          f"data validation failed: {len(problems)} anomaly(ies) in the "
          "examples; the run stops at StatisticsGen, before Transform and "
          "training:\n  " + "\n  ".join(problems) +
          f"\n(examples: {examples.uri})") from e


class StatisticsGen(tfx.components.StatisticsGen):
  """TFX's StatisticsGen, whose failure on mixed value types is a listed
  anomaly (``DataAnomaliesError``) instead of a Beam traceback."""
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(
      _TypeCheckingStatisticsExecutor)


@tfx.dsl.components.component
def AnomaliesGate(  # pylint: disable=invalid-name
    anomalies: tfx.dsl.components.InputArtifact[
        standard_artifacts.ExampleAnomalies]):
  """Fails the run when the ExampleValidator recorded any anomaly.

  In TFX 1.16 ExampleValidator only records anomalies; this gate turns them
  into a failure with a readable message (feature, short description). The
  pipeline makes Transform run after it (``add_upstream_node``), so nothing
  is transformed or trained on data that violates the schema.
  """
  check_anomalies(anomalies.uri, anomalies.split_names)

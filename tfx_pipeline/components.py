"""Custom TFX components of the CFAN pipeline."""

import json
import os
from typing import Any, Dict, List

from preprocessing import keras_env as _keras_env  # noqa: F401
from tfx import v1 as tfx
from tfx.types import artifact as artifact_lib
from tfx.types import standard_artifacts

# "namespace.Name": the form KFP v2 requires of custom artifact types.
REPORT_ARTIFACT_TYPE = "cfan.RunReport"


class CfanReportArtifact(artifact_lib.Artifact):
  """Directory with metrics.json and the per-tag chart of one run."""
  TYPE_NAME = REPORT_ARTIFACT_TYPE


@tfx.dsl.components.component
def CfanReport(  # pylint: disable=invalid-name
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    evaluation: tfx.dsl.components.InputArtifact[
        standard_artifacts.ModelEvaluation],
    blessing: tfx.dsl.components.InputArtifact[
        standard_artifacts.ModelBlessing],
    report: tfx.dsl.components.OutputArtifact[CfanReportArtifact],
    eval_split: tfx.dsl.components.Parameter[str] = "eval"):
  """Scores the eval split with both signatures; writes metrics and Fig. 7.

  metrics.json holds overall and per-tag accuracy/AUC of the personal head
  (review given and review-free) and the agnostic head, the floors, the row
  counts, the Trainer's own evaluation and whether the Evaluator blessed it.
  """
  # pylint: disable=g-import-not-at-top
  from tfx.types import artifact_utils
  from keras_model import signatures
  from keras_model import trainer as trainer_lib
  from tfx_pipeline import report as report_lib

  split_dir = artifact_utils.get_split_uri([examples], eval_split)
  serialized = report_lib.read_tfrecords(os.path.join(split_dir, "*"))
  serving = signatures.load_serving_model(
      os.path.join(model.uri, "Format-Serving"))
  scores = report_lib.score_examples(serving, serialized)
  truth = report_lib.parse_labelled(serialized)
  extra = {
      "blessed": bool(blessing.get_int_custom_property("blessed")),
      "model_uri": model.uri,
      "evaluation_uri": evaluation.uri,
  }
  temps = getattr(serving, signatures.TEMPERATURE_ATTR, None)
  if temps is not None:  # personal-head ECE before/after temperature scaling
    extra["calibration"] = report_lib.calibration_report(
        truth, scores, temps.numpy().tolist())
  # Trainer writes its own two-protocol evaluation into its ModelRun
  # artifact: <root>/Trainer/model_run/<id>, beside <root>/Trainer/model/<id>.
  trainer_dir = os.path.dirname(os.path.dirname(model.uri))
  path = os.path.join(trainer_dir, "model_run", os.path.basename(model.uri),
                      trainer_lib.TRAIN_METRICS_FILE)
  if os.path.exists(path):
    with open(path) as fh:
      extra["trainer"] = json.load(fh)
  result = report_lib.build_report(truth, scores, extra)
  report_lib.write_report(result, report.uri)


# ----------------------------------------------------------------------------
# Data validation gate
# ----------------------------------------------------------------------------
ANOMALIES_FILE = "SchemaDiff.pb"  # what ExampleValidator writes per split


class DataAnomaliesError(ValueError):
  """The ExampleValidator found anomalies: the run stops before Transform."""


def read_anomalies(anomalies_uri: str, split_names: str) -> Dict[str, Any]:
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


def describe_anomalies(per_split: Dict[str, Any]) -> List[str]:
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
  problems = describe_anomalies(read_anomalies(anomalies_uri, split_names))
  if problems:
    raise DataAnomaliesError(
        f"data validation failed: {len(problems)} anomaly(ies) against the "
        "schema; the run stops before Transform and training:\n  " +
        "\n  ".join(problems) + f"\n(details: {anomalies_uri})")


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

"""Run report: what TFMA measured, beside the Trainer's figures and the floors.

The ``CfanReport`` component (``components.py``) reads three sources and
writes ``metrics.json`` and a Fig. 7-style chart (accuracy and AUC per
slice):

* the Evaluator's TFMA result (``read_tfma``): the review-free protocol
  (signature ``evaluate_review_free``: the ``serving_review_free`` scoring,
  what deployed users get, of each review of the image-major eval
  examples) for every slice TFMA produced: overall, per tag and per any
  other slicing feature (e.g. warm/cold images). Per slice: both rating
  heads' accuracy and AUC (the personal head per review, its ``count`` the
  reviews; the agnostic head per image), the personal head's ECE and
  reliability bins (from TFMA's calibration histogram, ``ECE_BINS``
  equal-width bins) and the tag head's accuracy (per image);
* the Trainer's ``train_metrics.json`` (its ModelRun artifact): the
  review-given protocol (the paper's: Keras ``evaluate`` on the same eval
  split, overall only) and the temperature-scaling decision (ECE before and
  after on held-out training rows, ``keras_model.calibration``);
* the floors given to the component (``cfan build-examples`` computes them
  from the training rows, ``evaluation.metrics``), per slice name.

``metrics.json`` labels where each figure comes from (``sources`` and each
protocol block's ``source``). ``report_html`` turns it, the chart and the
data build's summary into the run's one page, ``reports/index.html``.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from evaluation import metrics as metrics_lib
from preprocessing import features as F

METRICS_FILE = "metrics.json"
FIG7_FILE = "per_tag_accuracy.png"
OVERALL = "overall"
REVIEW_FREE, REVIEW_GIVEN = "review_free", "review_given"
SOURCE_TFMA = "tfma"
SOURCE_TRAINER = "trainer"
SOURCES = {
    REVIEW_FREE: "TFMA (Evaluator): signature evaluate_review_free (the "
                 "serving_review_free scoring, per review) on the eval "
                 "split, every slice",
    REVIEW_GIVEN: "Trainer (train_metrics.json): Keras evaluate with the "
                  "own review on the eval split, overall only",
    "calibration": "Trainer (train_metrics.json): temperature fitted and "
                   "checked on training rows held out of training",
    "floors": "cfan build-examples (summary.json): scored on the eval rows "
              "from the training rows (evaluation.metrics)",
}
# TFMA metric names -> report names, per model output.
_RATING_METRICS = {"binary_accuracy": "accuracy", "auc": "auc",
                   "example_count": "count", "mean_label": "mean_label"}
_TAG_METRICS = {"sparse_categorical_accuracy": "accuracy"}
# TFMA 0.47 writes the calibration plot's key without a name.
_CALIBRATION_PLOT_NAMES = ("", "calibration_plot")

# A slice: () overall, else ((feature, value), ...) as TFMA keys it.
SliceKey = Tuple[Tuple[str, str], ...]


# ----------------------------------------------------------------------------
# Reading TFMA's result
# ----------------------------------------------------------------------------
def _slice_key(proto) -> SliceKey:
  """TFMA SliceKey proto -> ((column, value as text), ...)."""
  out = []
  for k in proto.single_slice_keys:
    kind = k.WhichOneof("kind")
    value = getattr(k, kind) if kind else ""
    out.append((k.column, value.decode("utf-8") if isinstance(value, bytes)
                else str(value)))
  return tuple(out)


def _candidate(key) -> bool:
  """A metric/plot key of the evaluated model (not the baseline, no diff)."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  return (key.model_name in ("", tfma.CANDIDATE_KEY) and
          not getattr(key, "is_diff", False))


def _calibration_bins(buckets) -> Dict[str, List[float]]:
  """Per-bin totals of a TFMA calibration histogram (ECE_BINS on [0, 1]).

  TFMA adds an underflow (p < 0) and an overflow (p >= 1) bucket; they are
  merged into the first and last bin, as ``expected_calibration_error``
  clips p.

  Returns:
    {"label_sums", "prob_sums", "counts"}: one value per equal-width bin,
    the inputs of ``metrics_lib.binned_calibration_error`` and of the
    reliability diagram.
  """
  bins = metrics_lib.ECE_BINS
  label_sums, prob_sums, counts = ([0.0] * bins for _ in range(3))
  for b in buckets:
    lower = b.lower_threshold_inclusive
    i = 0 if lower < 0 else min(int(math.floor(lower * bins + 0.5)), bins - 1)
    label_sums[i] += b.total_weighted_label.value
    prob_sums[i] += b.total_weighted_refined_prediction.value
    counts[i] += b.num_weighted_examples.value
  return {"label_sums": label_sums, "prob_sums": prob_sums, "counts": counts}


def _ece_of_bins(bins: Mapping[str, Sequence[float]]) -> float:
  return metrics_lib.binned_calibration_error(
      bins["label_sums"], bins["prob_sums"], bins["counts"])


def read_tfma(evaluation_uri: str) -> Dict[SliceKey, Dict[str, Dict[str,
                                                                     Any]]]:
  """Every slice's metrics from the Evaluator's ModelEvaluation artifact.

  Args:
    evaluation_uri: the ``evaluation`` output of the Evaluator.

  Returns:
    {slice key: {model output name: {metric name: value}}} for the evaluated
    model (the baseline's and the diff metrics are left out). Metric names
    are TFMA's; the personal head also gets ``ece`` from its calibration
    plot when TFMA computed one.
  """
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  out: Dict[SliceKey, Dict[str, Dict[str, Any]]] = {}
  for per_slice in tfma.load_metrics(evaluation_uri):
    by_output = out.setdefault(_slice_key(per_slice.slice_key), {})
    for kv in per_slice.metric_keys_and_values:
      if _candidate(kv.key) and kv.value.HasField("double_value"):
        by_output.setdefault(kv.key.output_name, {})[kv.key.name] = (
            kv.value.double_value.value)
  for per_slice in tfma.load_plots(evaluation_uri):
    by_output = out.setdefault(_slice_key(per_slice.slice_key), {})
    for kv in per_slice.plot_keys_and_values:
      if (_candidate(kv.key) and kv.key.name in _CALIBRATION_PLOT_NAMES and
          kv.value.HasField("calibration_histogram_buckets")):
        bins = _calibration_bins(
            kv.value.calibration_histogram_buckets.buckets)
        head = by_output.setdefault(kv.key.output_name, {})
        head["ece"] = _ece_of_bins(bins)
        head["reliability"] = bins
  return out


def read_validation(evaluation_uri: str) -> Dict[str, Any]:
  """TFMA's validation result: {"ok": bool, "failures": [readable lines]}."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  result = tfma.load_validation_result(evaluation_uri)
  failures = []
  for per_slice in result.metric_validations_per_slice:
    where = _slice_name(_slice_key(per_slice.slice_key))
    for f in per_slice.failures:
      value = f.metric_value.double_value.value
      what = "change vs baseline" if f.metric_key.is_diff else "value"
      failures.append(f"{where}: {f.metric_key.output_name} "
                      f"{f.metric_key.name} {what} = {value:.4f} "
                      f"({f.message or 'threshold not met'})")
  return {"ok": bool(result.validation_ok), "failures": failures}


# ----------------------------------------------------------------------------
# Building the report
# ----------------------------------------------------------------------------
def _slice_name(key: SliceKey) -> str:
  """"overall", a slice value ("landscape", "cold") or "a=x,b=y" (crossed)."""
  if not key:
    return OVERALL
  if len(key) == 1:
    return key[0][1]
  return ",".join(f"{c}={v}" for c, v in key)


def _rename(values: Mapping[str, float], names: Mapping[str, str]
            ) -> Dict[str, Any]:
  out: Dict[str, Any] = {new: values[old] for old, new in names.items()
                         if old in values}
  if "count" in out:
    out["count"] = int(round(out["count"]))
  for passed in ("ece", "reliability"):  # from the calibration plot
    if passed in values:
      out[passed] = values[passed]
  return out


def _tfma_block(by_output: Mapping[str, Mapping[str, float]]
                ) -> Dict[str, Any]:
  """One slice: rows, review-free heads and the tag head, from TFMA."""
  personal = _rename(by_output.get(F.PERSONAL_OUTPUT, {}), _RATING_METRICS)
  agnostic = _rename(by_output.get(F.AGNOSTIC_OUTPUT, {}), _RATING_METRICS)
  mean_label = personal.pop("mean_label", None)
  agnostic.pop("mean_label", None)
  block: Dict[str, Any] = {
      "rows": personal.get("count", 0),
      REVIEW_FREE: {"source": SOURCE_TFMA, "personal": personal,
                    "agnostic": agnostic},
  }
  if mean_label is not None:
    block["positive_ratio"] = mean_label
  tag = _rename(by_output.get(F.TAG_OUTPUT, {}), _TAG_METRICS)
  if tag:
    block["tag_head"] = tag
  return block


def _trainer_protocol(trainer: Mapping[str, Any], protocol: str
                      ) -> Optional[Dict[str, Any]]:
  """A protocol's head metrics from the Trainer's Keras evaluation.

  Keras names them ``<output>_<metric>`` (``p_personal_auc``); a head the
  model variant lacks is left out.
  """
  ev = (trainer.get("eval") or {}).get(protocol)
  if not ev:
    return None
  block: Dict[str, Any] = {"source": SOURCE_TRAINER}
  for head, output in (("personal", F.PERSONAL_OUTPUT),
                       ("agnostic", F.AGNOSTIC_OUTPUT)):
    vals = {m: float(ev[f"{output}_{m}"]) for m in ("accuracy", "auc")
            if f"{output}_{m}" in ev}
    if vals:
      block[head] = vals
  return block


def _floors_of(floors: Mapping[str, Any], name: str) -> Optional[Dict]:
  """The floors given for slice ``name``: {floor name: metrics} or None.

  ``floors`` is keyed by slice name ("overall", a slice value such as
  "cold", or "feature=value"); an entry is either {floor name: metrics} or
  a build-examples summary entry with those under "floors".
  """
  entry = floors.get(name)
  if not isinstance(entry, Mapping):
    return None
  inner = entry.get("floors", entry)
  return dict(inner) if isinstance(inner, Mapping) else None


def build_report(tfma_slices: Mapping[SliceKey, Mapping[str, Mapping[str,
                                                                     float]]],
                 *, trainer: Optional[Mapping[str, Any]] = None,
                 floors: Optional[Mapping[str, Any]] = None,
                 extra: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
  """metrics.json: TFMA's slices, the Trainer's protocol and the floors.

  Args:
    tfma_slices: ``read_tfma``'s result.
    trainer: the Trainer's ``train_metrics.json`` (None if absent).
    floors: {slice name: floors}, see ``_floors_of``; shown beside the model
      figures of the slice of that name (None or {}: no floors).
    extra: more top-level entries (blessing, validation, artifact URIs).

  Returns:
    {"overall": block, "per_tag": {tag: block}, "slices": {feature: {value:
    block}}, "rows", "positive_ratio", "floors", "calibration", "trainer",
    "sources", ...}; a block holds "rows", "review_free" (TFMA), optionally
    "tag_head", "floors" and, overall only, "review_given" (Trainer).
  """
  floors = dict(floors or {})
  overall = _tfma_block(tfma_slices.get((), {}))
  slices: Dict[str, Dict[str, Any]] = {}
  for key, by_output in sorted(tfma_slices.items()):
    if key:
      feature = ",".join(c for c, _ in key)
      slices.setdefault(feature, {})[_slice_name(key)] = _tfma_block(by_output)
  named = [((OVERALL,), overall)] + [
      ((f"{feature}={n}", n), b) for feature, per_value in slices.items()
      for n, b in per_value.items()]
  for names, block in named:  # "image_slice=cold" first, then "cold"
    slice_floors = next(filter(None, (_floors_of(floors, n) for n in names)),
                        None)
    if slice_floors:
      block["floors"] = slice_floors
  report: Dict[str, Any] = {
      "rows": overall["rows"],
      "positive_ratio": overall.get("positive_ratio", float("nan")),
      "overall": overall,
      "per_tag": slices.get(F.TAG_KEY, {}),
      "slices": slices,
      "floors": floors,
      "sources": dict(SOURCES),
  }
  if trainer:
    given = _trainer_protocol(trainer, REVIEW_GIVEN)
    if given:
      overall[REVIEW_GIVEN] = given
    if "calibration" in trainer:
      report["calibration"] = trainer["calibration"]
    report["trainer"] = dict(trainer)
  report.update(extra or {})
  return report


# ----------------------------------------------------------------------------
# Figure 7
# ----------------------------------------------------------------------------
def _metric(block: Mapping[str, Any], protocol: str, head: str,
            metric: str) -> float:
  return block.get(protocol, {}).get(head, {}).get(metric, float("nan"))


def _best_floor_value(block: Mapping[str, Any], metric: str) -> float:
  """The best floor's ``metric`` (best by that metric); NaN if none."""
  floors = block.get("floors")
  if not floors:
    return float("nan")
  try:
    return floors[metrics_lib.best_floor(floors, metric)][metric]
  except ValueError:  # no floor with a finite value
    return float("nan")


def slice_groups(report: Mapping[str, Any]
                 ) -> List[Tuple[str, Mapping[str, Any]]]:
  """(name, block) per tag, then per other slice value, overall last."""
  groups = list(report["per_tag"].items())
  for feature, per_value in report.get("slices", {}).items():
    if feature != F.TAG_KEY:
      groups += [(f"{feature}={v}", b) for v, b in per_value.items()]
  groups.append((OVERALL, report["overall"]))
  return groups


def _plot_per_tag(report: Mapping[str, Any], path: str,
                 title: str = "Per slice on the eval split") -> str:
  """Accuracy (top) and AUC (bottom): grouped bars per tag, then the other
  slices, the overall group last.

  Bars: the personal and the agnostic head (review-free, TFMA) in every
  group; the personal head with the review given (Trainer) and the best
  floor (by that panel's metric) where the report has them.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  groups = slice_groups(report)
  series = [
      ("personal, review-free (TFMA)",
       lambda d, m: _metric(d, REVIEW_FREE, "personal", m)),
      ("user-agnostic head b_v (TFMA)",
       lambda d, m: _metric(d, REVIEW_FREE, "agnostic", m)),
      ("personal, review given (Trainer)",
       lambda d, m: _metric(d, REVIEW_GIVEN, "personal", m)),
      ("best floor", _best_floor_value),
  ]
  x = np.arange(len(groups))
  width = 0.8 / len(series)
  fig, axes = plt.subplots(2, 1, sharex=True,
                           figsize=(max(8, 0.9 * len(groups) + 2), 8))
  for ax, metric, label_y in ((axes[0], "accuracy", "accuracy"),
                              (axes[1], "auc", "AUC")):
    for i, (label, get) in enumerate(series):
      vals = np.asarray([get(d, metric) for _, d in groups], np.float64)
      shown = np.isfinite(vals)
      if shown.any():
        ax.bar(x[shown] + (i - (len(series) - 1) / 2) * width, vals[shown],
               width, label=label, color=f"C{i}")
    ax.set_ylim(0, 1)
    ax.set_ylabel(label_y)
    ax.axvline(len(groups) - 1.5, color="grey", lw=0.8, ls=":")
  axes[1].axhline(0.5, color="grey", lw=0.8, ls="--")  # chance AUC
  axes[1].set_xticks(x)
  axes[1].set_xticklabels([f"{n}\n(n={d['rows']})" for n, d in groups],
                          rotation=45, ha="right", fontsize=8)
  axes[0].set_title(title)
  handles, labels = axes[0].get_legend_handles_labels()
  fig.legend(handles, labels, fontsize=8, loc="lower center",
             ncol=len(series), frameon=False)
  fig.tight_layout(rect=(0, 0.04, 1, 1))
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


# ----------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------
def write_report(report: Mapping[str, Any], out_dir: str) -> Dict[str, str]:
  """Writes metrics.json (atomically) and the chart; returns their paths."""
  os.makedirs(out_dir, exist_ok=True)
  metrics_path = os.path.join(out_dir, METRICS_FILE)
  tmp = metrics_path + ".tmp"
  with open(tmp, "w") as fh:
    json.dump(report, fh, indent=2, sort_keys=True, default=float)
  os.replace(tmp, metrics_path)
  fig = _plot_per_tag(report, os.path.join(out_dir, FIG7_FILE))
  return {"metrics": metrics_path, "figure": fig}


def publish(src: str, dst: str) -> None:
  """Copies a report directory (the component's artifact) to ``dst``.

  ``dst`` is never half-written: the copy goes to a sibling ``dst.tmp``
  that is renamed into place once complete, so a reader sees the old
  directory, briefly none, or the new one.
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


def load_metrics(report_dir: str) -> Dict[str, Any]:
  """The metrics.json of a report directory."""
  with open(os.path.join(report_dir, METRICS_FILE)) as fh:
    return json.load(fh)


def format_metrics(m: Mapping[str, Any]) -> List[str]:
  """The lines ``cfan run`` prints about a report."""
  o = m["overall"]
  lines = [f"eval rows: {m['rows']:,d} (positive "
           f"{100 * m['positive_ratio']:.1f} %)"]
  for proto, label in ((REVIEW_FREE, "review-free"),
                       (REVIEW_GIVEN, "review given")):
    p = o.get(proto, {}).get("personal")
    if p:
      lines.append(f"  personal head, {label:<13s} acc {p['accuracy']:.3f}  "
                   f"AUC {p['auc']:.3f}  ({o[proto]['source']})")
  a = o.get(REVIEW_FREE, {}).get("agnostic")
  if a:
    lines.append(f"  agnostic head (b_v)          acc {a['accuracy']:.3f}  "
                 f"AUC {a['auc']:.3f}  ({o[REVIEW_FREE]['source']})")
  for name, f in (o.get("floors") or {}).items():
    lines.append(f"  floor: {name:<21s} acc {f['accuracy']:.3f}  "
                 f"AUC {f['auc']:.3f}")
  for feature, per_value in m.get("slices", {}).items():
    if feature == F.TAG_KEY:
      continue
    for value, b in per_value.items():
      p = b[REVIEW_FREE].get("personal", {})
      lines.append(f"  slice {feature}={value}: rows {b['rows']:,d}, "
                   f"personal review-free AUC {p.get('auc', float('nan')):.3f}")
  lines.append(f"  blessed by the Evaluator: {m.get('blessed')}")
  return lines

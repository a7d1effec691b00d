"""The blessing gate's bounds, and the one line that says why it held.

The Evaluator blesses a model only when the personal head's review-free AUC
(the path deployed users get) is above the best floor of ``cfan
build-examples``' summary (:func:`preprocessing.eval_split.best_floors`)
on the overall slice and on the cold-image slice, never below ``min_auc``,
and never worse than the latest blessed model (overall). A slice whose floor
AUC is undefined (no rows, or one class only: TFMA's AUC would be NaN too) is
not gated; the result line says so.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from preprocessing import config as cfg_lib
from preprocessing import eval_split
from preprocessing import features as F

OVERALL = eval_split.OVERALL
GATED_SLICES = (OVERALL, F.SLICE_COLD)
# "Above the floor" is strict: the bound is the floor's AUC plus this.
STRICT_EPSILON = 1e-6
_WHERE = {OVERALL: "all eval rows", F.SLICE_WARM: "warm images",
          F.SLICE_COLD: "cold images"}
AUC_METRIC = "auc"
CANDIDATE_MODEL_NAMES = ("", "candidate")  # "" when there is no baseline


@dataclasses.dataclass(frozen=True)
class Bound:
  """Lower bound of the review-free personal AUC on one slice."""
  value: float
  source: str  # what it comes from, e.g. "best floor mean_vote 0.712"


def auc_bounds(min_auc: float,
               floors: Optional[Mapping[str, Tuple[str, float]]],
               margin: float = cfg_lib.FLOOR_AUC_MARGIN) -> Dict[str, Bound]:
  """The AUC lower bound of each gated slice.

  Args:
    min_auc: the absolute floor, on every gated slice.
    floors: slice -> (best floor name, its AUC) from the examples' summary;
      None when unknown (then only ``min_auc`` on the overall slice).
    margin: how far above the best floor the model must be.

  Returns:
    {slice: Bound}; the overall slice always, the cold slice only when its
    floor is known.
  """
  bounds: Dict[str, Bound] = {}
  for name in GATED_SLICES:
    floor = (floors or {}).get(name)
    if floor is not None and math.isfinite(floor[1]):
      above = floor[1] + margin + STRICT_EPSILON
      if above > min_auc:
        plus = f" + margin {margin:g}" if margin else ""
        bounds[name] = Bound(above, f"best floor {floor[0]} {floor[1]:.3f}"
                             f"{plus}")
        continue
    if floor is not None or name == OVERALL:
      bounds[name] = Bound(min_auc, f"min_auc {min_auc:.3f}")
  return bounds


def ungated_note(bounds: Mapping[str, Bound],
                 floors: Optional[Mapping[str, Tuple[str, float]]]) -> str:
  """Why a slice is not gated ("" when every gated slice is)."""
  if floors is None:
    return "floor gate off: gated on min_auc and the baseline only"
  missing = [n for n in GATED_SLICES if n not in bounds]
  if not missing:
    return ""
  return ("gated on " + ", ".join(_WHERE[n] for n in GATED_SLICES
                                  if n in bounds) + " only: no floor AUC on "
          + ", ".join(_WHERE[n] for n in missing)
          + " (too few rows or one class)")


def _slice_name(slice_key: Any) -> Optional[str]:
  """overall / warm / cold of a TFMA slice key (None for other slices)."""
  keys = list(slice_key.single_slice_keys)
  if not keys:
    return OVERALL
  if len(keys) == 1 and keys[0].column == F.SLICE_KEY:
    value = keys[0].bytes_value.decode("utf-8")
    return value if value in F.SLICE_VALUES else None
  return None


def candidate_aucs(metrics: Sequence[Any]) -> Dict[str, float]:
  """Review-free personal AUC of the candidate per slice (TFMA metrics)."""
  out: Dict[str, float] = {}
  for m in metrics:
    name = _slice_name(m.slice_key)
    if name is None:
      continue
    for kv in m.metric_keys_and_values:
      k = kv.key
      if (k.name == AUC_METRIC and k.output_name == F.PERSONAL_OUTPUT and
          k.model_name in CANDIDATE_MODEL_NAMES and not k.is_diff):
        out[name] = kv.value.double_value.value
  return out


def explain(validation: Any, aucs: Mapping[str, float],
            bounds: Mapping[str, Bound], note: str = "") -> str:
  """One line: pushed or not, and against what.

  Args:
    validation: the Evaluator's ``ValidationResult`` proto.
    aucs: candidate review-free AUC per slice (:func:`candidate_aucs`).
    bounds: the bounds the Evaluator was given (:func:`auc_bounds`).
    note: :func:`ungated_note`, appended when not empty.
  """
  reasons = []
  for per_slice in validation.metric_validations_per_slice:
    name = _slice_name(per_slice.slice_key) or str(per_slice.slice_key)
    where = _WHERE.get(name, name)
    for f in per_slice.failures:
      value = f.metric_value.double_value.value
      if f.metric_key.is_diff:
        now = aucs.get(name)
        reasons.append(
            f"review-free AUC on {where} is {-value:.3f} below the blessed "
            "model's" + (f" ({now:.3f} vs {now - value:.3f})"
                         if now is not None else ""))
      else:
        bound = bounds.get(name)
        against = bound.source if bound else "its bound"
        reasons.append(f"review-free AUC {value:.3f} on {where} <= {against}")
  for missing in validation.missing_slices:
    values = dict(missing.feature_values)
    reasons.append("no eval rows in slice " + (
        ", ".join(f"{k}={v}" for k, v in sorted(values.items())) or
        OVERALL))
  if validation.validation_ok and not reasons:
    passed = ", ".join(
        f"{aucs[n]:.3f} on {_WHERE[n]} > {b.source}" if n in aucs else
        f"{_WHERE[n]} > {b.source}" for n, b in bounds.items())
    line = f"pushed: review-free AUC {passed}"
  else:
    line = "not pushed: " + "; ".join(reasons or ["validation failed"])
  return line + (f" [{note}]" if note else "")


def gate_line(evaluation_uri: str, bounds: Mapping[str, Bound],
              note: str = "") -> str:
  """:func:`explain` of the Evaluator output at ``evaluation_uri``."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  return explain(tfma.load_validation_result(evaluation_uri),
                 candidate_aucs(list(tfma.load_metrics(evaluation_uri))),
                 bounds, note)

"""Run report: per-tag metrics of both heads in both protocols, and Fig. 7.

``score_examples`` runs an exported model's signatures over serialized
labelled examples; ``build_report`` turns the scores into the metrics of
``reports/metrics.json``; ``plot_per_tag`` draws the Fig. 7-style chart.

Floors reported beside the model (design notes: personalization is worth only
what it adds above them):

* ``majority``: always predict the most frequent personal label;
* ``agnostic_head``: the model's own user-agnostic probability used as the
  personal prediction;
* ``mean_score``: AVA's mean raw vote of the image used as the personal score
  (what a non-personalized system knows for free).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from preprocessing import config as cfg_lib
from preprocessing import features as F

METRICS_FILE = "metrics.json"
FIG7_FILE = "per_tag_accuracy.png"


# ----------------------------------------------------------------------------
# Metrics (numpy; exact, tie-aware)
# ----------------------------------------------------------------------------
def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
  """ROC AUC by the rank-sum (Mann-Whitney U) formula, ties count 1/2."""
  y = np.asarray(labels, dtype=np.int64)
  s = np.asarray(scores, dtype=np.float64)
  n_pos = int(y.sum())
  n_neg = len(y) - n_pos
  if n_pos == 0 or n_neg == 0:
    return float("nan")
  order = np.argsort(s, kind="mergesort")
  ranks = np.empty(len(s), dtype=np.float64)
  sorted_s = s[order]
  i = 0
  while i < len(s):  # average ranks over ties
    j = i
    while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
      j += 1
    ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
    i = j + 1
  u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
  return float(u / (n_pos * n_neg))


def accuracy(labels: Sequence[int], probs: Sequence[float],
             threshold: float = 0.5) -> float:
  y = np.asarray(labels)
  if len(y) == 0:
    return float("nan")
  return float(np.mean((np.asarray(probs) >= threshold).astype(int) == y))


def expected_calibration_error(labels: Sequence[int], probs: Sequence[float],
                               bins: int = cfg_lib.ECE_BINS) -> float:
  """ECE of a binary probability: equal-width bins of p on [0, 1].

  ECE = sum_b (n_b / N) |mean(y in b) - mean(p in b)|, i.e. the reliability
  gap of p as the probability of the positive class ("good"); the last bin
  includes p = 1. NaN for no rows.
  """
  y = np.asarray(labels, dtype=np.float64)
  p = np.asarray(probs, dtype=np.float64)
  if len(y) == 0:
    return float("nan")
  idx = np.minimum((p * bins).astype(np.int64), bins - 1)
  idx = np.clip(idx, 0, bins - 1)
  total = 0.0
  for b in range(bins):
    m = idx == b
    if m.any():
      total += m.sum() * abs(y[m].mean() - p[m].mean())
  return float(total / len(y))


def binary_metrics(labels, probs) -> Dict[str, float]:
  return {"accuracy": accuracy(labels, probs), "auc": auc(labels, probs),
          "count": int(len(labels))}


# ----------------------------------------------------------------------------
# Scoring an exported model
# ----------------------------------------------------------------------------
def parse_labelled(serialized: Sequence[bytes]) -> Dict[str, np.ndarray]:
  """Labels, tag and mean score of serialized labelled tf.Examples."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out: Dict[str, List[Any]] = {k: [] for k in (
      F.USER_KEY, F.TAG_KEY, F.LABEL_KEY, F.AGNOSTIC_LABEL_KEY,
      F.MEAN_SCORE_KEY)}
  for s in serialized:
    ex = tf.train.Example.FromString(s)
    f = ex.features.feature
    out[F.USER_KEY].append(f[F.USER_KEY].bytes_list.value[0].decode())
    out[F.TAG_KEY].append(f[F.TAG_KEY].bytes_list.value[0].decode())
    out[F.LABEL_KEY].append(f[F.LABEL_KEY].int64_list.value[0])
    out[F.AGNOSTIC_LABEL_KEY].append(f[F.AGNOSTIC_LABEL_KEY].int64_list.value[0])
    out[F.MEAN_SCORE_KEY].append(f[F.MEAN_SCORE_KEY].float_list.value[0])
  return {k: np.asarray(v) for k, v in out.items()}


def score_examples(model, serialized: Sequence[bytes], batch_size: int = 256
                   ) -> Dict[str, Dict[str, np.ndarray]]:
  """Runs both example signatures; returns per protocol p_personal/agnostic."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from keras_model import signatures  # pylint: disable=g-import-not-at-top
  protocols = {"review_given": signatures.SERVING_DEFAULT,
               "review_free": signatures.SERVING_REVIEW_FREE}
  result: Dict[str, Dict[str, List[np.ndarray]]] = {
      p: {F.PERSONAL_OUTPUT: [], F.AGNOSTIC_OUTPUT: [], "known_user": []}
      for p in protocols}
  for start in range(0, len(serialized), batch_size):
    batch = tf.constant(list(serialized[start:start + batch_size]))
    for proto, sig in protocols.items():
      out = model.signatures[sig](examples=batch)
      result[proto][F.PERSONAL_OUTPUT].append(out[F.PERSONAL_OUTPUT].numpy())
      result[proto][F.AGNOSTIC_OUTPUT].append(out[F.AGNOSTIC_OUTPUT].numpy())
      result[proto]["known_user"].append(
          out[signatures.KNOWN_USER_OUTPUT].numpy())
  return {p: {k: np.concatenate(v) if v else np.zeros(0)
              for k, v in d.items()} for p, d in result.items()}


def build_report(truth: Dict[str, np.ndarray],
                 scores: Dict[str, Dict[str, np.ndarray]],
                 extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
  """Overall and per-tag metrics of both heads, both protocols, with floors."""
  y = truth[F.LABEL_KEY]
  b = truth[F.AGNOSTIC_LABEL_KEY]
  tags = truth[F.TAG_KEY]
  majority = int(np.mean(y) >= 0.5) if len(y) else 1

  def block(mask: np.ndarray) -> Dict[str, Any]:
    d: Dict[str, Any] = {"rows": int(mask.sum())}
    for proto, s in scores.items():
      personal = binary_metrics(y[mask], s[F.PERSONAL_OUTPUT][mask])
      personal["ece"] = expected_calibration_error(
          y[mask], s[F.PERSONAL_OUTPUT][mask])
      d[proto] = {
          "personal": personal,
          "agnostic": binary_metrics(b[mask], s[F.AGNOSTIC_OUTPUT][mask]),
      }
    any_scores = next(iter(scores.values()))
    d["floors"] = {
        "majority": {"accuracy": accuracy(y[mask],
                                          np.full(mask.sum(), majority)),
                     "auc": 0.5},
        "agnostic_head": binary_metrics(y[mask],
                                        any_scores[F.AGNOSTIC_OUTPUT][mask]),
        "mean_score": {
            "accuracy": accuracy(y[mask], truth[F.MEAN_SCORE_KEY][mask],
                                 threshold=5.0 + 1e-9),
            "auc": auc(y[mask], truth[F.MEAN_SCORE_KEY][mask]),
        },
    }
    return d

  everything = np.ones(len(y), dtype=bool)
  report: Dict[str, Any] = {
      "overall": block(everything),
      "per_tag": {t: block(tags == t) for t in sorted(set(tags.tolist()))},
      "rows": int(len(y)),
      "positive_ratio": float(np.mean(y)) if len(y) else float("nan"),
  }
  if "known_user" in next(iter(scores.values())):
    report["unknown_user_rows"] = int(
        (~next(iter(scores.values()))["known_user"].astype(bool)).sum())
  if extra:
    report.update(extra)
  return report


def calibration_report(truth: Dict[str, np.ndarray],
                       scores: Dict[str, Dict[str, np.ndarray]],
                       temperatures: Sequence[float]) -> Dict[str, Any]:
  """ECE of the personal head on these rows before and after temperature.

  ``scores`` are the exported model's (temperature already applied where
  the Trainer chose to); ``temperatures`` = (review given, review-free). The
  unscaled probability of a known user's row is recovered as
  sigmoid(T * logit(p)); rows of unknown users carry the agnostic fallback,
  which no temperature touches. The temperatures were fitted on training
  rows held out of training (keras_model.calibration), never on these.
  """
  y = truth[F.LABEL_KEY]
  out: Dict[str, Any] = {}
  for proto, t in (("review_given", temperatures[0]),
                   ("review_free", temperatures[1])):
    if proto not in scores:
      continue
    p = np.asarray(scores[proto][F.PERSONAL_OUTPUT], np.float64)
    known = np.asarray(scores[proto].get("known_user",
                                         np.ones(len(p), bool)), bool)
    q = np.clip(p, 1e-7, 1 - 1e-7)
    before = np.where(known, 1.0 / (1.0 + np.exp(-float(t) * np.log(
        q / (1.0 - q)))), p) if float(t) != 1.0 else p
    out[proto] = {
        "temperature": float(t),
        "applied": float(t) != 1.0,
        "ece_before": expected_calibration_error(y, before),
        "ece_after": expected_calibration_error(y, p),
        "rows": int(len(y)),
    }
  return out


# ----------------------------------------------------------------------------
# Figure 7
# ----------------------------------------------------------------------------
def plot_per_tag(report: Dict[str, Any], path: str,
                 title: str = "Accuracy per major tag (eval split)") -> str:
  """Grouped bars per tag, the overall group rightmost (like Fig. 7)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  groups = list(report["per_tag"].items()) + [("overall", report["overall"])]
  series = [
      ("personal, review-free", lambda d: d["review_free"]["personal"]),
      ("personal, review given", lambda d: d["review_given"]["personal"]),
      ("user-agnostic head (b_v)", lambda d: d["review_free"]["agnostic"]),
      ("floor: AVA mean vote", lambda d: d["floors"]["mean_score"]),
  ]
  x = np.arange(len(groups))
  width = 0.8 / len(series)
  fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(groups) + 2), 5))
  for i, (label, get) in enumerate(series):
    vals = [get(d)["accuracy"] for _, d in groups]
    ax.bar(x + (i - (len(series) - 1) / 2) * width, vals, width, label=label)
  ax.set_xticks(x)
  ax.set_xticklabels([f"{n}\n(n={d['rows']})" for n, d in groups],
                     rotation=45, ha="right", fontsize=8)
  ax.set_ylim(0, 1)
  ax.set_ylabel("accuracy")
  ax.set_title(title)
  ax.axvline(len(groups) - 1.5, color="grey", lw=0.8, ls=":")
  ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.32),
            ncol=len(series), frameon=False)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def write_report(report: Dict[str, Any], out_dir: str) -> Dict[str, str]:
  os.makedirs(out_dir, exist_ok=True)
  metrics_path = os.path.join(out_dir, METRICS_FILE)
  tmp = metrics_path + ".tmp"
  with open(tmp, "w") as fh:
    json.dump(report, fh, indent=2, sort_keys=True, default=float)
  os.replace(tmp, metrics_path)
  fig = plot_per_tag(report, os.path.join(out_dir, FIG7_FILE))
  return {"metrics": metrics_path, "figure": fig}


def read_tfrecords(pattern: str) -> List[bytes]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = sorted(tf.io.gfile.glob(pattern))
  out: List[bytes] = []
  for f in files:
    comp = "GZIP" if f.endswith(".gz") else ""
    out.extend(r.numpy() for r in tf.data.TFRecordDataset(
        f, compression_type=comp))
  return out


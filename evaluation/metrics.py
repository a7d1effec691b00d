"""One definition of every metric and floor the project reports.

Numpy only (importable from serving, Beam workers and the demo generator
without TensorFlow). AUC is exact and tie-aware; accuracy thresholds a
probability; ECE uses equal-width bins; Brier is the mean squared error of a
probability.

Floors (design notes: personalisation is worth only what it adds above
them) are computed from the *training* rows and scored on the test rows:

* ``majority``: the training majority label, for every test row;
* ``mean_vote``: the image's AVA mean vote (what a non-personal system
  knows for free; also available for an image nobody reviewed);
* ``user_rate``: the user's smoothed training good-rate (leniency);
* ``vote_plus_user``: their simple combination, logit of the vote-implied
  good-rate plus the user's leniency offset (no learning).
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import numpy as np

ECE_BINS = 15  # equal-width bins of expected calibration error
# Pseudo-count of the user good-rate prior (the training base rate).
USER_RATE_PRIOR = 5.0
# Mean vote at which the vote-implied good-rate is 1/2 and its slope (per
# vote point) of the logistic link used by ``vote_plus_user``; only the
# ordering matters for AUC, the slope sets how much leniency can reorder.
VOTE_CENTRE = 5.0
VOTE_SLOPE = 2.0
FLOOR_NAMES = ("majority", "mean_vote", "user_rate", "vote_plus_user")


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
  """ROC AUC by the rank-sum (Mann-Whitney U) formula; ties count 1/2.

  Args:
    labels: 0/1 per row.
    scores: any real score per row; higher means "more likely 1".

  Returns:
    AUC in [0, 1], or NaN when only one class is present.
  """
  y = np.asarray(labels, dtype=np.int64).reshape(-1)
  s = np.asarray(scores, dtype=np.float64).reshape(-1)
  n_pos = int(y.sum())
  n_neg = len(y) - n_pos
  if n_pos == 0 or n_neg == 0:
    return float("nan")
  order = np.argsort(s, kind="mergesort")
  ranks = np.empty(len(s), dtype=np.float64)
  ranks[order] = np.arange(1, len(s) + 1)
  _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
  ranks = (np.bincount(inverse, weights=ranks) / counts)[inverse]
  u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
  return float(u / (n_pos * n_neg))


def paired_auc_difference(labels: Sequence[int], a: Sequence[float],
                          b: Sequence[float], *, resamples: int = 1000,
                          seed: int = 0) -> Dict[str, float]:
  """AUC(a) - AUC(b) on the same rows, with its paired bootstrap spread.

  Rows are resampled with replacement (the same rows for both scorers, so
  the spread is that of the *difference*, which is much smaller than either
  AUC's own when the two scorers agree on most rows).

  Returns:
    {"diff": AUC(a) - AUC(b) on the rows, "se": standard deviation of the
    bootstrap differences, "z": diff / se (NaN when se is 0), "resamples":
    the resamples with both classes present}.
  """
  y = np.asarray(labels, dtype=np.int64).reshape(-1)
  sa = np.asarray(a, dtype=np.float64).reshape(-1)
  sb = np.asarray(b, dtype=np.float64).reshape(-1)
  diff = auc(y, sa) - auc(y, sb)
  rng = np.random.default_rng(seed)
  draws = []
  for _ in range(resamples if len(y) else 0):
    i = rng.integers(0, len(y), len(y))
    d = auc(y[i], sa[i]) - auc(y[i], sb[i])
    if d == d:
      draws.append(d)
  se = float(np.std(draws)) if len(draws) > 1 else float("nan")
  return {"diff": float(diff), "se": se,
          "z": diff / se if se and se == se else float("nan"),
          "resamples": len(draws)}


def accuracy(labels: Sequence[int], probs: Sequence[float],
             threshold: float = 0.5) -> float:
  """Share of rows where ``probs >= threshold`` equals the label (NaN if none)."""
  y = np.asarray(labels).reshape(-1)
  if len(y) == 0:
    return float("nan")
  pred = (np.asarray(probs, dtype=np.float64).reshape(-1) >= threshold)
  return float(np.mean(pred.astype(np.int64) == y))


def expected_calibration_error(labels: Sequence[int], probs: Sequence[float],
                               bins: int = ECE_BINS) -> float:
  """ECE = sum_b (n_b / N) |mean(y in b) - mean(p in b)| over equal-width bins.

  ``probs`` is the probability of the positive class; the last bin includes
  p = 1. NaN for no rows.
  """
  y = np.asarray(labels, dtype=np.float64).reshape(-1)
  p = np.asarray(probs, dtype=np.float64).reshape(-1)
  if len(y) == 0:
    return float("nan")
  idx = np.clip((p * bins).astype(np.int64), 0, bins - 1)
  return binned_calibration_error(np.bincount(idx, weights=y, minlength=bins),
                                  np.bincount(idx, weights=p, minlength=bins),
                                  np.bincount(idx, minlength=bins))


def binned_calibration_error(label_sums: Sequence[float],
                             prob_sums: Sequence[float],
                             counts: Sequence[float]) -> float:
  """ECE from per-bin totals: sum_b |sum(y in b) - sum(p in b)| / N.

  The binned form of ``expected_calibration_error`` (the same value), for
  totals computed elsewhere, e.g. TFMA's calibration histogram with
  ``ECE_BINS`` equal-width buckets on [0, 1].

  Args:
    label_sums: per bin, the sum of its rows' 0/1 labels.
    prob_sums: per bin, the sum of its rows' probabilities.
    counts: per bin, its number of rows (N is their sum).

  Returns:
    The ECE; NaN for no rows.
  """
  n = float(np.sum(counts))
  if n == 0:
    return float("nan")
  diff = (np.asarray(label_sums, np.float64).reshape(-1) -
          np.asarray(prob_sums, np.float64).reshape(-1))
  return float(np.abs(diff).sum() / n)


def brier(labels: Sequence[int], probs: Sequence[float]) -> float:
  """Mean squared error of a probability (NaN for no rows)."""
  y = np.asarray(labels, dtype=np.float64).reshape(-1)
  if len(y) == 0:
    return float("nan")
  return float(np.mean((np.asarray(probs, np.float64).reshape(-1) - y) ** 2))


def binary_metrics(labels: Sequence[int], probs: Sequence[float], *,
                   threshold: float = 0.5,
                   calibrated: bool = True) -> Dict[str, float]:
  """accuracy, auc, count and (for probabilities) ece and brier of one slice.

  Args:
    labels: 0/1 per row.
    probs: the score per row.
    threshold: decision threshold for accuracy.
    calibrated: whether ``probs`` are probabilities (then ECE and Brier are
      reported too); False for raw scores such as a mean vote.
  """
  out: Dict[str, float] = {
      "accuracy": accuracy(labels, probs, threshold),
      "auc": auc(labels, probs),
      "count": int(len(np.asarray(labels).reshape(-1))),
  }
  if calibrated:
    out["ece"] = expected_calibration_error(labels, probs)
    out["brier"] = brier(labels, probs)
  return out


def logit(p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
  q = np.clip(np.asarray(p, np.float64), eps, 1.0 - eps)
  return np.log(q / (1.0 - q))


def sigmoid(x: np.ndarray) -> np.ndarray:
  return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def base_rate(positives: float, count: float) -> float:
  """The training base good-rate: positives / count, 1/2 with no rows."""
  return float(positives) / count if count else 0.5


def smoothed_rate(positives, count, base: float,
                  prior: float = USER_RATE_PRIOR):
  """(positives + prior*base) / (count + prior): a good-rate shrunk to base.

  Works on scalars and numpy arrays alike (the Beam job calls it per row).
  """
  return (positives + prior * base) / (count + prior)


def user_rates(train_users: Sequence, train_labels: Sequence[int],
               prior: float = USER_RATE_PRIOR) -> Dict[object, float]:
  """Smoothed training good-rate of each user: (pos + prior*base)/(n + prior)."""
  users = np.asarray(train_users, dtype=object).reshape(-1)
  y = np.asarray(train_labels, np.float64).reshape(-1)
  base = base_rate(y.sum(), len(y))
  uniq, inverse = np.unique(users, return_inverse=True)
  pos = np.bincount(inverse, weights=y, minlength=len(uniq))
  cnt = np.bincount(inverse, minlength=len(uniq))
  rate = smoothed_rate(pos, cnt, base, prior)
  return {u: float(r) for u, r in zip(uniq.tolist(), rate.tolist())}


def floor_scores(train_users: Sequence, train_labels: Sequence[int],
                 test_users: Sequence, test_mean_votes: Sequence[float],
                 ) -> Dict[str, np.ndarray]:
  """The score of every floor for each test row (see module docstring).

  Args:
    train_users, train_labels: the training rows' user ids and 0/1 labels.
    test_users: the test rows' user ids (unseen users get the base rate).
    test_mean_votes: the test rows' image AVA mean vote (1..10).

  Returns:
    {floor name: score per test row}; ``majority`` is the constant training
    majority label (AUC 0.5 by definition, accuracy = its share).
  """
  y = np.asarray(train_labels, np.float64).reshape(-1)
  base = base_rate(y.sum(), len(y))
  rates = user_rates(train_users, train_labels)
  users = np.asarray(test_users, dtype=object).reshape(-1)
  rate = np.asarray([rates.get(u, base) for u in users.tolist()], np.float64)
  vote = np.asarray(test_mean_votes, np.float64).reshape(-1)
  leniency = logit(rate) - logit(np.asarray(base))
  vote_logit = VOTE_SLOPE * (vote - VOTE_CENTRE) + logit(np.asarray(base))
  return {
      "majority": np.full(len(users), 1.0 if base >= 0.5 else 0.0),
      "mean_vote": vote,
      "user_rate": rate,
      "vote_plus_user": sigmoid(vote_logit + leniency),
  }


def floor_metrics(labels: Sequence[int], scores: Mapping[str, np.ndarray],
                  mask: Optional[np.ndarray] = None) -> Dict[str, Dict[str, float]]:
  """binary_metrics of every floor on the rows of ``mask`` (all by default).

  The mean vote is a score on 1..10, not a probability: its accuracy uses
  the AVA threshold (good iff mean vote > 5) and no ECE is reported.
  """
  y = np.asarray(labels).reshape(-1)
  m = np.ones(len(y), bool) if mask is None else np.asarray(mask, bool)
  out = {}
  for name, s in scores.items():
    s = np.asarray(s, np.float64)
    if name == "mean_vote":
      out[name] = binary_metrics(y[m], s[m], threshold=VOTE_CENTRE + 1e-9,
                                 calibrated=False)
    else:
      out[name] = binary_metrics(y[m], s[m])
  return out


def best_floor(floors: Mapping[str, Mapping[str, float]],
               metric: str = "auc") -> str:
  """Name of the floor with the highest ``metric`` (NaNs ignored)."""
  vals = {k: v.get(metric, float("nan")) for k, v in floors.items()}
  vals = {k: v for k, v in vals.items() if v == v}
  if not vals:
    raise ValueError("no floor has a finite " + metric)
  return max(vals, key=vals.get)

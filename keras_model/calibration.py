"""Temperature scaling of the personal head (Guo et al., 2017).

Which rows: ``CALIBRATION_FRACTION`` of the *training* split, chosen by a
hash of (user, image), is held out of training (``is_calibration_row``).
Half of those rows (``fit``) fit the temperature T by minimising the
negative log-likelihood of sigmoid(logit(p) / T); the other half (``check``)
decides: T is exported only if it lowers the expected calibration error
(15 equal-width bins, ``evaluation.metrics.expected_calibration_error``) on
the check rows. The eval split is used for neither, so the report's
before/after ECE on it is measured on rows no decision saw.

One temperature per review path: with the own review (paper protocol) the
head is far more confident than review-free, so a single T would fit
neither. The exported model applies T_given or T_free per row.
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

import numpy as np
import tensorflow as tf

from evaluation import metrics
from preprocessing import config as cfg_lib

FIT, CHECK = "fit", "check"
_HASH_BUCKETS = 10_000


def _calibration_bucket(user: tf.Tensor, image: tf.Tensor,
                       num_images: int) -> tf.Tensor:
  """Deterministic bucket in [0, 10000) of each (user index, image index)."""
  key = (tf.cast(tf.reshape(user, [-1]), tf.int64) * int(num_images) +
         tf.cast(tf.reshape(image, [-1]), tf.int64))
  return tf.strings.to_hash_bucket_fast(tf.strings.as_string(key),
                                        _HASH_BUCKETS)


def row_part(user: tf.Tensor, image: tf.Tensor, num_images: int,
             fraction: float = cfg_lib.CALIBRATION_FRACTION) -> tf.Tensor:
  """The role of each row: 0 = training, 1 = calibration fit, 2 = check.

  Args:
    user: user index per row.
    image: image index per row.
    num_images: size of the image index (makes the (user, image) key).
    fraction: share of rows held out for calibration (half fit, half check).

  Returns:
    int32 [B].
  """
  bucket = _calibration_bucket(user, image, num_images)
  cut = int(round(fraction * _HASH_BUCKETS))
  half = cut // 2
  return tf.where(bucket < half, 1, tf.where(bucket < cut, 2, 0))


_EPS = 1e-7  # probabilities are clipped to [eps, 1 - eps] before a logit


def _apply_temperature(p: np.ndarray, t: float) -> np.ndarray:
  """sigmoid(logit(p) / t): the probability after temperature ``t``."""
  return metrics.sigmoid(metrics.logit(p, eps=_EPS) / float(t))


def _nll(labels: np.ndarray, p: np.ndarray) -> float:
  """Mean negative log-likelihood (binary cross-entropy) of ``p``."""
  y = np.asarray(labels, np.float64)
  q = np.clip(np.asarray(p, np.float64), _EPS, 1 - _EPS)
  return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))


def fit_temperature(labels: np.ndarray, p: np.ndarray,
                    t_range: Tuple[float, float] = cfg_lib.TEMPERATURE_RANGE
                    ) -> float:
  """T minimising the NLL of sigmoid(logit(p) / T): log grid, then refined."""
  lo, hi = np.log(t_range[0]), np.log(t_range[1])
  grid = np.exp(np.linspace(lo, hi, 121))
  losses = [_nll(labels, _apply_temperature(p, t)) for t in grid]
  best = int(np.argmin(losses))
  a = grid[max(best - 1, 0)]
  b = grid[min(best + 1, len(grid) - 1)]
  fine = np.exp(np.linspace(np.log(a), np.log(b), 41))
  losses = [_nll(labels, _apply_temperature(p, t)) for t in fine]
  return float(fine[int(np.argmin(losses))])


def decide(fit_labels: np.ndarray, fit_p: np.ndarray, check_labels: np.ndarray,
           check_p: np.ndarray,
           min_rows: int = cfg_lib.CALIBRATION_MIN_ROWS) -> Dict[str, Any]:
  """Fits T on the fit rows; keeps it only if ECE drops on the check rows.

  Args:
    fit_labels, fit_p: labels and personal probabilities of the fit rows.
    check_labels, check_p: the same for the check rows.
    min_rows: fewer rows than this in either half: no temperature.

  Returns:
    The decision: ``temperature`` (1.0 unless applied), ``applied``,
    ``reason``, the row counts and, when fitted, ``fitted_temperature`` with
    the check rows' ECE and the fit rows' NLL before and after.
  """
  rec: Dict[str, Any] = {"fit_rows": int(len(fit_labels)),
                         "check_rows": int(len(check_labels))}
  if len(fit_labels) < min_rows or len(check_labels) < min_rows:
    rec.update(temperature=1.0, fitted_temperature=None, applied=False,
               reason=f"fewer than {min_rows} rows in a calibration half")
    return rec
  t = fit_temperature(fit_labels, fit_p)
  before = metrics.expected_calibration_error(check_labels, check_p)
  after = metrics.expected_calibration_error(
      check_labels, _apply_temperature(check_p, t))
  applied = bool(after < before)
  rec.update(fitted_temperature=t, temperature=t if applied else 1.0,
             applied=applied, check_ece_before=before, check_ece_after=after,
             fit_nll_before=_nll(fit_labels, fit_p),
             fit_nll_after=_nll(fit_labels, _apply_temperature(fit_p, t)),
             reason="lowers ECE on the check rows" if applied else
             "does not lower ECE on the check rows")
  return rec

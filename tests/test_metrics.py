"""evaluation.metrics: the AUC and the paired AUC difference of two scorers."""
import numpy as np
import pytest

from evaluation import metrics


def test_auc_by_hand_with_ties():
  # positives 0.9, 0.5; negatives 0.5, 0.1: pairs (0.9>0.5, 0.9>0.1,
  # 0.5=0.5 -> 1/2, 0.5>0.1) = 3.5 of 4.
  assert metrics.auc([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(
      3.5 / 4)
  assert np.isnan(metrics.auc([1, 1], [0.2, 0.3]))


def test_paired_difference_of_a_scorer_with_itself_is_exactly_zero():
  rng = np.random.default_rng(1)
  y = rng.integers(0, 2, 300)
  s = rng.normal(size=300) + y
  out = metrics.paired_auc_difference(y, s, s, resamples=200)
  assert out["diff"] == 0.0 and out["se"] == 0.0 and np.isnan(out["z"])
  assert out["resamples"] == 200


def _two_scorers(n, seed):
  """A signal, and a second scorer that sees it through more noise."""
  rng = np.random.default_rng(seed)
  latent = rng.normal(size=n)
  y = (latent + rng.normal(size=n) > 0).astype(int)
  good = latent + 0.3 * rng.normal(size=n)
  worse = latent + 1.5 * rng.normal(size=n)
  return y, good, worse


def test_paired_difference_finds_a_real_gap_and_its_spread_shrinks_with_n():
  y, good, worse = _two_scorers(4000, 2)
  big = metrics.paired_auc_difference(y, good, worse, resamples=300)
  assert big["diff"] == pytest.approx(metrics.auc(y, good) -
                                      metrics.auc(y, worse))
  assert big["diff"] > 0.05 and big["z"] > 5
  y, good, worse = _two_scorers(250, 3)
  small = metrics.paired_auc_difference(y, good, worse, resamples=300)
  # ~sqrt(4000 / 250) = 4x the spread on 16x fewer rows (loosely).
  assert 2.0 < small["se"] / big["se"] < 8.0
  # Paired: two scorers that nearly agree differ by far less than either
  # AUC's own bootstrap spread (an unpaired bootstrap would add the two).
  rng = np.random.default_rng(4)
  close = good + 0.05 * rng.normal(size=len(good))
  near = metrics.paired_auc_difference(y, good, close, resamples=300)
  own = [metrics.auc(y[i], good[i]) for i in
         (rng.integers(0, len(y), len(y)) for _ in range(300))]
  assert near["se"] < 0.25 * np.std(own)
  # The order of the scorers flips the sign, not the spread.
  flipped = metrics.paired_auc_difference(y, worse, good, resamples=300)
  assert flipped["diff"] == pytest.approx(-small["diff"])
  assert flipped["se"] == pytest.approx(small["se"])

"""The taste-ceiling fits and document on a small planted problem (fast).

The benchmark itself (``python -m benchmarks.taste_ceiling``) needs the
prepared demo settings and is not run here.
"""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks import common
from benchmarks import model_quality as mq
from benchmarks import taste_ceiling as tc
from evaluation import metrics
from preprocessing import features as F

USERS, IMAGES, PER_USER_TRAIN, PER_USER_TEST = 60, 300, 40, 15


def _planted(seed: int = 0):
  """Rows whose label depends on a per-user taste over one attribute."""
  rng = np.random.default_rng(seed)
  z = rng.normal(size=(IMAGES, 4))
  tags = (rng.random((IMAGES, 3)) < 0.3).astype(np.float64)
  quality = rng.normal(size=IMAGES)
  vote = 0.6 * (quality + 0.5 * rng.normal(size=IMAGES))
  taste = np.zeros((USERS, 4))
  taste[np.arange(USERS), rng.integers(0, 4, USERS)] = rng.choice(
      [-2.0, 2.0], USERS)
  lenient = rng.normal(scale=0.7, size=USERS)

  def rows(per_user: int, cold: bool) -> dict:
    u = np.repeat(np.arange(USERS), per_user)
    v = rng.integers(0, IMAGES, len(u))
    p = metrics.sigmoid(quality[v] + (taste[u] * z[v]).sum(1) + lenient[u])
    out = {tc.USER: u, tc.VOTE: vote[v], tc.Z: z[v], tc.TAGS: tags[v],
           tc.KNOWN: (taste[u] * z[v]).sum(1),
           tc.LABEL: (rng.random(len(u)) < p).astype(np.int64), "p": p}
    out[tc.SLICE] = np.where(np.arange(len(u)) % 3 == 0 if cold else
                             np.zeros(len(u), bool), F.SLICE_COLD,
                             F.SLICE_WARM)
    return out

  return rows(PER_USER_TRAIN, False), rows(PER_USER_TEST, True)


@pytest.fixture(scope="module")
def fitted():
  train, test = _planted()
  fits = tc.fit_models(train, test, USERS, c_grid=(0.1, 1.0),
                       scale_grid=(1.0, 2.0))
  return train, test, fits


def test_design_blocks_grow_model_by_model():
  train, _ = _planted()
  widths = [tc.design(train, USERS, m).shape[1] for m in tc.MODEL_KEYS]
  assert widths == [1 + USERS, 1 + 2 * USERS, 5 + 2 * USERS, 5 + 6 * USERS,
                    8 + 9 * USERS, 9 + 9 * USERS]
  x = tc.design(train, USERS, "taste", scale=2.0).toarray()
  row, u = 5, int(train[tc.USER][5])
  shared = 1 + 2 * USERS  # vote, user one-hot, user x vote
  np.testing.assert_allclose(x[row, shared:shared + 4], train[tc.Z][row])
  first = shared + 4 + 4 * u
  np.testing.assert_allclose(x[row, first:first + 4], 2.0 * train[tc.Z][row])
  assert np.count_nonzero(x[row, shared + 4:]) == 4
  with pytest.raises(ValueError, match="user indices"):
    tc.design(train, USERS - 1, "leniency")


def test_true_taste_beats_leniency_on_held_out_rows(fitted):
  _, test, fits = fitted
  assert set(fits) == set(tc.MODEL_KEYS)
  a, c = fits["leniency"]["auc"], fits["taste"]["auc"]
  shared = fits["attributes"]["auc"]
  # The planted taste (+-2 on one of 4 attributes per user) is most of the
  # signal: knowing it must add clearly on held-out rows, warm and cold;
  # the same attributes shared by every user (no planted effect) cannot.
  for s in mq.SLICES:
    assert c[s] > a[s] + 0.05, (s, a[s], c[s])
    assert c[s] > shared[s] + 0.05, (s, shared[s], c[s])
  # The taste known exactly beats the taste estimated from 40 rows a user.
  assert fits["known"]["auc"][mq.OVERALL] > c[mq.OVERALL] + 0.01
  assert c[mq.OVERALL] <= metrics.auc(test[tc.LABEL], test["p"]) + 0.02
  for m in fits.values():
    assert m["C"] in (0.1, 1.0) and m["scale"] in (1.0, 2.0)
    assert m["optimistic"]["auc"] >= m["auc"][mq.OVERALL]
  assert fits["leniency"]["scale"] == 1.0


def test_render_reports_the_verdict_from_the_figures(fitted):
  train, test, fits = fitted
  y, s = test[tc.LABEL], test[tc.SLICE]
  scores = metrics.floor_scores(train[tc.USER], train[tc.LABEL],
                                test[tc.USER], test[tc.VOTE] + 5.0)
  floors = {name: {sl: metrics.floor_metrics(
      y, {name: scores[name]}, np.ones(len(y), bool) if sl == mq.OVERALL
      else s == sl)[name] for sl in mq.SLICES} for name in scores}
  best = {}
  for sl in mq.SLICES:
    name = metrics.best_floor({k: v[sl] for k, v in floors.items()})
    best[sl] = {"name": name, "auc": floors[name][sl]["auc"]}
  res = {"rows": {"train": len(train[tc.LABEL]), "eval": len(y),
                  F.SLICE_WARM: int((s == F.SLICE_WARM).sum()),
                  F.SLICE_COLD: int((s == F.SLICE_COLD).sum())},
         "users": USERS, "eval_positive_rate": float(y.mean()),
         "models": fits, "floors": floors, "best_floor": best,
         "oracle_auc": {sl: metrics.auc(y, test["p"]) for sl in mq.SLICES},
         "seconds": 1.0, "measured": "now"}
  doc = {**common.doc_header("benchmarks.taste_ceiling", [],
                             tc.JSON), "seconds": 60.0,
         "args": {"difficulties": ["hard"], "seeds": [0], "users": USERS,
                  "images": IMAGES, "c_grid": [0.1, 1.0],
                  "scale_grid": [1.0, 2.0], "folds": 3},
         "settings": [{"difficulty": "hard", "seed": 0, "result": res}]}
  md = tc.render(doc)
  assert "## hard, seed 0" in md and "Ran: hard/seed 0" in md
  taste = fits["taste"]["auc"][mq.OVERALL]
  assert f"| {tc.LABELS['taste']} |" in md and f"{taste:.3f}" in md
  beats = taste > best[mq.OVERALL]["auc"]
  verdict = (f"overall {taste:.3f} vs {best[mq.OVERALL]['name']} "
             f"{best[mq.OVERALL]['auc']:.3f}")
  assert verdict in md
  assert ("beats it" if beats else "does NOT beat it") in md.split(verdict)[1]
  assert "- **hard** (1 seed, mean overall AUC)" in md

"""The honest evaluation split of ``cfan build-examples``, and its floors.

A deployed system meets photos it has seen with other users (warm) and
brand-new photos (cold), so the eval split holds out both, by stable hashes
of the ids (sha1, never Python's salted ``hash``, so every rebuild and every
Beam worker agrees):

* cold images: a share of images is held out entirely, all their reviews go
  to eval;
* warm pairs: of the other images' reviews, a share of (user, image) pairs
  goes to eval;
* an eval row whose image has no training review is cold: cold means "never
  seen in training".

Every row carries ``features.SLICE_KEY`` (warm/cold) and
``features.USER_TRAIN_RATE_KEY``, the user's smoothed good-rate over
training rows only (:func:`evaluation.metrics.user_rates`; leave-one-out on a
training row). The floors of :mod:`evaluation.metrics` are computed on the
eval rows, overall / warm / cold, and written to ``summary.json``; the
blessing gate (``tfx_pipeline/gate.py``) reads :func:`best_floors`.

Pure Python + numpy: the Beam job calls these per element.
"""
from __future__ import annotations

import collections
import hashlib
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from evaluation import metrics as metrics_lib
from preprocessing import config as cfg_lib
from preprocessing import features as F

# Slices of the floors in summary.json (and of the blessing gate).
OVERALL = "overall"
FLOOR_SLICES = (OVERALL,) + F.SLICE_VALUES
# Salts of the two split hashes (changing one reshuffles that split).
_COLD_IMAGE_SALT = "cfan-cold-image"
_EVAL_PAIR_SALT = "cfan-eval-pair"


def _unit_hash(*parts: str) -> float:
  """A stable number in [0, 1) from strings (sha1; never Python's hash)."""
  digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).digest()
  return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def check_shares(cold_image_share: float, warm_pair_share: float) -> None:
  for name, share in (("cold image share", cold_image_share),
                      ("warm pair share", warm_pair_share)):
    if not 0.0 <= share < 1.0:
      raise ValueError(f"{name} must be in [0, 1), got {share}")


def assign_splits(image_id: str, user_ids: Sequence[str], *,
                  cold_image_share: float = cfg_lib.EVAL_COLD_IMAGE_SHARE,
                  warm_pair_share: float = cfg_lib.EVAL_WARM_PAIR_SHARE
                  ) -> List[Tuple[str, str]]:
  """(split, image slice) of each review of one image, in ``user_ids`` order.

  The image is cold (all its reviews in eval) when the hash of its id falls
  in ``cold_image_share``; otherwise each (user, image) pair whose hash falls
  in ``warm_pair_share`` goes to eval. An image none of whose reviews stays
  in training is cold too: cold means "never seen in training". Every other
  row is warm (its image has a training review).
  """
  if _unit_hash(_COLD_IMAGE_SALT, image_id) < cold_image_share:
    return [(F.EVAL_SPLIT, F.SLICE_COLD)] * len(user_ids)
  held_out = [_unit_hash(_EVAL_PAIR_SALT, u, image_id) < warm_pair_share
              for u in user_ids]
  if all(held_out):
    return [(F.EVAL_SPLIT, F.SLICE_COLD)] * len(user_ids)
  return [(F.EVAL_SPLIT if h else F.TRAIN_SPLIT, F.SLICE_WARM)
          for h in held_out]


def user_train_rate(user_stats: Tuple[int, int], totals: Tuple[int, int],
                    own_label: Optional[int] = None) -> float:
  """The user's smoothed good-rate over training rows (metrics.user_rates).

  Args:
    user_stats: (good, total) of the user's training rows; (0, 0) for a user
      without any (who then gets the training base rate).
    totals: (good, total) of all training rows (the base rate).
    own_label: the row's label when the row is itself a training row: it is
      left out of the user's counts and of the base rate, so the feature
      never carries the row's own label.
  """
  (pos, n), (all_pos, all_n) = user_stats, totals
  if own_label is not None:
    pos, n = pos - own_label, n - 1
    all_pos, all_n = all_pos - own_label, all_n - 1
  base = metrics_lib.base_rate(all_pos, all_n)
  return float(metrics_lib.smoothed_rate(pos, n, base))


def split_summary(image_stats: List[Dict[str, Any]]) -> Dict[str, Any]:
  """Rows and images of the training split and of the eval slices."""
  out = {k: {"rows": 0, "images": 0}
         for k in (F.TRAIN_SPLIT,) + tuple(f"{F.EVAL_SPLIT}_{v}"
                                           for v in F.SLICE_VALUES)}
  for stat in image_stats:
    counts = collections.Counter(stat.get("slices", ()))
    for value, n in counts.items():
      key = value if value == F.TRAIN_SPLIT else f"{F.EVAL_SPLIT}_{value}"
      out[key]["rows"] += n
      out[key]["images"] += 1
  return out


def floor_summary(eval_rows: Sequence[Tuple[str, int, float, str]],
                  user_stats: Mapping[str, Tuple[int, int]]
                  ) -> Dict[str, Dict[str, Any]]:
  """The floors of :mod:`evaluation.metrics` on the eval rows, per slice.

  Args:
    eval_rows: (user, label, mean vote, image slice) of every eval row.
    user_stats: user -> (good, total) of their training rows; the training
      rows are rebuilt from these counts for ``metrics.floor_scores`` (only
      the users and labels matter to it, not their order).

  Returns:
    {overall|warm|cold: {"rows", "good", "floors": {name: metrics},
    "best": the floor with the highest finite AUC or None, "best_auc"}}.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  ids = sorted(user_stats)
  good = np.asarray([user_stats[u][0] for u in ids], np.int64)
  total = np.asarray([user_stats[u][1] for u in ids], np.int64)
  train_users = np.repeat(np.asarray(ids, dtype=object), total)
  starts = np.cumsum(total) - total
  # Within each user's block, the first ``good`` rows are the good ones.
  train_labels = ((np.arange(int(total.sum())) - np.repeat(starts, total))
                  < np.repeat(good, total)).astype(np.int64)
  rows = sorted(eval_rows)
  users = [r[0] for r in rows]
  labels = np.asarray([r[1] for r in rows], np.int64)
  slices = np.asarray([r[3] for r in rows], dtype=object)
  scores = metrics_lib.floor_scores(train_users, train_labels, users,
                                    [r[2] for r in rows])
  out: Dict[str, Dict[str, Any]] = {}
  for name in FLOOR_SLICES:
    mask = (np.ones(len(rows), bool) if name == OVERALL
            else slices == name)
    floors = metrics_lib.floor_metrics(labels, scores, mask)
    try:
      best = metrics_lib.best_floor(floors)
    except ValueError:  # no row, or one class only: every AUC is NaN
      best = None
    out[name] = {"rows": int(mask.sum()), "good": int(labels[mask].sum()),
                 "floors": floors, "best": best,
                 "best_auc": floors[best]["auc"] if best else None}
  return out


def best_floors(summary: Mapping[str, Any]) -> Dict[str, Tuple[str, float]]:
  """slice -> (best floor, its AUC) for each slice where one is defined."""
  return {k: (v["best"], v["best_auc"])
          for k, v in summary.get("floors", {}).items() if v.get("best")}


def format_split(summary: Mapping[str, Any]) -> str:
  """Two lines: the split counts, and the floors' AUC on the eval slices."""
  sp = summary["split"]
  parts = [f"split: train {sp[F.TRAIN_SPLIT]['rows']:,d} rows "
           f"({sp[F.TRAIN_SPLIT]['images']:,d} images)"]
  for value in F.SLICE_VALUES:
    c = sp[f"{F.EVAL_SPLIT}_{value}"]
    parts.append(f"eval {value} {c['rows']:,d} rows ({c['images']:,d} "
                 "images)")
  floors = summary["floors"]
  per_floor = []
  for name in metrics_lib.FLOOR_NAMES:
    aucs = "/".join(f"{floors[k]['floors'][name]['auc']:.3f}"
                    for k in FLOOR_SLICES)
    per_floor.append(f"{name} {aucs}")
  best = ", ".join(f"{k} {floors[k]['best'] or 'none (AUC undefined)'}"
                   for k in FLOOR_SLICES)
  return (", ".join(parts) + "\n" +
          f"floors, eval AUC {'/'.join(FLOOR_SLICES)}: "
          + "; ".join(per_floor) + f" (best: {best})")

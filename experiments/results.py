"""Metrics of one trained variant and the floors of one split.

Every metric and floor is ``evaluation.metrics``'s (AUC, accuracy, ECE and
Brier through ``binary_metrics``; the floors through ``floor_scores`` and
``floor_metrics``, from the split's *training* rows); this module only
groups them: overall, per major tag, and their mean over tags (Fig. 8), per
test row for the personal head and per test image for the user-agnostic
one (Fig. 7).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np

from evaluation import metrics
from experiments import data
from preprocessing import features as F

OTHER_TAG = "<other>"
Metrics = Dict[str, float]


def tag_names_of(test: data.Columns, tag_names: Sequence[str]) -> np.ndarray:
  """The major-tag name of every row (OTHER_TAG for the OOV tag index)."""
  names = list(tag_names) + [OTHER_TAG]
  idx = np.minimum(test[F.TAG_XF].astype(np.int64), len(names) - 1)
  return np.asarray(names, dtype=object)[idx]


def _nanmean(values: List[float]) -> float:
  vals = [v for v in values if v is not None and not math.isnan(v)]
  return float(np.mean(vals)) if vals else float("nan")


def _by_tag(one: Callable[[np.ndarray], Metrics], tags: np.ndarray
            ) -> Dict[str, Any]:
  """{"overall", "per_tag", "tag_mean"} of ``one(row mask)``."""
  per_tag = {t: one(tags == t) for t in sorted(set(tags.tolist()))}
  return {
      "overall": one(np.ones(len(tags), bool)),
      "per_tag": per_tag,
      "tag_mean": {m: _nanmean([v[m] for v in per_tag.values()])
                   for m in ("accuracy", "auc")},
  }


def grouped_metrics(labels: np.ndarray, scores: np.ndarray, tags: np.ndarray
                    ) -> Dict[str, Any]:
  """``metrics.binary_metrics`` overall, per tag and the mean over tags.

  Args:
    labels: 0/1 per row.
    scores: probability per row.
    tags: tag name per row.

  Returns:
    {"overall": metrics, "per_tag": {tag: metrics}, "tag_mean":
    {"accuracy", "auc"}}.
  """
  return _by_tag(lambda m: metrics.binary_metrics(labels[m], scores[m]), tags)


def per_image(test: data.Columns, tags: np.ndarray, scores: np.ndarray
              ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(b_v, mean score, tag) per distinct test image (first-row label/tag).

  Cold-image test rows all carry the OOV index, so images are told apart by
  their transformed JPEG bytes.
  """
  keys = test[F.IMAGE_XF]
  _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
  sums = np.bincount(inverse, weights=scores)
  counts = np.bincount(inverse)
  return (test[F.AGNOSTIC_LABEL_KEY][first].astype(np.int64),
          sums / counts, tags[first])


def floors(train: data.Columns, test: data.Columns, tags: np.ndarray
           ) -> Dict[str, Dict[str, Any]]:
  """Every floor of ``metrics.FLOOR_NAMES`` on the personal label.

  Args:
    train: the split's training rows (majority, user rates, base rate).
    test: its test rows (labels, users, mean votes).
    tags: tag name per test row.

  Returns:
    {floor name: ``grouped_metrics``-shaped dict}.
  """
  y = test[F.LABEL_KEY].astype(np.int64)
  scores = metrics.floor_scores(train[F.USER_XF], train[F.LABEL_KEY],
                                test[F.USER_XF], test[F.MEAN_SCORE_KEY])
  return {name: _by_tag(
      lambda m, name=name: metrics.floor_metrics(y, {name: scores[name]},
                                                 m)[name], tags)
          for name in scores}


def agnostic_floor(train: data.Columns, test: data.Columns, tags: np.ndarray
                   ) -> Dict[str, Any]:
  """Majority b_v of the training images, per test image (Fig. 7 floor)."""
  _, first = np.unique(train[F.IMAGE_XF], return_index=True)
  b, _, img_tags = per_image(test, tags, np.zeros(data.num_rows(test)))
  # Only the majority floor applies to b_v (the mean vote defines it).
  majority = metrics.floor_scores(
      np.zeros(len(first)), train[F.AGNOSTIC_LABEL_KEY][first],
      np.zeros(len(b)), np.zeros(len(b)))["majority"]
  return grouped_metrics(b, majority, img_tags)


def evaluate(trained, test: data.Columns, tags: np.ndarray,
             modes: Sequence[str], num_tags: int) -> Dict[str, Any]:
  """Personal metrics per review mode + per-image agnostic metrics.

  Args:
    trained: a ``keras_model.training.Trained`` variant.
    test: the test rows.
    tags: tag name per test row.
    modes: review modes to score ("given", "free").
    num_tags: tag classes of the Transform vocabulary.

  Returns:
    {mode: ``grouped_metrics``, "agnostic": per-image metrics of b_v,
    "agnostic_source": which head scored b_v}.
  """
  # pylint: disable=g-import-not-at-top
  from keras_model import inputs
  from keras_model import training
  from keras_model import variants
  # pylint: enable=g-import-not-at-top
  rows = inputs.Rows.from_columns(test)
  y = test[F.LABEL_KEY].astype(np.int64)
  out: Dict[str, Any] = {}
  cache: Dict[str, Dict[str, np.ndarray]] = {}
  for mode in modes:
    key = mode if trained.variant.uses_review else "any"
    if key not in cache:
      cache[key] = training.predict(trained, rows, mode, num_tags)
    out[mode] = grouped_metrics(y, cache[key][F.PERSONAL_OUTPUT], tags)
  # Review-free scores when there are any: a personal-head proxy of b_v
  # must not read the review its label came from.
  s = cache.get("free", cache.get("any", cache[next(iter(cache))]))
  has_agnostic = F.AGNOSTIC_OUTPUT in variants.heads(trained.model)
  source = F.AGNOSTIC_OUTPUT if has_agnostic else F.PERSONAL_OUTPUT
  b, p, img_tags = per_image(test, tags, s[source])
  out["agnostic"] = grouped_metrics(b, p, img_tags)
  out["agnostic_source"] = ("agnostic head" if has_agnostic else
                            "personal head, mean over the image's reviews")
  return out


def protocol_block(split: str, review: str, train: data.Columns,
                   test: data.Columns, tags: np.ndarray,
                   per_variant: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
  """One protocol's entry of results.json.

  Args:
    split: how the rows were split (one line).
    review: the review mode this protocol reports ("given" or "free").
    train: the split's training rows.
    test: its test rows.
    tags: tag name per test row.
    per_variant: {variant: ``evaluate`` result + train_seconds, steps and
      bpr_threshold when pairwise}.

  Returns:
    Sizes, floors, the Fig. 7 floor and each variant's metrics of
    ``review``.
  """
  return {
      "split": split, "review": review,
      "train_rows": data.num_rows(train), "test_rows": data.num_rows(test),
      "test_images": data.num_images(test),
      "positive_rate": float(np.mean(test[F.LABEL_KEY])),
      "floors": floors(train, test, tags),
      "agnostic_floor": agnostic_floor(train, test, tags),
      "variants": {n: {**r[review], "agnostic": r["agnostic"],
                       "agnostic_source": r["agnostic_source"],
                       "train_seconds": r["train_seconds"],
                       "steps": r["steps"],
                       **({"bpr_threshold": r["bpr_threshold"]}
                          if "bpr_threshold" in r else {})}
                   for n, r in per_variant.items()},
  }

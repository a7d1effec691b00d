"""The labelled tf.Example, image-major (features.py): write and read.

``make_example`` writes one image and some of its kept reviews (what
build-examples stores); ``review_rows`` reads an example back as one dict per
review, the image's features repeated on each (what tests, tools and
notebooks that think in reviews want).
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

from preprocessing import ava
from preprocessing import features as F


def make_example(reviews: Sequence[Dict[str, Any]], image: ava.AvaImage,
                 tag_name: str, image_bytes: bytes, image_slice: str,
                 train_rates: Sequence[float]
                 ) -> "tf.train.Example":  # noqa: F821
  """The image-major labelled tf.Example (features.py) of one image and
  some of its kept reviews, each with its ``train_rates`` entry."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def _bytes(vs: Sequence[str | bytes]):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[
        v.encode("utf-8") if isinstance(v, str) else v for v in vs]))

  def _ints(vs: Sequence[int]):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(vs)))

  def _floats(vs: Sequence[float]):
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(vs)))

  feats = {
      F.USER_KEY: _bytes([r["user_id"] for r in reviews]),
      F.IMAGE_ID_KEY: _bytes([image.image_id]),
      F.REVIEW_KEY: _bytes([r["text"] for r in reviews]),
      F.IMAGE_KEY: _bytes([image_bytes]),
      F.LABEL_KEY: _ints([r["label"] for r in reviews]),
      F.AGNOSTIC_LABEL_KEY: _ints([image.agnostic_label]),
      F.TAG_KEY: _bytes([tag_name]),
      F.MEAN_SCORE_KEY: _floats([image.mean_score]),
      F.VOTES_KEY: _ints(image.votes),
      F.PREFERENCE_KEY: _ints([r["level"] for r in reviews]),
      F.REVIEW_TYPE_KEY: _bytes([r["review_type"] for r in reviews]),
      F.SAID_KEY: _ints([r["said"] for r in reviews]),
      F.CHALLENGE_KEY: _ints([image.challenge_id]),
      F.SLICE_KEY: _bytes([image_slice]),
      F.USER_TRAIN_RATE_KEY: _floats(train_rates),
      F.HELD_OUT_KEY: _ints([int(r["split"] != F.TRAIN_SPLIT)
                             for r in reviews]),
  }
  return tf.train.Example(features=tf.train.Features(feature=feats))


def review_rows(serialized: bytes) -> List[Dict[str, Any]]:
  """One labelled example -> one dict per review (feature name -> value).

  Bytes come back as bytes, numbers as int/float, the vote histogram as a
  list of 10 ints; the image's features are repeated on each review's dict.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  feats = tf.train.Example.FromString(serialized).features.feature
  per_review = set(F.REVIEW_LEVEL_KEYS + F.REVIEW_LEVEL_EVAL_KEYS)

  def values(key):
    f = feats[key]
    return list(getattr(f, f.WhichOneof("kind")).value)

  n = len(values(F.USER_KEY))
  image = {}
  for key in feats:
    if key in per_review:
      continue
    v = values(key)
    image[key] = v if key in F.VECTOR_INT_FEATURES else v[0]
  rows = [dict(image) for _ in range(n)]
  for key in per_review & set(feats):
    v = values(key)
    if len(v) != n:
      raise ValueError(f"{key} has {len(v)} values for {n} reviews")
    for row, x in zip(rows, v):
      row[key] = x
  return rows


def one_review_examples(serialized: bytes, held_out_only: bool = False
                        ) -> List[bytes]:
  """One labelled example -> one serialized example per review (the
  serving contract: a request is one review), the image's features on each;
  ``held_out_only``: of its held-out reviews only (``F.HELD_OUT_KEY``).

  An example holds one image with all its reviews; this is how they are
  sent to the serving signatures one by one.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  example = tf.train.Example.FromString(serialized)
  feats = example.features.feature
  per_review = [k for k in F.REVIEW_LEVEL_KEYS + F.REVIEW_LEVEL_EVAL_KEYS
                if k in feats]
  n = len(getattr(feats[F.USER_KEY], feats[F.USER_KEY].WhichOneof(
      "kind")).value) if F.USER_KEY in feats else 0
  marks = (list(feats[F.HELD_OUT_KEY].int64_list.value)
           if F.HELD_OUT_KEY in feats else [0] * n)
  out = []
  for i in range(n):
    if held_out_only and not marks[i]:
      continue
    one = tf.train.Example()
    one.CopyFrom(example)
    for key in per_review:
      f = one.features.feature[key]
      values = getattr(f, f.WhichOneof("kind")).value
      if len(values) != n:
        raise ValueError(f"{key} has {len(values)} values for {n} reviews")
      keep = values[i]
      del values[:]
      values.append(keep)
    out.append(one.SerializeToString(deterministic=True))
  return out

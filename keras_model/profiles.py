"""User profile text: what the review branch reads when no review is given.

The paper feeds the pair's own review to the model, but the personal label was
derived from that very review and an unseen photo has no review yet. A user's
*profile* is the concatenation of up to ``profile_max_reviews`` of their
training reviews (token ids after Transform), truncated to ``profile_len``.

* Serving: one profile row per user index, carried inside the SavedModel
  (``ProfileTable.tokens``), looked up by the transformed user index.
* Training (review-free path): the profile of the example's user *without the
  example's own review* (``ProfileTable.rows`` + ``slot``), so the model never
  sees the review it is being labelled by.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, Tuple

import numpy as np
import tensorflow as tf

from preprocessing import features as F


@dataclasses.dataclass
class ProfileTable:
  """Per-user review rows and the serving profile built from them.

  Attributes:
    rows: int32 [num_users, R, L] token ids of up to R reviews per user.
    tokens: int32 [num_users, P] serving profile (all rows compacted).
    slots: dict (user_index, image_index) -> row slot of that review.
  """
  rows: np.ndarray
  tokens: np.ndarray
  slots: Dict[Tuple[int, int], int]

  @property
  def num_users(self) -> int:
    return self.rows.shape[0]


def compact_tokens(rows: np.ndarray | tf.Tensor, length: int) -> tf.Tensor:
  """[..., R, L] token rows -> [..., length]: non-pad tokens in order.

  Works batched in TensorFlow (used inside tf.data and at build time).
  """
  rows = tf.convert_to_tensor(rows)
  shape = tf.shape(rows)
  flat = tf.reshape(rows, tf.concat([shape[:-2], [-1]], axis=0))
  n = tf.shape(flat)[-1]
  is_tok = tf.not_equal(flat, F.PAD_TOKEN_ID)
  # Stable sort key: real tokens keep their order, pads go to the end.
  pos = tf.range(n)
  key = tf.where(is_tok, pos, pos + n)
  order = tf.argsort(key, axis=-1, stable=True)
  packed = tf.gather(flat, order, batch_dims=len(rows.shape) - 2)
  pad_width = tf.maximum(length - n, 0)
  paddings = tf.concat(
      [tf.zeros([tf.rank(packed) - 1, 2], tf.int32), [[0, pad_width]]], 0)
  packed = tf.pad(packed, paddings, constant_values=F.PAD_TOKEN_ID)
  return packed[..., :length]


def build_profile_table(users: Iterable[int], images: Iterable[int],
                        reviews: Iterable[np.ndarray], *, num_users: int,
                        max_reviews: int, review_len: int,
                        profile_len: int) -> ProfileTable:
  """Builds profiles from training (user, image, review tokens) triples.

  The first ``max_reviews`` reviews of each user in data order are used.
  Users without training reviews (and the OOV index) get an empty profile.
  """
  rows = np.zeros((num_users, max_reviews, review_len), np.int32)
  filled = np.zeros(num_users, np.int32)
  slots: Dict[Tuple[int, int], int] = {}
  for u, v, r in zip(users, images, reviews):
    u = int(u)
    if not 0 <= u < num_users or filled[u] >= max_reviews:
      continue
    r = np.asarray(r, np.int32)[:review_len]
    rows[u, filled[u], :len(r)] = r
    slots[(u, int(v))] = int(filled[u])
    filled[u] += 1
  tokens = compact_tokens(rows, profile_len).numpy().astype(np.int32)
  return ProfileTable(rows=rows, tokens=tokens, slots=slots)


class TrainingProfiles:
  """TF-side lookups of a ProfileTable for the training input pipeline."""

  def __init__(self, table: ProfileTable, num_images: int, profile_len: int):
    self._rows = tf.constant(table.rows)
    self._num_images = tf.constant(num_images, tf.int64)
    self._len = profile_len
    self._max_reviews = table.rows.shape[1]
    if table.slots:
      keys = np.array([u * num_images + v for (u, v) in table.slots],
                      np.int64)
      vals = np.array(list(table.slots.values()), np.int64)
    else:  # empty tables are not allowed; a key that never matches
      keys, vals = np.array([-1], np.int64), np.array([-1], np.int64)
    self._slots = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, vals), default_value=-1)

  def leave_one_out(self, user: tf.Tensor, image: tf.Tensor) -> tf.Tensor:
    """[B] user, image indices -> [B, P] profile without that pair's review."""
    user = tf.cast(user, tf.int64)
    slot = self._slots.lookup(user * self._num_images +
                              tf.cast(image, tf.int64))
    rows = tf.gather(self._rows, user)  # [B, R, L]
    drop = tf.one_hot(slot, self._max_reviews, on_value=True,
                      off_value=False, dtype=tf.bool)  # slot -1 -> no drop
    rows = tf.where(drop[..., None], tf.zeros_like(rows), rows)
    return tf.cast(compact_tokens(rows, self._len), tf.int64)

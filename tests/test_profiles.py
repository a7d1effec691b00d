"""Tests of keras_model/profiles.py: user profile texts for review-free use."""
from __future__ import annotations

import numpy as np
import pytest

from keras_model import profiles
from preprocessing import features as F


def _np(x) -> np.ndarray:
  return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


# --------------------------------------------------------------------------
# compact_tokens
# --------------------------------------------------------------------------
def test_compact_tokens_hand_example():
  rows = np.array([[1, 2, 0], [0, 0, 0], [3, 0, 0]], np.int32)
  assert _np(profiles.compact_tokens(rows, 4)).tolist() == [1, 2, 3, 0]


def test_compact_tokens_keeps_order_and_pads_to_length():
  rows = np.array([[5, 0, 7], [0, 9, 0]], np.int64)  # inner pads too
  out = _np(profiles.compact_tokens(rows, 8))
  assert out.tolist() == [5, 7, 9, 0, 0, 0, 0, 0]
  assert out.dtype == np.int64


def test_compact_tokens_truncates():
  rows = np.array([[1, 2, 0], [0, 0, 0], [3, 4, 0]], np.int32)
  assert _np(profiles.compact_tokens(rows, 2)).tolist() == [1, 2]
  assert _np(profiles.compact_tokens(rows, 4)).tolist() == [1, 2, 3, 4]


def test_compact_tokens_all_padding():
  rows = np.zeros((3, 4), np.int32)
  assert _np(profiles.compact_tokens(rows, 5)).tolist() == [0] * 5


def test_compact_tokens_batched():
  rows = np.array([
      [[1, 2, 0], [0, 0, 0], [3, 0, 0]],
      [[0, 0, 0], [4, 5, 6], [7, 0, 0]],
      [[0, 0, 0], [0, 0, 0], [0, 0, 0]],
  ], np.int32)
  out = _np(profiles.compact_tokens(rows, 4))
  assert out.shape == (3, 4)
  assert out.tolist() == [[1, 2, 3, 0], [4, 5, 6, 7], [0, 0, 0, 0]]
  # Same result row by row.
  for b in range(3):
    assert _np(profiles.compact_tokens(rows[b], 4)).tolist() == \
        out[b].tolist()


def test_compact_tokens_two_batch_dims():
  rows = np.arange(1, 2 * 3 * 2 * 2 + 1).reshape(2, 3, 2, 2) % 3
  out = _np(profiles.compact_tokens(rows, 6))
  assert out.shape == (2, 3, 6)
  for i in range(2):
    for j in range(3):
      flat = rows[i, j].reshape(-1)
      want = [t for t in flat if t != F.PAD_TOKEN_ID][:6]
      assert out[i, j].tolist() == want + [0] * (6 - len(want))


# --------------------------------------------------------------------------
# build_profile_table
# --------------------------------------------------------------------------
def _table(max_reviews=2, review_len=3, profile_len=6, num_users=4):
  users = [0, 0, 0, 2, 9, -1]
  images = [10, 11, 12, 10, 10, 10]
  reviews = [np.array([1, 2]), np.array([3, 4, 5, 6]), np.array([7]),
             np.array([8, 9, 0]), np.array([1]), np.array([2])]
  return profiles.build_profile_table(
      users, images, reviews, num_users=num_users, max_reviews=max_reviews,
      review_len=review_len, profile_len=profile_len)


def test_build_profile_table_rows_and_slots():
  t = _table()
  assert t.num_users == 4
  assert t.rows.shape == (4, 2, 3) and t.rows.dtype == np.int32
  assert t.tokens.shape == (4, 6) and t.tokens.dtype == np.int32
  # User 0: first two reviews only (max_reviews=2); review 2 truncated to 3.
  assert t.rows[0].tolist() == [[1, 2, 0], [3, 4, 5]]
  assert t.tokens[0].tolist() == [1, 2, 3, 4, 5, 0]
  assert t.slots == {(0, 10): 0, (0, 11): 1, (2, 10): 0}
  assert (0, 12) not in t.slots  # third review of user 0 dropped
  assert t.rows[2].tolist() == [[8, 9, 0], [0, 0, 0]]
  assert t.tokens[2].tolist() == [8, 9, 0, 0, 0, 0]


def test_build_profile_table_unknown_users_get_empty_profiles():
  t = _table()
  # User 1 has no reviews; user 3 plays the OOV index; 9 and -1 are out of
  # range and ignored.
  for u in (1, 3):
    assert not t.rows[u].any()
    assert not t.tokens[u].any()
  assert all(u in (0, 2) for u, _ in t.slots)


def test_build_profile_table_profile_len_truncates():
  t = _table(profile_len=3)
  assert t.tokens[0].tolist() == [1, 2, 3]


# --------------------------------------------------------------------------
# TrainingProfiles.leave_one_out
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def loo():
  users = [0, 0, 0, 1]
  images = [5, 6, 7, 5]
  reviews = [np.array([1, 2]), np.array([3]), np.array([4, 5]),
             np.array([6, 7])]
  table = profiles.build_profile_table(
      users, images, reviews, num_users=3, max_reviews=3, review_len=2,
      profile_len=6)
  return table, profiles.TrainingProfiles(table, num_images=10,
                                          profile_len=6)


def test_leave_one_out_drops_exactly_the_own_review(loo):
  table, tp = loo
  assert table.tokens[0].tolist() == [1, 2, 3, 4, 5, 0]
  out = _np(tp.leave_one_out(np.array([0, 0, 0, 1]), np.array([5, 6, 7, 5])))
  assert out.dtype == np.int64
  assert out.tolist() == [
      [3, 4, 5, 0, 0, 0],  # without (0, 5): [1, 2]
      [1, 2, 4, 5, 0, 0],  # without (0, 6): [3]
      [1, 2, 3, 0, 0, 0],  # without (0, 7): [4, 5]
      [0, 0, 0, 0, 0, 0],  # user 1's only review removed
  ]


def test_leave_one_out_pair_not_in_table_gets_full_profile(loo):
  table, tp = loo
  out = _np(tp.leave_one_out(np.array([0, 1, 2]), np.array([9, 6, 5])))
  assert out[0].tolist() == table.tokens[0].tolist()  # (0, 9) unseen
  assert out[1].tolist() == table.tokens[1].tolist() == [6, 7, 0, 0, 0, 0]
  assert out[2].tolist() == [0] * 6  # user without reviews


def test_leave_one_out_inside_tf_function(loo):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  _, tp = loo
  ds = tf.data.Dataset.from_tensor_slices(
      (np.array([0, 0], np.int64), np.array([6, 8], np.int64))).batch(2)
  ds = ds.map(tp.leave_one_out)
  (out,) = list(ds)
  assert out.numpy().tolist() == [[1, 2, 4, 5, 0, 0], [1, 2, 3, 4, 5, 0]]


def test_empty_table_is_allowed():
  table = profiles.build_profile_table(
      [], [], [], num_users=2, max_reviews=2, review_len=2, profile_len=3)
  assert table.slots == {}
  tp = profiles.TrainingProfiles(table, num_images=4, profile_len=3)
  out = _np(tp.leave_one_out(np.array([0, 1]), np.array([0, 3])))
  assert out.tolist() == [[0, 0, 0], [0, 0, 0]]

"""Benchmark helpers: the Trainer-input feeds and the Transform marginal rate.

``benchmarks.trainer_input`` compares steps/s fed from TFRecords with the
same batches held in memory. Batches of the image-major input hold as many
decoded images as they have distinct ones, so the in-memory feed must replay
exactly those batches, variable first dimensions included.
"""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import trainer_input


def _batch(rows, images, seed):
  rng = np.random.default_rng(seed)
  x = {"pixels": tf.constant(rng.random((images, 2, 2, 3), np.float32)),
       "slot": tf.constant(rng.integers(0, images, rows), tf.int64)}
  y = {"label": tf.constant(rng.random((rows, 1), np.float32))}
  return x, y


def test_materialised_replays_variable_size_batches_in_order():
  batches = [_batch(32, 9, 0), _batch(32, 11, 1), _batch(7, 3, 2)]
  got = list(trainer_input.materialised(batches))
  assert len(got) == len(batches)
  for (gx, gy), (bx, by) in zip(got, batches):
    assert set(gx) == set(bx) and set(gy) == set(by)
    for k in bx:
      np.testing.assert_array_equal(gx[k].numpy(), bx[k].numpy())
    for k in by:
      np.testing.assert_array_equal(gy[k].numpy(), by[k].numpy())


def test_materialised_repeats_the_same_batches():
  batches = [_batch(4, 2, 3), _batch(5, 1, 4)]
  got = list(trainer_input.materialised(batches).repeat(2))
  assert [int(x["pixels"].shape[0]) for x, _ in got] == [2, 1, 2, 1]


def test_transform_marginal_rate_excludes_the_fixed_cost():
  """Transform's rate between the two largest runs: a fixed 12 s of start-up
  cancels out, leaving the images added over the seconds added."""
  # pylint: disable=g-import-not-at-top
  from benchmarks import preprocess
  from benchmarks import run_all
  # pylint: enable=g-import-not-at-top
  rows = [{"images": n, "transform_s": 12.0 + n / 500.0}
          for n in (100, 1000, 10000)]
  assert preprocess.transform_marginal_rate(rows) == pytest.approx(500.0)
  assert preprocess.transform_marginal_rate(rows[:1]) is None
  line = run_all.marginal_line(
      rows, {"raw_decode_resize_cpu_images_per_s": 10000.0})
  assert "500 images/s" in line and "0.050x" in line

"""Held-out reviews stored inside training examples never reach training.

build-examples stores each image once: a warm image's training example holds
its training reviews and its held-out eval reviews, marked
``features.HELD_OUT_KEY``. The guarantee tested here: Transform's
vocabularies and the Trainer's training rows are exactly what they would be
if the held-out reviews were not stored there at all, and the held-out rows
the evaluation reads are exactly the marked reviews.
"""
from __future__ import annotations

import collections
import glob
import os

import numpy as np
import pytest

from preprocessing import features as F
from tests.conftest import TINY_MIN_TAG_IMAGES

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
VOCABS = (F.USER_VOCAB, F.IMAGE_VOCAB, F.TAG_VOCAB, F.REVIEW_VOCAB)


def _strip_held_out(serialized: bytes) -> bytes:
  """The same example without its held-out reviews."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  example = tf.train.Example.FromString(serialized)
  feats = example.features.feature
  keep = [not h for h in feats[F.HELD_OUT_KEY].int64_list.value]
  for key in F.REVIEW_LEVEL_KEYS + F.REVIEW_LEVEL_EVAL_KEYS:
    values = getattr(feats[key], feats[key].WhichOneof("kind")).value
    kept = [v for v, k in zip(values, keep) if k]
    del values[:]
    values.extend(kept)
  return example.SerializeToString(deterministic=True)


def _write(path: str, records) -> None:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with tf.io.TFRecordWriter(path) as w:
    for r in records:
      w.write(r)


def _rows(out_dir: str, held_out: bool):
  """Sorted per-review rows of every transformed column but the mark."""
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from keras_model import inputs  # pylint: disable=g-import-not-at-top
  tft_output = tft.TFTransformOutput(os.path.join(out_dir, "transform_fn"))
  columns = sorted(set(tft_output.transformed_feature_spec()) -
                   {F.HELD_OUT_KEY})
  cols = inputs.Rows.from_files(
      [os.path.join(out_dir, "transformed", "*")], tft_output,
      held_out=held_out).collect(columns)
  n = len(cols[F.USER_XF])
  return sorted(tuple(np.asarray(cols[c][i]).tobytes() for c in columns)
                for i in range(n))


@pytest.fixture(scope="module")
def transformed(tmp_path_factory, tiny_demo_data):
  """Transform on the training split as built, and on the same split with
  the held-out reviews removed; (built examples, both output dirs)."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from preprocessing import build_examples
  from preprocessing import config as cfg_lib
  from preprocessing import transform
  # pylint: enable=g-import-not-at-top
  root = tmp_path_factory.mktemp("held_out")
  out = str(root / "examples")
  build_examples.run(tiny_demo_data, out, min_tag_images=TINY_MIN_TAG_IMAGES,
                     beam_args=BEAM_ARGS)
  files = sorted(glob.glob(os.path.join(
      out, build_examples.EXAMPLES_SUBDIR,
      build_examples.split_file_pattern(F.TRAIN_SPLIT))))
  built = [r.numpy() for r in tf.data.TFRecordDataset(files)]
  cfg = cfg_lib.get_config("cpu")
  dirs = {}
  for name, records in (("built", built),
                        ("stripped", [_strip_held_out(r) for r in built])):
    _write(str(root / name / "in" / "train.tfrecord"), records)
    dirs[name] = transform.run_transform(
        str(root / name / "in" / "*"), str(root / name / "out"), cfg,
        BEAM_ARGS)
  return built, dirs


def test_training_examples_hold_held_out_reviews(transformed):
  """Not vacuous: the training split holds held-out reviews, and some of
  their words occur in no training review."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from preprocessing import labelled
  from preprocessing import transform
  # pylint: enable=g-import-not-at-top
  built, _ = transformed
  rows = [r for ex in built for r in labelled.review_rows(ex)]
  marks = collections.Counter(r[F.HELD_OUT_KEY] for r in rows)
  assert marks[0] > 0 and marks[1] > 0, marks

  def words(held):
    text = [r[F.REVIEW_KEY] for r in rows if r[F.HELD_OUT_KEY] == held]
    return set(transform.tokenize_reviews(tf.constant(text)).flat_values
               .numpy().tolist())
  assert words(1) - words(0)


def test_vocabularies_ignore_held_out_reviews(transformed):
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  _, dirs = transformed
  got = {name: tft.TFTransformOutput(os.path.join(d, "transform_fn"))
         for name, d in dirs.items()}
  for vocab in VOCABS:
    assert (got["built"].vocabulary_by_name(vocab) ==
            got["stripped"].vocabulary_by_name(vocab)), vocab


def test_training_rows_are_the_training_reviews_only(transformed):
  built, dirs = transformed
  rows = _rows(dirs["built"], held_out=False)
  assert rows == _rows(dirs["stripped"], held_out=False)
  from preprocessing import labelled  # pylint: disable=g-import-not-at-top
  assert len(rows) == sum(1 for ex in built
                          for r in labelled.review_rows(ex)
                          if not r[F.HELD_OUT_KEY])


def test_held_out_rows_are_the_marked_reviews(transformed):
  from preprocessing import labelled  # pylint: disable=g-import-not-at-top
  built, dirs = transformed
  marked = [r for ex in built for r in labelled.review_rows(ex)
            if r[F.HELD_OUT_KEY]]
  assert len(_rows(dirs["built"], held_out=True)) == len(marked)
  assert _rows(dirs["stripped"], held_out=True) == []

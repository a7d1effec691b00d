"""Fast tests of the training core (keras_model/training.py, inputs.py).

In-memory rows (no Transform): the epoch arithmetic, the row roles
(calibration hold-out, validation carve-out), one pointwise and one pairwise
fit, determinism for a seed, early stopping on training rows, and that the
TFRecord and in-memory paths give the same batches. The Trainer's full path
(``run_fn`` on a Transform output) is in tests/test_experiment.py (slow).
"""
from __future__ import annotations

import functools
import types
from typing import Optional

import keras_model  # noqa: F401  (pins Keras 3 before TF is imported)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_model import calibration  # noqa: E402
from keras_model import inputs  # noqa: E402
from keras_model import training  # noqa: E402
from preprocessing import config  # noqa: E402
from preprocessing import features as F  # noqa: E402

NUM_USERS, NUM_IMAGES, NUM_TAGS, VOCAB = 20, 25, 4, 30
CPU = config.get_config("cpu", batch_size=16, train_steps=4)
VOCAB_SIZES = types.SimpleNamespace(
    known_users=NUM_USERS - 1, num_users=NUM_USERS, num_images=NUM_IMAGES,
    num_tags=NUM_TAGS, review_vocab_size=VOCAB,
    tag_names=[f"t{i}" for i in range(NUM_TAGS - 1)])


def _columns(n: int = 240, seed: int = 0) -> dict:
  rng = np.random.default_rng(seed)
  s = CPU.image_size
  jpegs = [tf.io.encode_jpeg(rng.integers(0, 255, (s, s, 3)).astype(
      np.uint8)).numpy() for _ in range(NUM_IMAGES)]
  # Distinct (user, image) pairs, like reviews.
  pairs = rng.choice(NUM_USERS * (NUM_IMAGES - 1), n, replace=False)
  users, images = pairs // (NUM_IMAGES - 1), pairs % (NUM_IMAGES - 1)
  return {
      F.USER_XF: users.astype(np.int64),
      F.IMAGE_ID_XF: images.astype(np.int64),
      F.REVIEW_XF: rng.integers(0, VOCAB, (n, CPU.max_review_len)),
      F.IMAGE_XF: np.array([jpegs[i] for i in images], dtype=object),
      F.TAG_XF: images % NUM_TAGS,
      F.LABEL_KEY: rng.integers(0, 2, n),
      F.AGNOSTIC_LABEL_KEY: (images % 2).astype(np.int64),
      # what each review says the photo looks like (features.SAID_KEY)
      F.SAID_KEY: rng.integers(0, 3 ** len(F.SAID_ATTRIBUTES), n),
  }


def _train(variant: str, cols: dict, **options) -> training.Trained:
  cfg = CPU.replace(variant=variant, seed=3)
  opts = {"steps": 4, **options}
  return training.train(inputs.Rows.from_columns(cols), VOCAB_SIZES, cfg,
                        training.FitOptions(**opts))


def test_epoch_plan_by_hand():
  # 100 rows / 16 = 7 batches per epoch; 20 steps -> 3 epochs of 7.
  assert training.epoch_plan(20, 100, 16) == (7, 3)
  # Fewer steps than one epoch: one epoch of exactly those steps.
  assert training.epoch_plan(4, 100, 16) == (4, 1)
  # No rows still gives one step.
  assert training.epoch_plan(5, 0, 16) == (1, 5)


def test_row_roles_hold_out_calibration_and_carve_validation():
  rng = np.random.default_rng(0)
  u, i = rng.integers(0, 500, 4000), rng.integers(0, NUM_IMAGES, 4000)
  none = training.row_roles(u, i, NUM_IMAGES, holdout_calibration=False,
                            validation_fraction=0.0).numpy()
  assert (none == training.ROLE_FIT).all()
  cal = training.row_roles(u, i, NUM_IMAGES, holdout_calibration=True,
                           validation_fraction=0.0).numpy()
  np.testing.assert_array_equal(
      cal, calibration.row_part(u, i, NUM_IMAGES).numpy())
  both = training.row_roles(u, i, NUM_IMAGES, holdout_calibration=True,
                            validation_fraction=0.2).numpy()
  # Calibration rows keep their part; validation comes out of the fit rows
  # only, at about the asked share.
  np.testing.assert_array_equal(both[cal > 0], cal[cal > 0])
  val = both == training.ROLE_VALIDATION
  assert not (val & (cal > 0)).any()
  assert 0.15 < val.sum() / (cal == 0).sum() < 0.25
  again = training.row_roles(u, i, NUM_IMAGES, holdout_calibration=True,
                             validation_fraction=0.2).numpy()
  np.testing.assert_array_equal(again, both)


def test_fit_options_reject_early_stopping_without_validation():
  with pytest.raises(ValueError, match="validation"):
    training.FitOptions(steps=3, patience=2)
  with pytest.raises(ValueError, match="steps"):
    training.FitOptions(steps=0)


def _image_major_files(cols: dict, directory,
                       vote_only: Optional[dict] = None
                       ) -> types.SimpleNamespace:
  """Writes ``cols`` as Transform writes its output: one GZIP record per
  image with its reviews' values ragged (``features.REVIEW_LEVEL_XF``) and
  the image's once, and after each image of ``vote_only`` (image-level
  columns) a record with no reviews; returns a stand-in for the Transform
  output (its transformed feature spec)."""
  directory.mkdir()
  ragged = functools.partial(tf.io.RaggedFeature, row_splits_dtype=tf.int64)
  spec = {}
  for k, v in cols.items():
    dtype = tf.string if v.dtype == object else tf.int64
    if k not in F.REVIEW_LEVEL_XF:
      spec[k] = tf.io.FixedLenFeature(list(v.shape[1:]), dtype)
    elif v.ndim == 2:
      spec[k] = ragged(dtype, value_key=k, partitions=[
          tf.io.RaggedFeature.UniformRowLength(v.shape[1])])
    else:
      spec[k] = ragged(dtype, value_key=k)

  def feature(values):
    if values.dtype == object:
      return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
    return tf.train.Feature(int64_list=tf.train.Int64List(
        value=values.reshape(-1).tolist()))

  with tf.io.TFRecordWriter(str(directory / "part-0.gz"),
                            options="GZIP") as w:
    extra = iter(range(len(vote_only[F.IMAGE_ID_XF])) if vote_only else ())
    for image in np.unique(cols[F.IMAGE_ID_XF]):
      rows = np.flatnonzero(cols[F.IMAGE_ID_XF] == image)
      feats = {k: feature(v[rows] if k in F.REVIEW_LEVEL_XF else v[rows[:1]])
               for k, v in cols.items()}
      w.write(tf.train.Example(features=tf.train.Features(
          feature=feats)).SerializeToString())
      j = next(extra, None)
      if j is not None:
        feats = {k: feature(v[:0] if k in F.REVIEW_LEVEL_XF else
                            vote_only[k][j:j + 1]) for k, v in cols.items()}
        w.write(tf.train.Example(features=tf.train.Features(
            feature=feats)).SerializeToString())
  return types.SimpleNamespace(transformed_feature_spec=lambda: spec)


def _by_image(cols: dict) -> dict:
  order = np.argsort(cols[F.IMAGE_ID_XF], kind="stable")
  return {k: v[order] for k, v in cols.items()}


def test_files_and_columns_give_the_same_rows(tmp_path):
  """The TFRecord path (image-major records, one row per review read back)
  gives what the in-memory path holds, and counts reviews, not records."""
  cols = _by_image(_columns(50))
  names = list(cols)
  tft_output = _image_major_files(cols, tmp_path / "rows")
  files = inputs.Rows.from_files([str(tmp_path / "rows")], tft_output)
  from_files = files.collect(names)
  from_memory = inputs.Rows.from_columns(cols).collect(names)
  for k in names:
    np.testing.assert_array_equal(from_files[k], from_memory[k])
  assert files.num_rows() == 50 > len(np.unique(cols[F.IMAGE_ID_XF]))


def test_records_without_reviews_are_vote_only_images(tmp_path):
  """Image-major records with no review (an image with votes only) add no
  row; ``vote_only_images`` gives their image-level columns, from files or
  from columns alike, and refuses a review-level column."""
  cols = _by_image(_columns(50))
  image_cols = [k for k in cols if k not in F.REVIEW_LEVEL_XF]
  rng = np.random.default_rng(5)
  jpeg = tf.io.encode_jpeg(rng.integers(0, 255, (4, 4, 3)).astype(
      np.uint8)).numpy()
  extra = {F.IMAGE_ID_XF: np.array([90, 91, 92]),
           F.IMAGE_XF: np.array([jpeg] * 3, dtype=object),
           F.TAG_XF: np.array([1, 0, 2]),
           F.AGNOSTIC_LABEL_KEY: np.array([1, 0, 1])}
  files = inputs.Rows.from_files(
      [str(tmp_path / "rows")],
      _image_major_files(cols, tmp_path / "rows", vote_only=extra))
  assert files.num_rows() == 50
  np.testing.assert_array_equal(files.collect([F.IMAGE_ID_XF])[F.IMAGE_ID_XF],
                                cols[F.IMAGE_ID_XF])
  got = files.vote_only_images(image_cols)
  memory = inputs.Rows.from_columns(cols, vote_only=extra)
  for k in image_cols:
    np.testing.assert_array_equal(got[k], extra[k])
    np.testing.assert_array_equal(memory.vote_only_images(image_cols)[k],
                                  extra[k])
  none = inputs.Rows.from_columns(cols).vote_only_images(image_cols)
  assert all(len(v) == 0 for v in none.values())
  with pytest.raises(ValueError, match="review-level"):
    files.vote_only_images([F.IMAGE_ID_XF, F.LABEL_KEY])


def test_shuffled_file_batches_visit_every_review_once_by_image(tmp_path):
  """Training batches from image-major files: every review once per epoch,
  an image's reviews together (fewer distinct images than rows), images
  mixed from all over the data, and a different order each epoch."""
  cols = _by_image(_columns(240))
  rows = inputs.Rows.from_files(
      [str(tmp_path / "rows")], _image_major_files(cols, tmp_path / "rows"))
  ds = rows.batches(CPU.batch_size, shuffle=True, seed=1,
                    columns=[F.USER_XF, F.IMAGE_ID_XF])
  epochs = [list(ds), list(ds)]
  for batches in epochs:
    assert all(int(b[F.USER_XF].shape[0]) == CPU.batch_size
               for b in batches[:-1])
    seen = np.concatenate([b[F.USER_XF].numpy() * NUM_IMAGES +
                           b[F.IMAGE_ID_XF].numpy() for b in batches])
    np.testing.assert_array_equal(
        np.sort(seen), np.sort(cols[F.USER_XF] * NUM_IMAGES +
                               cols[F.IMAGE_ID_XF]))
    images = sum(len(np.unique(b[F.IMAGE_ID_XF].numpy())) for b in batches)
    assert images <= len(seen) / 2
    first = [int(b[F.IMAGE_ID_XF].numpy().min()) for b in batches]
    assert first != sorted(first)
  assert not np.array_equal(epochs[0][0][F.USER_XF], epochs[1][0][F.USER_XF])
  # A fresh dataset with the same seed gives the same batches (reproducible
  # training; the Trainer-input benchmark times exactly these batches).
  again = list(rows.batches(CPU.batch_size, shuffle=True, seed=1,
                            columns=[F.USER_XF, F.IMAGE_ID_XF]))
  for a, b in zip(epochs[0], again):
    np.testing.assert_array_equal(a[F.USER_XF], b[F.USER_XF])


def test_training_shuffle_keeps_an_images_reviews_together_and_mixes():
  """Rows written image by image (as build-examples does): shuffled batches
  visit every row once per epoch, hold fewer distinct images than rows (the
  backbone runs once per image) and mix runs from several images."""
  cols = _columns(240)
  order = np.argsort(cols[F.IMAGE_ID_XF], kind="stable")
  cols = {k: v[order] for k, v in cols.items()}
  batches = list(inputs.Rows.from_columns(cols).batches(
      CPU.batch_size, shuffle=True, seed=1))
  seen = np.concatenate([b[F.USER_XF].numpy() * NUM_IMAGES +
                         b[F.IMAGE_ID_XF].numpy() for b in batches])
  np.testing.assert_array_equal(
      np.sort(seen), np.sort(cols[F.USER_XF] * NUM_IMAGES +
                             cols[F.IMAGE_ID_XF]))
  rows = sum(int(b[F.USER_XF].shape[0]) for b in batches)
  images = sum(len(np.unique(b[F.IMAGE_ID_XF].numpy())) for b in batches)
  assert images <= rows / 2
  # Not image order: batches mix images from all over the data.
  first = [int(b[F.IMAGE_ID_XF].numpy().min()) for b in batches]
  assert first != sorted(first)
  spread = [np.ptp(b[F.IMAGE_ID_XF].numpy()) for b in batches]
  assert np.median(spread) > NUM_IMAGES / 4


def test_pointwise_fit_is_deterministic_and_scores_every_row():
  cols = _columns()
  a = _train("cfn-1task", cols)
  # 240 rows / 16 = 15 batches per epoch > 4 steps: one epoch of 4.
  assert a.steps == 4 and a.threshold is None
  assert a.rows == {"fit": 240, "calibration": 0, "validation": 0}
  test = inputs.Rows.from_columns(_columns(40, seed=1))
  p = training.predict(a, test, "free", NUM_TAGS)
  assert p[F.PERSONAL_OUTPUT].shape == (40,)
  assert ((p[F.PERSONAL_OUTPUT] > 0) & (p[F.PERSONAL_OUTPUT] < 1)).all()
  # No agnostic head: completed with 0.5 like the export.
  np.testing.assert_array_equal(p[F.AGNOSTIC_OUTPUT], 0.5)
  b = _train("cfn-1task", cols)
  np.testing.assert_array_equal(
      training.predict(b, test, "free", NUM_TAGS)[F.PERSONAL_OUTPUT],
      p[F.PERSONAL_OUTPUT])
  with pytest.raises(ValueError, match="calibration"):
    training.fit_calibration(a, VOCAB_SIZES)


def test_pairwise_fit_chooses_a_threshold_on_the_fit_rows():
  trained = _train("bpr", _columns(), holdout_calibration=True)
  assert trained.threshold is not None
  assert trained.rows["calibration"] > 0
  assert trained.rows["fit"] + trained.rows["calibration"] == 240
  calib = training.fit_calibration(trained, VOCAB_SIZES)
  assert set(calib) == {"review_given", "review_free"}
  assert (calib["review_given"]["fit_rows"] +
          calib["review_given"]["check_rows"]) == trained.rows["calibration"]


def test_early_stopping_on_training_rows():
  """Random labels: the id embeddings overfit, validation loss rises and
  the fit stops before its planned epochs."""
  cols = _columns(400)
  cfg_steps = 600  # 25 batches of 16 per epoch -> 24 epochs planned
  trained = _train("cfn-pure-2task", cols, steps=cfg_steps,
                   validation_fraction=0.25, patience=1)
  rows = trained.rows
  assert rows["validation"] > 50 and rows["calibration"] == 0
  assert rows["fit"] + rows["validation"] == 400
  assert "val_loss" in trained.history
  spe, epochs = training.epoch_plan(cfg_steps, rows["fit"], CPU.batch_size)
  assert len(trained.history["loss"]) < epochs
  assert trained.steps == spe * len(trained.history["loss"])

"""Input pipeline of the training core: transformed rows -> Keras batches.

Transformed rows come from Transform's TFRecords (the TFX Trainer) or from
numpy columns held in memory (``cfan experiment``, which re-splits them);
``Rows`` hides which, so the training core (:mod:`keras_model.training`) has
one code path for both. Batches are dicts of transformed features;
``model_dataset`` turns them into (model inputs, labels) with the review
path chosen per row (own review, serving profile, leave-one-out profile, or
a seeded mix of own review and leave-one-out profile for training).
"""
from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from keras_model import signatures
from keras_model import variants
from preprocessing import features as F
from preprocessing import transform as transform_lib
from preprocessing.config import ModelConfig

# Batch size of passes that only read rows (profiles, column collection).
READ_BATCH_SIZE = 1024
# Review paths of ``model_dataset``.
MODES = ("given", "free", "free_loo", "mixed")
# Transform's output is image-major (features.REVIEW_LEVEL_XF): the training
# split holds one record per image with all its training reviews. Training
# shuffles *images* (a buffer of this many records, reshuffled every epoch)
# and cuts the reviews of consecutive images into batches, so a batch holds
# a few whole images with all their reviews -- the backbone runs once per
# image of the batch (``keras_model.blocks.row_features``) -- while every
# batch still mixes images (and their users) from random places of the data.
IMAGE_SHUFFLE_BUFFER = 2048
# Records parsed per step of the input pipeline before they are cut into
# per-review rows.
RECORDS_PER_PARSE = 64
# In-memory columns (experiments) are per-review rows; they are shuffled as
# runs of consecutive rows, each a ``1 / SHUFFLE_RUNS_PER_BATCH`` share of a
# batch (an image's reviews sit next to each other there too).
SHUFFLE_RUNS_PER_BATCH = 4


def _run_length(batch_size: int) -> int:
  return max(1, batch_size // SHUFFLE_RUNS_PER_BATCH)


class Vocab:
  """Sizes of the Transform vocabularies as the model needs them."""

  def __init__(self, tft_output: tft.TFTransformOutput, cfg: ModelConfig):
    oov = cfg.num_oov_buckets
    self.known_users = tft_output.vocabulary_size_by_name(F.USER_VOCAB)
    self.num_users = self.known_users + oov
    self.num_images = tft_output.vocabulary_size_by_name(F.IMAGE_VOCAB) + oov
    self.tag_names = [t.decode("utf-8") if isinstance(t, bytes) else t
                      for t in tft_output.vocabulary_by_name(F.TAG_VOCAB)]
    self.num_tags = len(self.tag_names) + 1  # + OOV bucket
    # ids: 0 = pad, 1..V = words, V+1..V+oov = OOV buckets
    self.review_vocab_size = (
        tft_output.vocabulary_size_by_name(F.REVIEW_VOCAB) + oov + 1)


def _expand(patterns: Sequence[str]) -> List[str]:
  files: List[str] = []
  for p in patterns:
    files.extend(sorted(tf.io.gfile.glob(p if any(c in p for c in "*?[")
                                         else os.path.join(p, "*"))))
  if not files:
    raise FileNotFoundError(f"no transformed examples match {list(patterns)}")
  return files


def transformed_dataset(file_patterns: Sequence[str],
                        tft_output: tft.TFTransformOutput, batch_size: int,
                        *, shuffle: bool, seed: int,
                        columns: Optional[Sequence[str]] = None,
                        held_out: bool = False) -> tf.data.Dataset:
  """Batched per-review dicts of transformed features from GZIP TFRecords.

  The records are image-major; each batch holds ``batch_size`` reviews
  (the last one fewer), an image's reviews next to each other. A record
  holds an image's training reviews and its held-out ones
  (``features.HELD_OUT_KEY``); only one kind is read.

  Args:
    file_patterns: globs or directories of Transform's output files.
    tft_output: the Transform output (its transformed feature spec).
    batch_size: rows per batch.
    shuffle: shuffle files and images (training; see
      IMAGE_SHUFFLE_BUFFER), else file order.
    seed: shuffle seed.
    columns: the features to parse (default: all).
    held_out: False: the training reviews (what the Trainer learns from);
      True: the held-out ones (evaluation).

  Returns:
    A dataset of {feature name: batched tensor}.

  Raises:
    ValueError: ``held_out`` is asked of data that marks no review held out.
  """
  full = tft_output.transformed_feature_spec()
  spec = {k: full[k] for k in columns} if columns else dict(full)
  # The user column says how many reviews each record holds.
  spec.setdefault(F.USER_XF, full[F.USER_XF])
  marked = F.HELD_OUT_KEY in full
  if held_out and not marked:
    raise ValueError(f"the transformed data has no {F.HELD_OUT_KEY!r} "
                     "feature: no review is marked held out")
  if marked:
    spec.setdefault(F.HELD_OUT_KEY, full[F.HELD_OUT_KEY])
  keep = list(columns) if columns else list(full)
  widths = {k: f.partitions[0].length for k, f in spec.items()
            if isinstance(f, tf.io.RaggedFeature) and f.partitions}
  files = _expand(file_patterns)
  ds = tf.data.Dataset.from_tensor_slices(files)
  if shuffle:
    ds = ds.shuffle(len(files), seed=seed)
  ds = ds.interleave(
      lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
      cycle_length=min(4, len(files)),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
  if shuffle:
    ds = ds.shuffle(IMAGE_SHUFFLE_BUFFER, seed=seed,
                    reshuffle_each_iteration=True)

  def to_rows(records):
    parsed = tf.io.parse_example(records, spec)
    per_row = parsed[F.USER_XF].row_lengths()
    rows = transform_lib.flatten_reviews({k: parsed[k] for k in keep}, per_row)
    if marked:  # one kind of review only (never both: see HELD_OUT_KEY)
      chosen = tf.equal(parsed[F.HELD_OUT_KEY].values, int(held_out))
      rows = {k: tf.boolean_mask(v, chosen) for k, v in rows.items()}
    for k, width in widths.items():
      if k in rows:
        rows[k] = tf.ensure_shape(rows[k], [None, width])
    return rows

  return (ds.batch(RECORDS_PER_PARSE)
          # In order: a seed gives the same batches in every run.
          .map(to_rows, num_parallel_calls=tf.data.AUTOTUNE,
               deterministic=True)
          .rebatch(batch_size))


def vote_only_dataset(file_patterns: Sequence[str],
                      tft_output: tft.TFTransformOutput,
                      columns: Sequence[str]) -> tf.data.Dataset:
  """Batches of the image-level ``columns`` of the records with no review.

  Those records are images with AVA votes and no kept review (the image
  model of the ``residual`` default learns their vote distribution); the
  per-review batches of ``transformed_dataset`` never show them.

  Raises:
    ValueError: a column is review-level (it has no value in such a record).
  """
  review_level = sorted(set(columns) & set(F.REVIEW_LEVEL_XF))
  if review_level:
    raise ValueError(f"{review_level} are review-level; a record with no "
                     "review has no value for them")
  full = tft_output.transformed_feature_spec()
  users = {F.USER_XF: full[F.USER_XF]}
  spec = {k: full[k] for k in columns}
  ds = tf.data.TFRecordDataset(_expand(file_patterns),
                               compression_type="GZIP")

  def images_without_reviews(records):
    # The user ids say which records hold no review; only those records'
    # photos and votes are parsed (a pass over the training split).
    empty = tf.equal(tf.io.parse_example(records, users)[F.USER_XF]
                     .row_lengths(), 0)
    return tf.io.parse_example(tf.boolean_mask(records, empty), spec)

  return ds.batch(READ_BATCH_SIZE).map(images_without_reviews)


def columns_dataset(cols: Mapping[str, np.ndarray], batch_size: int, *,
                    shuffle: bool, seed: int,
                    columns: Optional[Sequence[str]] = None
                    ) -> tf.data.Dataset:
  """Batched dicts shaped like ``transformed_dataset``'s, from numpy columns.

  Args:
    cols: {transformed feature name: array with one row per example}.
    batch_size: rows per batch.
    shuffle: shuffle runs of consecutive rows (one buffer over every run;
      see SHUFFLE_RUNS_PER_BATCH), else row order.
    seed: shuffle seed.
    columns: the features to keep (default: all of ``cols``).

  Returns:
    A dataset of {feature name: batched tensor}.
  """
  names = list(columns) if columns else list(cols)
  ds = tf.data.Dataset.from_tensor_slices({k: cols[k] for k in names})
  if shuffle:
    run = _run_length(batch_size)
    ds = ds.batch(run).shuffle(
        max(1, -(-len(cols[names[0]]) // run)), seed=seed,
        reshuffle_each_iteration=True).unbatch()
  return ds.batch(batch_size)


class Rows:
  """Transformed rows, from TFRecord files or from numpy columns.

  Build with ``Rows.from_files`` (the Trainer: the training reviews of
  Transform's output, or its held-out reviews to evaluate) or
  ``Rows.from_columns`` (experiments: rows re-split in memory).
  """

  def __init__(self, *, files: Optional[Sequence[str]] = None,
               tft_output: Optional[tft.TFTransformOutput] = None,
               columns: Optional[Mapping[str, np.ndarray]] = None,
               vote_only: Optional[Mapping[str, np.ndarray]] = None,
               held_out: bool = False):
    if (files is None) == (columns is None):
      raise ValueError("Rows need either files (with tft_output) or columns")
    if files is not None and tft_output is None:
      raise ValueError("Rows from files need the Transform output")
    if files is not None and vote_only is not None:
      raise ValueError("Rows from files read their vote-only images there")
    self._files = list(files) if files is not None else None
    self._tft_output = tft_output
    self._columns = dict(columns) if columns is not None else None
    self._vote_only = dict(vote_only) if vote_only is not None else None
    self._held_out = held_out
    self._num_rows: Optional[int] = None

  @classmethod
  def from_files(cls, file_patterns: Sequence[str],
                 tft_output: tft.TFTransformOutput, *,
                 held_out: bool = False) -> "Rows":
    """The training reviews of Transform's output files, or (``held_out``)
    their held-out reviews (``transformed_dataset``)."""
    return cls(files=file_patterns, tft_output=tft_output, held_out=held_out)

  @classmethod
  def from_columns(cls, cols: Mapping[str, np.ndarray],
                   vote_only: Optional[Mapping[str, np.ndarray]] = None
                   ) -> "Rows":
    """Rows of numpy columns, and optionally the image-level columns of the
    images with votes but no review (``vote_only_images``)."""
    return cls(columns=cols, vote_only=vote_only)

  def batches(self, batch_size: int, *, shuffle: bool, seed: int = 0,
              columns: Optional[Sequence[str]] = None) -> tf.data.Dataset:
    """Batched dicts of transformed features (see ``transformed_dataset``)."""
    if self._files is not None:
      return transformed_dataset(self._files, self._tft_output, batch_size,
                                 shuffle=shuffle, seed=seed, columns=columns,
                                 held_out=self._held_out)
    return columns_dataset(self._columns, batch_size, shuffle=shuffle,
                           seed=seed, columns=columns)

  def num_rows(self) -> int:
    """How many rows, i.e. reviews (files: one pass over the user column)."""
    if self._num_rows is None:
      if self._files is not None:
        users = self.batches(READ_BATCH_SIZE, shuffle=False,
                             columns=[F.USER_XF])
        self._num_rows = int(users.reduce(
            np.int64(0), lambda n, b: n + tf.size(b[F.USER_XF],
                                                  tf.int64)).numpy())
      else:
        self._num_rows = (len(next(iter(self._columns.values())))
                          if self._columns else 0)
    return self._num_rows

  def collect(self, columns: Sequence[str]) -> Dict[str, np.ndarray]:
    """The named columns of every row, in row (file) order, as numpy.

    1-D features come back as [N], wider ones as [N, ...]
    (``variants.collect_columns``).
    """
    if self._files is not None:
      return variants.collect_columns(
          self.batches(READ_BATCH_SIZE, shuffle=False, columns=columns),
          columns)
    return {c: np.asarray(self._columns[c]) for c in columns}

  def vote_only_images(self, columns: Sequence[str]) -> Dict[str, np.ndarray]:
    """Image-level ``columns`` of the images with votes and no review, one
    row per image (none for columns given without them)."""
    if self._files is not None and self._held_out:
      return {c: np.zeros((0,)) for c in columns}  # none is held out
    if self._files is not None:
      return variants.collect_columns(
          vote_only_dataset(self._files, self._tft_output, columns), columns)
    if self._vote_only is None:
      return {c: np.asarray(self._columns[c])[:0] for c in columns}
    return {c: np.asarray(self._vote_only[c]) for c in columns}


def labels_of(batch: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
  """The three heads' labels of a batch of transformed features."""
  return {
      F.PERSONAL_OUTPUT: tf.cast(tf.reshape(batch[F.LABEL_KEY], [-1, 1]),
                                 tf.float32),
      F.AGNOSTIC_OUTPUT: tf.cast(
          tf.reshape(batch[F.AGNOSTIC_LABEL_KEY], [-1, 1]), tf.float32),
      F.TAG_OUTPUT: tf.reshape(batch[F.TAG_XF], [-1]),
  }


def model_dataset(ds: tf.data.Dataset, cfg: ModelConfig, profile_lookup, *,
                  mode: str, seed: int = 0) -> tf.data.Dataset:
  """(features, labels) for Keras from batches of transformed features.

  Args:
    ds: batched transformed features (``Rows.batches``).
    cfg: the model configuration (profile length, review-free share).
    profile_lookup: {"tokens": serving profile per user [U, P], "loo":
      ``profiles.TrainingProfiles``} of the training rows.
    mode: "given" (own review), "free" (profile from the serving table),
      "free_loo" (the user's profile without this pair's review: held-out
      training rows), "mixed" (training: own review or leave-one-out
      profile, at random with probability ``cfg.review_free_prob``).
    seed: seed of the "mixed" draw (with the batch index).

  Returns:
    A dataset of (model input dict, label dict).
  """
  if mode not in MODES:
    raise ValueError(f"unknown review mode {mode!r}; choose from {MODES}")
  serving_profiles = tf.constant(profile_lookup["tokens"], tf.int64)
  loo = profile_lookup.get("loo")

  def to_xy(step, batch):
    review = signatures.pad_review(tf.cast(batch[F.REVIEW_XF], tf.int64),
                                   cfg.profile_len)
    user = tf.cast(tf.reshape(batch[F.USER_XF], [-1]), tf.int64)
    image = tf.cast(tf.reshape(batch[F.IMAGE_ID_XF], [-1]), tf.int64)
    if mode == "given":
      tokens = review
    elif mode == "free":
      tokens = tf.gather(serving_profiles, user)
    elif mode == "free_loo":
      tokens = loo.leave_one_out(user, image)
    else:
      profile = loo.leave_one_out(user, image)
      use_profile = tf.random.stateless_uniform(
          tf.shape(user), seed=tf.stack([tf.cast(seed, tf.int64), step])
      ) < cfg.review_free_prob
      tokens = tf.where(use_profile[:, None], profile, review)
    x = signatures.model_inputs_from_transformed(batch, tokens, cfg)
    return x, labels_of(batch)

  return ds.enumerate().map(to_xy, num_parallel_calls=tf.data.AUTOTUNE
                            ).prefetch(tf.data.AUTOTUNE)

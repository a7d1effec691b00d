"""TFX Trainer entry point ``run_fn`` (referenced by dotted path).

Reads Transform's output, builds user profiles from the training split,
trains CFAN (Eq. 6) with both review paths, evaluates both protocols on the
eval split and exports the hermetic serving SavedModel
(:mod:`keras_model.signatures`).

The model is ``ModelConfig.variant`` of :mod:`keras_model.variants` (default
CFAN-3task): pointwise variants train on the heads they have (Eq. 6 terms),
BPR/VBPR on sampled triples with the pairwise loss, then get their decision
threshold from the training rows.

Review-free training: each training example's review is replaced, with
probability ``review_free_prob``, by its user's profile *minus that review*
(:mod:`keras_model.profiles`), so the same network serves both the paper's
protocol (own review given) and the deployed one (no review yet).
"""
from __future__ import annotations

import json
import logging
import math
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from preprocessing import features as F
from preprocessing import transform as transform_lib
from preprocessing.config import ModelConfig
from keras_model import calibration
from keras_model import cfan
from keras_model import profiles as profiles_lib
from keras_model import signatures
from keras_model import variants

TRAIN_METRICS_FILE = "train_metrics.json"
MODEL_CONFIG_KEY = "model_config"
VARIANT_KEY = "variant"


# ----------------------------------------------------------------------------
# Vocabulary sizes
# ----------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------
# Input pipeline
# ----------------------------------------------------------------------------
def _expand(patterns: List[str]) -> List[str]:
  files: List[str] = []
  for p in patterns:
    files.extend(sorted(tf.io.gfile.glob(p if any(c in p for c in "*?[")
                                         else os.path.join(p, "*"))))
  if not files:
    raise FileNotFoundError(f"no transformed examples match {patterns}")
  return files


def transformed_dataset(file_patterns: List[str],
                        tft_output: tft.TFTransformOutput, batch_size: int,
                        *, shuffle: bool, seed: int,
                        columns: Optional[List[str]] = None) -> tf.data.Dataset:
  """Batched dicts of transformed features read from TFRecords."""
  spec = tft_output.transformed_feature_spec()
  if columns:
    spec = {k: spec[k] for k in columns}
  files = _expand(file_patterns)
  ds = tf.data.Dataset.from_tensor_slices(files)
  if shuffle:
    ds = ds.shuffle(len(files), seed=seed)
  ds = ds.interleave(
      lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
      cycle_length=min(4, len(files)), num_parallel_calls=tf.data.AUTOTUNE,
      deterministic=not shuffle)
  if shuffle:
    ds = ds.shuffle(4096, seed=seed, reshuffle_each_iteration=True)
  ds = ds.batch(batch_size)
  return ds.map(lambda x: tf.io.parse_example(x, spec),
                num_parallel_calls=tf.data.AUTOTUNE)


def labels_of(batch: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
  return {
      F.PERSONAL_OUTPUT: tf.cast(tf.reshape(batch[F.LABEL_KEY], [-1, 1]),
                                 tf.float32),
      F.AGNOSTIC_OUTPUT: tf.cast(
          tf.reshape(batch[F.AGNOSTIC_LABEL_KEY], [-1, 1]), tf.float32),
      F.TAG_OUTPUT: tf.reshape(batch[F.TAG_XF], [-1]),
  }


def model_dataset(ds: tf.data.Dataset, cfg: ModelConfig,
                  profile_lookup, *, mode: str, seed: int = 0
                  ) -> tf.data.Dataset:
  """(features, labels) for Keras.

  mode: "given" (own review), "free" (profile from the serving table),
  "free_loo" (the user's profile without this pair's review: held-out
  training rows), "mixed" (training: own review or leave-one-out profile, at
  random).
  """
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

  return ds.enumerate().map(to_xy, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
      tf.data.AUTOTUNE)


def read_profile_inputs(files: List[str], tft_output: tft.TFTransformOutput
                        ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(user, image, review tokens) of every training example, in file order."""
  ds = transformed_dataset(files, tft_output, 1024, shuffle=False, seed=0,
                           columns=[F.USER_XF, F.IMAGE_ID_XF, F.REVIEW_XF])
  users, images, reviews = [], [], []
  for b in ds:
    users.append(np.reshape(b[F.USER_XF].numpy(), [-1]))
    images.append(np.reshape(b[F.IMAGE_ID_XF].numpy(), [-1]))
    reviews.append(b[F.REVIEW_XF].numpy())
  return (np.concatenate(users), np.concatenate(images),
          np.concatenate(reviews))


# ----------------------------------------------------------------------------
# Evaluation helper (both protocols)
# ----------------------------------------------------------------------------
def evaluate_protocols(model, eval_ds_given, eval_ds_free, steps: Optional[int]
                       ) -> Dict[str, Dict[str, float]]:
  out = {}
  for name, ds in (("review_given", eval_ds_given),
                   ("review_free", eval_ds_free)):
    res = model.evaluate(ds, steps=steps, verbose=0, return_dict=True)
    out[name] = {k: float(v) for k, v in res.items()}
  return out


# ----------------------------------------------------------------------------
# run_fn
# ----------------------------------------------------------------------------
def model_config_from(custom_config: Optional[Dict[str, Any]]) -> ModelConfig:
  from preprocessing import config as cfg_lib  # pylint: disable=g-import-not-at-top
  custom_config = custom_config or {}
  if MODEL_CONFIG_KEY in custom_config:
    return ModelConfig.from_dict(custom_config[MODEL_CONFIG_KEY])
  return cfg_lib.get_config(cfg_lib.DEFAULT_CONFIG)


def run_fn(fn_args) -> None:
  """TFX Trainer callback (``tfx.components.FnArgs``)."""
  cfg = model_config_from(fn_args.custom_config)
  import keras  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(cfg.seed)
  precision = cfan.configure_precision(cfg)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  vocab = Vocab(tft_output, cfg)
  logging.info("CFAN[%s]: users=%d images=%d tags=%d review_vocab=%d "
               "precision=%s", cfg.name, vocab.num_users, vocab.num_images,
               vocab.num_tags, vocab.review_vocab_size, precision)

  # Profiles from the training split only.
  users, images, reviews = read_profile_inputs(fn_args.train_files, tft_output)
  table = profiles_lib.build_profile_table(
      users, images, reviews, num_users=vocab.num_users,
      max_reviews=cfg.profile_max_reviews, review_len=cfg.max_review_len,
      profile_len=cfg.profile_len)
  loo = profiles_lib.TrainingProfiles(table, vocab.num_images, cfg.profile_len)
  lookup = {"tokens": table.tokens, "loo": loo}
  # Calibration rows (temperature scaling) are held out of training.
  parts = calibration.row_part(users, images, vocab.num_images).numpy()
  n_train = int((parts == 0).sum())

  variant = variants.get_variant(cfg.variant)
  total_steps = int(fn_args.train_steps or cfg.train_steps)

  def train_rows(shuffle: bool, columns=None):
    return select_rows(transformed_dataset(
        fn_args.train_files, tft_output, cfg.batch_size, shuffle=shuffle,
        seed=cfg.seed, columns=columns), vocab.num_images, (0,),
                       cfg.batch_size)

  if variant.pairwise:  # BPR/VBPR: triples (u, i, j), keras_model.variants
    columns = variants.pairwise_columns(variant)
    train_ds = variants.pairwise_dataset(
        variants.collect_columns(train_rows(False, columns), columns), cfg,
        visual=variant.uses_pixels, num_images=vocab.num_images,
        steps=total_steps, seed=cfg.seed)
  else:
    train_ds = model_dataset(train_rows(True).repeat(), cfg, lookup,
                             mode=variant.train_mode, seed=cfg.seed)

  def eval_ds(mode):
    return model_dataset(
        transformed_dataset(fn_args.eval_files, tft_output, cfg.batch_size,
                            shuffle=False, seed=cfg.seed), cfg, lookup,
        mode=mode)

  strategy = cfan.distribution_strategy()
  with strategy.scope():
    model = variant(cfg, num_users=vocab.num_users,
                    num_images=vocab.num_images, num_tags=vocab.num_tags,
                    review_vocab_size=vocab.review_vocab_size)
    # The compiled view drops the attention output (no label) and shares
    # every weight with ``model``, which is what gets exported (BPR/VBPR:
    # the pairwise model over triples, keras_model.variants).
    train_model = variants.compile_variant(variant, model, cfg)
    eval_model = variants.evaluation_model(variant, model, train_model, cfg)
  if not variant.pairwise:
    train_ds = variants.fit_dataset(train_model, train_ds)
  steps_per_epoch = max(1, min(total_steps,
                               math.ceil(n_train / cfg.batch_size)))
  epochs = max(1, math.ceil(total_steps / steps_per_epoch))
  callbacks = [keras_tensorboard(fn_args.model_run_dir)]
  logging.info("training %d steps (%d epochs x %d) on %d examples", total_steps,
               epochs, steps_per_epoch, n_train)
  history = train_model.fit(train_ds, steps_per_epoch=steps_per_epoch, epochs=epochs,
                      validation_data=None if variant.pairwise else
                      variants.fit_dataset(eval_model, eval_ds("free")),
                      validation_steps=fn_args.eval_steps or None,
                      callbacks=callbacks, verbose=2)
  bpr_threshold = None
  if variant.pairwise:  # decision threshold t of sigma(x_ui - t)
    bpr_threshold = variants.fit_threshold(model, model_dataset(
        train_rows(False), cfg, lookup, mode="given"))

  results = evaluate_protocols(
      eval_model, variants.fit_dataset(eval_model, eval_ds("given")),
      variants.fit_dataset(eval_model, eval_ds("free")), steps=None)
  logging.info("eval (both protocols): %s", results)
  if F.PERSONAL_OUTPUT in variants.heads(model):
    calib = fit_calibration(model, fn_args.train_files, tft_output, cfg,
                            lookup, vocab.num_images)
  else:  # image-only variant: its personal score is the agnostic head's
    calib = {p: calibration.decide(*([np.zeros(0)] * 4))
             for p in ("review_given", "review_free")}
  logging.info("calibration: %s", calib)
  os.makedirs(fn_args.model_run_dir, exist_ok=True)
  with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir,
                                      TRAIN_METRICS_FILE), "w") as fh:
    json.dump({"config": cfg.to_dict(), "variant": variant.name,
               "bpr_threshold": bpr_threshold, "train_examples": n_train,
               "calibration_examples": int((parts > 0).sum()),
               "calibration": calib,
               "steps": steps_per_epoch * epochs, "eval": results,
               "history": {k: [float(x) for x in v]
                           for k, v in history.history.items()}},
              fh, indent=2)

  signatures.set_cold_user_embedding(model, vocab.known_users)
  signatures.export_serving_model(
      model, tft_output, table.tokens, cfg, vocab.known_users,
      vocab.tag_names, fn_args.serving_model_dir,
      temperatures=(calib["review_given"]["temperature"],
                    calib["review_free"]["temperature"]))


def select_rows(ds: tf.data.Dataset, num_images: int, parts: Tuple[int, ...],
                batch_size: int) -> tf.data.Dataset:
  """Rows of batched transformed ``ds`` whose calibration part is in parts."""
  wanted = tf.constant(list(parts), tf.int32)

  def keep(row):
    part = calibration.row_part(row[F.USER_XF], row[F.IMAGE_ID_XF],
                                num_images)[0]
    return tf.reduce_any(tf.equal(part, wanted))

  return ds.unbatch().filter(keep).batch(batch_size)


def fit_calibration(model, train_files: List[str],
                    tft_output: tft.TFTransformOutput, cfg: ModelConfig,
                    lookup, num_images: int) -> Dict[str, Dict[str, Any]]:
  """Per review path: temperature fitted and checked on held-out rows.

  Review given: the row's own review; review-free: the user's profile
  without that row's review (as an unseen photo would be scored).
  """
  predict = tf.function(lambda x: model(
      signatures.select_model_inputs(model, x),
      training=False)[F.PERSONAL_OUTPUT])
  out: Dict[str, Dict[str, Any]] = {}
  for name, mode in (("review_given", "given"), ("review_free", "free_loo")):
    rows = select_rows(transformed_dataset(train_files, tft_output, 256,
                                           shuffle=False, seed=0),
                       num_images, (1, 2), 256)
    ps, ys, parts = [], [], []
    for x, y in model_dataset(rows, cfg, lookup, mode=mode):
      ps.append(np.reshape(predict(x).numpy(), [-1]))
      ys.append(np.reshape(y[F.PERSONAL_OUTPUT].numpy(), [-1]))
      parts.append(calibration.row_part(x[F.USER_XF], x[F.IMAGE_ID_XF],
                                        num_images).numpy())
    p = np.concatenate(ps) if ps else np.zeros(0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    part = np.concatenate(parts) if parts else np.zeros(0, np.int32)
    out[name] = calibration.decide(y[part == 1], p[part == 1],
                                   y[part == 2], p[part == 2])
  return out


def keras_tensorboard(log_dir: str):
  import keras  # pylint: disable=g-import-not-at-top
  return keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch",
                                     write_graph=False)

"""The ``residual`` variant: crowd aesthetics first, then each user's offset.

Design notes (shared/design-notes.md, "What good looks like"): AVA's mean
vote already predicts much of a user's judgement, and what the
personalised-aesthetics literature found to work is a strong *generic*
model learnt from the crowd's votes (NIMA: the 10-bin vote histogram with an
earth mover's distance loss) and a small per-user *residual* on top of it
(Ren et al., ICCV 2017). This variant is that, in two stages:

1. **Image model** (``build_image_model``), trained on the distinct training
   images (the CNN runs once per image, not once per review): pixels ->
   backbone -> global average pool -> image embedding ``h_v`` -> predicted
   vote shares (softmax over the 10 scores, squared-EMD loss against the
   image's AVA vote shares) and the user-agnostic probability
   P(mean vote > 5) (binary cross-entropy on b_v).
2. **Personal head** (``build_personal_head``), trained on the training
   reviews with the image model frozen (its outputs computed once per
   image)::

     logit = g(s_v) + b_u + t_u . [P h_v, onehot(tag_v), s_v]

   ``s_v`` = statistics of the image's vote shares (mean, spread, CDF): the
   *known* AVA votes when the image has them, the image model's predicted
   shares when it has none (a new photo). During training the known votes
   are replaced by the prediction with probability ``cfg.vote_dropout``, so
   the head has seen both and there is no train/serve skew. ``b_u`` is the
   user's leniency, ``t_u`` their taste over the image embedding (projected
   by ``P`` to ``cfg.taste_dim``), the tag and the vote statistics; both are
   zero-initialised and L2-regularised (``cfg.taste_l2``), so a user with
   few reviews stays near the crowd, and an unknown user (OOV index) gets
   exactly the crowd's prediction.

Both stages stop early on rows carved from the *training* split (images for
stage 1, (user, image) pairs for stage 2), never on the eval split the
pipeline's gate uses, and keep their best weights.

The exported model (``build_residual``) composes the two with the data
contract's inputs {USER_XF, IMAGE_PIXELS_KEY, VOTES_XF, TAG_XF} and outputs
{PERSONAL_OUTPUT, AGNOSTIC_OUTPUT, VOTE_DIST_OUTPUT}.
"""
from __future__ import annotations

import logging
import math
from typing import Callable, Dict, Mapping, Optional, Tuple

from preprocessing import keras_env as _keras_env  # noqa: F401  (must be first)

import keras
from keras import layers
from keras import ops
import numpy as np
import tensorflow as tf

from evaluation import metrics
from keras_model import blocks
from preprocessing import features as F
from preprocessing import transform as transform_lib
from preprocessing.config import ModelConfig

IMAGE_MODEL = "image_model"
PERSONAL_HEAD = "personal_head"
IMAGE_EMBEDDING = "image_embedding"
# Centring of the vote statistics (AVA's mean vote is ~5.4, its spread ~1.4).
_VOTE_MEAN_CENTRE = 5.4
_VOTE_SD_CENTRE = 1.4
# Share of the distinct training images (stage 1) / of the training pairs
# (stage 2, when the caller carved none) that validate, by a stable hash.
VALIDATION_SHARE = 0.1
AGNOSTIC_LOSS_WEIGHT = 0.1
_SCORE_BATCH = 256


class VoteStats(layers.Layer):
  """Vote shares [B, 10] -> [mean - 5.4, sd - 1.4, CDF at scores 3..8]."""

  def call(self, shares):
    p = shares / ops.maximum(ops.sum(shares, -1, keepdims=True), 1e-6)
    k = ops.arange(1, F.AVA_NUM_SCORES + 1, dtype="float32")
    mean = ops.sum(p * k, -1, keepdims=True)
    sd = ops.sqrt(ops.sum(p * ops.square(k - mean), -1, keepdims=True) + 1e-6)
    cdf = ops.cumsum(p, -1)[:, 2:8]
    return ops.concatenate([mean - _VOTE_MEAN_CENTRE, sd - _VOTE_SD_CENTRE,
                            cdf], -1)

  def compute_output_shape(self, input_shape):
    return (input_shape[0], 8)


class KnownOrPredictedVotes(layers.Layer):
  """The known vote shares where an image has votes, else the predicted ones.

  In training, known votes are also replaced by the prediction with
  probability ``drop`` so that the head learns to use both.
  """

  def __init__(self, drop: float = 0.0, **kwargs):
    super().__init__(**kwargs)
    self.drop = float(drop)

  def call(self, inputs, training=None):
    votes, predicted = inputs
    total = ops.sum(votes, -1, keepdims=True)
    known = total > 0
    if training and self.drop > 0:
      keep = keras.random.uniform(ops.shape(total)) >= self.drop
      known = ops.logical_and(known, keep)
    return ops.where(known, votes / ops.maximum(total, 1e-6),
                     ops.stop_gradient(predicted))

  def compute_output_shape(self, input_shapes):
    return input_shapes[0]

  def get_config(self):
    return {**super().get_config(), "drop": self.drop}


class TagOneHot(layers.Layer):
  """Tag index -> one-hot over ``num_tags``; negatives (no tag) -> last (OOV)."""

  def __init__(self, num_tags: int, **kwargs):
    super().__init__(**kwargs)
    self.num_tags = int(num_tags)

  def call(self, tag):
    tag = ops.cast(ops.reshape(tag, (-1,)), "int32")
    tag = ops.where(tag < 0, self.num_tags - 1,
                    ops.minimum(tag, self.num_tags - 1))
    return ops.one_hot(tag, self.num_tags)

  def compute_output_shape(self, input_shape):
    return (input_shape[0], self.num_tags)

  def get_config(self):
    return {**super().get_config(), "num_tags": self.num_tags}


def emd_loss(y_true, y_pred):
  """Squared earth mover's distance between two 10-bin distributions (NIMA).

  ``y_true`` may be counts or shares (normalised here); rows without votes
  (all zeros) contribute 0.
  """
  y_true = ops.cast(y_true, "float32")
  y_pred = ops.cast(y_pred, "float32")
  total = ops.sum(y_true, -1, keepdims=True)
  p = y_true / ops.maximum(total, 1e-6)
  diff = ops.square(ops.cumsum(p, -1) - ops.cumsum(y_pred, -1))
  return ops.mean(diff, -1) * ops.cast(ops.squeeze(total, -1) > 0, "float32")


# ----------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------
def build_image_model(cfg: ModelConfig, *,
                      allow_random_init: bool = False) -> keras.Model:
  """Pixels -> {IMAGE_EMBEDDING, VOTE_DIST_OUTPUT, AGNOSTIC_OUTPUT}."""
  s = cfg.image_size
  pixels = keras.Input(shape=(s, s, 3), dtype="float32",
                       name=F.IMAGE_PIXELS_KEY)
  f_v = blocks.image_backbone(cfg, allow_random_init=allow_random_init)(pixels)
  h_v = layers.Dense(cfg.image_feature_dim, activation="relu",
                     name="image_dense")(layers.GlobalAveragePooling2D()(f_v))
  dist = layers.Dense(F.AVA_NUM_SCORES, activation="softmax",
                      name="vote_softmax", dtype="float32")(h_v)
  agnostic = layers.Dense(1, activation="sigmoid", name="agnostic_dense",
                          dtype="float32")(VoteStats()(dist))
  return keras.Model(pixels, {IMAGE_EMBEDDING: h_v, F.VOTE_DIST_OUTPUT: dist,
                              F.AGNOSTIC_OUTPUT: agnostic}, name=IMAGE_MODEL)


def build_personal_head(cfg: ModelConfig, *, num_users: int,
                        num_tags: int) -> keras.Model:
  """{USER_XF, IMAGE_EMBEDDING, VOTE_DIST_OUTPUT, VOTES_XF, TAG_XF} -> p."""
  user = keras.Input(shape=(), dtype="int64", name=F.USER_XF)
  h_v = keras.Input(shape=(cfg.image_feature_dim,), name=IMAGE_EMBEDDING)
  predicted = keras.Input(shape=(F.AVA_NUM_SCORES,), name=F.VOTE_DIST_OUTPUT)
  votes = keras.Input(shape=(F.AVA_NUM_SCORES,), name=F.VOTES_XF)
  tag = keras.Input(shape=(), dtype="int64", name=F.TAG_XF)
  s_v = VoteStats()(KnownOrPredictedVotes(cfg.vote_dropout,
                                          name="known_or_predicted")(
                                              [votes, predicted]))
  reg = keras.regularizers.l2(cfg.taste_l2)
  z_v = layers.Concatenate(name="taste_features")([
      layers.Dense(cfg.taste_dim, activation="tanh", name="taste_projection")(
          h_v), TagOneHot(num_tags)(tag), s_v])
  leniency = layers.Flatten()(layers.Embedding(
      num_users, 1, embeddings_initializer="zeros", embeddings_regularizer=reg,
      name="user_leniency")(user))
  taste = layers.Flatten()(layers.Embedding(
      num_users, z_v.shape[-1], embeddings_initializer="zeros",
      embeddings_regularizer=reg, name="user_taste")(user))
  logit = layers.Add(name="personal_logit")([
      layers.Dense(1, name="crowd_logit")(s_v), leniency,
      layers.Dot(axes=-1)([taste, z_v])])
  p = layers.Activation("sigmoid", dtype="float32", name=F.PERSONAL_OUTPUT)(
      logit)
  return keras.Model({F.USER_XF: user, IMAGE_EMBEDDING: h_v,
                      F.VOTE_DIST_OUTPUT: predicted, F.VOTES_XF: votes,
                      F.TAG_XF: tag}, p, name=PERSONAL_HEAD)


def build_residual(cfg: ModelConfig, *, num_users: int, num_images: int,
                   num_tags: int, review_vocab_size: int,
                   allow_random_init: bool = False) -> keras.Model:
  """The exported model: image model and personal head composed.

  Args:
    cfg: model configuration (image size, backbone, taste sizes).
    num_users: size of the user index, OOV buckets included.
    num_images, review_vocab_size: unused (the variant reads neither image
      ids nor reviews); part of every builder's signature.
    num_tags: number of tag classes, OOV bucket included.
    allow_random_init: let a vgg16 backbone start from random weights.

  Returns:
    A model with dict inputs {USER_XF, IMAGE_PIXELS_KEY, VOTES_XF, TAG_XF}
    and outputs {PERSONAL_OUTPUT, AGNOSTIC_OUTPUT, VOTE_DIST_OUTPUT}.
  """
  del num_images, review_vocab_size
  image_model = build_image_model(cfg, allow_random_init=allow_random_init)
  head = build_personal_head(cfg, num_users=num_users, num_tags=num_tags)
  s = cfg.image_size
  inputs = {
      F.USER_XF: keras.Input(shape=(), dtype="int64", name=F.USER_XF),
      F.IMAGE_PIXELS_KEY: keras.Input(shape=(s, s, 3), dtype="float32",
                                      name=F.IMAGE_PIXELS_KEY),
      F.VOTES_XF: keras.Input(shape=(F.AVA_NUM_SCORES,), dtype="float32",
                              name=F.VOTES_XF),
      F.TAG_XF: keras.Input(shape=(), dtype="int64", name=F.TAG_XF),
  }
  image = image_model(inputs[F.IMAGE_PIXELS_KEY])
  p = head({F.USER_XF: inputs[F.USER_XF],
            IMAGE_EMBEDDING: image[IMAGE_EMBEDDING],
            F.VOTE_DIST_OUTPUT: image[F.VOTE_DIST_OUTPUT],
            F.VOTES_XF: inputs[F.VOTES_XF], F.TAG_XF: inputs[F.TAG_XF]})
  outputs = {
      F.PERSONAL_OUTPUT: layers.Identity(name=F.PERSONAL_OUTPUT)(p),
      F.AGNOSTIC_OUTPUT: layers.Identity(name=F.AGNOSTIC_OUTPUT)(
          image[F.AGNOSTIC_OUTPUT]),
      F.VOTE_DIST_OUTPUT: layers.Identity(name=F.VOTE_DIST_OUTPUT)(
          image[F.VOTE_DIST_OUTPUT]),
  }
  return keras.Model(inputs, outputs, name="residual")


# ----------------------------------------------------------------------------
# Two-stage fit
# ----------------------------------------------------------------------------
FIT_COLUMNS = (F.USER_XF, F.IMAGE_ID_XF, F.IMAGE_XF, F.VOTES_XF, F.TAG_XF,
               F.LABEL_KEY, F.AGNOSTIC_LABEL_KEY)


def _stable_share(keys: np.ndarray, salt: int, share: float) -> np.ndarray:
  """Boolean mask: a stable pseudo-random ``share`` of integer ``keys``."""
  x = (keys.astype(np.uint64) + np.uint64(salt)) * np.uint64(0x9E3779B97F4A7C15)
  x ^= x >> np.uint64(29)
  return (x % np.uint64(10_000)) < np.uint64(int(round(share * 10_000)))


def _decode(jpegs: np.ndarray, size: int) -> np.ndarray:
  out = [transform_lib.decode_image_xf(tf.constant(jpegs[i:i + _SCORE_BATCH]),
                                       size).numpy()
         for i in range(0, len(jpegs), _SCORE_BATCH)]
  return (np.concatenate(out) if out else
          np.zeros((0, size, size, 3), np.float32))


def _image_table(cols: Mapping[str, np.ndarray], size: int
                 ) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
  """(row -> image position, the distinct images' pixels/votes/b_v)."""
  ids = np.asarray(cols[F.IMAGE_ID_XF]).reshape(-1)
  uniq, first, inverse = np.unique(ids, return_index=True,
                                   return_inverse=True)
  jpegs = np.asarray(cols[F.IMAGE_XF]).reshape(-1)[first]
  return inverse, {
      "id": uniq,
      "pixels": _decode(jpegs, size),
      "votes": np.asarray(cols[F.VOTES_XF], np.float32).reshape(
          -1, F.AVA_NUM_SCORES)[first],
      "b_v": np.asarray(cols[F.AGNOSTIC_LABEL_KEY], np.float32).reshape(
          -1, 1)[first],
  }


def _epochs(cfg_epochs: int, steps: int, rows: int, batch: int) -> int:
  """Epochs of a stage: at most ``cfg_epochs`` and about ``steps`` batches."""
  per_epoch = max(1, math.ceil(rows / batch))
  return max(1, min(cfg_epochs, math.ceil(steps / per_epoch)))


def _fit_with_early_stopping(model: keras.Model, epochs: int,
                             fit_epoch: Callable[[], float],
                             score: Optional[Callable[[], float]],
                             patience: int) -> Dict[str, list]:
  """Runs ``fit_epoch`` up to ``epochs`` times; keeps the best-scoring weights.

  Args:
    model: the model whose weights are kept and restored.
    epochs: the most epochs to run.
    fit_epoch: trains one epoch, returns its training loss.
    score: validation score after an epoch (higher is better; NaN counts as
      the worst), or None when there is nothing to validate on.
    patience: stop after this many epochs without a better score.

  Returns:
    {"loss": [...], "val": [...]}, one value per epoch run.
  """
  best, best_weights, stale = -math.inf, None, 0
  history: Dict[str, list] = {"loss": [], "val": []}
  for _ in range(epochs):
    history["loss"].append(float(fit_epoch()))
    if score is None:
      continue
    value = float(score())
    value = -math.inf if value != value else value
    history["val"].append(value)
    if value > best:
      best, best_weights, stale = value, model.get_weights(), 0
    else:
      stale += 1
      if stale >= patience:
        break
  if best_weights is not None:
    model.set_weights(best_weights)
  return history


def _fit_image_model(image_model: keras.Model, images: Dict[str, np.ndarray],
                     cfg: ModelConfig, steps: int, optimizer) -> Dict[str, list]:
  """Stage 1: vote shares (EMD) and b_v from the distinct training images."""
  train_view = keras.Model(
      image_model.input,
      {k: image_model.output[k] for k in (F.VOTE_DIST_OUTPUT,
                                          F.AGNOSTIC_OUTPUT)})
  train_view.compile(
      optimizer=optimizer,
      loss={F.VOTE_DIST_OUTPUT: emd_loss,
            F.AGNOSTIC_OUTPUT: keras.losses.BinaryCrossentropy()},
      loss_weights={F.VOTE_DIST_OUTPUT: 1.0,
                    F.AGNOSTIC_OUTPUT: AGNOSTIC_LOSS_WEIGHT})
  val = _stable_share(images["id"], 17, VALIDATION_SHARE)
  if val.all() or not val.any():
    val = np.zeros(len(val), bool)
  fit = ~val
  x, y = images["pixels"], {F.VOTE_DIST_OUTPUT: images["votes"],
                            F.AGNOSTIC_OUTPUT: images["b_v"]}
  rng = np.random.default_rng(cfg.seed)

  def fit_epoch() -> float:
    xb = x[fit].copy()
    flip = rng.random(len(xb)) < 0.5  # left-right mirror: same aesthetics
    xb[flip] = xb[flip, :, ::-1]
    return train_view.fit(xb, {k: v[fit] for k, v in y.items()},
                          batch_size=cfg.batch_size, epochs=1, verbose=0,
                          shuffle=True).history["loss"][-1]

  def neg_val_emd() -> float:
    pred = train_view.predict(x[val], batch_size=_SCORE_BATCH, verbose=0)
    return -float(np.mean(keras.ops.convert_to_numpy(emd_loss(
        images["votes"][val], pred[F.VOTE_DIST_OUTPUT]))))

  h = _fit_with_early_stopping(
      image_model, _epochs(cfg.image_epochs, steps, int(fit.sum()),
                           cfg.batch_size), fit_epoch,
      neg_val_emd if val.any() else None, cfg.early_stopping_patience)
  return {"loss": h["loss"], "val_emd": [-v for v in h["val"]]}


def _fit_personal_head(head: keras.Model, rows: Dict[str, np.ndarray],
                       val_rows: Dict[str, np.ndarray], cfg: ModelConfig,
                       steps: int, optimizer) -> Dict[str, list]:
  """Stage 2: the personal head on the rows, early stopping on val AUC."""
  head.compile(optimizer=optimizer, loss=keras.losses.BinaryCrossentropy())
  x_names = list(head.input.keys())
  x = {k: rows[k] for k in x_names}
  y = rows[F.LABEL_KEY]

  def fit_epoch() -> float:
    return head.fit(x, y, batch_size=cfg.batch_size, epochs=1, verbose=0,
                    shuffle=True).history["loss"][-1]

  def val_auc() -> float:
    p = head.predict({k: val_rows[k] for k in x_names},
                     batch_size=_SCORE_BATCH, verbose=0)
    return metrics.auc(val_rows[F.LABEL_KEY], p)

  h = _fit_with_early_stopping(
      head, _epochs(cfg.personal_epochs, steps, len(y), cfg.batch_size),
      fit_epoch, val_auc if len(val_rows[F.LABEL_KEY]) else None,
      cfg.early_stopping_patience)
  return {"loss": h["loss"], "val_auc": h["val"]}


def fit_staged(model: keras.Model, fit_cols: Mapping[str, np.ndarray],
               val_cols: Optional[Mapping[str, np.ndarray]],
               cfg: ModelConfig, *, steps: int, num_images: int
               ) -> Tuple[Dict[str, list], int]:
  """Trains a ``build_residual`` model in its two stages.

  Args:
    model: the composed model (its image model and head are trained in
      place).
    fit_cols: FIT_COLUMNS of the training rows to fit on.
    val_cols: FIT_COLUMNS of training rows held out for early stopping, or
      None to carve ``VALIDATION_SHARE`` of the pairs from ``fit_cols``.
    cfg: epochs, patience, batch size, optimizer.
    steps: about how many batches each stage may take (capped by
      ``cfg.image_epochs`` / ``cfg.personal_epochs``).
    num_images: size of the image index (pair keys for carving).

  Returns:
    (the history of both stages: {"image_loss", "image_val_emd", "loss",
    "val_auc"}, one value per epoch; the number of batches run).
  """
  from keras_model import cfan  # pylint: disable=g-import-not-at-top
  cols = {k: np.asarray(v) for k, v in fit_cols.items()}
  if val_cols is None or len(np.asarray(val_cols[F.LABEL_KEY])) == 0:
    key = (cols[F.USER_XF].reshape(-1).astype(np.int64) * int(num_images) +
           cols[F.IMAGE_ID_XF].reshape(-1).astype(np.int64))
    carve = _stable_share(key, 29, VALIDATION_SHARE)
    if carve.all():
      carve[:] = False
    val_cols = {k: v[carve] for k, v in cols.items()}
    cols = {k: v[~carve] for k, v in cols.items()}
  val_cols = {k: np.asarray(v) for k, v in val_cols.items()}
  both = {k: np.concatenate([cols[k], val_cols[k]]) for k in cols}
  position, images = _image_table(both, cfg.image_size)
  logging.info("residual: stage 1 on %d distinct training images",
               len(images["id"]))
  image_model = model.get_layer(IMAGE_MODEL)
  head = model.get_layer(PERSONAL_HEAD)
  stage1 = _fit_image_model(image_model, images, cfg, steps,
                            cfan.make_optimizer(cfg))
  # Stage 2: the CNN once per distinct image, frozen.
  out = image_model.predict(images["pixels"], batch_size=_SCORE_BATCH,
                            verbose=0)
  n_fit = len(cols[F.LABEL_KEY])

  def head_rows(sl: slice) -> Dict[str, np.ndarray]:
    pos = position[sl]
    return {
        F.USER_XF: both[F.USER_XF].reshape(-1)[sl].astype(np.int64),
        IMAGE_EMBEDDING: out[IMAGE_EMBEDDING][pos],
        F.VOTE_DIST_OUTPUT: out[F.VOTE_DIST_OUTPUT][pos],
        F.VOTES_XF: both[F.VOTES_XF].reshape(-1, F.AVA_NUM_SCORES)[sl]
                    .astype(np.float32),
        F.TAG_XF: both[F.TAG_XF].reshape(-1)[sl].astype(np.int64),
        F.LABEL_KEY: both[F.LABEL_KEY].reshape(-1, 1)[sl].astype(np.float32),
    }

  logging.info("residual: stage 2 on %d rows (%d validate)", n_fit,
               len(val_cols[F.LABEL_KEY]))
  stage2 = _fit_personal_head(head, head_rows(slice(0, n_fit)),
                              head_rows(slice(n_fit, None)), cfg, steps,
                              cfan.make_optimizer(cfg))
  batches = (len(stage1["loss"]) * math.ceil(len(images["id"]) /
                                             cfg.batch_size) +
             len(stage2["loss"]) * math.ceil(n_fit / cfg.batch_size))
  return {"image_loss": stage1["loss"], "image_val_emd": stage1["val_emd"],
          "loss": stage2["loss"], "val_auc": stage2["val_auc"]}, batches

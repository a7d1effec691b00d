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
   reviews with the image model frozen (its outputs, and the photo's
   hand-made descriptors ``d_v`` of ``keras_model.descriptors``, computed
   once per image)::

     logit = crowd(s_v) + tag_t + b_u + a_u * mean_v + t_u . z_v + g_u[tag]
             + o_v

   ``s_v`` = statistics of the image's vote shares (mean, spread, CDF): the
   *known* AVA votes when the image has them, the image model's predicted
   shares when it has none (a new photo), each with its own crowd weights;
   in training the known votes are hidden with probability
   ``cfg.vote_dropout`` so that the predicted path learns too. Both start
   at the ``vote_plus_user`` floor's vote term. ``b_u`` is the user's
   leniency, ``a_u`` how much more or less than the crowd they follow the
   vote, ``t_u`` their taste over the photo's visual attributes in
   ``cfg.taste_space``: "critique" (default; ``keras_model.said_taste``:
   the attributes the training critiques name, mapped from the
   descriptors and layout), "descriptors" (the standardised ones
   themselves) or "learnt" (a tanh projection of them), ``g_u[tag]`` their
   affinity for the photo's tag beyond the crowd's ``tag_t`` (an option,
   ``cfg.affinity_l2_grid``; off by default), ``o_v`` the image's offset
   learnt from its training raters (an option, ``cfg.image_offset_l2_grid``;
   off by default; zero for an image no training row has). Per-user terms
   start at zero and are L2-regularised, so a user with few reviews stays
   near the crowd and an unknown user (OOV index) gets the crowd's
   prediction.

Stage 1 stops early on a share of the distinct *training* images; then the
critique taste space is fitted. Stage 2 does not early-stop on a validation
score (a few hundred pairs make it too noisy): ``keras_model.head_selection``
chooses the L2 of the user and tag terms among ``cfg.user_l2_grid``, then
the taste L2 among ``cfg.taste_l2_grid`` and "no taste", then (when that
grid is not empty) the tag affinity L2 among ``cfg.affinity_l2_grid`` and
"none", then (likewise) the image offset L2 among
``cfg.image_offset_l2_grid`` and "none", by cross-validation over the
training pairs (an optional term only when it wins by ``cfg.taste_min_z``
standard errors), then fits every training row to convergence. Why: docs/model_quality.md.

The exported model (``build_residual``) composes the two with the data
contract's inputs {USER_XF, IMAGE_PIXELS_KEY, IMAGE_SLOT_KEY, VOTES_XF,
TAG_XF} and outputs {PERSONAL_OUTPUT, AGNOSTIC_OUTPUT, VOTE_DIST_OUTPUT}: like
every image-reading variant it runs the image model and the descriptors once
per distinct image of a batch (IMAGE_PIXELS_KEY [U, S, S, 3]) and fans their
outputs out to the rows by slot (``blocks.FanOutToRows``), so evaluation and
serving batches, which keep an image's reviews together, run the CNN once
per image, not once per review.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from preprocessing import keras_env as _keras_env  # noqa: F401  (must be first)

import keras
from keras import layers
from keras import ops
import numpy as np
import tensorflow as tf

from evaluation import metrics
from keras_model import blocks
from keras_model import descriptors
from keras_model import head_selection
from keras_model import said_taste
from preprocessing import features as F
from preprocessing import transform as transform_lib
from preprocessing.config import ModelConfig

IMAGE_MODEL = "image_model"
PERSONAL_HEAD = "personal_head"
IMAGE_EMBEDDING = "image_embedding"
DESCRIPTORS = "image_descriptors"
DESCRIPTOR_NORM = "descriptor_norm"
LAYOUT = "image_layout"
LAYOUT_NORM = "layout_norm"
TASTE_PROJECTION = "taste_projection"
SAID_PROJECTION = "said_projection"
TASTE_SPACES = ("critique", "descriptors", "learnt")
CROWD_KNOWN = "crowd_known"
CROWD_PREDICTED = "crowd_predicted"
TASTE = "user_taste"
LENIENCY = "user_leniency"
VOTE_SLOPE = "user_vote_slope"
TAG_OFFSET = "tag_offset"
TAG_AFFINITY = "user_tag_affinity"
IMAGE_OFFSET = "image_offset"
# The terms whose L2 is ``cfg.user_l2_grid``'s choice.
USER_TERMS = (LENIENCY, VOTE_SLOPE, TAG_OFFSET)
# Centring of the vote statistics (AVA's mean vote is ~5.4, its spread ~1.4).
_VOTE_MEAN_CENTRE = 5.4
_VOTE_SD_CENTRE = 1.4
# Share of the distinct training images that validate stage 1 (by a stable
# hash of the image index, salted with _IMAGE_VALIDATION_SALT).
VALIDATION_SHARE = 0.1
_IMAGE_VALIDATION_SALT = 17
AGNOSTIC_LOSS_WEIGHT = 0.1
_SCORE_BATCH = head_selection.SCORE_BATCH


def selection_terms(cfg: ModelConfig) -> List[head_selection.Term]:
  """Stage 2's rounds (``head_selection``): the user and tag terms, then
  taste, then the user's tag affinity (only when ``cfg.affinity_l2_grid``
  has candidates: the head has the term only then)."""
  terms = [head_selection.Term("user", USER_TERMS, cfg.user_l2_grid,
                               optional=False),
           head_selection.Term("taste", (TASTE,), cfg.taste_l2_grid)]
  if cfg.affinity_l2_grid:
    terms.append(head_selection.Term("affinity", (TAG_AFFINITY,),
                                     cfg.affinity_l2_grid))
  if cfg.image_offset_l2_grid:
    terms.append(head_selection.Term("image", (IMAGE_OFFSET,),
                                     cfg.image_offset_l2_grid))
  return terms


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


class VotesKnown(layers.Layer):
  """1.0 where an image has AVA votes, else 0.0 ([B, 1]).

  In training a known row is also marked unknown with probability ``drop``,
  so that the predicted-votes path of the head learns from the same users
  and images (no train/serve skew for a new photo).
  """

  def __init__(self, drop: float = 0.0, **kwargs):
    super().__init__(**kwargs)
    self.drop = float(drop)

  def call(self, votes, training=None):
    known = ops.sum(votes, -1, keepdims=True) > 0
    if training and self.drop > 0:
      keep = keras.random.uniform(ops.shape(known)) >= self.drop
      known = ops.logical_and(known, keep)
    return ops.cast(known, "float32")

  def compute_output_shape(self, input_shape):
    return (input_shape[0], 1)

  def get_config(self):
    return {**super().get_config(), "drop": self.drop}


class TagIndex(layers.Layer):
  """Tag index [B]; negatives (no tag) and overflow -> the last (OOV) class."""

  def __init__(self, num_tags: int, **kwargs):
    super().__init__(**kwargs)
    self.num_tags = int(num_tags)

  def call(self, tag):
    tag = ops.cast(ops.reshape(tag, (-1,)), "int32")
    return ops.where(tag < 0, self.num_tags - 1,
                     ops.minimum(tag, self.num_tags - 1))

  def compute_output_shape(self, input_shape):
    return (input_shape[0],)

  def get_config(self):
    return {**super().get_config(), "num_tags": self.num_tags}


class ImageIndex(layers.Layer):
  """Image index clipped into [0, num_images) (an index the vocabulary
  never gave, e.g. -1, reads the last OOV bucket: no training row, so its
  offset stays zero)."""

  def __init__(self, num_images: int, **kwargs):
    super().__init__(**kwargs)
    self.num_images = int(num_images)

  def call(self, image):
    return ops.clip(ops.cast(image, "int64"), 0, self.num_images - 1)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    return {**super().get_config(), "num_images": self.num_images}


def build_personal_head(cfg: ModelConfig, *, num_users: int,
                        num_tags: int, num_images: int = 0) -> keras.Model:
  """{USER_XF, DESCRIPTORS, VOTE_DIST_OUTPUT, VOTES_XF, TAG_XF} -> p
  (and IMAGE_ID_XF with ``cfg.image_offset_l2_grid``).

  logit = crowd(s_v) + tag_t + b_u + a_u * mean_v + t_u . z_v + g_u[tag]
          + o_v,
  z_v = S [norm(d_v), norm(l_v)] + c (``cfg.taste_space`` "critique"),
  norm(d_v) ("descriptors") or tanh(P norm(d_v)) ("learnt")

  ``s_v`` are the statistics of the image's known AVA vote shares, or of
  the image model's predicted shares when it has none; each source has its
  own crowd weights (``crowd_known`` / ``crowd_predicted``; the fit starts
  both at the vote floor of ``evaluation.metrics``), ``mean_v`` is the
  centred mean vote of that source. ``tag_t`` is a per-tag offset shared by
  all users; ``b_u`` the user's leniency, ``a_u`` how much more (or less)
  than the crowd the user follows the crowd's vote, ``t_u`` the user's taste
  over the photo's hand-made descriptors ``d_v`` (``keras_model.descriptors``,
  standardised on the training images): over the attributes the critiques
  name (S, c: set by ``said_taste.fit_projection`` from ``d_v`` and the
  layout ``l_v``, an input LAYOUT of the head), over the descriptors, or
  over a learnt tanh projection of them (``cfg.taste_dim`` wide); ``g_u``
  the user's affinity for each tag (their offset on photos of that tag
  beyond the crowd's ``tag_t``; only with ``cfg.affinity_l2_grid``, off by
  default: docs/experiments.md), ``o_v`` the image's offset (only with
  ``cfg.image_offset_l2_grid``, off by default; ``num_images`` rows, one
  per image index, zero where no training row has the image: a cold or new
  photo). The per-user terms start at zero and are
  L2-regularised, so a user with few reviews stays near the crowd and an
  unknown user (OOV index) gets the crowd's prediction.
  """
  user = keras.Input(shape=(), dtype="int64", name=F.USER_XF)
  d_v = keras.Input(shape=(descriptors.NUM_DESCRIPTORS,), name=DESCRIPTORS)
  predicted = keras.Input(shape=(F.AVA_NUM_SCORES,), name=F.VOTE_DIST_OUTPUT)
  votes = keras.Input(shape=(F.AVA_NUM_SCORES,), name=F.VOTES_XF)
  tag = keras.Input(shape=(), dtype="int64", name=F.TAG_XF)
  known = VotesKnown(cfg.vote_dropout, name="votes_known")(votes)
  s_known = VoteStats(name="known_vote_stats")(votes)
  s_pred = VoteStats(name="predicted_vote_stats")(
      blocks.StopGradient(name="frozen_prediction")(predicted))
  crowd = blocks.Select(name="crowd_logit")([
      known, layers.Dense(1, name=CROWD_KNOWN)(s_known),
      layers.Dense(1, name=CROWD_PREDICTED)(s_pred)])
  mean_v = blocks.Select(name="mean_vote")([
      known, blocks.FirstColumn()(s_known), blocks.FirstColumn()(s_pred)])

  def per_user(width: int, name: str, l2: float) -> keras.KerasTensor:
    return layers.Flatten()(layers.Embedding(
        num_users, width, embeddings_initializer="zeros",
        embeddings_regularizer=head_selection.SettableL2(l2),
      name=name)(user))

  user_l2 = cfg.user_l2_grid[0]
  tag_index = TagIndex(num_tags, name="tag_index")(tag)
  tag_offset = layers.Flatten()(layers.Embedding(
      num_tags, 1, embeddings_initializer="zeros",
      embeddings_regularizer=head_selection.SettableL2(user_l2),
      name=TAG_OFFSET)(tag_index))
  z_v = layers.Normalization(name=DESCRIPTOR_NORM)(d_v)
  taste_width = descriptors.NUM_DESCRIPTORS
  extra_inputs: Dict[str, keras.KerasTensor] = {}
  if cfg.taste_space == "learnt":  # a projection shared by every user
    z_v = layers.Dense(
        cfg.taste_dim, activation="tanh", name=TASTE_PROJECTION,
        kernel_initializer=keras.initializers.GlorotUniform(seed=cfg.seed))(
            z_v)
    taste_width = cfg.taste_dim
  elif cfg.taste_space == "critique":  # set by said_taste.fit_projection
    taste_width = len(F.SAID_ATTRIBUTES)
    layout = keras.Input(shape=(descriptors.NUM_LAYOUT,), name=LAYOUT)
    extra_inputs[LAYOUT] = layout
    z_v = layers.Dense(taste_width, name=SAID_PROJECTION, trainable=False,
                       kernel_initializer="zeros")(
                           layers.Concatenate(name="said_projection_input")([
                               z_v, layers.Normalization(name=LAYOUT_NORM)(
                                   layout)]))
  elif cfg.taste_space != "descriptors":
    raise ValueError(f"taste_space must be one of {TASTE_SPACES}, got "
                     f"{cfg.taste_space!r}")
  terms = [crowd, tag_offset, per_user(1, LENIENCY, user_l2),
           layers.Multiply(name="user_vote_slope_term")([
               per_user(1, VOTE_SLOPE, user_l2), mean_v]),
           layers.Dot(axes=-1, name="user_taste_term")([
               per_user(taste_width, TASTE, cfg.taste_l2_grid[0]), z_v])]
  if cfg.affinity_l2_grid:  # g_u[tag]: the tag's one-hot . g_u
    terms.append(layers.Dot(axes=-1, name="user_tag_affinity_term")([
        per_user(num_tags, TAG_AFFINITY, cfg.affinity_l2_grid[0]),
        layers.CategoryEncoding(num_tokens=num_tags, output_mode="one_hot",
                                name="tag_one_hot")(tag_index)]))
  if cfg.image_offset_l2_grid:  # o_v: what the training raters agree on
    if num_images < 1:
      raise ValueError("image_offset_l2_grid needs num_images")
    image_id = keras.Input(shape=(), dtype="int64", name=F.IMAGE_ID_XF)
    extra_inputs[F.IMAGE_ID_XF] = image_id
    terms.append(layers.Flatten(name="image_offset_term")(layers.Embedding(
        num_images, 1, embeddings_initializer="zeros",
        embeddings_regularizer=head_selection.SettableL2(
            cfg.image_offset_l2_grid[0]),
        name=IMAGE_OFFSET)(ImageIndex(num_images, name="image_index")(
            image_id))))
  logit = layers.Add(name="personal_logit")(terms)
  p = layers.Activation("sigmoid", dtype="float32", name=F.PERSONAL_OUTPUT)(
      logit)
  return keras.Model({F.USER_XF: user, DESCRIPTORS: d_v,
                      F.VOTE_DIST_OUTPUT: predicted, F.VOTES_XF: votes,
                      F.TAG_XF: tag, **extra_inputs}, p, name=PERSONAL_HEAD)


def build_residual(cfg: ModelConfig, *, num_users: int, num_images: int,
                   num_tags: int, review_vocab_size: int,
                   allow_random_init: bool = False) -> keras.Model:
  """The exported model: image model and personal head composed.

  Args:
    cfg: model configuration (image size, backbone, taste sizes).
    num_users: size of the user index, OOV buckets included.
    num_images: size of the image index, OOV buckets included (read only
      with ``cfg.image_offset_l2_grid``: the head's per-image offset).
    review_vocab_size: unused (the variant reads no review); part of every
      builder's signature.
    num_tags: number of tag classes, OOV bucket included.
    allow_random_init: let a vgg16 backbone start from random weights.

  Returns:
    A model with dict inputs {USER_XF [B], IMAGE_PIXELS_KEY (the batch's
    distinct images, [U, S, S, 3]), IMAGE_SLOT_KEY (each row's image among
    them, [B]), VOTES_XF [B, 10], TAG_XF [B]} and outputs {PERSONAL_OUTPUT,
    AGNOSTIC_OUTPUT, VOTE_DIST_OUTPUT}, one row each. Feed whole batches
    (slots index the batch's own images; see ``blocks.FanOutToRows``).
  """
  del review_vocab_size
  image_model = build_image_model(cfg, allow_random_init=allow_random_init)
  head = build_personal_head(cfg, num_users=num_users, num_tags=num_tags,
                             num_images=num_images)
  s = cfg.image_size
  inputs = {
      F.USER_XF: keras.Input(shape=(), dtype="int64", name=F.USER_XF),
      F.IMAGE_PIXELS_KEY: keras.Input(shape=(s, s, 3), dtype="float32",
                                      name=F.IMAGE_PIXELS_KEY),
      F.IMAGE_SLOT_KEY: keras.Input(shape=(), dtype="int64",
                                    name=F.IMAGE_SLOT_KEY),
      F.VOTES_XF: keras.Input(shape=(F.AVA_NUM_SCORES,), dtype="float32",
                              name=F.VOTES_XF),
      F.TAG_XF: keras.Input(shape=(), dtype="int64", name=F.TAG_XF),
  }
  if F.IMAGE_ID_XF in head.input:
    inputs[F.IMAGE_ID_XF] = keras.Input(shape=(), dtype="int64",
                                        name=F.IMAGE_ID_XF)
  # Once per distinct image [U, ...], then one row per review [B, ...].
  pixels, slot = inputs[F.IMAGE_PIXELS_KEY], inputs[F.IMAGE_SLOT_KEY]
  image = image_model(pixels)
  per_image = {k: image[k] for k in (F.VOTE_DIST_OUTPUT, F.AGNOSTIC_OUTPUT)}
  per_image[DESCRIPTORS] = descriptors.ImageDescriptors(name=DESCRIPTORS)(
      pixels)
  if LAYOUT in head.input:
    per_image[LAYOUT] = descriptors.SpatialLayout(name=LAYOUT)(pixels)
  row = {k: blocks.FanOutToRows(name=f"{k}_per_row")(v, slot)
         for k, v in per_image.items()}
  p = head({**{k: inputs[k] for k in head.input if k in inputs},
            **{k: row[k] for k in head.input if k in row}})
  outputs = {
      F.PERSONAL_OUTPUT: layers.Identity(name=F.PERSONAL_OUTPUT)(p),
      F.AGNOSTIC_OUTPUT: layers.Identity(name=F.AGNOSTIC_OUTPUT)(
          row[F.AGNOSTIC_OUTPUT]),
      F.VOTE_DIST_OUTPUT: layers.Identity(name=F.VOTE_DIST_OUTPUT)(
          row[F.VOTE_DIST_OUTPUT]),
  }
  return keras.Model(inputs, outputs, name="residual")


# ----------------------------------------------------------------------------
# Two-stage fit
# ----------------------------------------------------------------------------
FIT_COLUMNS = (F.USER_XF, F.IMAGE_ID_XF, F.IMAGE_XF, F.VOTES_XF, F.TAG_XF,
               F.LABEL_KEY, F.AGNOSTIC_LABEL_KEY, F.SAID_KEY)
# What stage 1 reads of the training images with votes and no review.
IMAGE_COLUMNS = (F.IMAGE_ID_XF, F.IMAGE_XF, F.VOTES_XF, F.AGNOSTIC_LABEL_KEY)


def _stable_hash(keys: np.ndarray, salt: int) -> np.ndarray:
  x = (keys.astype(np.uint64) + np.uint64(salt)) * np.uint64(0x9E3779B97F4A7C15)
  return x ^ (x >> np.uint64(29))


def _stable_share(keys: np.ndarray, salt: int, share: float) -> np.ndarray:
  """Boolean mask: a stable pseudo-random ``share`` of integer ``keys``."""
  return ((_stable_hash(keys, salt) % np.uint64(10_000)) <
          np.uint64(int(round(share * 10_000))))


def _stable_fold(keys: np.ndarray, salt: int, folds: int) -> np.ndarray:
  """A stable pseudo-random fold 0..folds-1 of each integer key."""
  return ((_stable_hash(keys, salt) >> np.uint64(16)) %
          np.uint64(folds)).astype(np.int64)


def _decode(jpegs: np.ndarray, size: int) -> np.ndarray:
  out = [transform_lib.decode_image_xf(tf.constant(jpegs[i:i + _SCORE_BATCH]),
                                       size).numpy()
         for i in range(0, len(jpegs), _SCORE_BATCH)]
  return (np.concatenate(out) if out else
          np.zeros((0, size, size, 3), np.float32))


def _image_table(cols: Mapping[str, np.ndarray], size: int,
                 extra: Optional[Mapping[str, np.ndarray]] = None
                 ) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
  """(row -> image position, the distinct images' pixels/votes/b_v).

  ``extra``: IMAGE_COLUMNS of further images with no row (votes, no
  review); they join the table, and no row points at them.
  """
  image_cols = [cols]
  if extra is not None and len(np.asarray(extra[F.IMAGE_ID_XF]).reshape(-1)):
    image_cols.append(extra)

  def column(name: str, dtype=None, width: int = 0) -> np.ndarray:
    parts = [np.asarray(c[name], dtype) for c in image_cols]
    return np.concatenate([p.reshape(-1, width) if width else p.reshape(-1)
                           for p in parts])

  ids = column(F.IMAGE_ID_XF)
  uniq, first, inverse = np.unique(ids, return_index=True,
                                   return_inverse=True)
  rows = len(np.asarray(cols[F.IMAGE_ID_XF]).reshape(-1))
  return inverse[:rows], {
      "id": uniq,
      "pixels": _decode(column(F.IMAGE_XF)[first], size),
      "votes": column(F.VOTES_XF, np.float32, F.AVA_NUM_SCORES)[first],
      "b_v": column(F.AGNOSTIC_LABEL_KEY, np.float32, 1)[first],
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
                     cfg: ModelConfig, steps: int, optimizer,
                     epochs: Optional["_Epochs"] = None) -> Dict[str, list]:
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
  val = _stable_share(images["id"], _IMAGE_VALIDATION_SALT,
                      VALIDATION_SHARE)
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
    loss = train_view.fit(xb, {k: v[fit] for k, v in y.items()},
                          batch_size=cfg.batch_size, epochs=1, verbose=0,
                          shuffle=True).history["loss"][-1]
    if epochs is not None:
      epochs.tick("stage 1: vote distributions of the images")
    return loss

  def neg_val_emd() -> float:
    pred = train_view.predict(x[val], batch_size=_SCORE_BATCH, verbose=0)
    return -float(np.mean(keras.ops.convert_to_numpy(emd_loss(
        images["votes"][val], pred[F.VOTE_DIST_OUTPUT]))))

  h = _fit_with_early_stopping(
      image_model, _epochs(cfg.image_epochs, steps, int(fit.sum()),
                           cfg.batch_size), fit_epoch,
      neg_val_emd if val.any() else None, cfg.early_stopping_patience)
  return {"loss": h["loss"], "val_emd": [-v for v in h["val"]]}


def _crowd_at_floor(head: keras.Model, base_rate: float) -> None:
  """Both crowd layers = the ``vote_plus_user`` floor's vote term.

  metrics.VOTE_SLOPE per vote point on the centred mean vote, and the bias
  that makes a mean vote of metrics.VOTE_CENTRE give the training base
  rate: the head starts where the floor is and learns from there.
  """
  w = np.zeros((8, 1), np.float32)
  w[0, 0] = metrics.VOTE_SLOPE
  b = (metrics.logit(np.asarray(base_rate)) +
       metrics.VOTE_SLOPE * (_VOTE_MEAN_CENTRE - metrics.VOTE_CENTRE))
  for name in (CROWD_KNOWN, CROWD_PREDICTED):
    head.get_layer(name).set_weights([w, np.full((1,), b, np.float32)])


class _Epochs:
  """Counts the epochs of every fit of a staged run for a progress line."""

  def __init__(self, total: int, report: Optional[Callable[[int, int, str],
                                                           None]]):
    self.done, self.total, self.report = 0, max(1, int(total)), report

  def tick(self, note: str) -> None:
    self.done = min(self.done + 1, self.total - 1)
    if self.report is not None:
      self.report(self.done, self.total, note)

  def skip_to(self, done: int, note: str) -> None:
    self.done = min(max(self.done, done), self.total - 1)
    if self.report is not None:
      self.report(self.done, self.total, note)

  def callback(self, note: str) -> keras.callbacks.Callback:
    return keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: self.tick(note))


def fit_staged(model: keras.Model, fit_cols: Mapping[str, np.ndarray],
               val_cols: Optional[Mapping[str, np.ndarray]],
               cfg: ModelConfig, *, steps: int, num_images: int,
               progress: Optional[Callable[[int, int, str], None]] = None,
               vote_only: Optional[Mapping[str, np.ndarray]] = None
               ) -> Tuple[Dict[str, Any], int]:
  """Trains a ``build_residual`` model in its two stages.

  Stage 1 (the image model) stops early on a share of the distinct training
  images (by EMD); stage 2 (the personal head) uses every training row: it
  selects its taste regularisation by cross-validation over the training
  pairs and is then fitted to convergence (``head_selection``).

  Args:
    model: the composed model (its image model and head are trained in
      place).
    fit_cols: FIT_COLUMNS of the training rows to fit on.
    val_cols: FIT_COLUMNS of further training rows (the Trainer's
      validation role), or None; they are training rows like the others.
    cfg: epochs, patience, batch sizes, learning rates, the taste grid.
    steps: about how many batches stage 1 may take (capped by
      ``cfg.image_epochs``).
    num_images: size of the image index (pair keys of the folds).
    progress: called with (epochs done, epochs planned, what is running)
      after every epoch of every fit (stage 1, each cross-validation fit,
      the final fit).
    vote_only: IMAGE_COLUMNS of the training images with votes and no
      review: stage 1 learns their vote distributions too (stage 2 has no
      row of them).

  Returns:
    ({"image_loss", "image_val_emd": per stage-1 epoch; "image_count": the
    images of stage 1, "vote_only_images": how many of them have votes
    only; "loss": per epoch of the final stage-2 fit; "user_l2",
    "taste_l2", "affinity_l2": the selected L2s (None: the term left out);
    "cv": the candidates' out-of-fold scores}, the number of batches run).
  """
  from keras_model import cfan  # pylint: disable=g-import-not-at-top
  both = {k: np.asarray(v) for k, v in fit_cols.items()}
  if val_cols is not None and len(np.asarray(val_cols[F.LABEL_KEY])):
    both = {k: np.concatenate([both[k], np.asarray(val_cols[k])])
            for k in both}
  position, images = _image_table(both, cfg.image_size, vote_only)
  reviewed = np.unique(position)
  logging.info("residual: stage 1 on %d distinct training images (%d with "
               "votes only)", len(images["id"]),
               len(images["id"]) - len(reviewed))
  image_model = model.get_layer(IMAGE_MODEL)
  head = model.get_layer(PERSONAL_HEAD)
  n_val = int(_stable_share(images["id"], _IMAGE_VALIDATION_SALT,
                                VALIDATION_SHARE).sum())
  image_epochs = _epochs(cfg.image_epochs, steps, len(images["id"]) - n_val,
                         cfg.batch_size)
  terms = selection_terms(cfg)
  head_fits = head_selection.candidates(terms) * cfg.cv_folds + 1
  # One unit more than the epochs: the caller reports the end (one finished
  # line per stage).
  epochs = _Epochs(image_epochs + head_fits * cfg.personal_epochs + 1,
                   progress)
  stage1 = _fit_image_model(image_model, images, cfg, steps,
                            cfan.make_optimizer(cfg), epochs)
  epochs.skip_to(image_epochs, "stage 1 done")
  # Stage 2: the CNN and the descriptors once per distinct image, frozen.
  out = image_model.predict(images["pixels"], batch_size=_SCORE_BATCH,
                            verbose=0)
  def per_image(name: str, width: int) -> np.ndarray:
    layer = model.get_layer(name)
    return np.concatenate([
        np.asarray(layer(images["pixels"][i:i + _SCORE_BATCH]))
        for i in range(0, len(images["id"]), _SCORE_BATCH)]).astype(
            np.float32) if len(images["id"]) else np.zeros((0, width),
                                                           np.float32)

  image_inputs = {DESCRIPTORS: per_image(DESCRIPTORS,
                                         descriptors.NUM_DESCRIPTORS)}
  # Normalised over the images stage 2 has rows of.
  head.get_layer(DESCRIPTOR_NORM).adapt(image_inputs[DESCRIPTORS][reviewed])
  said_fit: Dict[str, Any] = {}
  if cfg.taste_space == "critique":
    image_inputs[LAYOUT] = per_image(LAYOUT, descriptors.NUM_LAYOUT)
    head.get_layer(LAYOUT_NORM).adapt(image_inputs[LAYOUT][reviewed])
    said_fit = said_taste.fit_projection(
        head.get_layer(SAID_PROJECTION), np.concatenate([
        np.asarray(head.get_layer(norm)(image_inputs[key]))
        for key, norm in ((DESCRIPTORS, DESCRIPTOR_NORM),
                          (LAYOUT, LAYOUT_NORM))], 1), position,
        both[F.SAID_KEY])
  labels = both[F.LABEL_KEY].reshape(-1).astype(np.float32)
  _crowd_at_floor(head, metrics.base_rate(labels.sum(), len(labels)))
  rows = {
      F.USER_XF: both[F.USER_XF].reshape(-1).astype(np.int64),
      **{k: v[position] for k, v in image_inputs.items()},
      F.VOTE_DIST_OUTPUT: out[F.VOTE_DIST_OUTPUT][position],
      F.VOTES_XF: both[F.VOTES_XF].reshape(-1, F.AVA_NUM_SCORES)
                  .astype(np.float32),
      F.TAG_XF: both[F.TAG_XF].reshape(-1).astype(np.int64),
      F.IMAGE_ID_XF: both[F.IMAGE_ID_XF].reshape(-1).astype(np.int64),
      F.LABEL_KEY: labels.reshape(-1, 1),
  }
  pair_keys = (rows[F.USER_XF] * int(num_images) +
               both[F.IMAGE_ID_XF].reshape(-1).astype(np.int64))
  logging.info("residual: stage 2 on %d rows", len(labels))
  stage2 = head_selection.select_and_fit(
      head, rows, _stable_fold(pair_keys, 31, max(cfg.cv_folds, 1)), terms,
      cfg, epochs.callback)
  per_fit = math.ceil(len(labels) / cfg.personal_batch_size)
  fits = len(stage2["cv"]) * cfg.cv_folds + 1
  batches = (len(stage1["loss"]) * math.ceil(len(images["id"]) /
                                             cfg.batch_size) +
             fits * cfg.personal_epochs * per_fit)
  return {"image_loss": stage1["loss"], "image_val_emd": stage1["val_emd"],
          "image_count": len(images["id"]),
          "vote_only_images": len(images["id"]) - len(reviewed),
          **stage2,
          **said_fit}, batches

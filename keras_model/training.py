"""The training core: one way to train, score, calibrate and export a variant.

Shared by the TFX Trainer (``keras_model.trainer.run_fn``, a thin adapter)
and ``cfan experiment`` (``experiments.run``), in the manner of
tensorflow/models ``official/recommendation/ranking`` (``task.py`` builds the
model and the inputs, ``train.py`` drives):

1. ``train``: user profiles from the training rows
   (:mod:`keras_model.profiles`), the variant built and compiled
   (:mod:`keras_model.variants`: pointwise heads with the Eq. 6 weights, or
   BPR/VBPR on sampled triples), the epoch/step arithmetic
   (``epoch_plan``), ``fit`` (optionally with early stopping on a validation
   share carved from the *training* rows, never from the eval split the
   pipeline's gate uses) and, for BPR/VBPR, the decision threshold chosen on
   the training rows.
2. ``evaluate_protocols`` / ``predict``: the Keras metrics of both review
   protocols on labelled rows, or the heads' scores per row.
3. ``fit_calibration``: the per-protocol temperature
   (:mod:`keras_model.calibration`) on training rows held out of ``fit``.
4. ``export``: the hermetic serving SavedModel
   (:mod:`keras_model.signatures`).

Rows come as :class:`keras_model.inputs.Rows` (TFRecords or numpy columns).
Each training row has a *role* (``row_roles``): fit, calibration fit,
calibration check or validation, from stable hashes of its (user, image)
indices, so the same row keeps its role across runs.

Review-free training: each training example's review is replaced, with
probability ``review_free_prob``, by its user's profile *minus that review*,
so the same network serves both the paper's protocol (own review given) and
the deployed one (no review yet).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from keras_model import calibration
from keras_model import cfan
from keras_model import inputs
from keras_model import profiles as profiles_lib
from keras_model import signatures
from keras_model import variants
from preprocessing import features as F
from preprocessing import progress
from preprocessing.config import ModelConfig

# Batch size of the passes that only score rows (BPR threshold, calibration,
# ``predict``).
SCORE_BATCH_SIZE = 256
# Roles of a training row (``row_roles``).
ROLE_FIT, ROLE_CALIBRATION_FIT, ROLE_CALIBRATION_CHECK, ROLE_VALIDATION = (
    0, 1, 2, 3)
_VALIDATION_BUCKETS = 10_000
_VALIDATION_SALT = "validation:"
PROFILE_COLUMNS = (F.USER_XF, F.IMAGE_ID_XF, F.REVIEW_XF)
# Review protocols: (name in the metrics, ``inputs.model_dataset`` mode).
PROTOCOLS = (("review_given", "given"), ("review_free", "free"))


@dataclasses.dataclass(frozen=True)
class FitOptions:
  """How ``train`` fits a variant.

  Attributes:
    steps: training steps (batches); the epochs follow from ``epoch_plan``.
    holdout_calibration: keep ``CALIBRATION_FRACTION`` of the rows out of
      ``fit`` for ``fit_calibration`` (the Trainer; experiments do not
      calibrate).
    validation_fraction: share of the remaining rows carved out as a
      validation set (0: none). Never the eval split.
    patience: stop after this many epochs without a lower validation loss
      and keep the best weights (None: no early stopping; needs a
      validation share).
    callbacks: extra Keras callbacks of ``fit``.
    verbose: ``fit``'s verbosity.
  """
  steps: int
  holdout_calibration: bool = False
  validation_fraction: float = 0.0
  patience: Optional[int] = None
  callbacks: Sequence[Any] = ()
  verbose: int = 0

  def __post_init__(self):
    if self.steps < 1:
      raise ValueError(f"steps must be >= 1, got {self.steps}")
    if not 0.0 <= self.validation_fraction < 1.0:
      raise ValueError("validation_fraction must be in [0, 1), got "
                       f"{self.validation_fraction}")
    if self.patience is not None and self.validation_fraction <= 0.0:
      raise ValueError("early stopping (patience) needs a validation share "
                       "(validation_fraction > 0)")


@dataclasses.dataclass
class Trained:
  """A trained variant and what scoring, calibrating and exporting need.

  Attributes:
    variant: the ``variants.VariantBuilder``.
    model: the scoring model (what gets exported).
    train_model: the compiled model ``fit`` stepped (weights shared).
    eval_model: the compiled model that evaluates the heads.
    cfg: the model configuration it was trained with.
    profile_table: the users' training-review profiles.
    lookup: {"tokens", "loo"}: the profiles as ``model_dataset`` reads them.
    training_rows: the training rows and their roles.
    rows: number of training rows per role name ("fit", "calibration",
      "validation").
    steps: steps actually run (steps per epoch x epochs, or fewer when
      early stopping ended the fit).
    seconds: wall time of ``train``.
    threshold: BPR/VBPR decision threshold (None for pointwise variants).
    history: ``fit``'s per-epoch history.
  """
  variant: variants.VariantBuilder
  model: Any
  train_model: Any
  eval_model: Any
  cfg: ModelConfig
  profile_table: profiles_lib.ProfileTable
  lookup: Dict[str, Any]
  training_rows: "TrainingRows"
  rows: Dict[str, int]
  steps: int
  seconds: float
  threshold: Optional[float]
  history: Dict[str, list]


# ----------------------------------------------------------------------------
# Rows and steps
# ----------------------------------------------------------------------------
def row_roles(user: tf.Tensor, image: tf.Tensor, num_images: int, *,
              holdout_calibration: bool,
              validation_fraction: float) -> tf.Tensor:
  """int32 role of each training row (the ``ROLE_*`` constants).

  Args:
    user: transformed user indices [N] (or [N, 1]).
    image: transformed image indices, same shape.
    num_images: size of the image index (the hash key is user * num_images
      + image).
    holdout_calibration: give rows their calibration part
      (``calibration.row_part``); otherwise no calibration rows.
    validation_fraction: share of the non-calibration rows that validate,
      by a second, independent hash of the same key.

  Returns:
    [N] int32 roles.
  """
  if holdout_calibration:
    role = calibration.row_part(user, image, num_images)
  else:
    role = tf.zeros_like(tf.reshape(user, [-1]), tf.int32)
  if validation_fraction > 0:
    key = (tf.cast(tf.reshape(user, [-1]), tf.int64) * int(num_images) +
           tf.cast(tf.reshape(image, [-1]), tf.int64))
    bucket = tf.strings.to_hash_bucket_fast(
        tf.strings.join([_VALIDATION_SALT, tf.strings.as_string(key)]),
        _VALIDATION_BUCKETS)
    cut = int(round(validation_fraction * _VALIDATION_BUCKETS))
    role = tf.where((role == ROLE_FIT) & (bucket < cut), ROLE_VALIDATION,
                    role)
  return tf.cast(role, tf.int32)


def epoch_plan(total_steps: int, num_rows: int, batch_size: int
               ) -> Tuple[int, int]:
  """(steps per epoch, epochs) for ``total_steps`` batches over the rows.

  An epoch is one pass over the rows (at most ``total_steps`` batches);
  the last epoch may overshoot ``total_steps`` by less than one epoch.
  """
  steps_per_epoch = max(1, min(total_steps,
                               math.ceil(num_rows / batch_size)))
  return steps_per_epoch, max(1, math.ceil(total_steps / steps_per_epoch))


class TrainingRows:
  """Training rows with their roles; batches or columns of some roles."""

  def __init__(self, rows: inputs.Rows, profile_cols: Dict[str, np.ndarray],
               num_images: int, options: FitOptions):
    self.rows = rows
    self._num_images = num_images
    self.holdout_calibration = options.holdout_calibration
    self._validation = options.validation_fraction
    self.roles = self._roles(profile_cols[F.USER_XF],
                             profile_cols[F.IMAGE_ID_XF]).numpy()

  def _roles(self, user, image) -> tf.Tensor:
    return row_roles(user, image, self._num_images,
                     holdout_calibration=self.holdout_calibration,
                     validation_fraction=self._validation)

  def count(self, roles: Sequence[int]) -> int:
    return int(np.isin(self.roles, roles).sum())

  def batches(self, roles: Sequence[int], batch_size: int, *, shuffle: bool,
              seed: int) -> tf.data.Dataset:
    """Batches of the rows whose role is in ``roles`` (file/row order
    unless ``shuffle``)."""
    ds = self.rows.batches(batch_size, shuffle=shuffle, seed=seed)
    if np.isin(self.roles, roles).all():
      return ds
    wanted = tf.constant(list(roles), tf.int32)

    def keep(row):
      role = self._roles(row[F.USER_XF], row[F.IMAGE_ID_XF])[0]
      return tf.reduce_any(tf.equal(role, wanted))

    return ds.unbatch().filter(keep).batch(batch_size)

  def columns(self, roles: Sequence[int], names: Sequence[str]
              ) -> Dict[str, np.ndarray]:
    """The named columns of the rows whose role is in ``roles``."""
    cols = self.rows.collect(names)
    mask = np.isin(self.roles, roles)
    return cols if mask.all() else {k: v[mask] for k, v in cols.items()}


# ----------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------
def build_profiles(profile_cols: Dict[str, np.ndarray],
                   vocab: inputs.Vocab, cfg: ModelConfig
                   ) -> Tuple[profiles_lib.ProfileTable, Dict[str, Any]]:
  """The users' profiles from the training rows' reviews.

  Args:
    profile_cols: PROFILE_COLUMNS of every training row, in row order.
    vocab: the Transform vocabulary sizes.
    cfg: profile sizes.

  Returns:
    (the profile table, {"tokens": serving profiles, "loo":
    leave-one-out lookups} for ``inputs.model_dataset``).
  """
  table = profiles_lib.build_profile_table(
      profile_cols[F.USER_XF], profile_cols[F.IMAGE_ID_XF],
      profile_cols[F.REVIEW_XF], num_users=vocab.num_users,
      max_reviews=cfg.profile_max_reviews, review_len=cfg.max_review_len,
      profile_len=cfg.profile_len)
  return table, {"tokens": table.tokens,
                 "loo": profiles_lib.TrainingProfiles(
                     table, vocab.num_images, cfg.profile_len)}


def _fit_data(variant, selection: TrainingRows, roles: Sequence[int],
              cfg: ModelConfig, lookup, train_model, vocab: inputs.Vocab, *,
              steps: int, shuffle: bool, mode: str) -> tf.data.Dataset:
  """(x, y) batches of ``train_model`` over the rows of ``roles``, endless.

  Pairwise variants: BPR triples sampled from the rows; pointwise ones: the
  rows' (inputs, labels) with the review path ``mode``.
  """
  if variant.pairwise:  # BPR/VBPR: triples (u, i, j), keras_model.variants
    return variants.pairwise_dataset(
        selection.columns(roles, variants.pairwise_columns(variant)), cfg,
        visual=variant.uses_pixels, num_images=vocab.num_images,
        steps=steps, seed=cfg.seed)
  return variants.fit_dataset(train_model, inputs.model_dataset(
      selection.batches(roles, cfg.batch_size, shuffle=shuffle,
                        seed=cfg.seed).repeat(),
      cfg, lookup, mode=mode, seed=cfg.seed))


def _validation(variant, selection: TrainingRows, cfg: ModelConfig, lookup,
                train_model, vocab: inputs.Vocab
                ) -> Tuple[Optional[tf.data.Dataset], Optional[int]]:
  """(validation batches, validation steps) of the validation rows.

  Review-reading variants validate review-free (leave-one-out profile),
  like an unseen photo.
  """
  n = selection.count([ROLE_VALIDATION])
  if n == 0:
    return None, None
  steps = max(1, math.ceil(n / cfg.batch_size))
  mode = "free_loo" if variant.uses_review else "given"
  ds = _fit_data(variant, selection, [ROLE_VALIDATION], cfg, lookup,
                 train_model, vocab, steps=steps, shuffle=False, mode=mode)
  return ds, steps


def train(rows: inputs.Rows, vocab: inputs.Vocab, cfg: ModelConfig,
          options: FitOptions) -> Trained:
  """Trains ``cfg.variant`` on ``rows`` with seed ``cfg.seed``.

  Args:
    rows: the training rows (Transform's training split, or in-memory
      columns).
    vocab: the Transform vocabulary sizes.
    cfg: the model configuration (variant, seed, batch size, ...).
    options: steps, hold-outs, early stopping, callbacks.

  Returns:
    The trained variant (``Trained``).
  """
  import keras  # pylint: disable=g-import-not-at-top
  t0 = time.time()
  keras.utils.set_random_seed(cfg.seed)
  precision = cfan.configure_precision(cfg)
  variant = variants.get_variant(cfg.variant)
  logging.info("%s[%s]: users=%d images=%d tags=%d review_vocab=%d "
               "precision=%s", variant.label, cfg.name, vocab.num_users,
               vocab.num_images, vocab.num_tags, vocab.review_vocab_size,
               precision)
  # Profiles from every training row; the rows' roles from the same pass.
  profile_cols = rows.collect(PROFILE_COLUMNS)
  table, lookup = build_profiles(profile_cols, vocab, cfg)
  selection = TrainingRows(rows, profile_cols, vocab.num_images, options)
  counts = {"fit": selection.count([ROLE_FIT]),
            "calibration": selection.count([ROLE_CALIBRATION_FIT,
                                            ROLE_CALIBRATION_CHECK]),
            "validation": selection.count([ROLE_VALIDATION])}
  if counts["fit"] == 0:
    raise ValueError("no training row left to fit on")

  with cfan.distribution_strategy().scope():
    model = variant(cfg, num_users=vocab.num_users,
                    num_images=vocab.num_images, num_tags=vocab.num_tags,
                    review_vocab_size=vocab.review_vocab_size)
    # The compiled view drops the attention output (no label) and shares
    # every weight with ``model``, which is what gets exported (BPR/VBPR:
    # the pairwise model over triples, keras_model.variants).
    train_model = variants.compile_variant(variant, model, cfg)
    eval_model = variants.evaluation_model(variant, model, train_model, cfg)
  if variant.staged_fit is not None:  # e.g. residual: CNN once per image
    return _train_staged(variant, model, train_model, eval_model, cfg,
                         table, lookup, selection, counts, options, vocab, t0)
  train_ds = _fit_data(variant, selection, [ROLE_FIT], cfg, lookup,
                       train_model, vocab, steps=options.steps, shuffle=True,
                       mode=variant.train_mode)
  val_ds, val_steps = _validation(variant, selection, cfg, lookup,
                                  train_model, vocab)
  callbacks = list(options.callbacks)
  if options.patience is not None:
    callbacks.append(keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=options.patience,
        restore_best_weights=True))
  steps_per_epoch, epochs = epoch_plan(options.steps, counts["fit"],
                                       cfg.batch_size)
  logging.info("training %d steps (%d epochs x %d) on %d examples",
               options.steps, epochs, steps_per_epoch, counts["fit"])
  history = train_model.fit(
      train_ds, steps_per_epoch=steps_per_epoch, epochs=epochs,
      validation_data=val_ds, validation_steps=val_steps,
      callbacks=callbacks + [progress.keras_callback(
          f"training {variant.label}", steps_per_epoch * epochs)],
      verbose=options.verbose)
  threshold = None
  if variant.pairwise:  # decision threshold t of sigma(x_ui - t)
    threshold = variants.fit_threshold(model, inputs.model_dataset(
        selection.batches([ROLE_FIT], SCORE_BATCH_SIZE, shuffle=False,
                          seed=cfg.seed), cfg, lookup, mode="given"))
  history_dict = {k: [float(x) for x in v]
                  for k, v in history.history.items()}
  epochs_run = len(history_dict.get("loss", [])) or epochs
  return Trained(variant=variant, model=model, train_model=train_model,
                 eval_model=eval_model, cfg=cfg, profile_table=table,
                 lookup=lookup, training_rows=selection, rows=counts,
                 steps=steps_per_epoch * epochs_run,
                 seconds=time.time() - t0, threshold=threshold,
                 history=history_dict)


def _train_staged(variant, model, train_model, eval_model, cfg: ModelConfig,
                  table, lookup, selection: TrainingRows,
                  counts: Dict[str, int], options: FitOptions,
                  vocab: inputs.Vocab, t0: float) -> Trained:
  """``train`` for a variant with its own staged fit (``staged_fit``).

  It fits on numpy columns of the fit rows and stops early on the
  validation rows (or on a share it carves from the fit rows when the
  options carve none); Keras callbacks of the options are not called.
  """
  names = variant.staged_columns
  fit_cols = selection.columns([ROLE_FIT], names)
  val_cols = (selection.columns([ROLE_VALIDATION], names)
              if counts["validation"] else None)
  reporter: List[progress.Reporter] = []

  def report(done: int, total: int, note: str) -> None:
    if not reporter:
      reporter.append(progress.Reporter(f"training {variant.label}", total,
                                        unit="epoch"))
    reporter[0].update(done, note=note, force=done >= total)

  extra = {}
  if variant.staged_image_columns:
    extra["vote_only"] = selection.rows.vote_only_images(
        variant.staged_image_columns)
  history, steps = variant.staged_fit(model, fit_cols, val_cols, cfg,
                                      steps=options.steps,
                                      num_images=vocab.num_images,
                                      progress=report, **extra)
  if reporter:
    reporter[0].update(reporter[0].total, force=True,
                       note=f"{counts['fit']:,d} rows, {steps:,d} batches")
  return Trained(variant=variant, model=model, train_model=train_model,
                 eval_model=eval_model, cfg=cfg, profile_table=table,
                 lookup=lookup, training_rows=selection, rows=counts,
                 steps=steps, seconds=time.time() - t0, threshold=None,
                 history=history)


# ----------------------------------------------------------------------------
# Scoring and evaluation
# ----------------------------------------------------------------------------
def evaluate_protocols(trained: Trained, rows: inputs.Rows,
                       steps: Optional[int] = None
                       ) -> Dict[str, Dict[str, float]]:
  """Keras metrics of the heads on labelled rows, per review protocol.

  Args:
    trained: the trained variant.
    rows: labelled rows (the eval split).
    steps: batches to evaluate (None: all).

  Returns:
    {"review_given": {metric: value}, "review_free": {...}}; review-free
    reads the user's serving profile.
  """
  cfg, net = trained.cfg, trained.eval_model
  # As many steps as the rows fill: Keras warns "Your input ran out of
  # data" when it finds the end of a dataset of unknown length (TFRecords).
  steps = steps or max(1, math.ceil(rows.num_rows() / cfg.batch_size))
  out = {}
  for name, mode in PROTOCOLS:
    ds = variants.fit_dataset(net, inputs.model_dataset(
        rows.batches(cfg.batch_size, shuffle=False, seed=cfg.seed), cfg,
        trained.lookup, mode=mode))
    res = net.evaluate(ds, steps=steps, verbose=0, return_dict=True)
    out[name] = {k: float(v) for k, v in res.items()}
  return out


def _score_dataset(model, xy: tf.data.Dataset, num_tags: int
                   ) -> Dict[str, np.ndarray]:
  """Both heads' scores (missing heads completed as in the export), the
  personal label and the user/image indices of every row of ``xy``."""
  keys = (F.PERSONAL_OUTPUT, F.AGNOSTIC_OUTPUT)
  parts: Dict[str, list] = {k: [] for k in keys + (
      F.LABEL_KEY, F.USER_XF, F.IMAGE_ID_XF)}
  for x, y in xy:
    out = signatures.complete_outputs(
        model(variants.select_inputs(model, x), training=False), num_tags)
    for k in keys:
      parts[k].append(np.reshape(out[k].numpy(), [-1]))
    parts[F.LABEL_KEY].append(np.reshape(y[F.PERSONAL_OUTPUT].numpy(), [-1]))
    for k in (F.USER_XF, F.IMAGE_ID_XF):
      parts[k].append(np.reshape(x[k].numpy(), [-1]))
  return {k: np.concatenate(v) if v else np.zeros(0)
          for k, v in parts.items()}


def predict(trained: Trained, rows: inputs.Rows, mode: str, num_tags: int
            ) -> Dict[str, np.ndarray]:
  """Scores of every row (row order) with the review path ``mode``.

  Args:
    trained: the trained variant (Keras heads; no temperature, no serving
      fallback for unknown users).
    rows: the rows to score.
    mode: ``inputs.model_dataset`` mode ("given", "free", "free_loo").
    num_tags: tag classes (to complete a missing tag head).

  Returns:
    {PERSONAL_OUTPUT: [N], AGNOSTIC_OUTPUT: [N]} probabilities; a variant
    without the personal head scores it with its agnostic head, one
    without the agnostic head 0.5 (``signatures.complete_outputs``).
  """
  scores = _score_dataset(trained.model, inputs.model_dataset(
      rows.batches(SCORE_BATCH_SIZE, shuffle=False), trained.cfg,
      trained.lookup, mode=mode), num_tags)
  return {k: scores[k] for k in (F.PERSONAL_OUTPUT, F.AGNOSTIC_OUTPUT)}


def fit_calibration(trained: Trained, vocab: inputs.Vocab
                    ) -> Dict[str, Dict[str, Any]]:
  """Per review path: the temperature fitted and checked on held-out rows.

  Args:
    trained: a variant trained with ``holdout_calibration`` (its
      calibration rows were kept out of ``fit``).
    vocab: the Transform vocabulary sizes.

  Returns:
    {"review_given": ``calibration.decide`` record, "review_free": ...};
    review given: the row's own review; review-free: the user's profile
    without that row's review (as an unseen photo would be scored). An
    image-only variant (its personal score is the agnostic head's) gets no
    temperature.
  """
  if F.PERSONAL_OUTPUT not in variants.heads(trained.model):
    return {p: calibration.decide(*([np.zeros(0)] * 4))
            for p, _ in PROTOCOLS}
  if not trained.training_rows.holdout_calibration:
    raise ValueError("the variant was trained without held-out calibration "
                     "rows (FitOptions.holdout_calibration)")
  out: Dict[str, Dict[str, Any]] = {}
  for name, mode in (("review_given", "given"), ("review_free", "free_loo")):
    held_out = trained.training_rows.batches(
        [ROLE_CALIBRATION_FIT, ROLE_CALIBRATION_CHECK], SCORE_BATCH_SIZE,
        shuffle=False, seed=0)
    s = _score_dataset(trained.model, inputs.model_dataset(
        held_out, trained.cfg, trained.lookup, mode=mode), vocab.num_tags)
    part = calibration.row_part(s[F.USER_XF], s[F.IMAGE_ID_XF],
                                vocab.num_images).numpy()
    y, p = s[F.LABEL_KEY], s[F.PERSONAL_OUTPUT]
    fit, check = part == ROLE_CALIBRATION_FIT, part == ROLE_CALIBRATION_CHECK
    out[name] = calibration.decide(y[fit], p[fit], y[check], p[check])
  return out


def export(trained: Trained, tft_output, vocab: inputs.Vocab,
           temperatures: Dict[str, Dict[str, Any]], export_dir: str) -> None:
  """Writes the hermetic serving SavedModel of ``trained`` to export_dir.

  Args:
    trained: the trained variant.
    tft_output: the Transform output (its graph goes into the export).
    vocab: the Transform vocabulary sizes.
    temperatures: ``fit_calibration``'s result (its "temperature" per
      review path is applied at serving).
    export_dir: where the SavedModel goes.
  """
  signatures.set_cold_user_embedding(trained.model, vocab.known_users)
  signatures.export_serving_model(
      trained.model, tft_output, trained.profile_table.tokens, trained.cfg,
      vocab.known_users, vocab.tag_names, export_dir,
      temperatures=(temperatures["review_given"]["temperature"],
                    temperatures["review_free"]["temperature"]))

"""Stage 2 of the residual variant: which per-user terms, how regularised.

The personal head (``keras_model.residual.build_personal_head``) is a sum of
terms, each an embedding whose L2 strength ``SettableL2`` lets the fit change
without a retrace (``HeadFitter``). Which terms a dataset supports, and how
strongly each must be shrunk, is chosen here by cross-validation over the
training pairs, in rounds (one per ``Term``, in order):

1. the first, required term (the user's leniency, vote slope and the per-tag
   offset): each L2 of its grid, the optional terms off; the lowest
   out-of-fold log loss wins;
2. each optional term in turn (taste, then the user's tag affinity), every
   earlier choice fixed: each L2 of its grid; it is kept only when its
   out-of-fold log loss beats the choice so far by more than
   ``cfg.taste_min_z`` standard errors of the paired per-row difference (the
   best such candidate wins). An optional term that does not win stays off:
   frozen at zero, so the head is what it was without it.

Then the head is fitted to convergence on every training row with the
choices (no early stopping on a validation score: a few hundred pairs make
it too noisy; the L2 terms are the only brake). Why: docs/model_quality.md.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from preprocessing import keras_env as _keras_env  # noqa: F401  (must be first)

import keras
from keras import ops
import numpy as np
import tensorflow as tf

from evaluation import metrics
from preprocessing import features as F
from preprocessing.config import ModelConfig

SCORE_BATCH = 256  # rows per predict call


@keras.saving.register_keras_serializable(package="cfan")
class SettableL2(keras.regularizers.Regularizer):
  """L2 whose strength the fit may change without a retrace: the traced
  train step reads it from a variable, so model selection over the grids of
  ``Term`` reuses one head and one compiled step."""

  def __init__(self, l2: float = 0.0):
    self._l2 = float(l2)
    self._strength = keras.Variable(self._l2, trainable=False,
                                    dtype="float32", name="settable_l2")

  @property
  def l2(self) -> float:
    return self._l2

  @l2.setter
  def l2(self, value: float) -> None:
    self._l2 = float(value)
    self._strength.assign(self._l2)

  def __call__(self, x):
    return ops.cast(self._strength, x.dtype) * ops.sum(ops.square(x))

  def get_config(self):
    return {"l2": self._l2}


class _SettableCosineDecay(keras.optimizers.schedules.CosineDecay):
  """Keras' cosine decay over a number of steps held in a variable (each fit
  of the selection has its own row count, one traced step serves them
  all)."""

  def __init__(self, initial_learning_rate: float):
    self.steps = keras.Variable(1.0, trainable=False, dtype="float32",
                                name="decay_steps")
    super().__init__(initial_learning_rate, self.steps)

  def get_config(self):
    return {**super().get_config(),
            "decay_steps": float(ops.convert_to_numpy(self.steps))}


@dataclasses.dataclass(frozen=True)
class Term:
  """One round of the selection.

  Attributes:
    key: its name in the history (``f"{key}_l2"``: the choice, None when an
      optional term is left out).
    layers: the head's embedding layers it regularises (SettableL2).
    grid: the L2 strengths tried.
    optional: whether the term may be left out (frozen at zero) and is kept
      only when it wins by ``cfg.taste_min_z`` standard errors.
  """
  key: str
  layers: Sequence[str]
  grid: Sequence[float]
  optional: bool = True

  @property
  def name(self) -> str:
    return f"{self.key}_l2"


Choice = Dict[str, Optional[float]]  # {term.name: L2, None = left out}


def set_l2(head: keras.Model, terms: Sequence[Term], choice: Choice) -> None:
  """Each term's L2; an optional term left out (None) is frozen (trainable
  False), so it stays at its value (zero when it has never been fitted)."""
  for term in terms:
    l2 = choice.get(term.name)
    for name in term.layers:
      layer = head.get_layer(name)
      layer.trainable = l2 is not None
      layer.embeddings.regularizer.l2 = 0.0 if l2 is None else float(l2)


class HeadFitter:
  """Fits the head again and again (every fold of every candidate, then the
  final fit) on one compiled train step per set of trainable terms.

  Each fit is ``cfg.personal_epochs`` epochs of Adam with a cosine decay, to
  convergence with the L2 terms as the only brake, from a fresh optimizer
  state. A recompile per fit would retrace the step; on a few thousand pairs
  the traces cost more than the fits. So the step is compiled again only
  when the trainable terms change (a round of the selection switches an
  optional term on); otherwise Adam's moments and step count are zeroed and
  the decay's length set to this fit's batches.
  """

  def __init__(self, head: keras.Model, cfg: ModelConfig):
    self.head, self.cfg = head, cfg
    self._trainable: Optional[tuple] = None
    self._schedule: Optional[_SettableCosineDecay] = None

  def fit(self, x: Mapping[str, np.ndarray], y: np.ndarray,
          callbacks: Sequence[keras.callbacks.Callback] = ()) -> List[float]:
    head, cfg = self.head, self.cfg
    batch = cfg.personal_batch_size
    trainable = tuple(id(v) for v in head.trainable_weights)
    if trainable != self._trainable:
      self._schedule = _SettableCosineDecay(cfg.personal_learning_rate)
      head.compile(optimizer=keras.optimizers.Adam(self._schedule),
                   loss=keras.losses.BinaryCrossentropy())
      self._trainable = trainable
    else:
      for v in head.optimizer.variables:
        v.assign(ops.zeros_like(v))
    per_epoch = max(1, math.ceil(len(y) / batch))
    self._schedule.steps.assign(cfg.personal_epochs * per_epoch)
    # One pipeline for every epoch (a fresh shuffle each pass); with
    # steps_per_epoch Keras keeps its iterator across epochs instead of
    # building one per epoch, which costs more than a small head's epoch.
    data = tf.data.Dataset.from_tensor_slices((dict(x), y)).shuffle(
        max(1, len(y)), reshuffle_each_iteration=True).batch(batch).repeat()
    return head.fit(data, epochs=cfg.personal_epochs,
                    steps_per_epoch=per_epoch, verbose=0,
                    callbacks=list(callbacks)).history["loss"]


def row_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
  p = np.clip(np.asarray(p, np.float64).reshape(-1), 1e-7, 1 - 1e-7)
  y = np.asarray(y, np.float64).reshape(-1)
  return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def candidates(terms: Sequence[Term]) -> int:
  """How many candidates the selection scores (each ``cv_folds`` fits)."""
  return sum(len(t.grid) for t in terms)


def _label(choice: Choice) -> str:
  return ", ".join(f"{k.replace('_l2', '')} L2 "
                   f"{'off' if v is None else format(v, 'g')}"
                   for k, v in choice.items())


def select_and_fit(head: keras.Model, rows: Mapping[str, np.ndarray],
                   folds: np.ndarray, terms: Sequence[Term], cfg: ModelConfig,
                   callback: Optional[Callable[[str], keras.callbacks.Callback]]
                   = None) -> Dict[str, Any]:
  """Chooses every term's L2 by cross-validation, then fits on all rows.

  Args:
    head: the personal head, at its starting weights (restored before every
      fit).
    rows: the head's inputs and LABEL_KEY, one row per training pair.
    folds: each row's fold (0..cfg.cv_folds-1), stable per pair.
    terms: the rounds, in order; the first is required.
    cfg: cv_folds, taste_min_z and the fit's epochs, batch and learning rate.
    callback: makes a Keras callback from a note on what is running (for a
      progress line), or None.

  Returns:
    {"loss": the final fit's loss per epoch, term.name: each choice (None:
    left out), "cv": [{term.name: ... for every term, "oof_auc",
    "oof_log_loss", "z"}] per candidate (z: against the choice before its
    round; 0 in the first round)}. With fewer than 10 rows per fold (or
    fewer than two folds) nothing is cross-validated: the first L2 of the
    required term, the optional terms off.
  """
  x = {k: rows[k] for k in head.input.keys()}
  y = rows[F.LABEL_KEY]
  start = head.get_weights()
  fitter = HeadFitter(head, cfg)

  def callbacks(note: str) -> List[keras.callbacks.Callback]:
    return [callback(note)] if callback is not None else []

  def out_of_fold(choice: Choice):
    """(per-row out-of-fold log loss, out-of-fold scores)."""
    oof = np.zeros(len(y))
    for f in range(cfg.cv_folds):
      held = folds == f
      head.set_weights(start)
      set_l2(head, terms, choice)
      fitter.fit({k: v[~held] for k, v in x.items()}, y[~held],
                 callbacks(f"stage 2: {_label(choice)}, fold {f + 1}"))
      oof[held] = np.asarray(head.predict(
          {k: v[held] for k, v in x.items()}, batch_size=SCORE_BATCH,
          verbose=0)).reshape(-1)
    return row_log_loss(y, oof), oof

  choice: Choice = {t.name: (None if t.optional else t.grid[0])
                    for t in terms}
  cv: List[Dict[str, Any]] = []
  if cfg.cv_folds >= 2 and len(y) >= 10 * cfg.cv_folds:
    chosen_loss = None  # per row, of the choice so far
    for term in terms:
      best = None
      for l2 in term.grid:
        candidate = {**choice, term.name: float(l2)}
        loss, oof = out_of_fold(candidate)
        z = 0.0
        if chosen_loss is not None:
          gain = chosen_loss - loss
          z = float(gain.mean() /
                    max(gain.std() / math.sqrt(len(gain)), 1e-12))
        cv.append({**candidate, "oof_auc": metrics.auc(y, oof),
                   "oof_log_loss": float(loss.mean()), "z": z})
        logging.info("residual: %s: out-of-fold AUC %.4f, log loss %.4f, "
                     "z %.2f", _label(candidate), cv[-1]["oof_auc"],
                     loss.mean(), z)
        wins = not term.optional or (z > cfg.taste_min_z and
                                     loss.mean() < chosen_loss.mean())
        if wins and (best is None or loss.mean() < best[1].mean()):
          best = (float(l2), loss)
      if best is not None:
        choice[term.name], chosen_loss = best
  head.set_weights(start)
  set_l2(head, terms, choice)
  loss = fitter.fit(x, y, callbacks(f"stage 2: final fit, {_label(choice)}"))
  return {"loss": loss, **choice, "cv": cv}

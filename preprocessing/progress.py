"""Progress of long stages, reported as Python logging records.

Library code (the training core, Beam stages) reports how far it is with
``report``; it never writes to the terminal itself. The ``cfan`` command
line (``tfx_pipeline.console``) draws the records of ``LOGGER`` as one
updating progress line with an ETA and writes the finished ones to the run's
log file; without it (tests, notebooks) they are ordinary INFO records.

``keras_callback`` reports a Keras ``fit`` step by step.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Optional

LOGGER = "cfan.progress"
# The ``Progress`` of a record of LOGGER is its attribute of this name.
RECORD_ATTR = "cfan_progress"
# Least seconds between two reports of the same stage (the last always goes).
_MIN_INTERVAL_S = 0.5


@dataclasses.dataclass(frozen=True)
class Progress:
  """How far one stage is.

  Attributes:
    label: the stage, e.g. "Trainer: cfan training".
    done: units done.
    total: units in all (0: unknown).
    unit: what is counted ("step", "row", ...).
    started: ``time.time()`` when the stage started (for the ETA).
    note: a short status, e.g. "loss 0.412".
  """
  label: str
  done: int
  total: int
  unit: str
  started: float
  note: str = ""

  @property
  def finished(self) -> bool:
    return self.total > 0 and self.done >= self.total


def report(progress: Progress) -> None:
  """Logs ``progress`` as an INFO record of ``LOGGER``."""
  logging.getLogger(LOGGER).info(
      "%s: %d/%d %s%s", progress.label, progress.done, progress.total,
      progress.unit, f" ({progress.note})" if progress.note else "",
      extra={RECORD_ATTR: progress})


class Reporter:
  """Reports one stage, at most every half second (the last report always).

  Args:
    label: the stage.
    total: units in all.
    unit: what is counted.
  """

  def __init__(self, label: str, total: int, unit: str = "step"):
    self.label, self.total, self.unit = label, int(total), unit
    self.started = time.time()
    self._last = -float("inf")

  def update(self, done: int, note: str = "", force: bool = False) -> None:
    now = time.time()
    if not force and done < self.total and now - self._last < _MIN_INTERVAL_S:
      return
    self._last = now
    report(Progress(self.label, int(done), self.total, self.unit,
                    self.started, note))


def keras_callback(label: str, total_steps: int):
  """A Keras callback reporting ``fit``'s steps (all epochs) and loss.

  Args:
    label: the stage, e.g. "training cfan".
    total_steps: steps of the whole fit (steps per epoch x epochs); an
      early stop ends the stage with a last report of the steps run.

  Returns:
    A ``keras.callbacks.Callback``.
  """
  import keras  # pylint: disable=g-import-not-at-top

  class _Progress(keras.callbacks.Callback):
    """Reports every batch (throttled) and the end of the fit."""

    def __init__(self):
      super().__init__()
      self._reporter: Optional[Reporter] = None
      self._steps = 0
      self._note = ""

    def on_train_begin(self, logs=None):
      self._reporter = Reporter(label, total_steps)
      self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
      self._steps += 1
      if logs and "loss" in logs:
        self._note = f"loss {float(logs['loss']):.3f}"
      self._reporter.update(self._steps, self._note)

    def on_epoch_end(self, epoch, logs=None):
      if logs and "val_loss" in logs:
        self._note = (f"loss {float(logs.get('loss', float('nan'))):.3f}, "
                      f"val_loss {float(logs['val_loss']):.3f}")

    def on_train_end(self, logs=None):
      # An early stop finishes the stage at the steps actually run.
      if self._steps < self._reporter.total:
        self._note = ", ".join(filter(None, [self._note, "stopped early"]))
        self._reporter.total = self._steps
      self._reporter.update(self._steps, self._note, force=True)

  return _Progress()

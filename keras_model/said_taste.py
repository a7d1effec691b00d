"""The critique taste space of the residual head (``taste_space`` "critique").

Reviews as training-time targets: each kept review says what the photo looks
like (features.SAID_KEY, read by preprocessing.critique_text.said_states). Per
attribute of features.SAID_ATTRIBUTES, ``fit_projection`` fits a ridge map
from the image's standardised descriptors and spatial layout to the mean of
what its training critiques say of it, and sets the head's frozen projection
layer to it, so each user's taste is over those attributes. No review is read
at prediction time: a new photo gets its attributes from its pixels.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Sequence, Tuple

import numpy as np

from preprocessing import features as F

# A said attribute is a taste axis when at least this many training images
# have a critique that says it (fewer: its projection stays at zero).
MIN_SAID_IMAGES = 20
# Ridge strengths tried for each said attribute's map (leave-one-out choice).
SAID_RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-1, 4, 11))


def said_targets(position: np.ndarray, said: np.ndarray, num_images: int
                 ) -> Tuple[np.ndarray, np.ndarray]:
  """Per image, what its training critiques say it looks like.

  Args:
    position: each training row's image (index into the image table).
    said: each row's features.SAID_KEY value.
    num_images: size of the image table.

  Returns:
    (mean said state [num_images, A] over the rows that say the attribute,
    0 where none does; how many rows say it [num_images, A]), A =
    len(features.SAID_ATTRIBUTES).
  """
  position = np.asarray(position, np.int64).reshape(-1)
  said = np.asarray(said, np.int64).reshape(-1)
  sums = np.zeros((num_images, len(F.SAID_ATTRIBUTES)))
  counts = np.zeros_like(sums)
  for a in range(len(F.SAID_ATTRIBUTES)):
    state = F.decode_said(said, a).astype(np.float64)
    sums[:, a] = np.bincount(position, weights=state, minlength=num_images)
    counts[:, a] = np.bincount(position, weights=(state != 0).astype(float),
                               minlength=num_images)
  return sums / np.maximum(counts, 1.0), counts


def _ridge_loo(x: np.ndarray, y: np.ndarray, alphas: Sequence[float]
               ) -> Tuple[np.ndarray, float, float]:
  """Ridge regression of y on x (intercept unpenalised), its strength chosen
  by exact leave-one-out error: (weights, intercept, chosen alpha)."""
  xm, ym = x.mean(0), y.mean()
  xc, yc = x - xm, y - ym
  u, sv, vt = np.linalg.svd(xc, full_matrices=False)
  uty = u.T @ yc
  best = None
  for alpha in alphas:
    shrink = sv ** 2 / (sv ** 2 + alpha)
    fitted = u @ (shrink * uty)
    hat = (u ** 2) @ shrink + 1.0 / len(y)
    loo = np.mean(((yc - fitted) / np.maximum(1.0 - hat, 1e-6)) ** 2)
    if best is None or loo < best[0]:
      best = (loo, alpha)
  alpha = best[1]
  w = vt.T @ (sv / (sv ** 2 + alpha) * uty)
  return w, float(ym - xm @ w), float(alpha)


def fit_projection(layer, z: np.ndarray, position: np.ndarray,
                   said: np.ndarray) -> Dict[str, Any]:
  """Sets ``layer``, the Dense map of the critique taste space.

  For each attribute of features.SAID_ATTRIBUTES, a ridge map from the
  image's standardised descriptors and spatial layout ``z`` [images, D]
  (the projection layer's input) to the mean of what
  its training critiques say of it (-1 low .. +1 high), fitted on the
  training images some critique says it of, then scaled to zero mean and
  unit spread over the images with training rows. An attribute fewer than
  MIN_SAID_IMAGES images are said of stays at zero (no taste on it).

  Returns:
    {"said_images": images per attribute, "said_alpha": the ridge
    strength per attribute (None: not fitted)}.
  """
  kernel = np.zeros((z.shape[1], len(F.SAID_ATTRIBUTES)), np.float32)
  bias = np.zeros(len(F.SAID_ATTRIBUTES), np.float32)
  target, counts = said_targets(position, said, len(z))
  reviewed = np.unique(position)
  images, alphas = [], []
  for a in range(len(F.SAID_ATTRIBUTES)):
    said_of = counts[:, a] > 0
    images.append(int(said_of.sum()))
    alphas.append(None)
    if said_of.sum() < MIN_SAID_IMAGES or np.ptp(target[said_of, a]) == 0:
      continue
    w, b, alpha = _ridge_loo(z[said_of], target[said_of, a],
                             SAID_RIDGE_ALPHAS)
    proj = z[reviewed] @ w + b
    sd = float(proj.std())
    if sd < 1e-9:
      continue
    kernel[:, a] = w / sd
    bias[a] = (b - float(proj.mean())) / sd
    alphas[-1] = alpha
  layer.set_weights([kernel, bias])
  logging.info("residual: critique taste space, images said of per "
               "attribute %s", dict(zip(F.SAID_ATTRIBUTES, images)))
  return {"said_images": dict(zip(F.SAID_ATTRIBUTES, images)),
          "said_alpha": dict(zip(F.SAID_ATTRIBUTES, alphas))}

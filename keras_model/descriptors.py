"""Classic photo-aesthetics descriptors, computed in the graph from pixels.

The residual model's image embedding is trained on AVA votes only, so it keeps
the *quality* direction of an image and little else; personal taste is about
the other directions (one person likes bright, vivid photos, another dark,
soft ones). These hand-made global statistics, in the tradition of Datta et
al. (ECCV 2006) and Ke et al. (CVPR 2006), name those directions directly and
need no training, so a user's taste over them can be learnt from a few dozen
reviews. They run inside the exported model (pixels in, descriptors out), so
serving computes them the same way training did.

Measured on the demo generator, whose photos carry four visual attributes
that users' tastes weigh (brightness, sharpness, colourfulness,
centredness): see docs/model_quality.md.
"""
from __future__ import annotations

from preprocessing import keras_env as _keras_env  # noqa: F401  (must be first)

from keras import layers
from keras import ops
import numpy as np

# Names of the descriptor columns, in order.
NAMES = (
    "brightness",          # mean luminance
    "contrast",            # luminance standard deviation
    "colourfulness",       # Hasler & Suesstrunk (2003)
    "saturation",          # mean HSV saturation
    "sharpness",           # log variance of the Laplacian of luminance
    "centre_edges",        # share of gradient energy in the centre half
    "centre_brightness",   # centre luminance minus the whole image's
    "red_green",           # mean opponent colour r - g
    "yellow_blue",         # mean opponent colour (r + g) / 2 - b
    "subject_offset",      # distance of the saliency centroid from the centre
)
NUM_DESCRIPTORS = len(NAMES)


def _luminance(a):
  """[B, H, W, 3] in 0..1 -> [B, H, W] luminance (Rec. 601)."""
  return 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]


def _saliency(a, lum):
  """(local contrast, saliency) [B, H, W]: luminance's distance from its
  neighbourhood mean (a box of about an eighth of the photo), and that plus
  each pixel's colour distance from the photo's mean colour."""
  h = lum.shape[1]
  k = max(3, (h // 8) | 1)
  blur = ops.average_pool(lum[..., None], k, strides=1, padding="same")[..., 0]
  contrast = ops.abs(lum - blur)
  colour_dist = ops.sqrt(ops.sum(ops.square(
      a - ops.mean(a, axis=(1, 2), keepdims=True)), -1) + 1e-12)
  return contrast, contrast + colour_dist


class ImageDescriptors(layers.Layer):
  """Pixels [B, H, W, 3] in 0..255 -> [B, NUM_DESCRIPTORS] statistics."""

  def call(self, pixels):
    a = ops.cast(pixels, "float32") / 255.0
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    lum = _luminance(a)  # [B, H, W]
    h, w = lum.shape[1], lum.shape[2]
    mean = lambda x: ops.mean(x, axis=(1, 2))  # noqa: E731
    brightness = mean(lum)
    contrast = ops.std(lum, axis=(1, 2))
    rg, yb = r - g, 0.5 * (r + g) - b
    colourful = (ops.sqrt(ops.square(ops.std(rg, axis=(1, 2))) +
                          ops.square(ops.std(yb, axis=(1, 2)))) +
                 0.3 * ops.sqrt(ops.square(mean(rg)) + ops.square(mean(yb))))
    mx, mn = ops.max(a, -1), ops.min(a, -1)
    saturation = mean((mx - mn) / ops.maximum(mx, 1e-6))
    lum4 = lum[..., None]
    laplace = ops.convert_to_tensor(
        [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    lap = ops.conv(lum4, ops.reshape(laplace, (3, 3, 1, 1)), padding="same")
    sharpness = ops.log(ops.var(lap[:, 1:-1, 1:-1, 0], axis=(1, 2)) + 1e-6)
    gx = lum[:, :, 1:] - lum[:, :, :-1]
    gy = lum[:, 1:, :] - lum[:, :-1, :]
    edges = ops.sqrt(ops.square(gx[:, :-1, :]) + ops.square(gy[:, :, :-1]) +
                     1e-12)
    eh, ew = h - 1, w - 1
    centre_edges = (ops.sum(edges[:, eh // 4:3 * eh // 4, ew // 4:3 * ew // 4],
                            axis=(1, 2)) /
                    ops.maximum(ops.sum(edges, axis=(1, 2)), 1e-6))
    centre_brightness = (mean(lum[:, h // 4:3 * h // 4, w // 4:3 * w // 4]) -
                         brightness)
    _, sal = _saliency(a, lum)
    sal = sal / ops.maximum(ops.sum(sal, axis=(1, 2), keepdims=True), 1e-6)
    ys = (ops.arange(h, dtype="float32") + 0.5) / h
    xs = (ops.arange(w, dtype="float32") + 0.5) / w
    cy = ops.sum(sal * ys[None, :, None], axis=(1, 2))
    cx = ops.sum(sal * xs[None, None, :], axis=(1, 2))
    offset = ops.sqrt(ops.square(cy - 0.5) + ops.square(cx - 0.5))
    return ops.stack([brightness, contrast, colourful, saturation, sharpness,
                      centre_edges, centre_brightness, mean(rg), mean(yb),
                      offset], axis=-1)

  def compute_output_shape(self, input_shape):
    return (input_shape[0], NUM_DESCRIPTORS)


# Where things are in the photo: for each grid of LAYOUT_GRIDS (g x g cells)
# each cell's mean luminance, saturation and edge strength, then, for each
# statistic of RING_STATS, the share of the photo's total in each ring of
# RING_RADII around the centre (where the detail and the salient part sit:
# in the middle, at a third, at the border). Too many numbers for a
# per-user taste, but what a map fitted on many images can read an
# attribute like "centred" from (keras_model.residual, the critique taste
# space). Two grids because a 4 x 4 grid's middle cells span the
# rule-of-thirds points; a 5 x 5 grid separates them from the centre.
LAYOUT_GRIDS = (4, 5)
LAYOUT_STATS = ("luminance", "saturation", "edges")
RING_RADII = (0.08, 0.16, 0.24, 0.32, 0.45)  # ring edges; the last ring is open
RING_STATS = ("edges", "saliency", "local_contrast")
NUM_LAYOUT = (len(LAYOUT_STATS) * sum(g * g for g in LAYOUT_GRIDS) +
              len(RING_STATS) * (len(RING_RADII) + 1))


def _one_hot(index: np.ndarray, n: int) -> np.ndarray:
  """[len(index), n] float32: row i is 1 at index[i]."""
  return np.eye(n, dtype=np.float32)[index]


def _cell_matrix(h: int, w: int, g: int) -> np.ndarray:
  """[h * w, g * g]: the mean over each cell of a g x g grid (a pixel
  belongs to the cell its centre falls in), cells row by row."""
  rows = np.minimum(((np.arange(h) + 0.5) * g / h).astype(int), g - 1)
  cols = np.minimum(((np.arange(w) + 0.5) * g / w).astype(int), g - 1)
  m = _one_hot((rows[:, None] * g + cols[None, :]).reshape(-1), g * g)
  return m / np.maximum(m.sum(0, keepdims=True), 1.0)


def _ring_matrix(h: int, w: int) -> np.ndarray:
  """[h * w, rings]: 1 where a pixel's centre lies in the ring (distance
  from the photo's centre in fractions of its height and width)."""
  ys = (np.arange(h) + 0.5) / h - 0.5
  xs = (np.arange(w) + 0.5) / w - 0.5
  r = np.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2).reshape(-1)
  return _one_hot(np.searchsorted(np.asarray(RING_RADII), r, side="right"),
                  len(RING_RADII) + 1)


class SpatialLayout(layers.Layer):
  """Pixels [B, H, W, 3] in 0..255 -> [B, NUM_LAYOUT]: every grid's cell
  statistics (each statistic's cells row by row, then the next statistic,
  then the next grid), then the ring shares of each RING_STATS statistic."""

  def call(self, pixels):
    a = ops.cast(pixels, "float32") / 255.0
    lum = _luminance(a)
    mx, mn = ops.max(a, -1), ops.min(a, -1)
    sat = (mx - mn) / ops.maximum(mx, 1e-6)
    gx = ops.pad(lum[:, :, 1:] - lum[:, :, :-1], ((0, 0), (0, 0), (0, 1)))
    gy = ops.pad(lum[:, 1:, :] - lum[:, :-1, :], ((0, 0), (0, 1), (0, 0)))
    edges = ops.sqrt(ops.square(gx) + ops.square(gy) + 1e-12)
    h, w = pixels.shape[1], pixels.shape[2]
    flat = lambda x: ops.reshape(x, (-1, h * w))  # noqa: E731
    out = []
    for g in LAYOUT_GRIDS:
      cells = ops.convert_to_tensor(_cell_matrix(h, w, g))
      out.extend(ops.matmul(flat(m), cells) for m in (lum, sat, edges))
    contrast, sal = _saliency(a, lum)
    rings = ops.convert_to_tensor(_ring_matrix(h, w))
    for m in (edges, sal, contrast):
      m = flat(m)
      out.append(ops.matmul(m, rings) /
                 ops.maximum(ops.sum(m, axis=1, keepdims=True), 1e-6))
    return ops.concatenate(out, axis=-1)

  def compute_output_shape(self, input_shape):
    return (input_shape[0], NUM_LAYOUT)

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

import keras
from keras import layers
from keras import ops

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


class ImageDescriptors(layers.Layer):
  """Pixels [B, H, W, 3] in 0..255 -> [B, NUM_DESCRIPTORS] statistics."""

  def call(self, pixels):
    a = ops.cast(pixels, "float32") / 255.0
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    lum = 0.299 * r + 0.587 * g + 0.114 * b  # [B, H, W]
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
    # Saliency: local luminance contrast plus colour distance from the mean.
    k = max(3, (h // 8) | 1)
    blur = ops.average_pool(lum4, k, strides=1, padding="same")[..., 0]
    colour_dist = ops.sqrt(ops.sum(ops.square(
        a - ops.mean(a, axis=(1, 2), keepdims=True)), -1) + 1e-12)
    sal = ops.abs(lum - blur) + colour_dist
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


# Where things are in the photo: a LAYOUT_GRID x LAYOUT_GRID grid of cells,
# and in each cell its mean luminance, mean saturation and mean edge
# strength. Too many numbers for a per-user taste, but what a map fitted on
# many images can read an attribute like "centred" from (keras_model.residual,
# the critique taste space).
LAYOUT_GRID = 4
LAYOUT_STATS = ("luminance", "saturation", "edges")
NUM_LAYOUT = len(LAYOUT_STATS) * LAYOUT_GRID * LAYOUT_GRID


class SpatialLayout(layers.Layer):
  """Pixels [B, H, W, 3] in 0..255 -> [B, NUM_LAYOUT] cell statistics
  (every statistic's cells row by row, then the next statistic)."""

  def call(self, pixels):
    a = ops.cast(pixels, "float32") / 255.0
    lum = 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]
    mx, mn = ops.max(a, -1), ops.min(a, -1)
    sat = (mx - mn) / ops.maximum(mx, 1e-6)
    gx = ops.pad(lum[:, :, 1:] - lum[:, :, :-1], ((0, 0), (0, 0), (0, 1)))
    gy = ops.pad(lum[:, 1:, :] - lum[:, :-1, :], ((0, 0), (0, 1), (0, 0)))
    edges = ops.sqrt(ops.square(gx) + ops.square(gy) + 1e-12)
    maps = ops.stack([lum, sat, edges], axis=-1)  # [B, H, W, 3]
    h, w = pixels.shape[1], pixels.shape[2]
    cells = ops.average_pool(maps, (h // LAYOUT_GRID, w // LAYOUT_GRID),
                             strides=(h // LAYOUT_GRID, w // LAYOUT_GRID),
                             padding="valid")  # [B, G, G, 3]
    cells = ops.transpose(cells[:, :LAYOUT_GRID, :LAYOUT_GRID], (0, 3, 1, 2))
    return ops.reshape(cells, (-1, NUM_LAYOUT))

  def compute_output_shape(self, input_shape):
    return (input_shape[0], NUM_LAYOUT)

"""Where in a photo a model's score comes from: per-image maps and their mass.

A map is a grid of cells over the whole photo: cell (i, j) of an [h, w] map
covers rows i/h..(i+1)/h and columns j/w..(j+1)/w of the photo, whatever its
aspect (the model squashes every photo to a square). Two kinds:

* **attention** (the CFAN variants, Eq. 5): the model's own softmax over the
  cells of its CNN feature map, read from the model's ``attention`` output.
* **occlusion** (any model, e.g. the ``residual`` variant, which has no
  attention): the change in a score when one cell of the photo is painted
  over with the photo's mean colour (Zeiler & Fergus, 2014). It needs only a
  function from photos to scores, so it runs on the exported serving model
  and measures the model that is served; unlike a pixel gradient it also
  sees through the residual's stop-gradient on predicted votes.

``importance`` turns either into a non-negative map that sums to 1 (for
occlusion: the absolute changes, since a cell matters whether it raises or
lowers the score). ``box_mass`` is the share of that mass inside a box given
as fractions of width and height (the demo generator's subject box);
``box_area`` is the box's share of the photo, the mass a map without any
preference for the subject would put there (the chance level). A map can
beat chance by a fixed spatial bias alone (demo subjects sit near the
centre), so ``subject_mass`` also scores the maps' own average, the same
map for every photo: per-photo maps that follow the subject put more mass
on it than their average does.
"""
from __future__ import annotations

from typing import Callable, Dict, Sequence, Tuple

import numpy as np

ATTENTION = "attention"
OCCLUSION = "occlusion"
# Cells per side of an occlusion map: 8 x 8 = 64 extra scorings per photo
# and user, cells of 8 x 8 input pixels at the cpu config's 64-px input.
OCCLUSION_GRID = 8
# (x0, y0, x1, y1) as fractions of the photo's width and height.
Box = Tuple[float, float, float, float]


def _edges(n: int, cells: int) -> np.ndarray:
  """Pixel boundaries of ``cells`` near-equal cells over ``n`` pixels."""
  return np.round(np.linspace(0, n, cells + 1)).astype(int)


def occluded_copies(pixels: np.ndarray, grid: int = OCCLUSION_GRID
                    ) -> np.ndarray:
  """The photo with each cell of a grid x grid split painted over, in turn.

  Args:
    pixels: [H, W, C] array (any dtype); H and W at least ``grid``.
    grid: cells per side.

  Returns:
    [grid * grid, H, W, C], row-major over cells: copy k = i * grid + j has
    cell (i, j) set to the photo's mean colour.

  Raises:
    ValueError: not an [H, W, C] array, or smaller than the grid.
  """
  pixels = np.asarray(pixels)
  if pixels.ndim != 3 or min(pixels.shape[:2]) < grid or grid < 1:
    raise ValueError(f"occlusion needs an [H, W, C] photo of at least "
                     f"{grid} x {grid} pixels, got shape {pixels.shape}")
  fill = pixels.reshape(-1, pixels.shape[-1]).mean(0).astype(pixels.dtype)
  rows, cols = _edges(pixels.shape[0], grid), _edges(pixels.shape[1], grid)
  out = np.repeat(pixels[None], grid * grid, axis=0)
  for i in range(grid):
    for j in range(grid):
      out[i * grid + j, rows[i]:rows[i + 1], cols[j]:cols[j + 1]] = fill
  return out


def occlusion_map(score: Callable[[np.ndarray], np.ndarray],
                  pixels: np.ndarray, grid: int = OCCLUSION_GRID
                  ) -> Tuple[float, np.ndarray]:
  """Score of the photo and the signed change when each cell is covered.

  Args:
    score: [N, H, W, C] photos -> [N] scores (one call, N = grid^2 + 1).
    pixels: the photo, [H, W, C].
    grid: cells per side.

  Returns:
    (the photo's own score, [grid, grid] of score(photo) - score(photo with
    the cell covered)): positive where the cell raises the score.
  """
  photos = np.concatenate([np.asarray(pixels)[None],
                           occluded_copies(pixels, grid)])
  s = np.asarray(score(photos), np.float64).reshape(-1)
  if s.shape[0] != photos.shape[0]:
    raise ValueError(f"score returned {s.shape[0]} values for "
                     f"{photos.shape[0]} photos")
  return float(s[0]), (s[0] - s[1:]).reshape(grid, grid)


def importance(values: np.ndarray, kind: str) -> np.ndarray:
  """A map as non-negative weights that sum to 1.

  Args:
    values: [h, w] attention weights, or signed occlusion changes.
    kind: ATTENTION or OCCLUSION.

  Returns:
    [h, w] float64 summing to 1; uniform when the map has no mass (a model
    whose score no cell changes).
  """
  if kind not in (ATTENTION, OCCLUSION):
    raise ValueError(f"map kind must be {ATTENTION!r} or {OCCLUSION!r}, "
                     f"got {kind!r}")
  v = np.asarray(values, np.float64)
  v = np.abs(v) if kind == OCCLUSION else np.clip(v, 0.0, None)
  total = float(v.sum())
  if not total > 0:
    return np.full(v.shape, 1.0 / v.size)
  return v / total


def _check_box(box: Sequence[float]) -> Box:
  x0, y0, x1, y1 = (float(b) for b in box)
  if not 0.0 <= x0 <= x1 <= 1.0 or not 0.0 <= y0 <= y1 <= 1.0:
    raise ValueError(f"box (x0, y0, x1, y1) must be fractions with x0 <= x1 "
                     f"and y0 <= y1, got {tuple(box)}")
  return x0, y0, x1, y1


def _coverage(lo: float, hi: float, cells: int) -> np.ndarray:
  """Share of each of ``cells`` equal cells over [0, 1] inside [lo, hi]."""
  edges = np.linspace(0.0, 1.0, cells + 1)
  inside = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo),
                   0.0, None)
  return inside * cells


def box_area(box: Sequence[float]) -> float:
  """The box's share of the photo's area."""
  x0, y0, x1, y1 = _check_box(box)
  return (x1 - x0) * (y1 - y0)


def box_mass(weights: np.ndarray, box: Sequence[float]) -> float:
  """Share of a map's mass inside the box (cells partly inside count by the
  share of their area inside, the map being constant over a cell).

  Args:
    weights: [h, w] non-negative map (e.g. ``importance``'s).
    box: (x0, y0, x1, y1) as fractions of width and height.
  """
  x0, y0, x1, y1 = _check_box(box)
  w = np.asarray(weights, np.float64)
  total = float(w.sum())
  if w.ndim != 2 or not total > 0:
    raise ValueError(f"need a non-negative [h, w] map with mass, got shape "
                     f"{w.shape} and sum {total}")
  inside = np.outer(_coverage(y0, y1, w.shape[0]),
                    _coverage(x0, x1, w.shape[1]))
  return float((w * inside).sum() / total)


def subject_mass(maps: Sequence[np.ndarray], boxes: Sequence[Sequence[float]]
                 ) -> Dict[str, float]:
  """Mean share of the maps' mass on their subjects, beside chance.

  Args:
    maps: one non-negative [h, w] map per photo.
    boxes: each photo's subject box (x0, y0, x1, y1), fractions.

  Returns:
    {"images", "mass_in_box" (mean share of mass inside the box),
    "box_area" (mean area share: the chance level), "lift" (their ratio;
    1 = no preference for the subject), "mean_map_mass" (the same for the
    maps' average, normalised, put on every photo: what a fixed spatial bias
    alone reaches; NaN when the maps differ in shape)}.
  """
  if len(maps) != len(boxes) or not maps:
    raise ValueError(f"need one box per map and at least one map, got "
                     f"{len(maps)} maps and {len(boxes)} boxes")
  mass = float(np.mean([box_mass(m, b) for m, b in zip(maps, boxes)]))
  area = float(np.mean([box_area(b) for b in boxes]))
  shapes = {np.shape(m) for m in maps}
  fixed = float("nan")
  if len(shapes) == 1:
    mean_map = np.mean([np.asarray(m, np.float64) / np.sum(m) for m in maps],
                       axis=0)
    fixed = float(np.mean([box_mass(mean_map, b) for b in boxes]))
  return {"images": len(maps), "mass_in_box": mass, "box_area": area,
          "lift": mass / area if area > 0 else float("nan"),
          "mean_map_mass": fixed}

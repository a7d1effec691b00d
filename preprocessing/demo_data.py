"""Synthetic AVA-review directory with planted personal tastes (demo data).

``generate`` writes a complete AVA-review directory in AVA's real formats
(``AVA.txt``, ``tags.txt``, ``challenges.txt``, ``images/``) plus the reviews
in the dpchallenge crawler block layout (``reviews.txt``) or the flat
``user_id|image_id|review`` layout (``uir.txt``), so that every stage of the
system can be run and tested without the real (large, licensed) data.

The data are not noise: they are drawn from a small generative model whose
parameters are written to ``demo_truth.json`` (never read by the pipeline) so
that tests and notebooks can check what a model recovers.

Planted model
-------------
Every image ``v`` has four latent visual attributes in [0, 1] that are drawn
into its pixels: ``brightness`` (exposure/gamma), ``sharpness`` (Gaussian blur
radius), ``colourfulness`` (saturation; 0 for Black and White) and
``centredness`` (subject at a rule-of-thirds point (0) or in the centre (1)).
With ``z_v`` the standardised attributes,

* global quality ``q_v = w . z_v + tag_offset + N(0, 0.55)`` with
  ``w = (brightness 0.4, sharpness 0.8, colourfulness 0.35, centredness -0.3)``
  (sharp, bright, colourful, rule-of-thirds photos score higher);
* the AVA vote histogram (100-250 votes) is drawn around the mean score
  ``5.45 + 0.52 q_v``, so ``b_v = mean > 5`` holds for ~3/4 of the images;
* every user ``u`` has an archetype (mainstream, bright, dreamy, colourful,
  centred, moody) giving a taste vector ``t_u`` over the same attributes, a
  per-tag affinity ``a_u``, a threshold ``theta_u`` and a heavy-tailed
  activity; the personal label is
  ``s_uv = 1  iff  q_v + t_u . z_v + a_u[tags of v] + N(0, 0.6) > theta_u``;
* the review text expresses ``s_uv`` (types I/II) and talks mostly about the
  aspects the user cares about (light for bright lovers, focus for dreamy
  ones, colour, composition); types III/IV say nothing about it.

Usage::

  python -m preprocessing.demo_data --out /tmp/ava_demo --scale 10
"""
from __future__ import annotations

import argparse
import colorsys
import dataclasses
import io
import json
import math
import os
import random
import re
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageFilter

from preprocessing import config
from preprocessing import features

ProgressFn = Callable[[str, int, int], None]

TRUTH_FILE = "demo_truth.json"
LAYOUTS = ("reviews", "uir")

# --------------------------------------------------------------------------
# AVA's semantic tags (tags.txt of the real dataset, 66 entries)
# --------------------------------------------------------------------------
AVA_TAGS: Tuple[Tuple[int, str], ...] = (
    (1, "Abstract"), (2, "Urban"), (3, "Emotive"), (4, "Family"),
    (5, "Humorous"), (6, "Interior"), (7, "Landscape"), (8, "Sports"),
    (9, "Portraiture"), (10, "Nature"), (11, "Still Life"), (12, "Rural"),
    (13, "Fashion"), (14, "Animals"), (15, "Travel"), (16, "Architecture"),
    (17, "Black and White"), (18, "Macro"), (19, "Floral"), (20, "Seascapes"),
    (21, "Cityscape"), (22, "Political"), (23, "Persuasive"), (24, "Action"),
    (25, "Advertisement"), (26, "Sky"), (27, "Water"), (28, "Transportation"),
    (29, "Photojournalism"), (30, "Food and Drink"), (31, "Candid"),
    (32, "Science and Technology"), (33, "Children"), (34, "Astrophotography"),
    (35, "Traditional Art"), (36, "Digital Art"), (37, "Lensbaby"),
    (38, "Snapshot"), (39, "Vintage"), (40, "Wedding"), (41, "Self Portrait"),
    (42, "Nude"), (43, "Performance"), (44, "Military"), (45, "History"),
    (46, "Music"), (47, "Diptych / Triptych"), (48, "Textures"),
    (49, "High Dynamic Range (HDR)"), (50, "Photo-Impressionism"),
    (51, "Blur"), (52, "Overlays"), (53, "Pinhole/Zone Plate"),
    (54, "Infrared"), (55, "Camera Phones"), (56, "Panoramic"),
    (57, "Horror"), (58, "Fish Eye"), (59, "Film"), (60, "Street"),
    (61, "Texture Library"), (62, "DPChallenge GTGs"), (63, "Seasonal"),
    (64, "Birds"), (65, "Traditional"), (66, "Minimalism"),
)
_TAG_ID = {name: tag_id for tag_id, name in AVA_TAGS}
BW_TAG = "Black and White"

# --------------------------------------------------------------------------
# Planted model constants (demo-only; the pipeline never sees them)
# --------------------------------------------------------------------------
ATTRIBUTES = ("brightness", "sharpness", "colourfulness", "centredness")
# Mean and spread used to standardise each attribute into z.
_ATTR_MEAN = np.array([0.5, 0.6, 0.5, 0.5])
_ATTR_SD = np.array([0.19, 0.2, 0.2, 0.34])
_BW_COLOUR_Z = -1.2  # z of colourfulness for Black and White images
QUALITY_WEIGHTS = np.array([0.4, 0.8, 0.35, -0.3])
QUALITY_NOISE_SD = 0.55
MEAN_SCORE_BASE = 5.45
MEAN_SCORE_SLOPE = 0.52
PERSONAL_NOISE_SD = 0.6
THRESHOLD_MEAN = -1.1
THRESHOLD_SD = 0.55
TAG_AFFINITY_SD = 0.3
TAG_AFFINITY_STRONG = 1.0
SELECTION_AFFINITY = 0.5  # users review images of tags they like more often
MEAN_REVIEWS_PER_IMAGE = 7.0
MEAN_REVIEWS_PER_USER_AT_SCALE = 40.0
MIN_SCALED_USERS = 30
MIN_SCALED_IMAGES = 20
PNG_FRACTION = 0.03
UNTAGGED_FRACTION = 0.05
TAG2_FRACTION = 0.4
JPEG_QUALITY = 90

# (name, share of users, taste direction over ATTRIBUTES)
ARCHETYPES: Tuple[Tuple[str, float, Tuple[float, float, float, float]], ...] = (
    ("mainstream", 0.25, (0.0, 0.0, 0.0, 0.0)),
    ("bright", 0.15, (1.6, 0.0, 0.0, 0.0)),
    ("dreamy", 0.15, (0.0, -2.0, 0.0, 0.0)),
    ("colourful", 0.15, (0.0, 0.0, 1.6, 0.0)),
    ("centred", 0.15, (0.0, 0.0, 0.0, 1.7)),
    ("moody", 0.15, (-1.6, 0.0, -1.0, 0.0)),
)

# Review type shares (paper §4.1 types); II varies per user around its mean.
_TYPE_III_P = 0.08
_TYPE_IV_P = 0.04
_TYPE_II_MEAN = 0.2


@dataclasses.dataclass(frozen=True)
class _TagSpec:
  """How images of one tag look and how often the tag occurs."""
  name: str
  weight: float  # share among tag slots
  quality_offset: float
  style: str  # drawing function key
  portrait_p: float  # probability of a portrait (3:4) frame
  subjects: Tuple[str, ...]  # nouns the reviews use for the subject
  # Beta(a, b) of each attribute; None keeps the default.
  attr_beta: Tuple[Optional[Tuple[float, float]], ...] = (None, None, None,
                                                          None)


_MAJOR_TAGS: Tuple[_TagSpec, ...] = (
    _TagSpec("Landscape", 0.14, 0.2, "landscape", 0.1,
             ("the landscape", "the scene", "the hills", "the view",
              "the valley", "the tree"), ((3.5, 3.0), None, None, None)),
    _TagSpec("Portraiture", 0.13, 0.0, "portrait", 0.7,
             ("the model", "her expression", "the portrait", "his face",
              "the eyes", "the subject"), (None, None, None, (1.4, 0.7))),
    _TagSpec("Macro", 0.11, 0.25, "macro", 0.2,
             ("the bug", "the little guy", "the subject", "the droplet",
              "the beetle", "the insect"), (None, (4.0, 2.0), None, None)),
    _TagSpec("Abstract", 0.1, -0.25, "abstract", 0.3,
             ("the shapes", "the lines", "the forms", "the pattern",
              "the design"), (None, None, (3.5, 2.0), None)),
    _TagSpec("Black and White", 0.09, 0.3, "bw", 0.3,
             ("the scene", "the subject", "the monochrome", "the tones",
              "the figure")),
    _TagSpec("Architecture", 0.09, 0.0, "architecture", 0.4,
             ("the building", "the facade", "the tower", "the windows",
              "the structure")),
    _TagSpec("Floral", 0.08, 0.1, "floral", 0.3,
             ("the flower", "the petals", "the bloom", "the blossom",
              "the rose"), (None, None, (3.0, 2.0), None)),
    _TagSpec("Seascapes", 0.07, 0.15, "seascape", 0.1,
             ("the sea", "the water", "the waves", "the boat", "the horizon"),
             ((3.5, 2.5), None, None, None)),
    _TagSpec("Still Life", 0.07, -0.1, "still_life", 0.3,
             ("the setup", "the arrangement", "the vase", "the fruit",
              "the still life"), ((2.2, 3.5), None, None, None)),
    _TagSpec("Animals", 0.065, 0.05, "animals", 0.2,
             ("the dog", "the cat", "the horse", "the critter", "the animal",
              "the pup")),
)
_RARE_TAGS: Tuple[_TagSpec, ...] = (
    _TagSpec("Sky", 0.02, 0.1, "sky", 0.1,
             ("the clouds", "the sky", "the sunset")),
    _TagSpec("Cityscape", 0.015, 0.1, "cityscape", 0.1,
             ("the city", "the skyline", "the lights")),
    _TagSpec("Food and Drink", 0.015, -0.2, "food", 0.2,
             ("the food", "the dish", "the plate", "the cup")),
)
USED_TAGS: Tuple[_TagSpec, ...] = _MAJOR_TAGS + _RARE_TAGS
_BW_SPEC = next(t for t in USED_TAGS if t.name == BW_TAG)

_CHALLENGE_THEMES = (
    "Free_Study", "Minimalism", "Macro", "Landscape", "Portrait",
    "Rule_of_Thirds", "Black_and_White", "Shallow_Depth_of_Field",
    "Soft_Focus", "Bright_Colors", "Golden_Hour", "Urban_Geometry",
    "Still_Life", "Pets", "Seascape", "Flowers", "Reflections", "Shadows",
    "High_Key", "Low_Key", "Symmetry", "Texture", "Silhouette", "Centered",
    "Monochrome", "Complementary_Colors", "Negative_Space", "Leading_Lines",
    "Window_Light", "Blue")
_ROMAN = ("", "_II", "_III", "_IV", "_V", "_VI", "_VII", "_VIII", "_IX", "_X")


# --------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------
def _hsv(h: float, s: float, v: float) -> np.ndarray:
  """RGB float32 triple of an HSV colour (components clipped into range)."""
  r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0),
                                min(max(v, 0.0), 1.0))
  return np.array((r, g, b), np.float32)


class _Canvas:
  """Coordinates of an h x w frame, in units of its shorter side."""

  def __init__(self, h: int, w: int):
    self.h, self.w = h, w
    side = float(min(h, w))
    self.height = h / side
    self.width = w / side
    self.px = 1.0 / side  # one pixel
    self.y = ((np.arange(h, dtype=np.float32) + 0.5) / side)[:, None]
    self.x = ((np.arange(w, dtype=np.float32) + 0.5) / side)[None, :]

  def fy(self, f: float) -> float:
    return f * self.height

  def fx(self, f: float) -> float:
    return f * self.width

  def fill(self, rgb: np.ndarray) -> np.ndarray:
    return np.broadcast_to(rgb, (self.h, self.w, 3)).astype(np.float32)

  def vgrad(self, top: np.ndarray, bottom: np.ndarray, y0: float = 0.0,
            y1: Optional[float] = None) -> np.ndarray:
    y1 = self.height if y1 is None else y1
    t = np.clip((self.y - y0) / max(y1 - y0, 1e-3), 0.0, 1.0)[..., None]
    grad = top + (bottom - top) * t  # (h, 1, 3)
    return np.broadcast_to(grad, (self.h, self.w, 3)).astype(np.float32)

  def ellipse(self, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    d = np.sqrt(((self.y - cy) / ry)**2 + ((self.x - cx) / rx)**2)
    return np.clip((1.0 - d) * min(ry, rx) / self.px + 0.5, 0.0, 1.0)

  def box(self, y0: float, y1: float, x0: float, x1: float) -> np.ndarray:
    my = (np.clip((self.y - y0) / self.px + 0.5, 0, 1) *
          np.clip((y1 - self.y) / self.px + 0.5, 0, 1))
    mx = (np.clip((self.x - x0) / self.px + 0.5, 0, 1) *
          np.clip((x1 - self.x) / self.px + 0.5, 0, 1))
    return my * mx

  def below(self, curve: Any) -> np.ndarray:
    """Mask of the points below ``curve`` (a scalar or a (1, w) row)."""
    return np.broadcast_to(
        np.clip((self.y - curve) / self.px + 0.5, 0.0, 1.0), (self.h, self.w))

  def triangle(self, pts: Sequence[Tuple[float, float]]) -> np.ndarray:
    (y0, x0), (y1, x1), (y2, x2) = pts
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    sign = 1.0 if area >= 0 else -1.0
    m = np.ones((self.h, self.w), np.float32)
    for (ya, xa), (yb, xb) in (((y0, x0), (y1, x1)), ((y1, x1), (y2, x2)),
                               ((y2, x2), (y0, x0))):
      edge = sign * ((xb - xa) * (self.y - ya) - (yb - ya) * (self.x - xa))
      norm = math.hypot(xb - xa, yb - ya) + 1e-6
      m = m * np.clip(edge / norm / self.px + 0.5, 0, 1)
    return m

  def noise(self, rng: np.random.Generator, sd: float,
            channels: int = 1) -> np.ndarray:
    return rng.standard_normal((self.h, self.w, channels),
                               dtype=np.float32) * sd

  def smooth_noise(self, rng: np.random.Generator, cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1], shape (h, w)."""
    grid = rng.random((cells, cells), dtype=np.float32)
    img = Image.fromarray(grid).resize((self.w, self.h),
                                                 Image.BILINEAR)
    return np.asarray(img, dtype=np.float32)


def _paint(img: np.ndarray, mask: np.ndarray, colour: Any) -> np.ndarray:
  return img + mask[..., None] * (colour - img)


def _blur_array(img: np.ndarray, radius: float) -> np.ndarray:
  pil = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
  pil = pil.filter(ImageFilter.GaussianBlur(radius))
  return np.asarray(pil, dtype=np.float32) / 255.0


def _draw_landscape(rng: np.random.Generator, c: _Canvas, sx: float,
                    sy: float) -> np.ndarray:
  hz = c.fy(min(max(sy, 0.3), 0.7))
  sky_top = _hsv(0.58 + rng.uniform(-0.03, 0.03), rng.uniform(0.45, 0.7),
                 rng.uniform(0.75, 0.95))
  sky_bottom = _hsv(0.55, rng.uniform(0.1, 0.3), rng.uniform(0.9, 1.0))
  img = c.vgrad(sky_top, sky_bottom, 0.0, hz)
  amp = rng.uniform(0.05, 0.18)
  f1, f2 = rng.uniform(4, 9), rng.uniform(9, 20)
  p1, p2 = rng.uniform(0, 6.3, 2)
  ridge = hz - amp * (0.5 + 0.5 * np.sin(c.x * f1 + p1)) * (
      0.7 + 0.3 * np.sin(c.x * f2 + p2))
  mountain = _hsv(0.6 + rng.uniform(-0.04, 0.04), rng.uniform(0.15, 0.35),
                  rng.uniform(0.45, 0.65))
  img = _paint(img, c.below(ridge), mountain)
  g_hue = rng.uniform(0.17, 0.33)
  ground_top = _hsv(g_hue, rng.uniform(0.45, 0.75), rng.uniform(0.45, 0.65))
  ground = c.vgrad(ground_top, ground_top * 0.55, hz, c.height)
  ground = ground + c.noise(rng, 0.05)
  img = _paint(img, c.below(hz), ground)
  cx = c.fx(sx)
  trunk = _hsv(0.07, 0.6, 0.3)
  img = _paint(img, c.box(hz - 0.08, hz + 0.1, cx - 0.015, cx + 0.015), trunk)
  canopy = _hsv(g_hue + 0.03, 0.7, 0.35)
  img = _paint(img, c.ellipse(hz - 0.14, cx, 0.1, 0.08), canopy)
  return img


def _draw_seascape(rng: np.random.Generator, c: _Canvas, sx: float,
                   sy: float) -> np.ndarray:
  hz = c.fy(min(max(sy, 0.3), 0.7))
  if rng.random() < 0.35:  # sunset
    sky_top = _hsv(rng.uniform(0.6, 0.7), 0.5, 0.5)
    sky_bottom = _hsv(rng.uniform(0.03, 0.1), 0.7, 1.0)
  else:
    sky_top = _hsv(0.58, rng.uniform(0.4, 0.7), 0.9)
    sky_bottom = _hsv(0.55, 0.15, 1.0)
  img = c.vgrad(sky_top, sky_bottom, 0.0, hz)
  sea_top = _hsv(rng.uniform(0.52, 0.6), rng.uniform(0.5, 0.8),
                 rng.uniform(0.55, 0.75))
  sea = c.vgrad(sea_top, sea_top * 0.5, hz, c.height)
  waves = 0.07 * np.sin(c.y * rng.uniform(50, 80) +
                        2.0 * np.sin(c.x * rng.uniform(5, 12)))
  sea = sea + waves[..., None]
  img = _paint(img, c.below(hz), sea)
  cx = c.fx(sx)
  if rng.random() < 0.5:  # sun or moon
    sun = _hsv(0.12, 0.35, 1.0)
    img = _paint(img, c.ellipse(hz - 0.15, cx, 0.06, 0.06), sun)
  else:  # boat
    hull = _hsv(rng.uniform(0, 1), 0.5, 0.3)
    img = _paint(img, c.box(hz + 0.02, hz + 0.06, cx - 0.1, cx + 0.1), hull)
    img = _paint(img, c.triangle(((hz - 0.2, cx), (hz + 0.01, cx),
                                  (hz + 0.01, cx + 0.1))),
                 _hsv(0, 0, 0.95))
  return img


def _draw_portrait(rng: np.random.Generator, c: _Canvas, sx: float,
                   sy: float) -> np.ndarray:
  bg_h = rng.uniform(0, 1)
  img = c.vgrad(_hsv(bg_h, rng.uniform(0.1, 0.4), rng.uniform(0.3, 0.7)),
                _hsv(bg_h, 0.3, rng.uniform(0.1, 0.35)))
  cx, cy = c.fx(sx), c.fy(min(max(sy, 0.3), 0.55))
  clothes = _hsv(rng.uniform(0, 1), rng.uniform(0.3, 0.8),
                 rng.uniform(0.2, 0.7))
  img = _paint(img, c.ellipse(cy + 0.48, cx, 0.28, 0.36), clothes)
  hair = _hsv(rng.uniform(0.05, 0.1), rng.uniform(0.3, 0.8),
              rng.uniform(0.08, 0.55))
  img = _paint(img, c.ellipse(cy - 0.05, cx, 0.24, 0.19), hair)
  skin = _hsv(rng.uniform(0.03, 0.09), rng.uniform(0.25, 0.55),
              rng.uniform(0.45, 0.92))
  img = _paint(img, c.box(cy + 0.1, cy + 0.28, cx - 0.05, cx + 0.05),
               skin * 0.9)
  img = _paint(img, c.ellipse(cy, cx, 0.2, 0.15), skin)
  eye = _hsv(0.6, 0.3, 0.12)
  for dx in (-0.055, 0.055):
    img = _paint(img, c.ellipse(cy - 0.03, cx + dx, 0.018, 0.03), eye)
  img = _paint(img, c.ellipse(cy + 0.1, cx, 0.02, 0.05), _hsv(0.98, 0.5, 0.6))
  return img


def _draw_macro(rng: np.random.Generator, c: _Canvas, sx: float,
                sy: float) -> np.ndarray:
  hue = rng.uniform(0, 1)
  base = _hsv(hue, rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7))
  img = c.fill(base) * (0.6 + 0.8 * c.smooth_noise(rng, 4))[..., None]
  for _ in range(int(rng.integers(3, 8))):  # bokeh
    img = _paint(img, c.ellipse(rng.uniform(0, c.height),
                                rng.uniform(0, c.width),
                                *([rng.uniform(0.05, 0.12)] * 2)) * 0.6,
                 _hsv(hue + rng.uniform(-0.1, 0.1), 0.3, 1.0))
  img = _blur_array(img, 0.05 * min(c.h, c.w))
  cx, cy = c.fx(sx), c.fy(sy)
  r = rng.uniform(0.22, 0.34)
  body = _hsv(rng.uniform(0, 1), rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.9))
  mask = c.ellipse(cy, cx, r * rng.uniform(0.7, 1.0), r)
  d = np.sqrt((c.y - cy + 0.3 * r)**2 + (c.x - cx + 0.3 * r)**2) / r
  shade = np.clip(1.15 - 0.6 * d, 0.3, 1.2)[..., None]
  spots = 0.12 * np.sin(c.x * rng.uniform(70, 110)) * np.sin(
      c.y * rng.uniform(70, 110))
  subject = body * shade + spots[..., None]
  img = _paint(img, mask, subject)
  img = _paint(img, c.ellipse(cy - 0.35 * r, cx - 0.3 * r, 0.06 * r + 0.01,
                              0.06 * r + 0.01), _hsv(0, 0, 1.0))
  return img


def _draw_abstract(rng: np.random.Generator, c: _Canvas, sx: float,
                   sy: float) -> np.ndarray:
  img = c.fill(_hsv(rng.uniform(0, 1), rng.uniform(0.2, 0.9),
                    rng.uniform(0.5, 1.0)))
  shapes = int(rng.integers(4, 9))
  for k in range(shapes + 1):
    main = k == shapes
    cy = c.fy(sy) if main else rng.uniform(0, c.height)
    cx = c.fx(sx) if main else rng.uniform(0, c.width)
    size = rng.uniform(0.18, 0.3) if main else rng.uniform(0.06, 0.25)
    colour = _hsv(rng.uniform(0, 1), rng.uniform(0.6, 1.0),
                  rng.uniform(0.4, 1.0))
    kind = int(rng.integers(0, 4))
    if kind == 0:
      mask = c.ellipse(cy, cx, size, size * rng.uniform(0.6, 1.4))
    elif kind == 1:
      mask = c.box(cy - size, cy + size, cx - size * 0.7, cx + size * 0.7)
    elif kind == 2:
      mask = c.triangle(((cy - size, cx), (cy + size, cx - size),
                         (cy + size, cx + size)))
    else:
      band = np.abs(np.sin((c.x * rng.uniform(0.5, 1.5) + c.y) *
                           rng.uniform(8, 20)))
      mask = c.ellipse(cy, cx, size * 1.3, size * 1.3) * (band > 0.5)
    img = _paint(img, mask, colour)
  return img


def _draw_architecture(rng: np.random.Generator, c: _Canvas, sx: float,
                       sy: float) -> np.ndarray:
  img = c.vgrad(_hsv(0.6, rng.uniform(0.3, 0.6), rng.uniform(0.7, 0.95)),
                _hsv(0.58, 0.1, 0.95))
  wall = _hsv(rng.uniform(0.05, 0.15), rng.uniform(0.05, 0.35),
              rng.uniform(0.5, 0.85))
  if rng.random() < 0.35:  # glass
    wall = _hsv(rng.uniform(0.5, 0.62), rng.uniform(0.2, 0.5),
                rng.uniform(0.35, 0.6))
  roof = c.fy(rng.uniform(0.25, 0.45))
  nx, ny = rng.uniform(12, 22), rng.uniform(10, 18)
  grid = ((np.mod(c.x * nx, 1.0) < 0.55) & (np.mod(c.y * ny, 1.0) < 0.6))
  facade = c.fill(wall) * np.where(grid, 0.62, 1.0)[..., None]
  img = _paint(img, c.below(roof), facade)
  cx = c.fx(sx)
  tw = rng.uniform(0.1, 0.18)
  top = c.fy(rng.uniform(0.05, 0.15))
  tower = c.fill(wall * 0.85) * np.where(
      np.mod(c.y * ny * 1.5, 1.0) < 0.12, 0.55, 1.0)[..., None]
  img = _paint(img, c.box(top, c.height + 1, cx - tw, cx + tw), tower)
  img = _paint(img, c.triangle(((top - 0.12, cx), (top, cx - tw),
                                (top, cx + tw))), wall * 0.6)
  return img


def _draw_floral(rng: np.random.Generator, c: _Canvas, sx: float,
                 sy: float) -> np.ndarray:
  leaves = _hsv(rng.uniform(0.22, 0.38), rng.uniform(0.4, 0.8),
                rng.uniform(0.25, 0.55))
  img = c.fill(leaves) * (0.5 + c.smooth_noise(rng, 6))[..., None]
  img = _blur_array(img, 0.03 * min(c.h, c.w))
  petal = _hsv(rng.choice([0.95, 0.0, 0.13, 0.8, 0.9, 0.55]) +
               rng.uniform(-0.03, 0.03), rng.uniform(0.4, 0.9),
               rng.uniform(0.7, 1.0))
  if rng.random() < 0.15:
    petal = _hsv(0, 0.03, 0.97)  # white
  flowers = [(c.fy(sy), c.fx(sx), rng.uniform(0.22, 0.32))]
  if rng.random() < 0.5:
    flowers.append((rng.uniform(0, c.height), rng.uniform(0, c.width),
                    rng.uniform(0.08, 0.14)))
  for cy, cx, r in reversed(flowers):
    k = int(rng.integers(5, 9))
    theta = np.arctan2(c.y - cy, c.x - cx) + rng.uniform(0, 3.2)
    rho = np.sqrt((c.y - cy)**2 + (c.x - cx)**2)
    edge = r * (0.55 + 0.45 * np.abs(np.cos(k * theta / 2.0)))
    mask = np.clip((edge - rho) / c.px + 0.5, 0, 1)
    shade = np.clip(0.75 + 0.5 * rho / r, 0.0, 1.2)[..., None]
    img = _paint(img, mask, petal * shade)
    img = _paint(img, c.ellipse(cy, cx, 0.22 * r, 0.22 * r),
                 _hsv(0.12, 0.8, rng.uniform(0.5, 0.9)))
  return img


def _draw_still_life(rng: np.random.Generator, c: _Canvas, sx: float,
                     sy: float) -> np.ndarray:
  img = c.vgrad(_hsv(rng.uniform(0.02, 0.12), 0.4, rng.uniform(0.2, 0.45)),
                _hsv(0.05, 0.5, 0.1))
  table_y = c.fy(rng.uniform(0.62, 0.78))
  wood = _hsv(rng.uniform(0.05, 0.1), rng.uniform(0.5, 0.7),
              rng.uniform(0.35, 0.6))
  grain = 0.08 * np.sin(c.y * 140 + 3 * np.sin(c.x * 9))
  img = _paint(img, c.below(table_y), c.fill(wood) + grain[..., None])
  cx = c.fx(sx)
  vase = _hsv(rng.uniform(0, 1), rng.uniform(0.3, 0.8), rng.uniform(0.4, 0.9))
  vr = rng.uniform(0.1, 0.15)
  img = _paint(img, c.box(table_y - 2.6 * vr, table_y - vr, cx - 0.35 * vr,
                          cx + 0.35 * vr), vase * 0.9)
  img = _paint(img, c.ellipse(table_y - vr, cx, vr, vr * 0.9), vase)
  img = _paint(img, c.ellipse(table_y - 1.3 * vr, cx - 0.4 * vr, 0.15 * vr,
                              0.1 * vr), _hsv(0, 0, 1.0))
  for _ in range(int(rng.integers(1, 4))):
    fx = cx + rng.choice([-1, 1]) * rng.uniform(0.2, 0.4)
    fr = rng.uniform(0.05, 0.08)
    fruit = _hsv(rng.choice([0.0, 0.08, 0.15, 0.3]), 0.8,
                 rng.uniform(0.5, 0.9))
    img = _paint(img, c.ellipse(table_y - fr * 0.8, fx, fr, fr), fruit)
  return img


def _draw_animals(rng: np.random.Generator, c: _Canvas, sx: float,
                  sy: float) -> np.ndarray:
  grass = _hsv(rng.uniform(0.15, 0.32), rng.uniform(0.35, 0.7),
               rng.uniform(0.4, 0.7))
  img = c.vgrad(grass * 1.3, grass * 0.7) + c.noise(rng, 0.05)
  fur = _hsv(rng.uniform(0.04, 0.1), rng.uniform(0.0, 0.7),
             rng.choice([0.15, 0.45, 0.65, 0.9]))
  cx, cy = c.fx(sx), c.fy(sy)
  side = rng.choice([-1.0, 1.0])
  for lx in (-0.15, -0.08, 0.08, 0.15):
    img = _paint(img, c.box(cy, cy + 0.22, cx + lx - 0.02, cx + lx + 0.02),
                 fur * 0.8)
  texture = (1.0 + c.noise(rng, 0.08))
  img = _paint(img, c.ellipse(cy, cx, 0.12, 0.23), fur * texture)
  hx, hy = cx + side * 0.22, cy - 0.1
  img = _paint(img, c.ellipse(hy - 0.08, hx - 0.04, 0.04, 0.025), fur * 0.7)
  img = _paint(img, c.ellipse(hy - 0.08, hx + 0.04, 0.04, 0.025), fur * 0.7)
  img = _paint(img, c.ellipse(hy, hx, 0.08, 0.075), fur * texture)
  img = _paint(img, c.ellipse(hy - 0.01, hx + side * 0.03, 0.012, 0.012),
               _hsv(0, 0, 0.05))
  return img


def _draw_sky(rng: np.random.Generator, c: _Canvas, sx: float,
              sy: float) -> np.ndarray:
  if rng.random() < 0.5:
    img = c.vgrad(_hsv(0.62, 0.6, 0.6), _hsv(rng.uniform(0.0, 0.1), 0.6, 1.0))
  else:
    img = c.vgrad(_hsv(0.6, 0.7, 0.8), _hsv(0.55, 0.2, 1.0))
  img = _paint(img, c.ellipse(c.fy(sy), c.fx(sx), 0.07, 0.07),
               _hsv(0.13, 0.3, 1.0))
  for _ in range(int(rng.integers(3, 7))):
    mask = c.ellipse(rng.uniform(0, c.height), rng.uniform(0, c.width),
                     rng.uniform(0.04, 0.1), rng.uniform(0.15, 0.35))
    img = _paint(img, mask * rng.uniform(0.5, 0.9), _hsv(0.05, 0.1, 0.98))
  return img


def _draw_cityscape(rng: np.random.Generator, c: _Canvas, sx: float,
                    sy: float) -> np.ndarray:
  img = c.vgrad(_hsv(0.66, 0.8, 0.15), _hsv(0.62, 0.6, 0.45))
  buildings = np.zeros((c.h, c.w), np.float32)
  x = 0.0
  while x < c.width:
    bw = rng.uniform(0.06, 0.16)
    buildings = np.maximum(buildings, c.box(c.fy(rng.uniform(0.35, 0.7)),
                                            c.height + 1, x, x + bw))
    x += bw
  cx = c.fx(sx)
  buildings = np.maximum(buildings, c.box(c.fy(0.12), c.height + 1,
                                          cx - 0.05, cx + 0.05))
  img = _paint(img, buildings, _hsv(0.65, 0.4, 0.1))
  lit = (rng.random((c.h, c.w)) < 0.12) * buildings
  img = _paint(img, lit.astype(np.float32), _hsv(0.13, 0.7, 1.0))
  return img


def _draw_food(rng: np.random.Generator, c: _Canvas, sx: float,
               sy: float) -> np.ndarray:
  cloth = _hsv(rng.uniform(0, 1), rng.uniform(0.1, 0.5),
               rng.uniform(0.5, 0.9))
  img = c.fill(cloth) + c.noise(rng, 0.03)
  cx, cy = c.fx(sx), c.fy(sy)
  img = _paint(img, c.ellipse(cy, cx, 0.27, 0.34), _hsv(0, 0, 0.95))
  img = _paint(img, c.ellipse(cy, cx, 0.2, 0.26), _hsv(0, 0, 0.86))
  for _ in range(int(rng.integers(3, 7))):
    img = _paint(img, c.ellipse(cy + rng.uniform(-0.1, 0.1),
                                cx + rng.uniform(-0.15, 0.15),
                                rng.uniform(0.03, 0.07),
                                rng.uniform(0.03, 0.08)),
                 _hsv(rng.choice([0.0, 0.08, 0.15, 0.3]), 0.8,
                      rng.uniform(0.4, 0.9)))
  return img


_STYLES: Dict[str, Callable[..., np.ndarray]] = {
    "landscape": _draw_landscape,
    "seascape": _draw_seascape,
    "portrait": _draw_portrait,
    "macro": _draw_macro,
    "abstract": _draw_abstract,
    "architecture": _draw_architecture,
    "floral": _draw_floral,
    "still_life": _draw_still_life,
    "animals": _draw_animals,
    "sky": _draw_sky,
    "cityscape": _draw_cityscape,
    "food": _draw_food,
}


def _frame_size(image_size: int, orientation: str) -> Tuple[int, int]:
  """(height, width) of a frame whose longer side is ``image_size``."""
  short = max(8, int(round(image_size * 0.75)))
  if orientation == "landscape":
    return short, image_size
  if orientation == "portrait":
    return image_size, short
  return image_size, image_size


def render_image(style: str, attrs: Sequence[float], grayscale: bool,
                 size: Tuple[int, int], seed: Sequence[int]) -> Image.Image:
  """Draws one synthetic photo.

  Args:
    style: key of the drawing function (the content of the photo).
    attrs: brightness, sharpness, colourfulness, centredness in [0, 1].
    grayscale: returns a mode "L" image (Black and White).
    size: (height, width) in pixels.
    seed: entropy of the image's own random generator.

  Returns:
    A PIL image: mode "RGB", or for grayscale "L" or "RGB" with R = G = B.
  """
  rng = np.random.default_rng(list(seed))
  brightness, sharpness, colourfulness, centredness = (float(a) for a in attrs)
  c = _Canvas(*size)
  # Subject at a rule-of-thirds point, pulled to the centre by centredness.
  tx = 1 / 3 if rng.random() < 0.5 else 2 / 3
  ty = 1 / 3 if rng.random() < 0.5 else 2 / 3
  sx = tx + centredness * (0.5 - tx) + rng.normal(0, 0.02)
  sy = ty + centredness * (0.5 - ty) + rng.normal(0, 0.02)
  img = _STYLES[style](rng, c, sx, sy)
  img = img + c.noise(rng, 0.03)  # fine grain: the detail a blur removes
  lum = img @ np.array([0.299, 0.587, 0.114], np.float32)
  img = lum[..., None] + (0.15 + 1.35 * colourfulness) * (img - lum[..., None])
  img = np.clip(img * (0.55 + 0.9 * brightness), 0.0, 1.0)
  img = img**(1.6 - 1.2 * brightness)
  pil = Image.fromarray((img * 255.0 + 0.5).astype(np.uint8))
  radius = 3.2 * (1.0 - sharpness)**1.3 * min(size) / 72.0
  if radius > 0.05:
    pil = pil.filter(ImageFilter.GaussianBlur(radius))
  if grayscale:
    pil = pil.convert("L")
    if rng.random() < 0.5:  # AVA has both 1-channel and 3-channel B&W JPEGs
      pil = pil.convert("RGB")
  return pil


def encode_image(pil: Image.Image, fmt: str) -> bytes:
  """Deterministic JPEG (fixed quality) or PNG bytes."""
  buf = io.BytesIO()
  if fmt == "png":
    pil.save(buf, format="PNG", compress_level=6)
  else:
    pil.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=False)
  return buf.getvalue()


# --------------------------------------------------------------------------
# Review text
# --------------------------------------------------------------------------
_INTENS = ("", "", "", "", "really ", "very ", "so ", "extremely ", "quite ",
           "absolutely ", "incredibly ")
_STRONG_INTENS = ("really ", "very ", "so ", "extremely ", "absolutely ",
                  "incredibly ")
_POS = ("great", "lovely", "wonderful", "beautiful", "excellent", "superb",
        "nice", "gorgeous", "fantastic", "awesome", "brilliant", "amazing",
        "pleasing", "fabulous", "terrific", "perfect", "stunning", "elegant")
_NEG = ("distracting", "harsh", "dull", "messy", "weak", "boring",
        "disappointing", "poor", "unpleasant", "flawed", "bad", "annoying")
# Milder words for the minority clause of a mixed review.
_POS_MILD = ("nice", "fine", "good", "cool", "solid")
_NEG_MILD = ("awkward", "distracting", "odd", "strange", "a little weak")

# (aspect, state, polarity) -> clause templates. Slots: {I} intensifier,
# {P} positive adjective, {N} negative adjective, {S} subject noun phrase.
_CLAUSES: Dict[Tuple[str, str, int], Tuple[str, ...]] = {
    ("focus", "sharp", 1): (
        "{S} is {I}tack sharp, {P} detail",
        "the focus is spot on, {P} sharpness",
        "{I}{P} detail on {S}",
        "love how crisp the focus is",
        "the sharpness is {I}{P}",
        "{P} focus, every detail in {S} is crisp",
        "the detail is {I}{P}, sharp as a tack",
        "I love the crisp detail",
        "excellent focus and {P} detail",
        "the focus on {S} is {I}{P}",
    ),
    ("focus", "sharp", 0): (
        "the focus is {I}harsh, it feels cold and clinical",
        "everything is so sharp that it feels {I}{N}",
        "the sharpness is almost {N}, I miss a softer touch",
        "I don't like the crisp, clinical focus here",
        "too much detail, {S} looks {I}{N}",
        "the focus is a bit too hard and {N} for my taste",
        "the detail is {I}{N}, it needs some softness",
    ),
    ("focus", "soft", 1): (
        "love the soft, dreamy focus",
        "the soft focus gives {S} a {I}{P} dreamy feel",
        "the gentle blur is {I}{P}",
        "{P} use of soft focus",
        "the dreamy softness is {I}{P}",
        "I love the shallow focus and the soft feel",
        "the blur works {I}well here, {P} mood",
        "the soft focus on {S} is {I}{P}",
    ),
    ("focus", "soft", 0): (
        "the focus is not sharp enough, which is a pity",
        "sadly the focus is not sharp enough",
        "{S} is {I}blurry, which is a shame",
        "unfortunately the focus is soft on {S}",
        "the focus seems off and {S} looks {I}{N}",
        "I don't like the soft focus here",
        "the lack of sharpness is {I}disappointing",
        "sadly the focus missed {S}",
        "the sharpness is lacking, {S} looks {N}",
        "the focus is {I}{N}, {S} is blurry",
    ),
    ("light", "bright", 1): (
        "{I}{P} bright, airy light",
        "love the light on {S}",
        "the exposure is {I}{P}",
        "the lighting is bright and {P}",
        "{P} high-key exposure",
        "the light is {I}{P}, it really glows",
        "I love how bright and clean the lighting is",
        "the light on {S} is {I}{P}",
    ),
    ("light", "bright", 0): (
        "the highlights are blown out, which is {I}distracting",
        "it looks overexposed and the light is {I}harsh",
        "the lighting is too harsh on {S}",
        "I don't like the exposure, it is overexposed",
        "the exposure is off, {S} is washed out and {N}",
        "the light is {I}harsh and the highlights are lost",
        "the exposure is {I}{N}, the highlights are gone",
    ),
    ("light", "dark", 1): (
        "love the moody low-key lighting",
        "the dark exposure gives it a {I}{P} mood",
        "{P} use of light and shadow",
        "the low-key light on {S} is {I}{P}",
        "the shadows are {I}{P}, very dramatic lighting",
        "I love the dark, rich exposure",
        "the light is {I}{P}, dark and rich",
    ),
    ("light", "dark", 0): (
        "the exposure is too dark and {N}",
        "{S} is lost in the shadows, {N} lighting",
        "I don't like the lighting, it is {I}gloomy",
        "it looks underexposed and {I}dull",
        "the light is {I}dull and flat",
        "the exposure is a problem, {S} is too dark",
        "the lighting is {I}{N}, everything is murky",
    ),
    ("color", "vivid", 1): (
        "the colors {I}pop, {P}",
        "love the {I}vibrant colors",
        "{P} color palette",
        "the colors are {I}{P} and rich",
        "{P} saturation on {S}",
        "the color on {S} is {I}{P}",
        "I love the bold colors",
    ),
    ("color", "vivid", 0): (
        "the colors are oversaturated and {I}{N}",
        "the color feels garish and {N}",
        "too much saturation, {S} looks {I}{N}",
        "I don't like the colors, they are {I}harsh",
        "the color is overdone, a bit of a mess",
        "the saturation is {I}{N}",
    ),
    ("color", "muted", 1): (
        "lovely muted tones",
        "the subtle color palette is {I}{P}",
        "{P} soft pastel colors",
        "love the understated color",
        "the gentle tones of {S} are {I}{P}",
        "the quiet colors are {I}{P}",
    ),
    ("color", "muted", 0): (
        "the colors are {I}dull and flat",
        "the color looks washed out and {N}",
        "I don't like the color here, it is {I}lifeless and {N}",
        "the colors lack punch, {I}{N}",
        "the color of {S} is {I}dull",
        "the colors are {N}, everything looks grey",
    ),
    ("color", "mono", 1): (
        "{P} tonal range in the black and white",
        "the monochrome conversion is {I}{P}",
        "love the tones in this B&W",
        "the black and white treatment is {I}{P}",
        "{P} choice to go monochrome",
    ),
    ("color", "mono", 0): (
        "the black and white conversion is {I}flat and {N}",
        "the tones are muddy and {N}",
        "I don't like the gray tones, they look {N}",
        "the monochrome is {I}dull, it needs more contrast",
        "the B&W treatment is {N}, I miss the color",
    ),
    ("composition", "centred", 1): (
        "{P} composition, the centered subject is {I}strong",
        "love the symmetry with {S} right in the middle",
        "placing {S} right in the center is {I}{P} here",
        "the centered framing is {I}{P}",
        "{P} balance, {S} sits right where it should",
        "the composition is {I}{P}, nice and symmetrical",
    ),
    ("composition", "centred", 0): (
        "the composition is {I}static with {S} dead center, {N}",
        "{S} is dead center, which is {I}boring",
        "I don't like the composition, {S} is stuck in the middle",
        "the centered placement feels {I}{N}",
        "the framing is {N}, try the rule of thirds",
        "the bullseye composition is {I}{N}",
    ),
    ("composition", "thirds", 1): (
        "{P} use of the rule of thirds",
        "the composition is {I}{P}",
        "love the placement of {S}",
        "{P} framing and balance",
        "the crop is {I}{P}, {S} sits on the thirds",
        "the off-center placement of {S} is {I}{P}",
    ),
    ("composition", "thirds", 0): (
        "the composition feels {I}{N}, {S} is pushed to the side",
        "{S} is off to the side and the frame feels {I}empty",
        "I don't like the composition",
        "the framing is {I}{N}, too much empty space",
        "the crop is {N}, {S} is lost at the edge",
        "the placement of {S} is {I}{N}",
    ),
    ("background", "", 1): (
        "the background is {I}clean and {P}",
        "{P} background, it really sets off {S}",
        "love the simple background",
        "the background is {I}{P}",
    ),
    ("background", "", 0): (
        "the background is {I}distracting",
        "the background is busy and {N}",
        "I don't like the cluttered background",
        "the background is {I}{N}, it competes with {S}",
    ),
    ("angle", "", 1): (
        "{P} angle",
        "the angle is {I}{P}",
        "love the low angle on {S}",
        "{P} POV on {S}",
    ),
    ("angle", "", 0): (
        "the angle is {I}awkward and {N}",
        "I don't like the angle",
        "the angle is {N}, try getting lower",
    ),
    ("contrast", "", 1): (
        "the contrast is {I}{P}",
        "{P} contrast",
        "love the contrast on {S}",
    ),
    ("contrast", "", 0): (
        "the contrast is {I}weak",
        "the contrast is flat and {N}",
        "I don't like the contrast",
    ),
    ("shot", "", 1): (
        "{P} shot",
        "what a {I}{P} shot",
        "{I}{P} shot of {S}",
        "{P} capture of {S}",
    ),
    ("shot", "", 0): (
        "the shot is {I}weak overall",
        "a {N} shot, sorry",
        "the shot fails to grab me",
    ),
    ("detail", "", 1): (
        "{P} detail in {S}",
        "the detail is {I}{P}",
    ),
    ("detail", "", 0): (
        "the detail in {S} is {I}{N}",
        "the detail is lost, {N}",
    ),
    ("crop", "", 1): (
        "the crop is {I}{P}",
        "{P} tight crop",
    ),
    ("crop", "", 0): (
        "the crop is {I}{N}",
        "the crop is too tight, {N}",
    ),
}
_ATTR_ASPECT = ("light", "focus", "color", "composition")
_GENERIC_ASPECTS = ("background", "angle", "contrast", "shot", "detail",
                    "crop")

_FEELING_POS = (
    "I love this!", "Wow, just wow.", "Beautiful!", "This is {I}{P}.",
    "Love it!", "Gorgeous, fave!", "This makes me smile.",
    "{P} work, well done!", "{P}! One of my favorites in this challenge.",
    "Just {I}{P}.", "Lovely image, I really enjoy it.",
    "Awesome, great job!", "Very nice entry!", "Now this is {P}!",
    "Simply {P}.", "I really like this one.", "Wow! Love it.",
)
_FEELING_NEG = (
    "Sadly, not for me.", "Sorry, I just don't get it.", "Meh.",
    "It doesn't do much for me, sorry.", "I don't like it, sorry.",
    "Boring, sorry.", "Sorry, this one is not for me.",
    "Not my cup of tea, sorry.", "Unfortunately it doesn't grab me.",
    "I really don't like this one.", "Sadly this one leaves me cold.",
    "This is {I}{N}, sorry.", "Disappointing entry.",
    "Not impressed, sorry.", "Sorry, it just looks {N} to me.",
)
_OFF_TOPIC = (
    "Congrats on the ribbon!", "What lens did you use?",
    "How handsome the boy is!", "Where was this taken?",
    "Is that your {PET}?", "Thanks for the comment on my entry!",
    "Good luck in the challenge!", "What camera did you use for this?",
    "Did you use a tripod?", "I have been to {PLACE} too, such a fun trip!",
    "Happy birthday to your daughter!", "Welcome to DPC!",
    "Is this the same spot as your last entry?",
    "How long did it take to set this up?",
    "My grandmother had a vase just like that.",
    "Congrats on your first ribbon!", "What a cute {PET}!",
    "Say hi to your {PET} for me.", "Was this taken in RAW?",
    "Did you make that yourself?", "See you at the next meetup!",
    "That must have been a long hike!", "Are you the one in the picture?",
    "Is this near {PLACE}?", "My kids would love this place.",
)
_EQUIVOCAL = (
    "Do you live in the steeple?", "Hmm.", "Hmm...", "Interesting.",
    "I see.", "OK.", "Well...", "What is it?", "Not sure.",
    "Hmm, I wonder.", "So this is it?", "Huh.", "Why?", "Okay then.",
    "Is this a {THING}?",
)
_PETS = ("dog", "cat", "horse", "parrot", "rabbit", "puppy", "kitten")
_PLACES = ("Paris", "Yosemite", "Venice", "the Alps", "Maine", "Kyoto",
           "Cornwall", "Iceland", "Big Sur", "Prague")
_THINGS = ("teapot", "bridge", "toy", "mirror", "lamp", "window")
_OPEN_POS = ("Nice one!", "Wow!", "Very nice.", "Great entry!",
             "Oh, I like this.", "Beautiful image.")
_OPEN_NEUTRAL = ("Hi!", "Hello,", "Hi,", "Hello there.", "Let me see.")
_OPEN_NEG = ("Sorry,", "Hmm.", "Sorry to say,")
_CLOSE_POS = ("Good luck!", "Well done.", "Great job!", "Fave!",
              "Nice work.", "Keep it up!", "Congrats!")
_CLOSE_NEUTRAL = ("Just my 2 cents.", "IMHO.", "JMHO.", "Keep shooting.",
                  "That's how I see it.")
_CLOSE_NEG = ("Sorry.", "Sorry, just my opinion.", "Sorry about that.")
_EMOJI_POS = ("\U0001F60D", "\U0001F642", "\U0001F44D", "\U0001F60A")
_EMOJI_NEG = ("\U0001F615", "\U0001F641")
_A_AN = re.compile(r"\b([Aa]) ([aeiouAEIOU])")


@dataclasses.dataclass
class _User:
  """A planted reviewer."""
  user_id: str
  archetype: str
  taste: np.ndarray  # over ATTRIBUTES
  threshold: float
  affinity: np.ndarray  # over USED_TAGS
  activity: float
  type_ii_p: float
  verbose: float
  opener_p: float
  closer_p: float
  exclaim: float
  lowercase: bool
  signature: str


@dataclasses.dataclass
class _Img:
  """A planted image."""
  index: int
  image_id: str
  tags: Tuple[int, ...]  # indices into USED_TAGS (0, 1 or 2 of them)
  style: str
  grayscale: bool
  attrs: np.ndarray
  z: np.ndarray
  quality: float
  subjects: Tuple[str, ...]
  ext: str
  size: Tuple[int, int]


def _capitalise(text: str) -> str:
  return text[:1].upper() + text[1:]


class _ReviewWriter:
  """Writes dpchallenge-style critique text that expresses a judgement."""

  def __init__(self, rnd: random.Random):
    self.rnd = rnd
    self._subjects_used: List[str] = []  # within the current review

  def _start(self) -> None:
    self._subjects_used = []

  def _pick(self, seq: Sequence[str]) -> str:
    return seq[int(self.rnd.random() * len(seq))]

  def _fill(self, template: str, subjects: Sequence[str],
            strong: bool = False, plain: bool = False) -> str:
    """Fills the slots; ``plain`` = no intensifier and mild adjectives."""
    text = template
    while "{I}" in text:
      if plain:
        word = ""
      else:
        word = self._pick(_STRONG_INTENS if strong else _INTENS)
      text = text.replace("{I}", word, 1)
    while "{P}" in text:
      text = text.replace("{P}", self._pick(_POS_MILD if plain else _POS), 1)
    while "{N}" in text:
      text = text.replace("{N}", self._pick(_NEG_MILD if plain else _NEG), 1)
    if "{S}" in text:
      subj = self._pick(subjects)
      if subj in self._subjects_used and len(subjects) > 1:
        subj = self._pick(subjects)  # prefer another noun in one review
      self._subjects_used.append(subj)
      if self.rnd.random() < 0.012:  # HTML-escaped quotes from the crawler
        head, _, noun = subj.partition(" ")
        subj = f"{head} &quot;{noun}&quot;" if noun else subj
      text = text.replace("{S}", subj)
    text = text.replace("{PET}", self._pick(_PETS))
    text = text.replace("{PLACE}", self._pick(_PLACES))
    text = text.replace("{THING}", self._pick(_THINGS))
    return _A_AN.sub(r"\1n \2", text)

  @staticmethod
  def _state(aspect: str, img: _Img) -> str:
    b, s, c, p = img.attrs
    if aspect == "light":
      return "bright" if b >= 0.5 else "dark"
    if aspect == "focus":
      return "sharp" if s >= 0.55 else "soft"
    if aspect == "color":
      if img.grayscale:
        return "mono"
      return "vivid" if c >= 0.5 else "muted"
    if aspect == "composition":
      return "centred" if p >= 0.5 else "thirds"
    return ""

  def _aspect_weights(self, user: _User, img: _Img, polarity: int,
                      exclude: Sequence[str]) -> Tuple[List[str], List[float]]:
    sign = 1.0 if polarity else -1.0
    value = (QUALITY_WEIGHTS + user.taste) * img.z  # per-attribute pull
    names, weights = [], []
    for j, aspect in enumerate(_ATTR_ASPECT):
      if aspect in exclude:
        continue
      care = 0.35 + abs(float(user.taste[j]))
      names.append(aspect)
      weights.append(care * (0.1 + max(0.0, sign * float(value[j]))))
    for aspect in _GENERIC_ASPECTS:
      if aspect not in exclude:
        names.append(aspect)
        weights.append(0.12)
    return names, weights

  def _choose(self, names: List[str], weights: List[float]) -> str:
    total = sum(weights)
    r = self.rnd.random() * total
    for name, w in zip(names, weights):
      r -= w
      if r <= 0:
        return name
    return names[-1]

  def _clause(self, aspect: str, img: _Img, polarity: int, strong: bool = False,
              plain: bool = False) -> str:
    key = (aspect, self._state(aspect, img), polarity)
    return self._fill(self._pick(_CLAUSES[key]), img.subjects, strong=strong,
                      plain=plain)

  @staticmethod
  def _sentence(text: str, end: str) -> str:
    return _capitalise(text.strip()) + end

  def rule_review(self, user: _User, img: _Img, s: int) -> str:
    """Type I: comments on photographic aspects; the lean expresses ``s``."""
    self._start()
    rnd = self.rnd
    n = 1 + (rnd.random() < user.verbose) + (rnd.random() < user.verbose / 2)
    used: List[str] = []
    clauses = []
    for _ in range(n):
      aspect = self._choose(*self._aspect_weights(user, img, s, used))
      used.append(aspect)
      clauses.append(aspect)
    mixed = rnd.random() < 0.25
    end = "!" if s and rnd.random() < user.exclaim else "."
    parts: List[str] = []
    if mixed:
      contra = self._choose(*self._aspect_weights(user, img, 1 - s, used))
      first = self._clause(contra, img, 1 - s, plain=True)
      main = self._clause(clauses[0], img, s, strong=True)
      parts.append(self._sentence(f"{first}, but {main}", end))
      rest = clauses[1:]
    else:
      rest = clauses
    if rest:
      texts = [self._clause(a, img, s) for a in rest]
      if len(texts) >= 2 and rnd.random() < 0.4:
        parts.append(self._sentence(f"{texts[0]} and {texts[1]}", end))
        texts = texts[2:]
      parts.extend(self._sentence(t, end) for t in texts)
    if rnd.random() < 0.15:  # a feeling next to the critique
      feeling = _capitalise(self._fill(
          self._pick(_FEELING_POS if s else _FEELING_NEG), img.subjects))
      if rnd.random() < 0.5:
        parts.insert(0, feeling)
      else:
        parts.append(feeling)
    return self._decorate(user, " ".join(parts), s)

  def feeling_review(self, user: _User, img: _Img, s: int) -> str:
    """Type II: a subjective feeling with no photographic aspect."""
    self._start()
    bank = _FEELING_POS if s else _FEELING_NEG
    first = self._pick(bank)
    text = _capitalise(self._fill(first, img.subjects))
    if self.rnd.random() < 0.2:
      second = self._pick(bank)
      if second != first:
        text = f"{text} {_capitalise(self._fill(second, img.subjects))}"
    return self._decorate(user, text, s, closers=False)

  def off_topic_review(self, user: _User, img: _Img) -> str:
    """Type III: not about the photo's aesthetics."""
    self._start()
    text = self._fill(self._pick(_OFF_TOPIC), img.subjects)
    if self.rnd.random() < 0.15:
      text = f"{text} {self._fill(self._pick(_OFF_TOPIC), img.subjects)}"
    return self._finish(user, text)

  def equivocal_review(self, user: _User, img: _Img) -> str:
    """Type IV: an equivocal message."""
    self._start()
    return self._finish(user, self._fill(self._pick(_EQUIVOCAL),
                                         img.subjects))

  def _decorate(self, user: _User, text: str, s: int,
                closers: bool = True) -> str:
    rnd = self.rnd
    if rnd.random() < user.opener_p:
      pool = _OPEN_POS + _OPEN_NEUTRAL if s else _OPEN_NEUTRAL + _OPEN_NEG
      opener = self._pick(pool)
      if opener.endswith(",") and not re.match(r"I\b", text):
        text = f"{opener} {text[0].lower()}{text[1:]}"
      else:
        text = f"{opener} {text}"
    if closers and rnd.random() < user.closer_p:
      pool = _CLOSE_POS + _CLOSE_NEUTRAL if s else _CLOSE_NEUTRAL + _CLOSE_NEG
      text = f"{text} {self._pick(pool)}"
    if " and " in text and rnd.random() < 0.02:
      text = text.replace(" and ", " &amp; ", 1)
    if "n't" in text and rnd.random() < 0.02:
      text = text.replace("n't", "n&#39;t", 1)
    if rnd.random() < 0.012:
      text = f"{text} {self._pick(_EMOJI_POS if s else _EMOJI_NEG)}"
    return self._finish(user, text)

  def _finish(self, user: _User, text: str) -> str:
    if user.signature and self.rnd.random() < 0.5:
      text = f"{text} {user.signature}"
    if user.lowercase:
      text = text.lower()
    # One line, no field separator of the uir layout.
    return " ".join(text.replace("|", "/").split())


# --------------------------------------------------------------------------
# Planting
# --------------------------------------------------------------------------
def sizes_for_scale(scale: float) -> Tuple[int, int]:
  """(users, images) whose review count is about scale * REVIEWS_PER_UNIT."""
  if scale <= 0:
    raise ValueError(f"scale must be positive, got {scale}")
  reviews = scale * config.DEMO_SCALE_REVIEWS_PER_UNIT
  images = max(MIN_SCALED_IMAGES, int(round(reviews / MEAN_REVIEWS_PER_IMAGE)))
  users = max(MIN_SCALED_USERS,
              int(round(reviews / MEAN_REVIEWS_PER_USER_AT_SCALE)))
  return users, images


def _beta(rng: np.random.Generator, ab: Tuple[float, float]) -> float:
  return float(rng.beta(ab[0], ab[1]))


_DEFAULT_BETA = ((3.0, 3.0), (3.0, 2.0), (2.5, 2.5), (0.6, 0.6))


def _plan_images(rng: np.random.Generator, n: int,
                 image_size: int) -> Tuple[List[_Img], List[Tuple[int, str]],
                                           np.ndarray]:
  """Tags, challenges, ids, attributes and quality of every image."""
  weights = np.array([t.weight for t in USED_TAGS])
  # Challenges: about 60 images each, each with a theme tag that half of its
  # images carry as tag_1.
  n_chal = max(1, int(round(n / 60.0)))
  chal_ids = np.sort(rng.choice(np.arange(1, 1500), size=n_chal,
                                replace=False))
  chal_theme = rng.integers(0, len(_MAJOR_TAGS), size=n_chal)
  theme_names = rng.permutation(len(_CHALLENGE_THEMES))
  challenges = []
  for k, cid in enumerate(chal_ids):
    theme = _CHALLENGE_THEMES[theme_names[k % len(_CHALLENGE_THEMES)]]
    suffix = _ROMAN[(k // len(_CHALLENGE_THEMES)) % len(_ROMAN)]
    extra = k // (len(_CHALLENGE_THEMES) * len(_ROMAN))
    name = theme + suffix + (f"_{2003 + extra}" if extra else "")
    challenges.append((int(cid), name))
  chal_of = np.sort(rng.integers(0, n_chal, size=n))
  # dpchallenge image ids grow over time: sorted, 6-digit, with gaps.
  gap = max(2, min(120, 850000 // max(n, 1)))
  ids = 100000 + np.cumsum(rng.integers(1, gap, size=n))
  images = []
  for i in range(n):
    theme = int(chal_theme[chal_of[i]])
    if rng.random() < UNTAGGED_FRACTION:
      tags: Tuple[int, ...] = ()
    else:
      p = weights / weights.sum()
      if rng.random() < 0.5:
        t1 = theme
      else:
        t1 = int(rng.choice(len(USED_TAGS), p=p))
      tags = (t1,)
      if rng.random() < TAG2_FRACTION:
        p2 = weights.copy()
        p2[t1] = 0.0
        tags = (t1, int(rng.choice(len(USED_TAGS), p=p2 / p2.sum())))
    names = [USED_TAGS[t].name for t in tags]
    grayscale = BW_TAG in names
    content = [USED_TAGS[t] for t in tags if USED_TAGS[t].name != BW_TAG]
    if content:
      spec = content[0]
    else:
      spec = USED_TAGS[int(rng.integers(0, len(USED_TAGS)))]
      while spec.style == "bw":
        spec = USED_TAGS[int(rng.integers(0, len(USED_TAGS)))]
    betas = [spec.attr_beta[j] or _DEFAULT_BETA[j] for j in range(4)]
    attrs = np.array([_beta(rng, ab) for ab in betas])
    if grayscale:
      attrs[2] = 0.0
    z = (attrs - _ATTR_MEAN) / _ATTR_SD
    if grayscale:
      z[2] = _BW_COLOUR_Z
    offset = float(np.mean([USED_TAGS[t].quality_offset for t in tags])
                   ) if tags else 0.0
    quality = float(QUALITY_WEIGHTS @ z + offset +
                    rng.normal(0, QUALITY_NOISE_SD))
    subjects = spec.subjects
    if grayscale:
      subjects = subjects + _BW_SPEC.subjects
    u = rng.random()
    orientation = ("portrait" if u < spec.portrait_p else
                   "landscape" if u < spec.portrait_p + 0.35 else "square")
    ext = ".png" if rng.random() < PNG_FRACTION else ".jpg"
    images.append(_Img(index=i, image_id=str(int(ids[i])), tags=tags,
                       style=spec.style, grayscale=grayscale, attrs=attrs,
                       z=z, quality=quality, subjects=subjects, ext=ext,
                       size=_frame_size(image_size, orientation)))
  return images, challenges, chal_ids[chal_of]


def _votes(rng: np.random.Generator, quality: np.ndarray) -> np.ndarray:
  """AVA vote histograms (n, 10) around a mean that grows with quality."""
  n = len(quality)
  mu = MEAN_SCORE_BASE + MEAN_SCORE_SLOPE * quality
  n_votes = rng.integers(100, 251, size=n)
  sd = rng.uniform(1.1, 1.8, size=n)
  draws = rng.normal(mu[:, None], sd[:, None], size=(n, 250))
  bimodal = rng.random(n) < 0.08  # controversial images
  draws += bimodal[:, None] * np.where(rng.random((n, 250)) < 0.5, -1.6, 1.6)
  scores = np.clip(np.rint(draws), 1, 10).astype(np.int64)
  keep = np.arange(250)[None, :] < n_votes[:, None]
  flat = (np.arange(n)[:, None] * 10 + scores - 1)[keep]
  return np.bincount(flat, minlength=n * 10).reshape(n, 10)


def _plan_users(rng: np.random.Generator, n: int) -> List[_User]:
  shares = np.array([a[1] for a in ARCHETYPES])
  ids = rng.choice(np.arange(1000, 250000), size=n, replace=False)
  users = []
  for k in range(n):
    arch = int(rng.choice(len(ARCHETYPES), p=shares / shares.sum()))
    strength = float(rng.lognormal(0.0, 0.3))
    taste = (np.array(ARCHETYPES[arch][2]) * strength +
             rng.normal(0, 0.25, size=len(ATTRIBUTES)))
    affinity = rng.normal(0, TAG_AFFINITY_SD, size=len(USED_TAGS))
    liked = rng.choice(len(USED_TAGS), size=int(rng.integers(1, 3)),
                       replace=False)
    affinity[liked] += TAG_AFFINITY_STRONG
    if rng.random() < 0.7:
      affinity[int(rng.integers(0, len(USED_TAGS)))] -= TAG_AFFINITY_STRONG
    signature = ""
    if rng.random() < 0.08:
      signature = str(rng.choice(["~Jo", "-- M.", "~Ann", "/dave", "Ken",
                                  "~Lou"]))
    users.append(_User(
        user_id=str(int(ids[k])), archetype=ARCHETYPES[arch][0], taste=taste,
        threshold=float(rng.normal(THRESHOLD_MEAN, THRESHOLD_SD)),
        affinity=affinity, activity=float(rng.lognormal(0.0, 1.3)),
        type_ii_p=float(
            rng.beta(2.0, 2.0 * (1 - _TYPE_II_MEAN) / _TYPE_II_MEAN)),
        verbose=float(rng.beta(2, 2)),
        opener_p=float(rng.beta(1, 4)), closer_p=float(rng.beta(1, 3)),
        exclaim=float(rng.beta(1, 3)), lowercase=bool(rng.random() < 0.08),
        signature=signature))
  return users


def _image_affinity(user_aff: np.ndarray, tags: Tuple[int, ...]) -> Any:
  """Affinity of users (rows of user_aff) for an image with these tags."""
  if not tags:
    return user_aff[..., 0] * 0.0
  out = user_aff[..., tags[0]]
  if len(tags) > 1:
    out = out + 0.5 * user_aff[..., tags[1]]
  return out


def _plan_pairs(rng: np.random.Generator, users: List[_User],
                images: List[_Img]) -> List[Tuple[int, int]]:
  """(user index, image index) review pairs, at most one per pair."""
  n_users = len(users)
  activity = np.array([u.activity for u in users])
  aff = np.stack([u.affinity for u in users])
  q = np.array([img.quality for img in images])
  qz = q / 1.15  # roughly standardised quality: better photos draw more
  raw = np.exp(rng.normal(np.log(4.6) + 0.25 * qz, 0.8))
  counts = np.clip(1 + np.floor(raw).astype(np.int64), 1, n_users)
  pairs: List[Tuple[int, int]] = []
  per_user = np.zeros(n_users, np.int64)
  reviewed = [set() for _ in range(n_users)]
  for img, k in zip(images, counts):
    w = activity * np.exp(SELECTION_AFFINITY * _image_affinity(aff, img.tags))
    # Gumbel top-k == sampling k users without replacement, weights w.
    keys = np.log(w) + rng.gumbel(size=n_users)
    chosen = np.argpartition(-keys, k - 1)[:k]
    chosen = chosen[np.argsort(-keys[chosen])]
    for u in chosen:
      pairs.append((int(u), img.index))
      per_user[u] += 1
      reviewed[u].add(img.index)
  # Every user reviews at least two images where possible.
  need = min(2, len(images))
  for u in range(n_users):
    while per_user[u] < need:
      v = int(rng.integers(0, len(images)))
      if v not in reviewed[u]:
        pairs.append((u, v))
        per_user[u] += 1
        reviewed[u].add(v)
  return pairs


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------
def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
  """ROC AUC of ``scores`` for binary ``labels`` (average ranks for ties)."""
  pos = int(labels.sum())
  neg = len(labels) - pos
  if pos == 0 or neg == 0:
    return float("nan")
  order = np.argsort(scores, kind="stable")
  ranks = np.empty(len(scores))
  ranks[order] = np.arange(1, len(scores) + 1)
  _, inverse, counts = np.unique(scores, return_inverse=True,
                                 return_counts=True)
  sums = np.bincount(inverse, weights=ranks)
  ranks = (sums / counts)[inverse]
  return float((ranks[labels == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def _write_text(path: str, lines: Sequence[str]) -> None:
  with open(path, "w", encoding="utf-8", newline="\n") as f:
    for line in lines:
      f.write(line)
      f.write("\n")


def _remove_previous_demo(out_dir: str) -> None:
  """Deletes the files a previous ``generate`` wrote into ``out_dir``.

  Only acts when ``out_dir`` holds a demo_truth.json, i.e. was written by this
  module; its listed images and both review layouts are removed so that a
  re-generation with another seed, size or layout leaves no stale files.
  """
  truth_path = os.path.join(out_dir, TRUTH_FILE)
  if not os.path.isfile(truth_path):
    return
  try:
    with open(truth_path, encoding="utf-8") as f:
      old = json.load(f)
  except (OSError, ValueError):
    return
  paths = [os.path.join(out_dir, features.IMAGES_DIR, info["file"])
           for info in old.get("images", {}).values() if "file" in info]
  paths += [os.path.join(out_dir, features.REVIEWS_FILE),
            os.path.join(out_dir, features.UIR_FILE), truth_path]
  for path in paths:
    if os.path.isfile(path):
      os.remove(path)


def _report(progress: Optional[ProgressFn], stage: str, done: int,
            total: int) -> None:
  if progress is not None:
    progress(stage, done, total)


def generate(out_dir: str,
             *,
             users: int = config.DEMO_DEFAULT_USERS,
             images: int = config.DEMO_DEFAULT_IMAGES,
             seed: int = 0,
             scale: Optional[float] = None,
             layout: str = "reviews",
             image_size: int = 96,
             progress: Optional[ProgressFn] = None) -> Dict[str, Any]:
  """Writes a synthetic AVA-review directory with planted personal tastes.

  Args:
    out_dir: directory to write (created). Files of the same names are
      overwritten; the files of an earlier demo generation there (known from
      its demo_truth.json) are removed first; nothing else is touched.
    users: number of reviewers (ignored when ``scale`` is given).
    images: number of images (ignored when ``scale`` is given).
    seed: everything is a deterministic function of the seed.
    scale: when given, sizes the data set for about
      ``scale * config.DEMO_SCALE_REVIEWS_PER_UNIT`` reviews.
    layout: "reviews" (crawler block layout, ``features.REVIEWS_FILE``) or
      "uir" (``user_id|image_id|review`` lines, ``features.UIR_FILE``).
    image_size: longer side of the images in pixels.
    progress: optional ``callable(stage, done, total)``.

  Returns:
    A summary dict: counts, label rates and the planted parameters' names.
  """
  if layout not in LAYOUTS:
    raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
  if scale is not None:
    users, images = sizes_for_scale(scale)
  if users < 1 or images < 1:
    raise ValueError("users and images must be positive")
  if image_size < 16:
    raise ValueError("image_size must be at least 16")
  start = time.time()
  seq = np.random.SeedSequence(seed)
  (img_seq, vote_seq, user_seq, pair_seq, label_seq,
   text_seq) = seq.spawn(6)
  img_rng = np.random.default_rng(img_seq)
  planted, challenges, chal_of = _plan_images(img_rng, images, image_size)
  votes = _votes(np.random.default_rng(vote_seq),
                 np.array([im.quality for im in planted]))
  mean_score = votes @ np.arange(1, 11) / votes.sum(axis=1)
  agnostic = (mean_score > features.AGNOSTIC_THRESHOLD).astype(np.int64)
  people = _plan_users(np.random.default_rng(user_seq), users)
  pairs = _plan_pairs(np.random.default_rng(pair_seq), people, planted)

  # Personal labels.
  label_rng = np.random.default_rng(label_seq)
  u_idx = np.array([p[0] for p in pairs], np.int64)
  v_idx = np.array([p[1] for p in pairs], np.int64)
  taste = np.stack([u.taste for u in people])
  aff = np.stack([u.affinity for u in people])
  z = np.stack([im.z for im in planted])
  q = np.array([im.quality for im in planted])
  thresh = np.array([u.threshold for u in people])
  # Affinity for tag_1 plus half the affinity for tag_2 (0 when untagged).
  aff0 = np.concatenate([aff, np.zeros((len(people), 1))], axis=1)
  none = len(USED_TAGS)
  tag1 = np.array([im.tags[0] if im.tags else none for im in planted])
  tag2 = np.array([im.tags[1] if len(im.tags) > 1 else none
                   for im in planted])
  tag_aff = (aff0[u_idx, tag1[v_idx]] + 0.5 * aff0[u_idx, tag2[v_idx]])
  personal = q[v_idx] + np.einsum("ij,ij->i", taste[u_idx], z[v_idx]) + tag_aff
  noise = label_rng.normal(0, PERSONAL_NOISE_SD, size=len(pairs))
  s_uv = (personal + noise > thresh[u_idx]).astype(np.int64)
  oracle = (personal > thresh[u_idx]).astype(np.int64)

  # Review types and texts.
  text_rnd = random.Random(int(text_seq.generate_state(1)[0]))
  writer = _ReviewWriter(text_rnd)
  types: List[str] = []
  texts: List[str] = []
  total = len(pairs)
  step = max(1, total // 20)
  for k in range(total):
    user, img, s = people[u_idx[k]], planted[v_idx[k]], int(s_uv[k])
    r = text_rnd.random()
    if r < _TYPE_III_P:
      rtype, text = features.REVIEW_TYPE_OFF_TOPIC, writer.off_topic_review(
          user, img)
    elif r < _TYPE_III_P + _TYPE_IV_P:
      rtype, text = features.REVIEW_TYPE_EQUIVOCAL, writer.equivocal_review(
          user, img)
    elif text_rnd.random() < user.type_ii_p:
      rtype, text = features.REVIEW_TYPE_FEELING, writer.feeling_review(
          user, img, s)
    else:
      rtype, text = features.REVIEW_TYPE_RULE, writer.rule_review(user, img, s)
    types.append(rtype)
    texts.append(text)
    if (k + 1) % step == 0 or k + 1 == total:
      _report(progress, "reviews", k + 1, total)

  # Files.
  _remove_previous_demo(out_dir)
  os.makedirs(os.path.join(out_dir, features.IMAGES_DIR), exist_ok=True)
  tag_ids = [_TAG_ID[t.name] for t in USED_TAGS]
  ava_lines = []
  for i, im in enumerate(planted):
    t1 = tag_ids[im.tags[0]] if im.tags else features.NO_TAG_ID
    t2 = tag_ids[im.tags[1]] if len(im.tags) > 1 else features.NO_TAG_ID
    counts = " ".join(str(int(c)) for c in votes[i])
    ava_lines.append(f"{i + 1} {im.image_id} {counts} {t1} {t2} "
                     f"{int(chal_of[i])}")
  _write_text(os.path.join(out_dir, features.AVA_FILE), ava_lines)
  _write_text(os.path.join(out_dir, features.TAGS_FILE),
              [f"{tid} {name}" for tid, name in AVA_TAGS])
  _write_text(os.path.join(out_dir, features.CHALLENGES_FILE),
              [f"{cid} {name}" for cid, name in challenges])

  by_image: List[List[int]] = [[] for _ in planted]
  for k in range(total):
    by_image[v_idx[k]].append(k)
  if layout == "reviews":
    lines: List[str] = []
    for im, ks in zip(planted, by_image):
      if not ks:
        continue
      lines.append(im.image_id)
      lines.append(str(len(ks)))
      for k in ks:
        lines.append(people[u_idx[k]].user_id)
        lines.append(texts[k])
    reviews_path = os.path.join(out_dir, features.REVIEWS_FILE)
  else:
    lines = [f"{people[u_idx[k]].user_id}|{planted[v_idx[k]].image_id}|"
             f"{texts[k]}" for ks in by_image for k in ks]
    reviews_path = os.path.join(out_dir, features.UIR_FILE)
  _write_text(reviews_path, lines)

  step = max(1, images // 20)
  for i, im in enumerate(planted):
    pil = render_image(im.style, im.attrs, im.grayscale, im.size,
                       (seed, 7919, i))
    data = encode_image(pil, "png" if im.ext == ".png" else "jpeg")
    with open(os.path.join(out_dir, features.IMAGES_DIR,
                           im.image_id + im.ext), "wb") as f:
      f.write(data)
    if (i + 1) % step == 0 or i + 1 == images:
      _report(progress, "images", i + 1, images)

  # Ground truth (for tests and notebooks only).
  truth = {
      "model": {
          "attributes": list(ATTRIBUTES),
          "attribute_mean": _ATTR_MEAN.tolist(),
          "attribute_sd": _ATTR_SD.tolist(),
          "quality_weights": QUALITY_WEIGHTS.tolist(),
          "quality_noise_sd": QUALITY_NOISE_SD,
          "mean_score": f"{MEAN_SCORE_BASE} + {MEAN_SCORE_SLOPE} * quality",
          "personal_noise_sd": PERSONAL_NOISE_SD,
          "rule": ("s_uv = 1 iff quality_v + taste_u . z_v + affinity_u[tag_1]"
                   " + 0.5 * affinity_u[tag_2] + N(0, personal_noise_sd) > "
                   "threshold_u"),
          "archetypes": {a[0]: list(a[2]) for a in ARCHETYPES},
          "tags": [t.name for t in USED_TAGS],
      },
      "users": {
          u.user_id: {
              "archetype": u.archetype,
              "taste": [round(float(x), 4) for x in u.taste],
              "threshold": round(u.threshold, 4),
              "tag_affinity": {t.name: round(float(a), 4)
                               for t, a in zip(USED_TAGS, u.affinity)},
              "activity": round(u.activity, 4),
          } for u in people
      },
      "images": {
          im.image_id: {
              "file": im.image_id + im.ext,
              "tags": [USED_TAGS[t].name for t in im.tags],
              "style": im.style,
              "attributes": [round(float(x), 4) for x in im.attrs],
              "z": [round(float(x), 4) for x in im.z],
              "quality": round(im.quality, 4),
              "mean_score": round(float(mean_score[im.index]), 4),
              "b_v": int(agnostic[im.index]),
          } for im in planted
      },
      "reviews": [{
          "user_id": people[u_idx[k]].user_id,
          "image_id": planted[v_idx[k]].image_id,
          "s_uv": int(s_uv[k]),
          "type": types[k],
      } for ks in by_image for k in ks],
  }
  with open(os.path.join(out_dir, TRUTH_FILE), "w", encoding="utf-8",
            newline="\n") as f:
    json.dump(truth, f, ensure_ascii=False, separators=(",", ":"))

  tag_counts = {t.name: 0 for t in USED_TAGS}
  for im in planted:
    for t in im.tags:
      tag_counts[USED_TAGS[t].name] += 1
  per_user = np.bincount(u_idx, minlength=users)
  per_image = np.bincount(v_idx, minlength=images)
  type_counts = {t: types.count(t) for t in (
      features.REVIEW_TYPE_RULE, features.REVIEW_TYPE_FEELING,
      features.REVIEW_TYPE_OFF_TOPIC, features.REVIEW_TYPE_EQUIVOCAL)}
  summary = {
      "out_dir": out_dir,
      "layout": layout,
      "reviews_file": os.path.basename(reviews_path),
      "seed": seed,
      "users": users,
      "images": images,
      "reviews": total,
      "review_types": type_counts,
      "png_images": sum(im.ext == ".png" for im in planted),
      "untagged_images": sum(not im.tags for im in planted),
      "tag2_images": sum(len(im.tags) == 2 for im in planted),
      "tag_image_counts": tag_counts,
      "major_tags": [n for n, c in tag_counts.items()
                     if c >= config.DEMO_MIN_TAG_IMAGES],
      "challenges": len(challenges),
      "reviews_per_image_mean": float(per_image.mean()),
      "reviews_per_image_max": int(per_image.max()),
      "reviews_per_user_median": float(np.median(per_user)),
      "reviews_per_user_max": int(per_user.max()),
      "agnostic_positive_rate": float(agnostic.mean()),
      "personal_positive_rate": float(s_uv.mean()),
      "agnostic_agreement": float((agnostic[v_idx] == s_uv).mean()),
      "oracle_agreement": float((oracle == s_uv).mean()),
      "agnostic_auc": _auc(mean_score[v_idx], s_uv),
      "oracle_auc": _auc(personal - thresh[u_idx], s_uv),
      "archetypes": {a[0]: sum(u.archetype == a[0] for u in people)
                     for a in ARCHETYPES},
      "seconds": round(time.time() - start, 2),
  }
  return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--out", required=True, help="output directory")
  parser.add_argument("--users", type=int, default=config.DEMO_DEFAULT_USERS)
  parser.add_argument("--images", type=int, default=config.DEMO_DEFAULT_IMAGES)
  parser.add_argument("--scale", type=float, default=None)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--layout", choices=LAYOUTS, default="reviews")
  parser.add_argument("--image-size", type=int, default=96)
  args = parser.parse_args(argv)

  def show(stage: str, done: int, total: int) -> None:
    print(f"\r{stage}: {done}/{total}", end="\n" if done == total else "",
          file=sys.stderr, flush=True)

  summary = generate(args.out, users=args.users, images=args.images,
                     seed=args.seed, scale=args.scale, layout=args.layout,
                     image_size=args.image_size, progress=show)
  print(json.dumps(summary, indent=2))
  return 0


if __name__ == "__main__":
  sys.exit(main())

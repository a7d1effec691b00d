"""Drawing the demo photos: one function per tag style, then the attributes.

Every photo has a subject placed at a rule-of-thirds point pulled to the
centre by its ``centredness`` (``draw_image`` returns its bounding box);
``brightness``, ``sharpness`` and ``colourfulness`` are applied to the whole
frame (exposure/gamma, Gaussian blur, saturation).
"""
from __future__ import annotations

import colorsys
import io
import math
from typing import Any, Callable, Dict, Sequence, Tuple

import numpy as np
from PIL import Image, ImageFilter

JPEG_QUALITY = 90
# A drawing and its subject's (y0, y1, x0, x1) in canvas units (the shorter
# side is 1).
_Drawn = Tuple[np.ndarray, Tuple[float, float, float, float]]

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
                    sy: float) -> _Drawn:
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
  return img, (hz - 0.24, hz + 0.1, cx - 0.08, cx + 0.08)  # the tree


def _draw_seascape(rng: np.random.Generator, c: _Canvas, sx: float,
                   sy: float) -> _Drawn:
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
    box = (hz - 0.21, hz - 0.09, cx - 0.06, cx + 0.06)  # the sun
  else:  # boat
    hull = _hsv(rng.uniform(0, 1), 0.5, 0.3)
    img = _paint(img, c.box(hz + 0.02, hz + 0.06, cx - 0.1, cx + 0.1), hull)
    img = _paint(img, c.triangle(((hz - 0.2, cx), (hz + 0.01, cx),
                                  (hz + 0.01, cx + 0.1))),
                 _hsv(0, 0, 0.95))
    box = (hz - 0.2, hz + 0.06, cx - 0.1, cx + 0.1)  # the boat
  return img, box


def _draw_portrait(rng: np.random.Generator, c: _Canvas, sx: float,
                   sy: float) -> _Drawn:
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
  return img, (cy - 0.29, cy + 0.28, cx - 0.19, cx + 0.19)  # the head


def _draw_macro(rng: np.random.Generator, c: _Canvas, sx: float,
                sy: float) -> _Drawn:
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
  ry_scale = rng.uniform(0.7, 1.0)
  mask = c.ellipse(cy, cx, r * ry_scale, r)
  d = np.sqrt((c.y - cy + 0.3 * r)**2 + (c.x - cx + 0.3 * r)**2) / r
  shade = np.clip(1.15 - 0.6 * d, 0.3, 1.2)[..., None]
  spots = 0.12 * np.sin(c.x * rng.uniform(70, 110)) * np.sin(
      c.y * rng.uniform(70, 110))
  subject = body * shade + spots[..., None]
  img = _paint(img, mask, subject)
  img = _paint(img, c.ellipse(cy - 0.35 * r, cx - 0.3 * r, 0.06 * r + 0.01,
                              0.06 * r + 0.01), _hsv(0, 0, 1.0))
  ry = r * ry_scale
  return img, (cy - ry, cy + ry, cx - r, cx + r)


def _draw_abstract(rng: np.random.Generator, c: _Canvas, sx: float,
                   sy: float) -> _Drawn:
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
      ry, rx = size, size * rng.uniform(0.6, 1.4)
      mask = c.ellipse(cy, cx, ry, rx)
    elif kind == 1:
      ry, rx = size, size * 0.7
      mask = c.box(cy - ry, cy + ry, cx - rx, cx + rx)
    elif kind == 2:
      ry = rx = size
      mask = c.triangle(((cy - size, cx), (cy + size, cx - size),
                         (cy + size, cx + size)))
    else:
      band = np.abs(np.sin((c.x * rng.uniform(0.5, 1.5) + c.y) *
                           rng.uniform(8, 20)))
      ry = rx = size * 1.3
      mask = c.ellipse(cy, cx, ry, rx) * (band > 0.5)
    img = _paint(img, mask, colour)
  return img, (cy - ry, cy + ry, cx - rx, cx + rx)  # the last (main) shape


def _draw_architecture(rng: np.random.Generator, c: _Canvas, sx: float,
                       sy: float) -> _Drawn:
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
  return img, (top - 0.12, c.height, cx - tw, cx + tw)  # the tower


def _draw_floral(rng: np.random.Generator, c: _Canvas, sx: float,
                 sy: float) -> _Drawn:
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
  cy, cx, r = flowers[0]
  return img, (cy - r, cy + r, cx - r, cx + r)  # the main flower


def _draw_still_life(rng: np.random.Generator, c: _Canvas, sx: float,
                     sy: float) -> _Drawn:
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
  return img, (table_y - 2.6 * vr, table_y, cx - vr, cx + vr)  # the vase


def _draw_animals(rng: np.random.Generator, c: _Canvas, sx: float,
                  sy: float) -> _Drawn:
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
  x0, x1 = sorted((cx - side * 0.23, hx + side * 0.08))
  return img, (cy - 0.2, cy + 0.22, x0, x1)


def _draw_sky(rng: np.random.Generator, c: _Canvas, sx: float,
              sy: float) -> _Drawn:
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
  y, x = c.fy(sy), c.fx(sx)
  return img, (y - 0.07, y + 0.07, x - 0.07, x + 0.07)  # the sun


def _draw_cityscape(rng: np.random.Generator, c: _Canvas, sx: float,
                    sy: float) -> _Drawn:
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
  return img, (c.fy(0.12), c.height, cx - 0.05, cx + 0.05)  # the tower


def _draw_food(rng: np.random.Generator, c: _Canvas, sx: float,
               sy: float) -> _Drawn:
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
  return img, (cy - 0.27, cy + 0.27, cx - 0.34, cx + 0.34)  # the plate


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


def frame_size(image_size: int, orientation: str) -> Tuple[int, int]:
  """(height, width) of a frame whose longer side is ``image_size``."""
  short = max(8, int(round(image_size * 0.75)))
  if orientation == "landscape":
    return short, image_size
  if orientation == "portrait":
    return image_size, short
  return image_size, image_size


def render_image(style: str, attrs: Sequence[float], grayscale: bool,
                 size: Tuple[int, int], seed: Sequence[int]) -> Image.Image:
  """Draws one synthetic photo (``draw_image`` without the subject box)."""
  return draw_image(style, attrs, grayscale, size, seed)[0]


def draw_image(style: str, attrs: Sequence[float], grayscale: bool,
               size: Tuple[int, int], seed: Sequence[int]
               ) -> Tuple[Image.Image, Tuple[float, float, float, float]]:
  """Draws one synthetic photo and says where its subject is.

  Args:
    style: key of the drawing function (the content of the photo).
    attrs: brightness, sharpness, colourfulness, centredness in [0, 1].
    grayscale: returns a mode "L" image (Black and White).
    size: (height, width) in pixels.
    seed: entropy of the image's own random generator.

  Returns:
    (image, box): a PIL image, mode "RGB", or for grayscale "L" or "RGB"
    with R = G = B; the bounding box (x0, y0, x1, y1) of the subject the
    drawer placed, as fractions of the width and height, clipped to [0, 1].
  """
  rng = np.random.default_rng(list(seed))
  brightness, sharpness, colourfulness, centredness = (float(a) for a in attrs)
  c = _Canvas(*size)
  # Subject at a rule-of-thirds point, pulled to the centre by centredness.
  tx = 1 / 3 if rng.random() < 0.5 else 2 / 3
  ty = 1 / 3 if rng.random() < 0.5 else 2 / 3
  sx = tx + centredness * (0.5 - tx) + rng.normal(0, 0.02)
  sy = ty + centredness * (0.5 - ty) + rng.normal(0, 0.02)
  img, (y0, y1, x0, x1) = _STYLES[style](rng, c, sx, sy)
  box = tuple(float(min(max(f, 0.0), 1.0)) for f in (
      x0 / c.width, y0 / c.height, x1 / c.width, y1 / c.height))
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
  return pil, box


def encode_image(pil: Image.Image, fmt: str) -> bytes:
  """Deterministic JPEG (fixed quality) or PNG bytes."""
  buf = io.BytesIO()
  if fmt == "png":
    pil.save(buf, format="PNG", compress_level=6)
  else:
    pil.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=False)
  return buf.getvalue()



"""Per-image maps over a photo (``cfan explain``), in the manner of Fig. 4.

Which map depends on the model (``keras_model.saliency``):

* **attention** (the CFAN variants): the model's ``attention`` output, a_uv
  of Eq. 5, a softmax over the h x w cells of the CNN feature map computed
  from the review branch (the user's review, else the request profile, else
  the stored profile);
* **occlusion** (models without attention, e.g. the pipeline's default
  ``residual``, whose export fills ``attention`` with a single cell): the
  change in the user's p_personal when each of 8 x 8 cells of the photo is
  painted over with its mean colour, scored through the same serving
  signature (so the map explains the served model, known votes absent as for
  any new photo).

The photo is squashed to a square before the CNN, so cell (i, j) covers the
same fraction of the photo's height and width whatever its aspect; the map
is upsampled bilinearly to the photo's own size and drawn over it as a heat
map. Values are shown as multiples of the uniform weight 1/(h*w) (for
occlusion: of the absolute changes, normalised to sum 1), on one colour
scale for all panels, so two users' maps compare directly.
"""
from __future__ import annotations

import dataclasses
import io
import os
from typing import Dict, List, Sequence

import numpy as np

from keras_model import saliency
from preprocessing import config as cfg_lib
from preprocessing import features as F
from preprocessing.images import reencode_image

_KIND_LABEL = {
    saliency.ATTENTION: "attention (Eq. 5)",
    saliency.OCCLUSION: "occlusion saliency of p_personal",
}


@dataclasses.dataclass
class Panel:
  """One user's request: whose taste, and which text drives the attention."""
  user: str
  review: str = ""
  profile: str = ""


def attention_driver(panel: Panel, known_user: bool) -> str:
  """Which text the review branch read for this panel."""
  if panel.review.strip():
    return "attention from the review"
  if panel.profile.strip():
    return "attention from the given profile"
  if known_user:
    return "attention from the stored profile"
  return "no review or profile: attention from an empty text"


def upsample(attention: np.ndarray, width: int, height: int) -> np.ndarray:
  """[h, w] map -> [height, width] by bilinear interpolation (PIL)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  img = Image.fromarray(np.asarray(attention, np.float32))  # mode "F"
  return np.asarray(img.resize((width, height), Image.BILINEAR), np.float32)


def _display_image(data: bytes, max_side: int) -> np.ndarray:
  """Photo bytes -> uint8 RGB array (alpha on white, longest side capped)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with Image.open(io.BytesIO(reencode_image(data, max_side=max_side,
                                            quality=95))) as img:
    return np.asarray(img.convert("RGB"))


def _jpeg(pixels: np.ndarray) -> bytes:
  """uint8 RGB array -> JPEG bytes at the stored images' quality."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  buf = io.BytesIO()
  Image.fromarray(pixels).save(buf, format="JPEG",
                               quality=cfg_lib.STORED_JPEG_QUALITY)
  return buf.getvalue()


def _occlusion(scorer, model_bytes: bytes, panel: Panel, grid: int
               ) -> np.ndarray:
  """Signed [grid, grid] change of the panel user's p_personal per cell."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with Image.open(io.BytesIO(model_bytes)) as img:
    pixels = np.asarray(img.convert("RGB"))

  def score(photos: np.ndarray) -> np.ndarray:
    n = len(photos)
    s = scorer.score([panel.user.strip()] * n, [_jpeg(p) for p in photos],
                     [panel.review] * n, [panel.profile] * n)
    return np.asarray(s[F.PERSONAL_OUTPUT], np.float64)

  return saliency.occlusion_map(score, pixels, grid)[1]


def image_maps(scorer, model_bytes: bytes, panels: Sequence[Panel],
               grid: int = saliency.OCCLUSION_GRID) -> List[Dict[str, object]]:
  """Scores one photo for each panel's user and computes their maps.

  Args:
    scorer: a ``predict.Scorer`` of the model (``score(users, images,
      reviews, profiles)``).
    model_bytes: the photo as ``predict.load_image`` normalised it.
    panels: one per user.
    grid: cells per side of an occlusion map.

  Returns:
    One dict per panel: user, p_personal, p_agnostic, known_user,
    review_free, map_kind (``saliency.ATTENTION`` or ``OCCLUSION``), driver
    (which text drove the map), values (the [h, w] attention, or the signed
    occlusion changes of p_personal), map (``saliency.importance``: weights
    summing to 1) and its peak cell.
  """
  s = scorer.score([p.user.strip() for p in panels],
                   [model_bytes] * len(panels), [p.review for p in panels],
                   [p.profile for p in panels])
  results: List[Dict[str, object]] = []
  for i, p in enumerate(panels):
    values = np.asarray(s[F.ATTENTION_OUTPUT][i], np.float32)
    known = bool(s["known_user"][i])
    if values.size > 1:
      kind, driver = saliency.ATTENTION, attention_driver(p, known)
    else:  # a single filled cell: the model has no attention
      kind = saliency.OCCLUSION
      driver = f"each of {grid}x{grid} cells covered in turn"
      values = _occlusion(scorer, model_bytes, p, grid)
    weights = saliency.importance(values, kind)
    peak = np.unravel_index(int(np.argmax(weights)), weights.shape)
    results.append({
        "user": p.user.strip(),
        F.PERSONAL_OUTPUT: float(s[F.PERSONAL_OUTPUT][i]),
        F.AGNOSTIC_OUTPUT: float(s[F.AGNOSTIC_OUTPUT][i]),
        "known_user": known,
        "review_free": bool(s["review_free"][i]),
        "map_kind": kind,
        "driver": driver,
        "values": values,
        "map": weights,
        "peak_cell": (int(peak[0]), int(peak[1])),
    })
  return results


def explain(scorer, image_path: str, panels: Sequence[Panel], out_path: str,
            max_side: int = cfg_lib.EXPLAIN_MAX_SIDE) -> List[Dict[str, object]]:
  """Scores the photo for each panel's user and writes the overlay PNG.

  Args:
    scorer: a ``predict.Scorer`` of the model.
    image_path: the photo.
    panels: one per user drawn (their review or profile drives attention).
    out_path: the PNG to write.
    max_side: longest side of the photo in each panel.

  Returns:
    ``image_maps``' dicts, one per panel.

  Raises:
    ValueError: no panel, an empty user id or an unreadable photo.
    FileNotFoundError: no such photo.
  """
  from tfx_pipeline import predict  # pylint: disable=g-import-not-at-top
  if not panels:
    raise ValueError("explain needs at least one user")
  for p in panels:
    if not p.user.strip():
      raise ValueError("user ids must not be empty")
  if not os.path.isfile(image_path):
    raise FileNotFoundError(f"{image_path}: no such image")
  model_bytes, err = predict.load_image(image_path)
  if model_bytes is None:
    raise ValueError(f"{image_path}: {err}")
  with open(image_path, "rb") as fh:
    photo = _display_image(fh.read(), max_side)
  results = image_maps(scorer, model_bytes, panels)
  draw(photo, results, out_path, os.path.basename(image_path))
  return results


def draw(photo: np.ndarray, results: Sequence[Dict[str, object]],
         out_path: str, image_name: str) -> str:
  """Photo, then one heat overlay per user, side by side (Agg backend).

  Args:
    photo: uint8 RGB array of the photo.
    results: ``image_maps``' dicts (map, its kind, scores, driver).
    out_path: the PNG to write.
    image_name: the photo's name for the first panel's title.

  Returns:
    ``out_path``.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  height, width = photo.shape[:2]
  maps = []
  for r in results:
    weights = np.asarray(r["map"], np.float32)
    maps.append(upsample(weights * weights.size, width, height))  # 1=uniform
  # One scale for every panel, stretched over the values present: a
  # softmax over few cells stays close to uniform, and a 0..max scale would
  # paint every panel the same colour.
  vmin = min(float(m.min()) for m in maps)
  vmax = max(float(m.max()) for m in maps)
  if vmax - vmin < 1e-6:
    vmin, vmax = vmin - 0.5, vmax + 0.5
  n = 1 + len(results)
  aspect = width / max(height, 1)
  fig, axes = plt.subplots(1, n, figsize=(3.6 * aspect * n + 1.2, 4.0),
                           squeeze=False, layout="constrained")
  axes = axes[0]
  axes[0].imshow(photo)
  axes[0].set_title(f"{image_name}\n(photo)", fontsize=9)
  im = None
  for ax, r, m in zip(axes[1:], results, maps):
    ax.imshow(photo)
    im = ax.imshow(m, cmap="jet", alpha=0.5, vmin=vmin, vmax=vmax)
    head = "" if r["known_user"] or r[F.PERSONAL_OUTPUT] != r[
        F.AGNOSTIC_OUTPUT] else " (unknown user: agnostic)"
    how = r["driver"]
    if r["map_kind"] == saliency.OCCLUSION:
      how = (f"{how}; largest change "
             f"{float(np.abs(np.asarray(r['values'])).max()):.4f}")
    ax.set_title(f"user {r['user']}: p_personal {r[F.PERSONAL_OUTPUT]:.3f}"
                 f"{head}\n{_KIND_LABEL[r['map_kind']]}\n{how}", fontsize=8)
  for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
  if im is not None:
    kinds = sorted({_KIND_LABEL[r["map_kind"]] for r in results})
    cbar = fig.colorbar(im, ax=list(axes[1:]), fraction=0.04, pad=0.01)
    cbar.set_label(f"{', '.join(kinds)} x cells; 1 = uniform", fontsize=8)
  out_dir = os.path.dirname(os.path.abspath(out_path))
  os.makedirs(out_dir, exist_ok=True)
  fig.savefig(out_path, dpi=100, bbox_inches="tight", pad_inches=0.1)
  plt.close(fig)
  return out_path


def summary(results: Sequence[Dict[str, object]], out_path: str) -> str:
  """The lines ``cfan explain`` prints."""
  lines = []
  for r in results:
    weights = np.asarray(r["map"])
    known = "known" if r["known_user"] else "unknown to the model"
    line = (f"user {r['user']} ({known}): p_personal "
            f"{r[F.PERSONAL_OUTPUT]:.4f}, p_agnostic "
            f"{r[F.AGNOSTIC_OUTPUT]:.4f}; map: {_KIND_LABEL[r['map_kind']]}"
            f" ({r['driver']}), {weights.shape[0]}x{weights.shape[1]} cells, "
            f"peak cell {r['peak_cell']} at "
            f"{float(weights.max()) * weights.size:.2f}x uniform")
    if r["map_kind"] == saliency.OCCLUSION:
      delta = float(np.asarray(r["values"])[r["peak_cell"]])
      line += (f"; covering it {'lowers' if delta >= 0 else 'raises'} "
               f"p_personal by {abs(delta):.4f}")
    lines.append(line)
  lines.append(f"wrote {out_path}")
  return "\n".join(lines)

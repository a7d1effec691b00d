"""Image normalisation shared by the Beam job and the serving code.

``reencode_image`` turns any PIL-readable photo into the RGB JPEG the model
was trained on. It needs only PIL and numpy, so ``cfan predict``,
``score-folder``, ``explain`` and the serving-contract tools import it
without loading Apache Beam (``preprocessing.build_examples`` does).
"""
from __future__ import annotations

import io

from preprocessing import config as cfg_lib

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")


def _to_rgb(img):
  """A loaded PIL image of any mode -> an RGB PIL image."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  if img.mode in ("RGBA", "LA") or (img.mode == "P" and
                                      "transparency" in img.info):
    rgba = img.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.split()[-1])
    return background
  if img.mode in _SIXTEEN_BIT_MODES:
    # 16-bit grayscale: scale to 8 bits before converting. A 16-bit mode (or
    # a PNG, whose "I" images are 16-bit) has a known range of 0..65535, so a
    # dark image (all values <= 255) stays dark; only a 32-bit "I" image of
    # unknown range falls back to its peak.
    import numpy as np  # pylint: disable=g-import-not-at-top
    arr = np.asarray(img, dtype="float64")
    peak = max(float(arr.max()), 1.0)
    sixteen_bit = img.mode.startswith("I;16") or img.format == "PNG"
    scale = 255.0 / (65535.0 if sixteen_bit or peak > 255 else 255.0)
    return Image.fromarray(
        (arr * scale).clip(0, 255).astype("uint8")).convert("RGB")
  return img.convert("RGB")


def reencode_image(data: bytes, max_side: int = cfg_lib.STORED_IMAGE_MAX_SIDE,
                   quality: int = cfg_lib.STORED_JPEG_QUALITY) -> bytes:
  """Decodes any PIL-readable image and re-encodes it as an RGB JPEG.

  Handles grayscale, palette, CMYK, 16-bit and alpha images (alpha is
  composited on white). The longest side is capped at ``max_side`` (aspect
  kept), so the stored copy is ~30 kB at 320 px whatever the source size.

  Args:
    data: the encoded image file's bytes.
    max_side: cap on the longest side, in pixels.
    quality: JPEG quality of the output.

  Returns:
    The JPEG bytes.

  Raises:
    ValueError: ``data`` is not a decodable image.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(io.BytesIO(data)) as img:
      img.load()
      rgb = _to_rgb(img)
  except Exception as e:  # PIL raises many types for bad bytes
    raise ValueError(f"not a decodable image: {type(e).__name__}: {e}") from e
  if max(rgb.size) > max_side:
    rgb.thumbnail((max_side, max_side), Image.BILINEAR)
  out = io.BytesIO()
  rgb.save(out, format="JPEG", quality=quality)
  return out.getvalue()

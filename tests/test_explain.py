"""Saliency maps and subject mass (``keras_model.saliency``) and the map
choice of ``cfan explain`` (``tfx_pipeline.explain``), on cases whose answer
is known: fast, no trained model.
"""
from __future__ import annotations

import io

import numpy as np
import pytest

from keras_model import saliency
from preprocessing import features as F
from tfx_pipeline import explain


def test_box_mass_known_answers():
  inside = np.zeros((4, 4))
  inside[0:2, 2:4] = [[1.0, 3.0], [2.0, 0.5]]
  box = (0.5, 0.0, 1.0, 0.5)  # x0, y0, x1, y1: the top-right quarter
  assert saliency.box_mass(inside, box) == pytest.approx(1.0)
  assert saliency.box_mass(inside, (0.0, 0.5, 0.5, 1.0)) == 0.0
  uniform = np.full((8, 8), 1 / 64)
  for b in (box, (0.1, 0.2, 0.35, 0.9), (0.0, 0.0, 1.0, 1.0)):
    assert saliency.box_mass(uniform, b) == pytest.approx(
        saliency.box_area(b))
  # A cell half inside the box counts half.
  one = np.zeros((2, 2))
  one[0, 0] = 1.0
  assert saliency.box_mass(one, (0.25, 0.0, 1.0, 1.0)) == pytest.approx(0.5)
  with pytest.raises(ValueError, match="fractions"):
    saliency.box_mass(uniform, (0.6, 0.0, 0.5, 1.0))
  with pytest.raises(ValueError, match="mass"):
    saliency.box_mass(np.zeros((2, 2)), box)


def test_subject_mass_and_importance():
  a = np.zeros((4, 4))
  a[0, 0] = 1.0
  res = saliency.subject_mass([a, np.full((4, 4), 1 / 16)],
                              [(0.0, 0.0, 0.25, 0.25), (0.0, 0.0, 0.5, 0.5)])
  assert res["images"] == 2
  assert res["mass_in_box"] == pytest.approx((1.0 + 0.25) / 2)
  assert res["box_area"] == pytest.approx((1 / 16 + 1 / 4) / 2)
  assert res["lift"] == pytest.approx(res["mass_in_box"] / res["box_area"])
  # Their average: (a + uniform) / 2 on both boxes.
  assert res["mean_map_mass"] == pytest.approx(
      ((1 + 1 / 16) / 2 + (1 + 4 / 16) / 2) / 2)
  # A map that moves with the subject beats its own average.
  follow = [np.eye(4)[i][:, None] * np.eye(4)[i][None, :] for i in range(4)]
  boxes = [(i / 4, i / 4, (i + 1) / 4, (i + 1) / 4) for i in range(4)]
  res = saliency.subject_mass(follow, boxes)
  assert res["mass_in_box"] == pytest.approx(1.0)
  assert res["mean_map_mass"] == pytest.approx(0.25)
  with pytest.raises(ValueError, match="one box per map"):
    saliency.subject_mass([a], [])
  signed = np.array([[0.3, -0.1], [0.0, -0.6]])
  np.testing.assert_allclose(saliency.importance(signed, saliency.OCCLUSION),
                             [[0.3, 0.1], [0.0, 0.6]])
  np.testing.assert_allclose(
      saliency.importance(np.zeros((2, 3)), saliency.OCCLUSION), 1 / 6)
  with pytest.raises(ValueError, match="map kind"):
    saliency.importance(signed, "gradient")


def _bright_region_score(photos: np.ndarray) -> np.ndarray:
  """A 'model' that only looks at rows 8..24, columns 32..48 of 64 x 64."""
  return photos[:, 8:24, 32:48].astype(np.float64).mean(axis=(1, 2, 3))


def test_occlusion_finds_the_region_the_score_reads():
  rng = np.random.default_rng(0)
  photo = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
  copies = saliency.occluded_copies(photo, 8)
  assert copies.shape == (64, 64, 64, 3)
  changed = (copies != photo[None]).any(-1)
  assert changed[9].sum() == 64 and changed[9, 8:16, 8:16].all()  # cell (1,1)
  base, delta = saliency.occlusion_map(_bright_region_score, photo, 8)
  assert base == pytest.approx(float(_bright_region_score(photo[None])[0]))
  weights = saliency.importance(delta, saliency.OCCLUSION)
  # The score reads cells (1..2, 4..5) only: x 0.5..0.75, y 0.125..0.375.
  assert saliency.box_mass(weights, (0.5, 0.125, 0.75, 0.375)) == \
      pytest.approx(1.0)
  assert saliency.box_area((0.5, 0.125, 0.75, 0.375)) == pytest.approx(1 / 16)
  with pytest.raises(ValueError, match="at least 8 x 8"):
    saliency.occluded_copies(photo[:4], 8)


class _FakeScorer:
  """``predict.Scorer``'s interface: p_personal is the mean brightness of
  the photo's top-left quarter; attention as given (1x1 = none)."""

  def __init__(self, attention_shape):
    self.attention_shape = attention_shape
    self.calls = 0

  def score(self, users, images, reviews, profiles):
    from PIL import Image  # pylint: disable=g-import-not-at-top
    self.calls += 1
    p = []
    for data in images:
      with Image.open(io.BytesIO(data)) as img:
        px = np.asarray(img.convert("RGB"), np.float64) / 255.0
      h, w = px.shape[:2]
      p.append(float(px[:h // 2, :w // 2].mean()))
    n = len(users)
    att = np.full((n, *self.attention_shape),
                  1.0 / np.prod(self.attention_shape))
    return {F.PERSONAL_OUTPUT: p, F.AGNOSTIC_OUTPUT: [0.5] * n,
            "known_user": [True] * n, "review_free": [True] * n,
            F.ATTENTION_OUTPUT: att}


def _photo_bytes() -> bytes:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(1)
  px = rng.integers(40, 220, (96, 128, 3)).astype(np.uint8)
  buf = io.BytesIO()
  Image.fromarray(px).save(buf, format="PNG")
  return buf.getvalue()


def test_image_maps_occlusion_for_a_model_without_attention(tmp_path):
  scorer = _FakeScorer((1, 1))
  photo = _photo_bytes()
  res = explain.image_maps(scorer, photo, [explain.Panel("u1")], grid=4)
  r = res[0]
  assert r["map_kind"] == saliency.OCCLUSION and scorer.calls == 2
  assert r["map"].shape == (4, 4) and r["map"].sum() == pytest.approx(1.0)
  # Only the top-left quarter moves p_personal (JPEG noise aside).
  assert saliency.box_mass(r["map"], (0.0, 0.0, 0.5, 0.5)) > 0.97
  assert r["peak_cell"][0] < 2 and r["peak_cell"][1] < 2
  out = tmp_path / "o.png"
  explain.draw(np.zeros((96, 128, 3), np.uint8), res, str(out), "x.png")
  assert out.stat().st_size > 5_000
  text = explain.summary(res, str(out))
  assert "occlusion saliency of p_personal" in text
  assert "covering it" in text


def test_image_maps_keeps_the_attention_of_a_cfan_model():
  scorer = _FakeScorer((5, 5))
  res = explain.image_maps(scorer, _photo_bytes(),
                           [explain.Panel("u1", review="sharp")])
  r = res[0]
  assert r["map_kind"] == saliency.ATTENTION and scorer.calls == 1
  assert r["map"].shape == (5, 5)
  assert r["driver"] == "attention from the review"
  assert "attention (Eq. 5)" in explain.summary(res, "o.png")

"""The hand-made image statistics of keras_model.descriptors."""
import numpy as np

from keras_model import descriptors


def _square_at(cy: float, cx: float, size: int = 60, side: int = 10
               ) -> np.ndarray:
  """A black photo with a white square centred at (cy, cx) (fractions)."""
  img = np.zeros((size, size, 3), np.float32)
  y, x = int(cy * size) - side // 2, int(cx * size) - side // 2
  img[y:y + side, x:x + side] = 255.0
  return img


def _parts(layout: np.ndarray):
  """Splits SpatialLayout's output into {grid: [stats, g, g]} and the ring
  shares [stats, rings]."""
  grids, at = {}, 0
  for g in descriptors.LAYOUT_GRIDS:
    n = len(descriptors.LAYOUT_STATS) * g * g
    grids[g] = layout[at:at + n].reshape(len(descriptors.LAYOUT_STATS), g, g)
    at += n
  rings = layout[at:].reshape(len(descriptors.RING_STATS), -1)
  return grids, rings


def test_layout_says_where_the_subject_is_centre_or_a_third():
  """A subject at the centre and one at a rule-of-thirds point: the 5 x 5
  grid puts them in different cells (the 4 x 4 grid's middle cells hold
  both), and the ring shares put the centred one's detail nearer the
  middle."""
  photos = np.stack([_square_at(0.5, 0.5), _square_at(1 / 3, 1 / 3)])
  out = np.asarray(descriptors.SpatialLayout()(photos))
  assert out.shape == (2, descriptors.NUM_LAYOUT)
  (centre_grids, centre_rings), (third_grids, third_rings) = map(_parts, out)
  lum = descriptors.LAYOUT_STATS.index("luminance")
  assert centre_grids[5][lum, 2, 2] > 0.5 > third_grids[5][lum, 2, 2]
  assert third_grids[5][lum, 1, 1] > 0.5 > centre_grids[5][lum, 1, 1]
  # Both squares light the 4 x 4 grid's middle cells.
  assert centre_grids[4][lum, 1, 1] > 0 and third_grids[4][lum, 1, 1] > 0
  for stat in range(len(descriptors.RING_STATS)):
    np.testing.assert_allclose(centre_rings[stat].sum(), 1.0, atol=1e-5)
    np.testing.assert_allclose(third_rings[stat].sum(), 1.0, atol=1e-5)
  edges = descriptors.RING_STATS.index("edges")
  inner = slice(0, 2)  # within 0.16 of the centre
  assert centre_rings[edges, inner].sum() > 0.9
  assert third_rings[edges, inner].sum() < 0.2


def test_layout_cells_are_means_over_the_cells_pixels():
  rng = np.random.default_rng(0)
  photos = rng.uniform(0, 255, (2, 40, 40, 3)).astype(np.float32)
  out = np.asarray(descriptors.SpatialLayout()(photos))
  grids, _ = _parts(out[0])
  a = photos[0] / 255.0
  lum = a @ np.array([0.299, 0.587, 0.114], np.float32)
  expected = lum.reshape(4, 10, 4, 10).mean((1, 3))
  np.testing.assert_allclose(grids[4][0], expected, atol=1e-5)
  expected5 = lum.reshape(5, 8, 5, 8).mean((1, 3))
  np.testing.assert_allclose(grids[5][0], expected5, atol=1e-5)

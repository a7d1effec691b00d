"""Fast tests of the CFAN Keras model (keras_model.blocks, keras_model.cfan).

Everything uses the ``cpu`` config with tiny vocabularies; the VGG-16 tests
only build the backbone (random init, never a download).
"""
from __future__ import annotations

import sys

# tests/conftest.py puts the repository root on sys.path.
import keras_model  # noqa: E402,F401  (pins Keras 3 before TF is imported)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_model import blocks  # noqa: E402
from keras_model import cfan  # noqa: E402
from keras_model import signatures  # noqa: E402
from preprocessing import config  # noqa: E402
from preprocessing.features import AGNOSTIC_OUTPUT  # noqa: E402
from preprocessing.features import ATTENTION_OUTPUT  # noqa: E402
from preprocessing.features import IMAGE_ID_XF  # noqa: E402
from preprocessing.features import IMAGE_PIXELS_KEY  # noqa: E402
from preprocessing.features import IMAGE_SLOT_KEY  # noqa: E402
from preprocessing.features import IMAGE_XF  # noqa: E402
from preprocessing.features import PAD_TOKEN_ID  # noqa: E402
from preprocessing.features import PERSONAL_OUTPUT  # noqa: E402
from preprocessing.features import REVIEW_XF  # noqa: E402
from preprocessing.features import TAG_OUTPUT  # noqa: E402
from preprocessing.features import USER_XF  # noqa: E402

NUM_USERS = 7
NUM_IMAGES = 9
NUM_TAGS = 4
REVIEW_VOCAB = 30
BATCH = 8

CPU = config.get_config("cpu")


def _build(tasks: int = 3, cfg: config.ModelConfig = CPU) -> keras.Model:
  keras.utils.set_random_seed(cfg.seed)
  return cfan.build_cfan(
      cfg, num_users=NUM_USERS, num_images=NUM_IMAGES, num_tags=NUM_TAGS,
      review_vocab_size=REVIEW_VOCAB, tasks=tasks)


def _features(cfg: config.ModelConfig = CPU, batch: int = BATCH,
              seed: int = 0) -> dict:
  rng = np.random.default_rng(seed)
  s = cfg.image_size
  review = rng.integers(1, REVIEW_VOCAB, (batch, cfg.max_review_len))
  lengths = rng.integers(1, cfg.max_review_len + 1, batch)
  review[np.arange(cfg.max_review_len)[None, :] >= lengths[:, None]] = (
      PAD_TOKEN_ID)
  return {
      USER_XF: rng.integers(0, NUM_USERS, batch).astype(np.int64),
      IMAGE_ID_XF: rng.integers(0, NUM_IMAGES, batch).astype(np.int64),
      IMAGE_PIXELS_KEY: rng.uniform(0, 255, (batch, s, s, 3)).astype(
          np.float32),
      IMAGE_SLOT_KEY: np.arange(batch, dtype=np.int64),
      REVIEW_XF: review.astype(np.int64),
  }


def _labels(batch: int = BATCH, seed: int = 1) -> dict:
  rng = np.random.default_rng(seed)
  return {
      PERSONAL_OUTPUT: rng.integers(0, 2, (batch, 1)).astype(np.float32),
      AGNOSTIC_OUTPUT: rng.integers(0, 2, (batch, 1)).astype(np.float32),
      TAG_OUTPUT: rng.integers(0, NUM_TAGS, (batch,)).astype(np.int64),
  }


def _numpy(outputs: dict) -> dict:
  return {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}


@pytest.fixture(scope="module")
def model3() -> keras.Model:
  return _build(3)


# --------------------------------------------------------------------------
# Shapes and invariants
# --------------------------------------------------------------------------


@pytest.mark.parametrize("tasks,expected", [
    (1, {PERSONAL_OUTPUT, ATTENTION_OUTPUT}),
    (2, {PERSONAL_OUTPUT, ATTENTION_OUTPUT, TAG_OUTPUT}),
    (3, {PERSONAL_OUTPUT, ATTENTION_OUTPUT, TAG_OUTPUT, AGNOSTIC_OUTPUT}),
])
def test_output_shapes(tasks, expected):
  model = _build(tasks)
  assert set(model.input) == {USER_XF, IMAGE_ID_XF, IMAGE_PIXELS_KEY,
                              IMAGE_SLOT_KEY, REVIEW_XF}
  out = _numpy(model(_features(), training=False))
  assert set(out) == expected
  assert out[PERSONAL_OUTPUT].shape == (BATCH, 1)
  assert out[ATTENTION_OUTPUT].shape == (BATCH, 8, 8)  # 64 / 2**3
  if tasks >= 2:
    assert out[TAG_OUTPUT].shape == (BATCH, NUM_TAGS)
    np.testing.assert_allclose(out[TAG_OUTPUT].sum(-1), 1.0, atol=1e-5)
  if tasks >= 3:
    assert out[AGNOSTIC_OUTPUT].shape == (BATCH, 1)
  for value in out.values():
    assert value.dtype == np.float32
    assert np.all(np.isfinite(value))


def test_invalid_tasks():
  with pytest.raises(ValueError, match="tasks"):
    _build(4)


def test_attention_sums_to_one(model3):
  att = _numpy(model3(_features(), training=False))[ATTENTION_OUTPUT]
  assert np.all(att >= 0)
  np.testing.assert_allclose(att.sum(axis=(1, 2)), 1.0, atol=1e-5)


def test_attention_depends_on_review(model3):
  x1 = _features(seed=3)
  x2 = dict(x1)
  x2[REVIEW_XF] = _features(seed=4)[REVIEW_XF]
  a1 = _numpy(model3(x1, training=False))[ATTENTION_OUTPUT]
  a2 = _numpy(model3(x2, training=False))[ATTENTION_OUTPUT]
  assert not np.allclose(a1, a2)


def test_all_padding_review_is_finite(model3):
  x = _features()
  x[REVIEW_XF] = np.full_like(x[REVIEW_XF], PAD_TOKEN_ID)
  out = _numpy(model3(x, training=False))
  for value in out.values():
    assert np.all(np.isfinite(value))
  np.testing.assert_allclose(out[ATTENTION_OUTPUT].sum(axis=(1, 2)), 1.0,
                             atol=1e-5)


def test_masked_mean_pooling():
  h = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
  ids = np.array([[5, 6, 0], [0, 0, 0]], dtype=np.int64)
  pooled = keras.ops.convert_to_numpy(blocks.MaskedMeanPooling()([h, ids]))
  np.testing.assert_allclose(pooled[0], h[0, :2].mean(0))
  np.testing.assert_allclose(pooled[1], [0.0, 0.0])


def test_agnostic_invariant_to_user_personal_is_not(model3):
  x = _features()
  x[IMAGE_ID_XF] = np.full_like(x[IMAGE_ID_XF], 3)
  x[IMAGE_PIXELS_KEY] = np.repeat(x[IMAGE_PIXELS_KEY][:1], BATCH, axis=0)
  x[REVIEW_XF] = np.repeat(x[REVIEW_XF][:1], BATCH, axis=0)
  x[USER_XF] = np.arange(BATCH, dtype=np.int64) % NUM_USERS  # all differ
  out = _numpy(model3(x, training=False))
  # Equal up to the float rounding of batched kernels (~1e-8: a row's sums
  # may be reduced in another order under load), far below what a user
  # moves the personal head by.
  beta = out[AGNOSTIC_OUTPUT]
  np.testing.assert_allclose(beta, np.repeat(beta[:1], BATCH, axis=0),
                             rtol=0, atol=1e-6)
  tags = out[TAG_OUTPUT]
  np.testing.assert_allclose(tags, np.repeat(tags[:1], BATCH, axis=0),
                             rtol=0, atol=1e-6)
  personal = out[PERSONAL_OUTPUT][:, 0]
  assert np.ptp(personal) > 1e-4


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


def test_training_reduces_loss():
  model = _build(3)
  train_model = cfan.compile_cfan(model, CPU)
  x, y = _features(batch=16), _labels(batch=16)
  before = _numpy(model(x, training=False))[PERSONAL_OUTPUT]
  history = train_model.fit(x, y, batch_size=16, epochs=12, verbose=0,
                            shuffle=False)
  losses = history.history["loss"]
  assert np.all(np.isfinite(losses))
  assert losses[-1] < 0.8 * losses[0], losses
  for key in (f"{PERSONAL_OUTPUT}_auc", f"{AGNOSTIC_OUTPUT}_auc",
              f"{TAG_OUTPUT}_accuracy", f"{PERSONAL_OUTPUT}_accuracy",
              f"{TAG_OUTPUT}_loss"):
    assert key in history.history, sorted(history.history)
  # The full (export) model shares the trained weights.
  after = _numpy(model(x, training=False))[PERSONAL_OUTPUT]
  assert not np.allclose(before, after)
  assert ATTENTION_OUTPUT in model.output


def test_metrics_are_computed_on_their_own_head():
  """Guards against Keras 3.12 pairing labels with the wrong dict output."""
  model = _build(3)
  train_model = cfan.compile_cfan(model, CPU)
  n = 32
  x = _features(batch=n, seed=6)
  rng = np.random.default_rng(9)
  y = {PERSONAL_OUTPUT: np.ones((n, 1), np.float32),
       AGNOSTIC_OUTPUT: np.zeros((n, 1), np.float32),
       TAG_OUTPUT: rng.integers(0, NUM_TAGS, n).astype(np.int64)}
  result = train_model.evaluate(x, y, batch_size=n, verbose=0,
                                return_dict=True)
  p = _numpy(model(x, training=False))
  np.testing.assert_allclose(result[f"{PERSONAL_OUTPUT}_accuracy"],
                             np.mean(p[PERSONAL_OUTPUT] > 0.5), atol=1e-6)
  np.testing.assert_allclose(result[f"{AGNOSTIC_OUTPUT}_accuracy"],
                             np.mean(p[AGNOSTIC_OUTPUT] <= 0.5), atol=1e-6)
  np.testing.assert_allclose(result[f"{TAG_OUTPUT}_accuracy"],
                             np.mean(p[TAG_OUTPUT].argmax(-1) == y[TAG_OUTPUT]),
                             atol=1e-6)
  expected_loss = (
      -np.mean(np.log(p[PERSONAL_OUTPUT])) +
      CPU.lambda_beta * -np.mean(np.log(1.0 - p[AGNOSTIC_OUTPUT])) +
      CPU.lambda_z * -np.mean(np.log(
          p[TAG_OUTPUT][np.arange(n), y[TAG_OUTPUT]])))
  np.testing.assert_allclose(result["loss"], expected_loss, rtol=1e-4)


def test_one_task_model_trains_with_sgd():
  model = _build(1)
  train_model = cfan.compile_cfan(model, CPU.replace(optimizer="sgd",
                                                     momentum=0.9))
  assert set(train_model.output) == {PERSONAL_OUTPUT}
  assert isinstance(train_model.optimizer, keras.optimizers.SGD)
  labels = cfan.task_labels(train_model, _labels())
  assert set(labels) == {PERSONAL_OUTPUT}
  history = train_model.fit(_features(), labels, epochs=1, verbose=0)
  assert np.isfinite(history.history["loss"][0])


def test_optimizer_and_schedule():
  sgd = cfan.make_optimizer(CPU.replace(optimizer="sgd", momentum=0.5))
  assert isinstance(sgd, keras.optimizers.SGD)
  assert float(sgd.momentum) == 0.5
  paper = config.get_config("paper")
  sched = cfan.learning_rate_schedule(paper)
  np.testing.assert_allclose(float(sched(999)), 0.005, rtol=1e-6)
  np.testing.assert_allclose(float(sched(1000)), 0.005 * 0.99, rtol=1e-6)
  assert isinstance(cfan.make_optimizer(CPU), keras.optimizers.Adam)
  with pytest.raises(ValueError):
    cfan.make_optimizer(CPU.replace(optimizer="rmsprop"))
  weights = cfan.loss_weights(paper)
  assert weights[TAG_OUTPUT] == 0.015 and weights[AGNOSTIC_OUTPUT] == 1.0


def test_precision_and_strategy_on_cpu():
  try:
    if not tf.config.list_logical_devices("GPU"):
      assert cfan.configure_precision(CPU.replace(mixed_precision="on")) == (
          "float32")
      assert isinstance(cfan.distribution_strategy(),
                        type(tf.distribute.get_strategy()))
    assert cfan.configure_precision(CPU.replace(mixed_precision="off")) == (
        "float32")
    with pytest.raises(ValueError):
      cfan.configure_precision(CPU.replace(mixed_precision="maybe"))
  finally:
    keras.mixed_precision.set_global_policy("float32")


def test_mixed_float16_outputs_are_float32():
  keras.mixed_precision.set_global_policy("mixed_float16")
  try:
    model = _build(3)
    out = model(_features(batch=2), training=False)
  finally:
    keras.mixed_precision.set_global_policy("float32")
  assert model.get_layer("user_embedding").compute_dtype == "float16"
  train_model = cfan.compile_cfan(model, CPU)
  assert isinstance(train_model.optimizer,
                    keras.optimizers.LossScaleOptimizer)
  history = train_model.fit(_features(batch=4), _labels(batch=4), epochs=1,
                            verbose=0)
  assert np.isfinite(history.history["loss"][0])
  for value in out.values():
    assert value.dtype == tf.float32
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(value)))
  np.testing.assert_allclose(
      keras.ops.convert_to_numpy(out[ATTENTION_OUTPUT]).sum(axis=(1, 2)),
      1.0, atol=1e-3)


# --------------------------------------------------------------------------
# VGG-16 backbone
# --------------------------------------------------------------------------


@pytest.fixture
def no_local_weights(tmp_path, monkeypatch):
  monkeypatch.delenv(config.VGG16_WEIGHTS_ENV, raising=False)
  monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
  monkeypatch.setenv("HOME", str(tmp_path))
  return tmp_path


def test_vgg16_backbone_paper_shape(no_local_weights):
  paper = config.get_config("paper")
  assert paper.image_size == 320
  backbone = blocks.image_backbone(paper, allow_random_init=True)
  assert tuple(backbone.output.shape) == (None, 10, 10, 512)
  assert tuple(backbone.input.shape) == (None, 320, 320, 3)


def test_vgg16_without_weights_raises(no_local_weights):
  with pytest.raises(blocks.MissingVGG16WeightsError,
                     match=config.VGG16_WEIGHTS_ENV):
    blocks.image_backbone(config.get_config("paper"))
  with pytest.raises(FileNotFoundError, match=config.VGG16_WEIGHTS_ENV):
    cfan.build_cfan(config.get_config("paper"), num_users=3, num_images=3,
                    num_tags=2, review_vocab_size=5)


def test_vgg16_loads_local_weights(no_local_weights, monkeypatch):
  """A Keras-format notop .h5 named by $CFAN_VGG16_WEIGHTS is loaded."""
  from keras.src.legacy.saving import legacy_h5_format
  import h5py  # pylint: disable=g-import-not-at-top

  small = config.get_config("paper", image_size=32)
  keras.utils.set_random_seed(7)
  reference = keras.applications.VGG16(include_top=False, weights=None,
                                       input_shape=(32, 32, 3))
  path = no_local_weights / config.VGG16_WEIGHTS_FILE
  with h5py.File(path, "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, reference)
  monkeypatch.setenv(config.VGG16_WEIGHTS_ENV, str(path))
  keras.utils.set_random_seed(8)
  backbone = blocks.image_backbone(small)
  loaded = backbone.get_layer("vgg16").get_layer("block5_conv3").kernel
  expected = reference.get_layer("block5_conv3").kernel
  np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded),
                                keras.ops.convert_to_numpy(expected))
  # Caffe preprocessing happens inside the model: RGB -> BGR minus mean.
  pre = blocks.CaffePreprocess()(np.full((1, 2, 2, 3), [10., 20., 30.],
                                         np.float32))
  np.testing.assert_allclose(
      keras.ops.convert_to_numpy(pre)[0, 0, 0],
      np.array([30., 20., 10.]) - np.array(blocks.VGG16_BGR_MEAN), rtol=1e-6)


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------


def test_backbone_runs_once_per_distinct_image_of_a_batch(model3,
                                                          rows_seen_by):
  """8 reviews of 3 photos: 3 decodes, 3 backbone rows, per-row outputs.

  Two of the photos share one image index (both out of the vocabulary, as
  new photos are), so the grouping key must be the photo, not the index.
  """
  s = CPU.image_size
  rng = np.random.default_rng(3)
  photos = [tf.io.encode_jpeg(rng.integers(0, 256, (s, s, 3), np.uint8)
                              ).numpy() for _ in range(3)]
  of_row = np.array([0, 1, 0, 2, 2, 0, 1, 2])
  transformed = {
      USER_XF: np.arange(BATCH, dtype=np.int64) % NUM_USERS,
      IMAGE_ID_XF: np.where(of_row == 0, 5, NUM_IMAGES - 1),
      IMAGE_XF: np.array([photos[i] for i in of_row], dtype=object),
  }
  tokens = tf.constant(_features()[REVIEW_XF])
  x = signatures.model_inputs_from_transformed(transformed, tokens, CPU)
  assert x[IMAGE_PIXELS_KEY].shape[0] == 3
  slot = x[IMAGE_SLOT_KEY].numpy()
  np.testing.assert_array_equal(slot[:, None] == slot[None, :],
                                of_row[:, None] == of_row[None, :])

  rows_seen = rows_seen_by(model3.get_layer("image_backbone"))
  grouped = _numpy(model3(signatures.select_model_inputs(model3, x),
                          training=False))
  assert rows_seen == [3]
  # The same batch with one image per row (what the input path used to
  # feed) gives the same outputs with 8 backbone rows.
  per_row = dict(x)
  per_row[IMAGE_PIXELS_KEY] = tf.gather(x[IMAGE_PIXELS_KEY], slot)
  per_row[IMAGE_SLOT_KEY] = tf.range(BATCH, dtype=tf.int64)
  reference = _numpy(model3(signatures.select_model_inputs(model3, per_row),
                            training=False))
  assert rows_seen == [3, BATCH]
  for key, value in reference.items():
    np.testing.assert_allclose(grouped[key], value, rtol=1e-5, atol=1e-6)


class _Exporter(tf.Module):
  """Minimal export wrapper: a Keras 3 model behind a tf.function signature."""

  def __init__(self, model: keras.Model, cfg: config.ModelConfig):
    super().__init__()
    self.model = model
    s, length = cfg.image_size, cfg.max_review_len
    self.serve = tf.function(self._serve, input_signature=[
        tf.TensorSpec([None], tf.int64, name=USER_XF),
        tf.TensorSpec([None], tf.int64, name=IMAGE_ID_XF),
        tf.TensorSpec([None, s, s, 3], tf.float32, name=IMAGE_PIXELS_KEY),
        tf.TensorSpec([None], tf.int64, name=IMAGE_SLOT_KEY),
        tf.TensorSpec([None, length], tf.int64, name=REVIEW_XF),
    ])

  def _serve(self, user, image_id, pixels, slot, review):
    return self.model({USER_XF: user, IMAGE_ID_XF: image_id,
                       IMAGE_PIXELS_KEY: pixels, IMAGE_SLOT_KEY: slot,
                       REVIEW_XF: review}, training=False)


def test_saved_model_roundtrip(model3, tmp_path):
  x = _features(seed=5)
  expected = _numpy(model3(x, training=False))
  exporter = _Exporter(model3, CPU)
  export_dir = str(tmp_path / "export")
  tf.saved_model.save(exporter, export_dir,
                      signatures={"serving_default": exporter.serve})
  loaded = tf.saved_model.load(export_dir)
  got = loaded.signatures["serving_default"](
      **{k: tf.constant(v) for k, v in x.items()})
  assert set(got) == set(expected)
  for key, value in expected.items():
    np.testing.assert_allclose(got[key].numpy(), value, rtol=1e-5, atol=1e-6)
  got_fn = loaded.serve(*(tf.constant(x[k]) for k in (
      USER_XF, IMAGE_ID_XF, IMAGE_PIXELS_KEY, IMAGE_SLOT_KEY, REVIEW_XF)))
  np.testing.assert_allclose(got_fn[PERSONAL_OUTPUT].numpy(),
                             expected[PERSONAL_OUTPUT], rtol=1e-5, atol=1e-6)

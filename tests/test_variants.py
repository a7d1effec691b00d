"""Fast tests of keras_model.variants (the paper's model family).

Every variant builds, trains a few steps on random data and survives a
tf.saved_model round trip with the export's completed outputs; BPR's pairwise
loss, its sampler and its threshold, and the AUC, are checked against small
hand-computed examples. The pipeline export path (``run_fn`` of every
variant) is exercised by tests/test_experiment.py (slow).
"""
from __future__ import annotations

import math
# tests/conftest.py puts the repository root on sys.path.
import keras_model  # noqa: E402,F401  (pins Keras 3 before TF is imported)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from evaluation import metrics  # noqa: E402
from keras_model import signatures  # noqa: E402
from keras_model import variants  # noqa: E402
from preprocessing import config  # noqa: E402
from preprocessing.features import AGNOSTIC_OUTPUT  # noqa: E402
from preprocessing.features import ATTENTION_OUTPUT  # noqa: E402
from preprocessing.features import IMAGE_ID_XF  # noqa: E402
from preprocessing.features import IMAGE_PIXELS_KEY  # noqa: E402
from preprocessing.features import IMAGE_SLOT_KEY  # noqa: E402
from preprocessing.features import IMAGE_XF  # noqa: E402
from preprocessing.features import LABEL_KEY  # noqa: E402
from preprocessing.features import PERSONAL_OUTPUT  # noqa: E402
from preprocessing.features import REVIEW_XF  # noqa: E402
from preprocessing.features import TAG_OUTPUT  # noqa: E402
from preprocessing.features import TAG_XF  # noqa: E402
from preprocessing.features import USER_XF  # noqa: E402
from preprocessing.features import VOTES_XF  # noqa: E402

NUM_USERS = 5
NUM_IMAGES = 7
NUM_TAGS = 3
REVIEW_VOCAB = 20
BATCH = 8
CPU = config.get_config("cpu")
SIZES = dict(num_users=NUM_USERS, num_images=NUM_IMAGES, num_tags=NUM_TAGS,
             review_vocab_size=REVIEW_VOCAB)
PIXELS = {IMAGE_PIXELS_KEY, IMAGE_SLOT_KEY}
ALL_INPUTS = {USER_XF, IMAGE_ID_XF, REVIEW_XF} | PIXELS

# variant -> (inputs it reads, heads it has)
EXPECTED = {
    "bpr": ({USER_XF, IMAGE_ID_XF}, {PERSONAL_OUTPUT}),
    "vbpr": ({USER_XF, IMAGE_ID_XF} | PIXELS, {PERSONAL_OUTPUT}),
    "cfn-pure-2task": ({USER_XF, IMAGE_ID_XF}, {PERSONAL_OUTPUT, TAG_OUTPUT}),
    "cfn-1task": ({USER_XF, IMAGE_ID_XF} | PIXELS, {PERSONAL_OUTPUT}),
    "cfan-1task": (ALL_INPUTS, {PERSONAL_OUTPUT, ATTENTION_OUTPUT}),
    "cfan-2task": (ALL_INPUTS, {PERSONAL_OUTPUT, ATTENTION_OUTPUT,
                                TAG_OUTPUT}),
    "cfan-3task": (ALL_INPUTS, {PERSONAL_OUTPUT, ATTENTION_OUTPUT,
                                TAG_OUTPUT, AGNOSTIC_OUTPUT}),
    "mtrl-cnn": (PIXELS, {AGNOSTIC_OUTPUT, TAG_OUTPUT}),
    "residual": ({USER_XF, VOTES_XF, TAG_XF} | PIXELS,
                 {PERSONAL_OUTPUT, AGNOSTIC_OUTPUT}),
}


def _features(batch: int = BATCH, seed: int = 0) -> dict:
  rng = np.random.default_rng(seed)
  s = CPU.image_size
  return {
      USER_XF: rng.integers(0, NUM_USERS, batch).astype(np.int64),
      IMAGE_ID_XF: rng.integers(0, NUM_IMAGES, batch).astype(np.int64),
      IMAGE_PIXELS_KEY: rng.uniform(0, 255, (batch, s, s, 3)).astype(
          np.float32),
      IMAGE_SLOT_KEY: np.arange(batch, dtype=np.int64),
      REVIEW_XF: rng.integers(1, REVIEW_VOCAB, (batch, 12)).astype(np.int64),
      VOTES_XF: rng.dirichlet(np.ones(10), batch).astype(np.float32),
      TAG_XF: rng.integers(0, NUM_TAGS, batch).astype(np.int64),
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


def _weights(model: keras.Model) -> list:
  return [np.array(w) for w in model.trainable_weights]


# --------------------------------------------------------------------------
# Registry and config
# --------------------------------------------------------------------------


def test_registry_has_one_builder_per_variant():
  assert set(variants.VARIANTS) == set(EXPECTED)
  for name, builder in variants.VARIANTS.items():
    assert builder.name == name
    assert builder.train_mode == ("mixed" if builder.uses_review else "given")
  assert {n for n, b in variants.VARIANTS.items() if b.pairwise} == {
      "bpr", "vbpr"}
  with pytest.raises(ValueError, match="choose from"):
    variants.get_variant("svm")


def test_model_config_variant_field():
  # The paper's set-up trains CFAN-3task; the pipeline's default (cpu)
  # trains the variant that is best on held-out pairs
  # (docs/model_quality.md).
  assert config.get_config("paper").variant == variants.DEFAULT_VARIANT
  assert variants.DEFAULT_VARIANT == "cfan-3task"
  assert CPU.variant == "residual"
  cfg = CPU.replace(variant="vbpr")
  assert config.ModelConfig.from_dict(cfg.to_dict()).variant == "vbpr"
  # Dicts written before the field existed still load (default variant).
  old = CPU.to_dict()
  del old["variant"]
  assert config.ModelConfig.from_dict(old).variant == "cfan-3task"


# --------------------------------------------------------------------------
# Every variant: build, train a few steps, export round trip
# --------------------------------------------------------------------------


class _Export(tf.Module):
  """What the serving module does with a variant: select inputs, fill."""

  def __init__(self, model):
    super().__init__()
    self.model = model

  @tf.function
  def __call__(self, user, image, pixels, slot, review, votes, tag):
    x = {USER_XF: user, IMAGE_ID_XF: image, IMAGE_PIXELS_KEY: pixels,
         IMAGE_SLOT_KEY: slot, REVIEW_XF: review, VOTES_XF: votes,
         TAG_XF: tag}
    out = self.model(signatures.select_model_inputs(self.model, x),
                     training=False)
    return signatures.complete_outputs(out, NUM_TAGS)


def _train(name: str, model: keras.Model) -> dict:
  builder = variants.get_variant(name)
  train_model = variants.compile_variant(builder, model, CPU)
  x = _features(batch=16, seed=2)
  if builder.pairwise:
    rng = np.random.default_rng(5)
    xx = {USER_XF: x[USER_XF], IMAGE_ID_XF: x[IMAGE_ID_XF],
          variants.NEG_IMAGE_ID: rng.integers(0, NUM_IMAGES, 16)}
    if builder.uses_pixels:
      xx[IMAGE_PIXELS_KEY] = x[IMAGE_PIXELS_KEY]
      xx[variants.NEG_PIXELS] = x[IMAGE_PIXELS_KEY][::-1].copy()
      xx[IMAGE_SLOT_KEY] = xx[variants.NEG_SLOT] = x[IMAGE_SLOT_KEY]
    y = {variants.PAIRWISE_OUTPUT: np.zeros((16, 1), np.float32)}
    history = train_model.fit(xx, y, batch_size=16, epochs=3, verbose=0)
  else:
    ds = variants.fit_dataset(train_model, tf.data.Dataset.from_tensor_slices(
        (x, _labels(batch=16))).batch(16))
    history = train_model.fit(ds, epochs=3, verbose=0)
  return history.history


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_variant_builds_trains_and_round_trips(name, tmp_path):
  keras.utils.set_random_seed(0)
  model = variants.build_variant(name, CPU, **SIZES)
  want_inputs, want_outputs = EXPECTED[name]
  assert set(variants.input_names(model)) == want_inputs
  assert set(signatures.model_heads(model)) == want_outputs

  before = _weights(model)
  history = _train(name, model)
  assert all(np.isfinite(v).all() for v in history.values())
  after = _weights(model)
  assert any(not np.allclose(a, b) for a, b in zip(before, after)), (
      "training changed no weight")

  x = _features(seed=4)
  module = _Export(model)
  direct = _numpy(module(x[USER_XF], x[IMAGE_ID_XF], x[IMAGE_PIXELS_KEY],
                         x[IMAGE_SLOT_KEY], x[REVIEW_XF], x[VOTES_XF],
                         x[TAG_XF]))
  path = str(tmp_path / name)
  tf.saved_model.save(module, path)
  loaded = tf.saved_model.load(path)
  again = _numpy(loaded(tf.constant(x[USER_XF]), tf.constant(x[IMAGE_ID_XF]),
                        tf.constant(x[IMAGE_PIXELS_KEY]),
                        tf.constant(x[IMAGE_SLOT_KEY]),
                        tf.constant(x[REVIEW_XF]), tf.constant(x[VOTES_XF]),
                        tf.constant(x[TAG_XF])))
  assert set(again) == {PERSONAL_OUTPUT, AGNOSTIC_OUTPUT, TAG_OUTPUT,
                        ATTENTION_OUTPUT}
  for key, value in direct.items():
    np.testing.assert_allclose(again[key], value, rtol=1e-5, atol=1e-6)
  assert again[PERSONAL_OUTPUT].shape == (BATCH, 1)
  assert again[TAG_OUTPUT].shape == (BATCH, NUM_TAGS)
  np.testing.assert_allclose(again[TAG_OUTPUT].sum(-1), 1.0, atol=1e-5)
  assert np.all((again[PERSONAL_OUTPUT] >= 0) & (again[PERSONAL_OUTPUT] <= 1))
  # Filled heads are the uniform distribution, as the docs say.
  if AGNOSTIC_OUTPUT not in want_outputs:
    np.testing.assert_array_equal(again[AGNOSTIC_OUTPUT], 0.5)
  if TAG_OUTPUT not in want_outputs:
    np.testing.assert_allclose(again[TAG_OUTPUT], 1.0 / NUM_TAGS)
  if ATTENTION_OUTPUT not in want_outputs:
    np.testing.assert_array_equal(again[ATTENTION_OUTPUT],
                                  np.ones((BATCH, 1, 1)))
  if PERSONAL_OUTPUT not in want_outputs:  # image-only: user-free score
    np.testing.assert_array_equal(again[PERSONAL_OUTPUT],
                                  again[AGNOSTIC_OUTPUT])


def test_image_only_variant_ignores_the_user():
  model = variants.build_variant("mtrl-cnn", CPU, **SIZES)
  x = _features()
  x2 = dict(x, **{USER_XF: (x[USER_XF] + 1) % NUM_USERS})
  a = _numpy(model(variants.select_inputs(model, x), training=False))
  b = _numpy(model(variants.select_inputs(model, x2), training=False))
  np.testing.assert_array_equal(a[AGNOSTIC_OUTPUT], b[AGNOSTIC_OUTPUT])


def test_fit_dataset_keeps_only_the_models_inputs_and_heads():
  model = variants.build_variant("cfn-pure-2task", CPU, **SIZES)
  ds = tf.data.Dataset.from_tensor_slices((_features(), _labels())).batch(4)
  x, y = next(iter(variants.fit_dataset(model, ds)))
  assert set(x) == {USER_XF, IMAGE_ID_XF}
  assert set(y) == {PERSONAL_OUTPUT, TAG_OUTPUT}


# --------------------------------------------------------------------------
# BPR by hand: 2 users x 3 images
# --------------------------------------------------------------------------
# x_ui = beta_i + gamma_u . gamma_i with
#   gamma_u0 = (1, 0), gamma_u1 = (0, 1)
#   gamma_i0 = (1, 1), gamma_i1 = (0.5, -1), gamma_i2 = (-1, 2)
#   beta = (0.1, 0, -0.2)
# x_u0 = (1.1, 0.5, -1.2), x_u1 = (1.1, -1.0, 1.8)
# triples (u, i, j): (0, 0, 2) -> 2.3; (1, 2, 1) -> 2.8; (0, 1, 0) -> -0.6
# -log sigma(x) = log(1 + e^-x): 0.0955455, 0.0590328, 1.0374880; mean
# 0.3973554. L2 per triple (||g_u||^2 + ||g_i||^2 + b_i^2 + ||g_j||^2 +
# b_j^2): 8.05, 7.29, 4.26 -> mean 6.53333, times BPR_L2 = 1e-3.


def _hand_bpr() -> keras.Model:
  model = variants.build_variant("bpr", CPU.replace(embedding_dim=2),
                                 num_users=3, num_images=4, num_tags=2,
                                 review_vocab_size=2)
  core = model.get_layer(variants.BPR_CORE)
  core.get_layer("user_factors").set_weights(
      [np.array([[1, 0], [0, 1], [0, 0]], np.float32)])
  core.get_layer("image_factors").set_weights(
      [np.array([[1, 1], [0.5, -1], [-1, 2], [0, 0]], np.float32)])
  core.get_layer("image_bias").set_weights(
      [np.array([[0.1], [0.0], [-0.2], [0.0]], np.float32)])
  return model


def test_bpr_pairwise_loss_matches_hand_computation():
  model = _hand_bpr()
  pairwise = variants.pairwise_training_model(model, CPU)
  u = np.array([0, 1, 0], np.int64)
  i = np.array([0, 2, 1], np.int64)
  j = np.array([2, 1, 0], np.int64)
  x = {USER_XF: u, IMAGE_ID_XF: i, variants.NEG_IMAGE_ID: j}
  x_uij = _numpy(pairwise(x, training=False))[variants.PAIRWISE_OUTPUT]
  np.testing.assert_allclose(x_uij[:, 0], [2.3, 2.8, -0.6], atol=1e-6)
  data_term = float(variants.bpr_loss(None, x_uij))
  assert data_term == pytest.approx(0.3973554, abs=1e-6)
  assert data_term == pytest.approx(np.mean(
      [math.log1p(math.exp(-v)) for v in (2.3, 2.8, -0.6)]), abs=1e-6)
  # The compiled model's loss is the data term plus the triple's L2.
  train_model = variants.compile_variant(variants.get_variant("bpr"), model,
                                         CPU)
  loss = train_model.evaluate(
      x, {variants.PAIRWISE_OUTPUT: np.zeros((3, 1), np.float32)},
      batch_size=3, verbose=0)
  assert variants.BPR_L2 == 1e-3
  assert loss == pytest.approx(0.3973554 + 1e-3 * 6.5333333, abs=1e-5)


def test_bpr_scores_and_threshold_by_hand():
  model = _hand_bpr()
  x = {USER_XF: np.array([0, 0, 0, 1, 1, 1], np.int64),
       IMAGE_ID_XF: np.array([0, 1, 2, 0, 1, 2], np.int64)}
  x_ui = np.array([1.1, 0.5, -1.2, 1.1, -1.0, 1.8])
  p = _numpy(model(x, training=False))[PERSONAL_OUTPUT][:, 0]
  np.testing.assert_allclose(p, 1 / (1 + np.exp(-x_ui)), atol=1e-6)
  # Labels good for the three largest x_ui: the best threshold separates
  # them (midpoint of 0.5 and 1.1) and is stored in the model.
  labels = np.array([1, 0, 0, 1, 0, 1])
  assert variants.best_threshold(labels, x_ui) == pytest.approx(0.8)
  variants.set_threshold(model, 0.8)
  p = _numpy(model(x, training=False))[PERSONAL_OUTPUT][:, 0]
  np.testing.assert_allclose(p, 1 / (1 + np.exp(-(x_ui - 0.8))), atol=1e-6)
  assert metrics.accuracy(labels, p) == 1.0
  assert metrics.auc(labels, p) == 1.0
  # All-positive labels: the threshold goes below every score.
  assert variants.best_threshold([1, 1], [0.2, 0.3]) < 0.2


def test_auc_hand_examples():
  # pos {0.9, 0.4} vs neg {0.8, 0.1}: 3 of 4 pairs ordered.
  assert metrics.auc([1, 0, 1, 0], [0.9, 0.8, 0.4, 0.1]) == 0.75
  # A tie counts 1/2: pos {0.5, 0.7} vs neg {0.5} -> (0.5 + 1) / 2.
  assert metrics.auc([1, 0, 1], [0.5, 0.5, 0.7]) == 0.75
  assert math.isnan(metrics.auc([1, 1], [0.2, 0.3]))


def test_sample_bpr_triples_definition_of_pairs():
  # user 0: good 0, 2; bad 1. user 1: good 0, 3; no bad image.
  users = np.array([0, 0, 0, 1, 1])
  images = np.array([0, 1, 2, 0, 3])
  labels = np.array([1, 0, 1, 1, 1])
  t = variants.sample_bpr_triples(users, images, labels, epochs=5,
                                  rng=np.random.default_rng(0),
                                  candidate_images=np.array([0, 1, 2, 3]))
  assert len(t["user"]) == 5 * 4  # every positive once per epoch
  pairs = list(zip(t["user"].tolist(), t["pos"].tolist()))
  for pair in {(0, 0), (0, 2), (1, 0), (1, 3)}:
    assert pairs.count(pair) == 5
  u0 = t["user"] == 0
  np.testing.assert_array_equal(t["neg"][u0], 1)  # the bad-rated image
  assert t["from_bad"][u0].all() and not t["from_bad"][~u0].any()
  # No bad rating: random images the user did not rate good.
  assert set(t["neg"][~u0].tolist()) <= {1, 2}
  with pytest.raises(ValueError, match="positive"):
    variants.sample_bpr_triples(users, images, np.zeros(5), epochs=1,
                                rng=np.random.default_rng(0))


def test_pairwise_dataset_decodes_both_images():
  s = CPU.image_size
  red = tf.io.encode_jpeg(tf.fill([s, s, 3], tf.constant(200, tf.uint8)))
  blue = tf.io.encode_jpeg(tf.zeros([s, s, 3], tf.uint8))
  cols = {USER_XF: np.array([0, 0]), IMAGE_ID_XF: np.array([0, 1]),
          LABEL_KEY: np.array([1, 0]),
          IMAGE_XF: np.array([red.numpy(), blue.numpy()], dtype=object)}
  ds = variants.pairwise_dataset(cols, CPU.replace(batch_size=2),
                                 visual=True, num_images=3, steps=1, seed=0)
  x, y = next(iter(ds))
  np.testing.assert_array_equal(x[IMAGE_ID_XF].numpy(), [0, 0])
  np.testing.assert_array_equal(x[variants.NEG_IMAGE_ID].numpy(), [1, 1])
  # Each distinct image of the batch is decoded once; rows point at it.
  assert x[IMAGE_PIXELS_KEY].shape == (1, s, s, 3)
  np.testing.assert_array_equal(x[IMAGE_SLOT_KEY].numpy(), [0, 0])
  np.testing.assert_array_equal(x[variants.NEG_SLOT].numpy(), [0, 0])
  assert float(tf.reduce_mean(x[IMAGE_PIXELS_KEY])) > 150
  assert float(tf.reduce_mean(x[variants.NEG_PIXELS])) < 20
  assert y[variants.PAIRWISE_OUTPUT].shape == (2, 1)


@pytest.mark.parametrize("name", ["bpr", "vbpr"])
def test_pairwise_variants_train_under_mixed_precision(name):
  """What configure_precision selects on a GPU: float32 outputs, scaled loss."""
  cfg = CPU.replace(cnn_filters=(8,))
  keras.mixed_precision.set_global_policy("mixed_float16")
  try:
    builder = variants.get_variant(name)
    model = builder(cfg, **SIZES)
    train_model = variants.compile_variant(builder, model, cfg)
    assert isinstance(train_model.optimizer,
                      keras.optimizers.LossScaleOptimizer)
    x = _features(batch=4)
    xx = {USER_XF: x[USER_XF], IMAGE_ID_XF: x[IMAGE_ID_XF],
          variants.NEG_IMAGE_ID: (x[IMAGE_ID_XF] + 1) % NUM_IMAGES}
    if builder.uses_pixels:
      xx[IMAGE_PIXELS_KEY] = x[IMAGE_PIXELS_KEY]
      xx[variants.NEG_PIXELS] = x[IMAGE_PIXELS_KEY][::-1].copy()
      xx[IMAGE_SLOT_KEY] = xx[variants.NEG_SLOT] = x[IMAGE_SLOT_KEY]
    history = train_model.fit(
        xx, {variants.PAIRWISE_OUTPUT: np.zeros((4, 1), np.float32)},
        epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    out = model(variants.select_inputs(model, x), training=False)
    assert out[PERSONAL_OUTPUT].dtype == "float32"
  finally:
    keras.mixed_precision.set_global_policy("float32")

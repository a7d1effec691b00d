"""Reusable Keras 3 building blocks of CFAN (IJCAI 2018, §3.1) and its family.

Every model of the family (BPR, VBPR, CFN-pure-2task, CFN-1task,
CFAN-1/2/3task, an image-only MTRLCNN-like net) is a small functional-API
builder that composes these blocks:

* ``model_inputs``            — the named ``keras.Input`` tensors of the data
                                contract (``preprocessing.features``).
* ``image_backbone``          — f_v, the CNN feature map (VGG-16 or small CNN).
* ``row_features``            — the backbone once per distinct image of a
                                batch, its feature map fanned out to the rows
                                (``FanOutToRows``).
* ``id_embedding``            — gamma_u / q_v, the id embeddings (dim k).
* ``review_encoder``          — Eq. 3-4, BiGRU annotations h_uv and a masked
                                mean of them (one vector per review).
* ``ReviewImageAttention``    — Eq. 5, review-conditioned spatial attention.
* ``global_visual``           — global-average-pooled f_v (no review).
* ``merge_visual``            — Eq. 1, q_v^i = q_v ⊙ (W^i · visual).
* ``interaction``             — Eq. 2, f(gamma_u, q_v^i) -> logit.
* ``image_side_features``     — [GAP(f_v), q_v], input of the user-free heads.
* ``personal_head`` / ``tag_head`` / ``agnostic_head`` — the three task
                                outputs of Eq. 6 (float32 final activations,
                                so mixed precision is safe).

Tensor-level blocks take and return Keras tensors (functional API); the
backbone and the review encoder are returned as ``keras.Model`` so they can be
shared, frozen or inspected as a unit.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence

from preprocessing import keras_env as _keras_env  # noqa: F401  (must be first)

import keras
from keras import layers
from keras import ops

from preprocessing.config import VGG16_WEIGHTS_ENV
from preprocessing.config import VGG16_WEIGHTS_FILE
from preprocessing.config import ModelConfig
from preprocessing.config import keras_cache_weights_path
from preprocessing.features import AGNOSTIC_OUTPUT
from preprocessing.features import IMAGE_ID_XF
from preprocessing.features import IMAGE_PIXELS_KEY
from preprocessing.features import IMAGE_SLOT_KEY
from preprocessing.features import PAD_TOKEN_ID
from preprocessing.features import PERSONAL_OUTPUT
from preprocessing.features import REVIEW_XF
from preprocessing.features import TAG_OUTPUT
from preprocessing.features import USER_XF

_PACKAGE = "cfan"

# ImageNet channel means of the "caffe" preprocessing of VGG-16 (BGR order).
VGG16_BGR_MEAN = (103.939, 116.779, 123.68)
# Paper §4: "randomly initialized according to a standard normal N(0, I)".
ID_EMBEDDING_STDDEV = 1.0

BACKBONES = ("small_cnn", "vgg16")


class MissingVGG16WeightsError(FileNotFoundError):
  """No local ImageNet VGG-16 weights and random init was not allowed."""


# --------------------------------------------------------------------------
# Custom layers
# --------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CaffePreprocess(layers.Layer):
  """VGG-16 "caffe" preprocessing as a layer: RGB -> BGR, minus ImageNet mean.

  Same arithmetic as ``keras.applications.vgg16.preprocess_input`` but inside
  the graph, so the exported model takes raw 0..255 pixels.
  """

  def call(self, x):
    x = ops.flip(x, axis=-1)
    mean = ops.convert_to_tensor(VGG16_BGR_MEAN, dtype=x.dtype)
    return x - mean

  def compute_output_shape(self, input_shape):
    return input_shape


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaskedMeanPooling(layers.Layer):
  """Mean of h_uv over the real (non-PAD) tokens of a review (after Eq. 4).

  Inputs: ``[annotations [B, L, D], token_ids [B, L]]``. The mask is
  recomputed from the token ids (``!= PAD_TOKEN_ID``), so the result does not
  depend on Keras mask propagation. An all-padding review gives a zero vector
  (the denominator is clamped to 1), never NaN.
  """

  def __init__(self, pad_token_id: int = PAD_TOKEN_ID, **kwargs):
    super().__init__(**kwargs)
    self.pad_token_id = pad_token_id
    self.supports_masking = True

  def call(self, inputs, mask=None):
    del mask  # Recomputed from the ids.
    h, token_ids = inputs
    m = ops.cast(ops.not_equal(token_ids, self.pad_token_id), h.dtype)
    m = ops.expand_dims(m, -1)  # [B, L, 1]
    total = ops.sum(h * m, axis=1)
    count = ops.maximum(ops.sum(m, axis=1), ops.cast(1.0, h.dtype))
    return total / count

  def compute_mask(self, inputs, mask=None):
    return None

  def compute_output_shape(self, input_shapes):
    h_shape = input_shapes[0]
    return (h_shape[0], h_shape[-1])

  def get_config(self):
    config = super().get_config()
    config["pad_token_id"] = self.pad_token_id
    return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ReviewImageAttention(layers.Layer):
  """Review-image attention of Eq. 5.

  Inputs: ``[f_v [B, h, w, C], h [B, D]]`` where h is the pooled review
  annotation. Computes

    K        = sigmoid(W_k h + b_k)                     [B, C]
    f_uv^ij  = scale * sum_c K_c f_v^ijc                [B, h, w]
    a_uv     = softmax over (i, j) of f_uv              [B, h, w]  (Eq. 5)
    attended = sum_ij a_uv^ij f_v^ij                    [B, C]

  i.e. K is a 1x1 convolution kernel generated from the review. ``scale``
  defaults to 1/sqrt(C) (scaled dot-product): without it, 512 non-negative
  VGG-16 channels make the softmax one-hot at initialisation. The logits,
  softmax and weighted sum are computed in float32 (safe under mixed
  precision); returns ``(attended, attention_map)`` with ``attended`` in the
  layer's compute dtype and the map in float32.
  """

  def __init__(self, scale: Optional[float] = None, **kwargs):
    super().__init__(**kwargs)
    self.scale = scale

  def build(self, input_shapes):
    f_shape, h_shape = input_shapes
    channels = int(f_shape[-1])
    h_dim = int(h_shape[-1])
    self.channels = channels
    self.w_k = self.add_weight(
        name="w_k", shape=(h_dim, channels),
        initializer=keras.initializers.GlorotUniform())
    self.b_k = self.add_weight(
        name="b_k", shape=(channels,), initializer="zeros")
    self._scale = (self.scale if self.scale is not None else
                   1.0 / math.sqrt(channels))

  def call(self, inputs):
    f_v, h = inputs
    f32 = ops.cast(f_v, "float32")
    h32 = ops.cast(h, "float32")
    kernel = ops.sigmoid(
        ops.matmul(h32, ops.cast(self.w_k, "float32")) +
        ops.cast(self.b_k, "float32"))  # K, [B, C]
    logits = ops.einsum("bijc,bc->bij", f32, kernel) * self._scale  # f_uv
    shape = ops.shape(logits)
    flat = ops.reshape(logits, (shape[0], -1))
    attention = ops.reshape(ops.softmax(flat, axis=-1), shape)  # Eq. 5
    attended = ops.einsum("bij,bijc->bc", attention, f32)
    return ops.cast(attended, self.compute_dtype), attention

  def compute_output_shape(self, input_shapes):
    f_shape, _ = input_shapes
    return ((f_shape[0], f_shape[-1]), tuple(f_shape[:3]))

  def compute_output_spec(self, inputs):
    f_v, _ = inputs
    b, hh, ww, c = f_v.shape
    return (keras.KerasTensor((b, c), dtype=self.compute_dtype),
            keras.KerasTensor((b, hh, ww), dtype="float32"))

  def get_config(self):
    config = super().get_config()
    config["scale"] = self.scale
    return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FanOutToRows(layers.Layer):
  """Per-image tensors [U, ...] -> per-row tensors [B, ...] by image slot.

  Inputs ``[per_image [U, ...], slot int [B]]``: row b gets
  ``per_image[slot[b]]``. The gradient of each image's features is the sum
  of its rows' gradients, as if the backbone had run once per row.

  Slots index the batch's own images, so feed whole batches (tf.data, as
  ``signatures.model_inputs_from_transformed`` builds them), never numpy
  arrays that Keras would slice into batches. U varies between batches:
  under XLA (``cfg.xla``) each new U compiles once.
  """

  def call(self, per_image, slot):
    return ops.take(per_image, ops.cast(slot, "int32"), axis=0)

  def compute_output_shape(self, per_image_shape, slot_shape):
    return (slot_shape[0],) + tuple(per_image_shape[1:])


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------


def model_inputs(cfg: ModelConfig,
                 *,
                 user: bool = True,
                 image_id: bool = True,
                 pixels: bool = True,
                 review: bool = True) -> Dict[str, keras.KerasTensor]:
  """Named model inputs of the data contract, as a dict name -> Input.

  USER_XF / IMAGE_ID_XF: int64 [B]; IMAGE_PIXELS_KEY: float32 [U, S, S, 3] in
  0..255, the batch's distinct images, with IMAGE_SLOT_KEY: int64 [B], each
  row's position among them (``row_features``); REVIEW_XF: int64 [B, T]
  (PAD_TOKEN_ID padded) where T may vary between calls: an own review is
  ``max_review_len`` tokens, a user profile ``profile_len`` tokens, and the
  BiGRU reads either.
  """
  inputs = {}
  if user:
    inputs[USER_XF] = keras.Input(shape=(), dtype="int64", name=USER_XF)
  if image_id:
    inputs[IMAGE_ID_XF] = keras.Input(
        shape=(), dtype="int64", name=IMAGE_ID_XF)
  if pixels:
    s = cfg.image_size
    inputs[IMAGE_PIXELS_KEY] = keras.Input(
        shape=(s, s, 3), dtype="float32", name=IMAGE_PIXELS_KEY)
    inputs[IMAGE_SLOT_KEY] = keras.Input(
        shape=(), dtype="int64", name=IMAGE_SLOT_KEY)
  if review:
    inputs[REVIEW_XF] = keras.Input(
        shape=(None,), dtype="int64", name=REVIEW_XF)
  return inputs


# --------------------------------------------------------------------------
# Image backbone: f_v
# --------------------------------------------------------------------------


def _missing_weights_message(cfg: ModelConfig) -> str:
  return (
      "ImageNet VGG-16 weights were not found and cannot be downloaded here. "
      f"Put '{VGG16_WEIGHTS_FILE}' (Keras' include_top=False VGG-16 weights) "
      f"at the path named by the environment variable {VGG16_WEIGHTS_ENV}, "
      f"or at the Keras cache path {keras_cache_weights_path()}, or set "
      "ModelConfig.vgg16_weights"
      + (f" (currently {cfg.vgg16_weights!r}, not a file)"
         if cfg.vgg16_weights else "") +
      ". Pass allow_random_init=True only for tests/smoke runs.")


def small_cnn_backbone(cfg: ModelConfig,
                       name: str = "image_backbone") -> keras.Model:
  """Conv-BN-ReLU-MaxPool stages over cfg.cnn_filters (64x64 -> 8x8xC)."""
  s = cfg.image_size
  pixels = keras.Input(shape=(s, s, 3), dtype="float32", name="pixels")
  x = layers.Rescaling(1.0 / 255.0, name="rescale")(pixels)
  for i, filters in enumerate(cfg.cnn_filters):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                      name=f"conv{i + 1}")(x)
    x = layers.BatchNormalization(name=f"bn{i + 1}")(x)
    x = layers.ReLU(name=f"relu{i + 1}")(x)
    x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
  return keras.Model(pixels, x, name=name)


def vgg16_backbone(cfg: ModelConfig,
                   *,
                   allow_random_init: bool = False,
                   name: str = "image_backbone") -> keras.Model:
  """VGG-16 without its classifier; 320x320x3 -> 10x10x512 (paper §4).

  Weights come from ``cfg.resolve_vgg16_weights()`` (cfg.vgg16_weights, then
  $CFAN_VGG16_WEIGHTS, then the Keras cache). Nothing is ever downloaded.

  Raises:
    MissingVGG16WeightsError: no local weights and not allow_random_init.
  """
  weights = cfg.resolve_vgg16_weights()
  if weights is None and not allow_random_init:
    raise MissingVGG16WeightsError(_missing_weights_message(cfg))
  s = cfg.image_size
  vgg = keras.applications.VGG16(
      include_top=False, weights=None, input_shape=(s, s, 3))
  if weights is not None:
    vgg.load_weights(weights)
  pixels = keras.Input(shape=(s, s, 3), dtype="float32", name="pixels")
  x = CaffePreprocess(name="caffe_preprocess")(pixels)
  x = vgg(x)
  return keras.Model(pixels, x, name=name)


def image_backbone(cfg: ModelConfig,
                   *,
                   allow_random_init: bool = False,
                   name: str = "image_backbone") -> keras.Model:
  """f_v: float [B, S, S, 3] pixels in 0..255 -> feature map [B, h, w, C].

  ``cfg.backbone`` selects ``small_cnn`` or ``vgg16`` (paper: VGG-16, §3.1).
  ``allow_random_init`` only matters for vgg16 (see ``vgg16_backbone``).
  """
  if cfg.backbone == "small_cnn":
    return small_cnn_backbone(cfg, name=name)
  if cfg.backbone == "vgg16":
    return vgg16_backbone(cfg, allow_random_init=allow_random_init, name=name)
  raise ValueError(f"Unknown backbone {cfg.backbone!r}; choose from "
                   f"{BACKBONES}")


def row_features(backbone: keras.Model, inputs, *,
                 name: str = "image_features_per_row"):
  """f_v of every row: ``backbone`` once per distinct image, fanned out.

  ``inputs`` holds IMAGE_PIXELS_KEY (the batch's distinct images [U, ...])
  and IMAGE_SLOT_KEY (each row's image position [B]); returns [B, h, w, C].
  """
  return FanOutToRows(name=name)(backbone(inputs[IMAGE_PIXELS_KEY]),
                                 inputs[IMAGE_SLOT_KEY])


def global_visual(f_v, *, name: str = "visual_gap"):
  """Global-average-pooled f_v, [B, C] (the review-free visual vector)."""
  return layers.GlobalAveragePooling2D(name=name)(f_v)


# --------------------------------------------------------------------------
# Id embeddings: gamma_u, q_v
# --------------------------------------------------------------------------


def id_embedding(vocab_size: int,
                 dim: int,
                 *,
                 name: str,
                 stddev: float = ID_EMBEDDING_STDDEV,
                 mean: float = 0.0) -> layers.Embedding:
  """Embedding of a user or image index (gamma_u, q_v of Eq. 1-2).

  ``vocab_size`` must include the OOV bucket(s). Initialised from
  N(mean, stddev^2) (paper §4: standard normal, mean 0 and stddev 1).
  """
  if vocab_size < 1:
    raise ValueError(f"{name}: vocab_size must be >= 1, got {vocab_size}")
  return layers.Embedding(
      vocab_size, dim,
      embeddings_initializer=keras.initializers.RandomNormal(mean=mean,
                                                             stddev=stddev),
      name=name)


def user_and_image_embeddings(cfg: ModelConfig, inputs, num_users: int,
                              num_images: int):
  """(gamma_u, q_v) of Eq. 1-2 for the USER_XF / IMAGE_ID_XF inputs.

  q_v starts at N(cfg.image_embedding_mean, cfg.image_embedding_stddev^2) so
  that Eq. 1's element-wise merge can pass visual features through for
  rarely seen images (see ModelConfig).
  """
  k = cfg.embedding_dim
  gamma_u = id_embedding(num_users, k, name="user_embedding")(
      inputs[USER_XF])
  q_v = id_embedding(num_images, k, name="image_embedding",
                     mean=cfg.image_embedding_mean,
                     stddev=cfg.image_embedding_stddev)(inputs[IMAGE_ID_XF])
  return gamma_u, q_v


# --------------------------------------------------------------------------
# Review encoder: Eq. 3-4
# --------------------------------------------------------------------------


def review_encoder(cfg: ModelConfig,
                   vocab_size: int,
                   *,
                   name: str = "review_encoder") -> keras.Model:
  """Token ids [B, L] -> (h_uv [B, L, 2g], review vector [B, 2g]).

  Word embedding (index PAD_TOKEN_ID masked) + Bidirectional GRU with
  ``cfg.gru_units`` per direction (Eq. 3); the annotation is the concatenation
  of both directions (Eq. 4). The review vector is the masked mean of h_uv
  over real tokens (zeros for an all-padding review).
  ``vocab_size`` counts every id the Transform emits (pad + words + OOV).
  """
  if PAD_TOKEN_ID != 0:
    raise ValueError("Embedding(mask_zero=True) assumes PAD_TOKEN_ID == 0.")
  tokens = keras.Input(shape=(None,), dtype="int64",
                       name="tokens")
  x = layers.Embedding(vocab_size, cfg.word_embedding_dim, mask_zero=True,
                       name="word_embedding")(tokens)
  h = layers.Bidirectional(
      layers.GRU(cfg.gru_units, return_sequences=True), merge_mode="concat",
      name="bigru")(x)  # Eq. 3-4
  doc = MaskedMeanPooling(name="masked_mean")([h, tokens])
  return keras.Model(tokens, [h, doc], name=name)


# --------------------------------------------------------------------------
# Eq. 1-2: merge and interaction
# --------------------------------------------------------------------------


def merge_visual(q_v, visual, *, name: str = "merge"):
  """Eq. 1: q_v^i = q_v ⊙ (W^i · visual).

  ``visual`` is the attended vector (CFAN) or the pooled f_v (CFN). W^i is a
  bias-free projection C -> k, drawn from N(0, 1/C) so that its output has
  the scale of its input.
  """
  k = int(q_v.shape[-1])
  c = int(visual.shape[-1])
  projected = layers.Dense(
      k, use_bias=False,
      kernel_initializer=keras.initializers.RandomNormal(
          stddev=1.0 / math.sqrt(c)),
      name=f"{name}_w_i")(visual)
  return layers.Multiply(name=name)([q_v, projected])


def interaction(gamma_u,
                q_vi,
                *,
                hidden_units: Sequence[int],
                dropout: float,
                name: str = "interaction"):
  """Eq. 2: f(gamma_u, q_v^i) -> logit [B, 1].

  Hidden ReLU layers over [gamma_u ⊙ q_v^i, gamma_u, q_v^i] (the product is
  the matrix-factorisation term, the concatenation lets the MLP learn
  user/item biases and non-linear interactions).
  """
  product = layers.Multiply(name=f"{name}_product")([gamma_u, q_vi])
  x = layers.Concatenate(name=f"{name}_concat")([product, gamma_u, q_vi])
  for i, units in enumerate(hidden_units):
    x = layers.Dense(units, activation="relu", name=f"{name}_dense{i + 1}")(x)
    if dropout:
      x = layers.Dropout(dropout, name=f"{name}_dropout{i + 1}")(x)
  return layers.Dense(1, name=f"{name}_logit")(x)


# --------------------------------------------------------------------------
# Heads (Eq. 6 tasks)
# --------------------------------------------------------------------------


def image_side_features(f_v, q_v, *, name: str = "image_side"):
  """[GAP(f_v), q_v]: user-free image representation for tag/agnostic heads.

  Either argument may be None (e.g. an image-only net has no q_v).
  """
  parts = []
  if f_v is not None:
    parts.append(global_visual(f_v, name=f"{name}_gap"))
  if q_v is not None:
    parts.append(q_v)
  if not parts:
    raise ValueError("image_side_features needs f_v and/or q_v.")
  if len(parts) == 1:
    return parts[0]
  return layers.Concatenate(name=name)(parts)


def _task_hidden(x, units: int, dropout: float, name: str):
  x = layers.Dense(units, activation="relu", name=f"{name}_dense")(x)
  if dropout:
    x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
  return x


def personal_head(logit, *, name: str = PERSONAL_OUTPUT):
  """y_hat_uv = sigmoid(logit), float32 [B, 1] (first term of Eq. 6)."""
  return layers.Activation("sigmoid", dtype="float32", name=name)(logit)


def tag_head(image_features,
             num_tags: int,
             *,
             hidden_units: int,
             dropout: float,
             name: str = TAG_OUTPUT):
  """z_hat_v: softmax over num_tags, float32 [B, T] (second term of Eq. 6).

  A task-specific hidden layer over user-free image features.
  """
  x = _task_hidden(image_features, hidden_units, dropout, f"{name}_hidden")
  x = layers.Dense(num_tags, name=f"{name}_logits")(x)
  return layers.Activation("softmax", dtype="float32", name=name)(x)


def agnostic_head(image_features,
                  *,
                  hidden_units: int,
                  dropout: float,
                  name: str = AGNOSTIC_OUTPUT):
  """beta_hat_v: sigmoid, float32 [B, 1] (third term of Eq. 6).

  Fed only image-side features, so it cannot depend on the user.
  """
  x = _task_hidden(image_features, hidden_units, dropout, f"{name}_hidden")
  x = layers.Dense(1, name=f"{name}_logit")(x)
  return layers.Activation("sigmoid", dtype="float32", name=name)(x)


def float32_output(x, *, name: str):
  """Names an auxiliary output (e.g. the attention map) and casts to float32."""
  return layers.Activation("linear", dtype="float32", name=name)(x)


class Select(layers.Layer):
  """[mask, a, b] -> mask * a + (1 - mask) * b."""

  def call(self, inputs):
    mask, a, b = inputs
    return mask * a + (1.0 - mask) * b

  def compute_output_shape(self, input_shapes):
    return input_shapes[1]


class StopGradient(layers.Layer):
  def call(self, x):
    return ops.stop_gradient(x)


class FirstColumn(layers.Layer):
  def call(self, x):
    return x[:, :1]

  def compute_output_shape(self, input_shape):
    return (input_shape[0], 1)

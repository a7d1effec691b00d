"""Serving signatures, built in one place, and the SavedModel export.

The exported SavedModel is hermetic: the Transform graph (tokeniser,
vocabularies, image resizing), the user profiles and the tag names live inside
it. Signatures:

``serving_default(examples)``
    Serialized tf.Examples (TFX convention). Features read: ``user_id``,
    ``image`` (encoded bytes), optional ``image_id`` and optional ``review``.
    An empty or missing review means *review-free*: the user's profile is read.
``serving_review_free(examples)``
    Same input, the review is always ignored (what a deployed system faces;
    the Evaluator's blessing gate uses this one).
``serving_raw(user_id, image_bytes, review)``
    Plain tensors: string [B] each; ``review`` may be "" (review-free).
``transform_features(examples)``
    The Transform output, for TFMA's label lookup (``tag_xf``).

Outputs of the three scoring signatures (all batched over B):
``p_personal`` float [B], ``p_agnostic`` float [B], ``tag_probs`` float
[B, T], ``tag`` string [B] (most likely tag), ``attention`` float [B, h, w]
(Eq. 5), ``known_user`` bool [B], ``review_free`` bool [B].

Cold start: for a user the model never saw (``known_user`` false) the personal
probability is the user-agnostic head's (``p_personal == p_agnostic``): the
untrained OOV user embedding carries no information about anyone.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
import tensorflow as tf

from preprocessing import features as F
from preprocessing import transform as transform_lib
from preprocessing.config import ModelConfig

SERVING_DEFAULT = "serving_default"
SERVING_REVIEW_FREE = "serving_review_free"
SERVING_RAW = "serving_raw"
TRANSFORM_FEATURES = "transform_features"
TAG_NAME_OUTPUT = "tag"
KNOWN_USER_OUTPUT = "known_user"
REVIEW_FREE_OUTPUT = "review_free"
# Raw features a serving request may carry (labels never).
SERVING_RAW_KEYS = (F.USER_KEY, F.IMAGE_ID_KEY, F.IMAGE_KEY, F.REVIEW_KEY)


def pad_review(tokens: tf.Tensor, length: int) -> tf.Tensor:
  """[B, L] -> [B, length] (pad with PAD_TOKEN_ID or truncate)."""
  tokens = tokens[:, :length]
  pad = tf.maximum(length - tf.shape(tokens)[1], 0)
  return tf.pad(tokens, [[0, 0], [0, pad]], constant_values=F.PAD_TOKEN_ID)


def model_inputs_from_transformed(transformed: Dict[str, tf.Tensor],
                                  review_tokens: tf.Tensor,
                                  cfg: ModelConfig) -> Dict[str, tf.Tensor]:
  """Transformed features + chosen review tokens -> the model's input dict."""
  return {
      F.USER_XF: tf.cast(tf.reshape(transformed[F.USER_XF], [-1]), tf.int64),
      F.IMAGE_ID_XF: tf.cast(tf.reshape(transformed[F.IMAGE_ID_XF], [-1]),
                             tf.int64),
      F.IMAGE_PIXELS_KEY: transform_lib.decode_image_xf(
          tf.reshape(transformed[F.IMAGE_XF], [-1]), cfg.image_size),
      F.REVIEW_XF: tf.cast(review_tokens, tf.int64),
  }


class CfanServingModule(tf.Module):
  """tf.Module that owns the Keras model, the TFT layer and the profiles."""

  def __init__(self, model, tft_output, profile_tokens: np.ndarray,
               cfg: ModelConfig, num_known_users: int,
               tag_names: Sequence[str]):
    super().__init__(name="cfan_serving")
    self.model = model
    self.tft_layer = tft_output.transform_features_layer()
    self._cfg = cfg
    self.profile_tokens = tf.Variable(profile_tokens.astype(np.int64),
                                      trainable=False, name="profile_tokens")
    self.num_known_users = tf.constant(num_known_users, tf.int64)
    self.tag_names = tf.constant(list(tag_names), tf.string)
    spec = tft_output.raw_feature_spec()
    self._full_spec = dict(spec)  # labelled examples, for TFMA
    self._raw_spec = {k: spec[k] for k in SERVING_RAW_KEYS if k in spec}
    # Optional features default to "" (review "" = review-free; image_id ""
    # = unknown image, scored through its OOV bucket).
    for key in (F.REVIEW_KEY, F.IMAGE_ID_KEY):
      if key in self._raw_spec:
        s = self._raw_spec[key]
        self._raw_spec[key] = tf.io.FixedLenFeature(
            s.shape, s.dtype, default_value=[""] * int(np.prod(s.shape or [1]))
            if s.shape else "")
    self._raw_shapes = {k: v.shape for k, v in self._raw_spec.items()}

  # -- core ---------------------------------------------------------------
  def _score(self, raw: Dict[str, tf.Tensor],
             force_review_free: bool) -> Dict[str, tf.Tensor]:
    cfg = self._cfg
    transformed = self.tft_layer(raw)
    user = tf.cast(tf.reshape(transformed[F.USER_XF], [-1]), tf.int64)
    review_text = tf.reshape(raw[F.REVIEW_KEY], [-1])
    has_review = tf.greater(tf.strings.length(tf.strings.strip(review_text)),
                            0)
    if force_review_free:
      has_review = tf.zeros_like(has_review)
    profile = tf.gather(self.profile_tokens, user)
    review = pad_review(tf.cast(transformed[F.REVIEW_XF], tf.int64),
                        cfg.profile_len)
    tokens = tf.where(has_review[:, None], review, profile)
    outputs = self.model(model_inputs_from_transformed(transformed, tokens,
                                                       cfg), training=False)
    p_agnostic = tf.reshape(outputs[F.AGNOSTIC_OUTPUT], [-1])
    known = tf.less(user, self.num_known_users)
    p_personal = tf.where(known, tf.reshape(outputs[F.PERSONAL_OUTPUT], [-1]),
                          p_agnostic)
    tag_probs = outputs[F.TAG_OUTPUT]
    top = tf.argmax(tag_probs, axis=-1, output_type=tf.int32)
    names = tf.concat([self.tag_names, [b"<unknown>"]], 0)
    top = tf.minimum(top, tf.shape(names)[0] - 1)
    return {
        F.PERSONAL_OUTPUT: p_personal,
        F.AGNOSTIC_OUTPUT: p_agnostic,
        F.TAG_OUTPUT: tag_probs,
        TAG_NAME_OUTPUT: tf.gather(names, top),
        F.ATTENTION_OUTPUT: outputs[F.ATTENTION_OUTPUT],
        KNOWN_USER_OUTPUT: known,
        REVIEW_FREE_OUTPUT: tf.logical_not(has_review),
    }

  def _parse(self, examples: tf.Tensor) -> Dict[str, tf.Tensor]:
    return tf.io.parse_example(examples, self._raw_spec)

  def _shape_raw(self, values: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    out = {}
    for k, v in values.items():
      shape = self._raw_shapes.get(k)
      out[k] = tf.reshape(v, [-1, 1]) if shape and list(shape) == [1] else v
    return out

  # -- signatures -----------------------------------------------------------
  @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                               name="examples")])
  def serve_examples(self, examples):
    return self._score(self._parse(examples), force_review_free=False)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                               name="examples")])
  def serve_examples_review_free(self, examples):
    return self._score(self._parse(examples), force_review_free=True)

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="user_id"),
      tf.TensorSpec([None], tf.string, name="image_bytes"),
      tf.TensorSpec([None], tf.string, name="review"),
  ])
  def serve_raw(self, user_id, image_bytes, review):
    raw = self._shape_raw({F.USER_KEY: user_id, F.IMAGE_KEY: image_bytes,
                           F.REVIEW_KEY: review,
                           F.IMAGE_ID_KEY: tf.fill(tf.shape(user_id), "")})
    return self._score(raw, force_review_free=False)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                               name="examples")])
  def transform_features(self, examples):
    return self.tft_layer(tf.io.parse_example(examples, self._full_spec))

  def signatures(self) -> Dict[str, tf.types.experimental.ConcreteFunction]:
    return {
        SERVING_DEFAULT: self.serve_examples.get_concrete_function(),
        SERVING_REVIEW_FREE:
            self.serve_examples_review_free.get_concrete_function(),
        SERVING_RAW: self.serve_raw.get_concrete_function(),
        TRANSFORM_FEATURES: self.transform_features.get_concrete_function(),
    }


def export_serving_model(model, tft_output, profile_tokens: np.ndarray,
                         cfg: ModelConfig, num_known_users: int,
                         tag_names: List[str], export_dir: str) -> None:
  """Writes the hermetic SavedModel with all signatures to ``export_dir``."""
  module = CfanServingModule(model, tft_output, profile_tokens, cfg,
                             num_known_users, tag_names)
  tf.saved_model.save(module, export_dir, signatures=module.signatures())


def load_serving_model(path: str):
  """Loads an exported model (registers tensorflow-text ops first)."""
  import tensorflow_text  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  return tf.saved_model.load(path)

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
``serving_raw(user_id, image_bytes, review, profile)``
    Plain tensors: string [B] each; ``review`` may be "" (review-free).
    ``profile`` may be "" or a few of the user's own reviews, one per line:
    when the review is empty it replaces the stored profile (personalization
    without retraining, see docs/serving.md). Each line goes through the same
    Transform graph as a review; like a stored profile, at most
    ``profile_max_reviews`` lines of ``max_review_len`` tokens are compacted
    to ``profile_len`` tokens.
``transform_features(examples)``
    The Transform output of labelled image-major examples (one image with
    its reviews), for TFMA's labels: the image's features [B, ...] and the
    review-level ones padded to the batch's most reviews [B, R], with
    ``review_weight`` [B, R] 1.0 on a held-out review and 0.0 on a training
    review and on the padding, and ``image_weight`` [B] 1.0 on an image
    with a held-out review.
``evaluate_review_free(examples)``
    The Evaluator's signature, not a serving one: the same image-major
    examples scored review-free, ``p_personal`` per review padded [B, R]
    (weighted by ``review_weight``), ``p_agnostic`` [B] and ``tag_probs``
    [B, T] per image (weighted by ``image_weight``).

Outputs of the three scoring signatures (all batched over B):
``p_personal`` float [B], ``p_agnostic`` float [B], ``tag_probs`` float
[B, T], ``tag`` string [B] (most likely tag), ``attention`` float [B, h, w]
(Eq. 5), ``known_user`` bool [B], ``review_free`` bool [B].

Cold start: for a user the model never saw (``known_user`` false) the personal
probability is the user-agnostic head's (``p_personal == p_agnostic``),
unless the request carries a profile (and no review): then, when
``config.COLD_USER_PROFILE_PERSONAL`` is set, p_personal is the personal head
read with the OOV user embedding (set to the mean known user at export,
``set_cold_user_embedding``) and the profile-driven attention.

Calibration: the personal head's probability is divided in logit space by a
temperature fitted by the Trainer (``keras_model.calibration``), one for the
review-given and one for the review-free path; 1.0 means "not applied".

Model variants (``keras_model.variants``, ``ModelConfig.variant``) lacking a
head export the same outputs (``complete_outputs``): a missing ``p_agnostic``
is 0.5 and a missing ``tag_probs`` uniform over the tags (the uniform
distribution: no prediction, AUC 0.5); a missing ``attention`` is one cell of
weight 1 (the whole image weighted uniformly, which is what global average
pooling does); a missing ``p_personal`` (the image-only variant) is
``p_agnostic`` (a user-free model gives every user the same score). The
agnostic cold-start fallback applies only to variants with both rating
heads. The SavedModel's ``heads`` attribute lists the heads the model really
has.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from preprocessing import config as cfg_lib
from preprocessing import features as F
from preprocessing import transform as transform_lib
from preprocessing.config import ModelConfig
from keras_model import profiles as profiles_lib

# Signature, output and serving_raw input names: the serving contract of
# preprocessing.features, under the names this module has always exported.
SERVING_DEFAULT = F.SERVING_DEFAULT
SERVING_REVIEW_FREE = F.SERVING_REVIEW_FREE
SERVING_RAW = F.SERVING_RAW
TRANSFORM_FEATURES = F.TRANSFORM_FEATURES
TAG_NAME_OUTPUT = F.TAG_NAME_OUTPUT
KNOWN_USER_OUTPUT = F.KNOWN_USER_OUTPUT
REVIEW_FREE_OUTPUT = F.REVIEW_FREE_OUTPUT
RAW_USER_INPUT = F.RAW_USER_INPUT
RAW_IMAGE_INPUT = F.RAW_IMAGE_INPUT
RAW_REVIEW_INPUT = F.RAW_REVIEW_INPUT
RAW_PROFILE_INPUT = F.RAW_PROFILE_INPUT
# Attribute of the exported module: [T_given, T_free] personal temperatures.
TEMPERATURE_ATTR = "personal_temperature"
USER_EMBEDDING_LAYER = "user_embedding"
# Raw features a serving request may carry (labels never).
SERVING_RAW_KEYS = (F.USER_KEY, F.IMAGE_ID_KEY, F.IMAGE_KEY, F.REVIEW_KEY,
                    F.VOTES_KEY, F.TAG_KEY)


def pad_review(tokens: tf.Tensor, length: int) -> tf.Tensor:
  """[B, L] -> [B, length] (pad with PAD_TOKEN_ID or truncate)."""
  tokens = tokens[:, :length]
  pad = tf.maximum(length - tf.shape(tokens)[1], 0)
  return tf.pad(tokens, [[0, 0], [0, pad]], constant_values=F.PAD_TOKEN_ID)


def complete_outputs(outputs: Dict[str, tf.Tensor], num_tags: int
                     ) -> Dict[str, tf.Tensor]:
  """Fills the heads a model variant lacks (see the module docstring).

  Returns PERSONAL_OUTPUT [B, 1], AGNOSTIC_OUTPUT [B, 1], TAG_OUTPUT
  [B, num_tags] and ATTENTION_OUTPUT ([B, h, w]; [B, 1, 1] when missing),
  float32. Those the model has pass through unchanged; its other outputs
  (the residual variant's predicted vote distribution) are not served.
  """
  served = (F.PERSONAL_OUTPUT, F.AGNOSTIC_OUTPUT, F.TAG_OUTPUT,
            F.ATTENTION_OUTPUT)
  out = {k: tf.cast(v, tf.float32) for k, v in outputs.items()
         if k in served}
  batch = tf.shape(next(iter(out.values())))[0]
  if F.AGNOSTIC_OUTPUT not in out:
    out[F.AGNOSTIC_OUTPUT] = tf.fill([batch, 1], 0.5)
  if F.PERSONAL_OUTPUT not in out:
    out[F.PERSONAL_OUTPUT] = out[F.AGNOSTIC_OUTPUT]
  if F.TAG_OUTPUT not in out:
    out[F.TAG_OUTPUT] = tf.fill([batch, num_tags], 1.0 / num_tags)
  if F.ATTENTION_OUTPUT not in out:
    out[F.ATTENTION_OUTPUT] = tf.ones([batch, 1, 1])
  return out


def model_heads(model) -> List[str]:
  """The exported outputs that ``model`` really has (not filled)."""
  names = model.output.keys() if isinstance(model.output, dict) else ()
  return [n for n in (F.PERSONAL_OUTPUT, F.AGNOSTIC_OUTPUT, F.TAG_OUTPUT,
                      F.ATTENTION_OUTPUT) if n in names]


def select_model_inputs(model, inputs: Dict[str, tf.Tensor]
                        ) -> Dict[str, tf.Tensor]:
  """The entries of ``inputs`` that ``model`` (dict inputs) reads.

  ``inputs`` carry the batch's distinct images and each row's slot among
  them (``model_inputs_from_transformed``); every variant that reads pixels
  reads the slot too.
  """
  if not isinstance(model.input, dict):
    return inputs
  return {k: inputs[k] for k in model.input}


def _rows_in(inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
  """Rows of a model input batch (pixels may hold fewer, distinct, images)."""
  for k, v in inputs.items():
    if k != F.IMAGE_PIXELS_KEY:
      return tf.shape(v)[0]
  return tf.shape(inputs[F.IMAGE_PIXELS_KEY])[0]


def call_on_batch(model, inputs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
  """``model(inputs, training=False)`` that also answers an empty batch.

  On CPU, Conv2D on a zero-size batch returns a wrongly shaped tensor and the
  batch norm after it fails, so an empty batch is padded with one all-zero
  row (id 0, black image, padding tokens) and the outputs are cut back to
  zero rows. Non-empty batches are passed through unchanged.
  """
  n = _rows_in(inputs)
  pad = tf.cast(tf.equal(n, 0), tf.int32)
  padded = {k: tf.concat([v, tf.zeros(tf.concat([[pad], tf.shape(v)[1:]], 0),
                                       v.dtype)], 0)
            for k, v in inputs.items()}
  outputs = model(padded, training=False)
  return {k: v[:n] for k, v in outputs.items()}


def model_inputs_from_transformed(transformed: Dict[str, tf.Tensor],
                                  review_tokens: tf.Tensor,
                                  cfg: ModelConfig) -> Dict[str, tf.Tensor]:
  """Transformed features + chosen review tokens -> the model's input dict.

  Each distinct transformed JPEG of the batch is decoded once
  (IMAGE_PIXELS_KEY [U, S, S, 3]) and every row points at its image
  (IMAGE_SLOT_KEY [B]). The JPEG bytes are the key, not the image index:
  every image outside the vocabulary shares one OOV index.
  """
  distinct, slot = tf.unique(tf.reshape(transformed[F.IMAGE_XF], [-1]),
                             out_idx=tf.int64)
  x = {
      F.USER_XF: tf.cast(tf.reshape(transformed[F.USER_XF], [-1]), tf.int64),
      F.IMAGE_ID_XF: tf.cast(tf.reshape(transformed[F.IMAGE_ID_XF], [-1]),
                             tf.int64),
      F.IMAGE_PIXELS_KEY: transform_lib.decode_image_xf(distinct,
                                                        cfg.image_size),
      F.IMAGE_SLOT_KEY: slot,
      F.REVIEW_XF: tf.cast(review_tokens, tf.int64),
  }
  n = tf.shape(x[F.USER_XF])[0]
  # Votes and tag are known for AVA images; a raw request has neither, and
  # the residual variant then stands in its own predictions for them.
  x[F.VOTES_XF] = (tf.reshape(tf.cast(transformed[F.VOTES_XF], tf.float32),
                              [-1, F.AVA_NUM_SCORES])
                   if F.VOTES_XF in transformed else
                   tf.zeros([n, F.AVA_NUM_SCORES], tf.float32))
  x[F.TAG_XF] = (tf.cast(tf.reshape(transformed[F.TAG_XF], [-1]), tf.int64)
                 if F.TAG_XF in transformed else
                 tf.fill([n], tf.constant(F.NO_TAG_INDEX, tf.int64)))
  return x


# The serialized tf.Examples every example signature takes.
_EXAMPLES = [tf.TensorSpec([None], tf.string, name=F.EXAMPLES_INPUT)]


class _Untracked:
  """Holds a callable out of tf.Module's dependency tracking."""

  def __init__(self, fn):
    self.fn = fn


class CfanServingModule(tf.Module):
  """tf.Module that owns the Keras model, the Transform graph and the
  profiles."""

  def __init__(self, model, tft_output, profile_tokens: np.ndarray,
               cfg: ModelConfig, num_known_users: int,
               tag_names: Sequence[str],
               temperatures: Optional[Tuple[float, float]] = None):
    super().__init__(name="cfan_serving")
    self.model = model
    # The Transform graph: called through TFT's Keras layer, but saved as
    # what that layer itself tracks (the loaded graph, its tables and
    # vocabulary assets). The layer is a legacy tf_keras Model, and saving
    # it would make tf_keras trace its call once more for a signature
    # nobody serves (about a third of the export's time).
    layer = tft_output.transform_features_layer()
    self._call_tft = _Untracked(layer)
    # pylint: disable-next=protected-access
    self.transform_graph = layer._saved_model_loader.__dict__
    self._cfg = cfg
    self.profile_tokens = tf.Variable(profile_tokens.astype(np.int64),
                                      trainable=False, name="profile_tokens")
    # [T_given, T_free]: personal-head temperatures (1.0 = not applied).
    setattr(self, TEMPERATURE_ATTR, tf.Variable(
        list(temperatures or (1.0, 1.0)), dtype=tf.float32, trainable=False,
        name=TEMPERATURE_ATTR))
    self.cold_user_profile_personal = tf.constant(
        bool(cfg_lib.COLD_USER_PROFILE_PERSONAL))
    # Stand-in image for the Transform pass that tokenises request profiles
    # (the TFT layer needs every raw feature; a tiny image costs nothing).
    self._blank_image = tf.constant(
        tf.io.encode_jpeg(tf.zeros([8, 8, 3], tf.uint8)).numpy())
    self.num_known_users = tf.constant(num_known_users, tf.int64)
    self.tag_names = tf.constant(list(tag_names), tf.string)
    self._heads = model_heads(model)
    # A variable so that it is saved (constants live only inside functions).
    self.heads = tf.Variable(self._heads, dtype=tf.string, trainable=False,
                             name="heads")
    self._num_tags = len(tag_names) + 1  # + OOV bucket, as the tag head
    # The Transform graph takes image-major rows (one image, its reviews);
    # every request is one review: parsed with the one-review spec and
    # reshaped to the graph's raw spec (transform.per_review_inputs), its
    # outputs flattened back to one row per request
    # (transform.flatten_reviews). Eval examples (TFMA) are image-major.
    self._tft_raw_spec = tft_output.raw_feature_spec()
    one = transform_lib.review_row_spec()
    self._eval_spec = transform_lib.image_major_spec(self._tft_raw_spec)
    self._raw_spec = {k: one[k] for k in SERVING_RAW_KEYS
                      if k in self._tft_raw_spec}
    # Optional features default to "" (review "" = review-free; image_id ""
    # = unknown image, scored through its OOV bucket). AVA's vote histogram
    # and tag are optional too: a photo outside AVA has neither (no votes =
    # all zeros; no tag = "", the tag vocabulary's OOV).
    for key in (F.REVIEW_KEY, F.IMAGE_ID_KEY, F.TAG_KEY):
      if key in self._raw_spec:
        self._raw_spec[key] = tf.io.FixedLenFeature([], tf.string,
                                                    default_value="")
    if F.VOTES_KEY in self._raw_spec:
      self._raw_spec[F.VOTES_KEY] = tf.io.FixedLenFeature(
          [F.AVA_NUM_SCORES], tf.int64, default_value=[0] * F.AVA_NUM_SCORES)

  # -- core ---------------------------------------------------------------
  def _profile_tokens(self, profile_text: tf.Tensor) -> tf.Tensor:
    """[B] request profiles (one review per line) -> [B, profile_len] ids.

    Every non-empty line is tokenised by the Transform graph as a review
    feature (so vocabulary, case folding and OOV handling are the training
    ones); then, exactly like a stored profile, the first
    ``profile_max_reviews`` lines of ``max_review_len`` tokens are compacted.
    """
    cfg = self._cfg
    lines = tf.strings.split(profile_text, sep="\n")  # ragged [B, None]
    lines = tf.strings.strip(lines)
    lines = tf.ragged.boolean_mask(lines, tf.strings.length(lines) > 0)
    lines = lines[:, :cfg.profile_max_reviews]
    flat = lines.flat_values
    n = tf.shape(flat)[:1]
    transformed = self._transform({
        F.USER_KEY: tf.fill(n, ""), F.IMAGE_ID_KEY: tf.fill(n, ""),
        F.IMAGE_KEY: tf.fill(n, self._blank_image), F.REVIEW_KEY: flat})
    line_tokens = tf.cast(transformed[F.REVIEW_XF], tf.int64)
    rows = tf.RaggedTensor.from_row_splits(
        line_tokens, tf.cast(lines.row_splits, tf.int64)).to_tensor(
            default_value=F.PAD_TOKEN_ID,
            shape=[None, cfg.profile_max_reviews, cfg.max_review_len])
    return tf.cast(profiles_lib.compact_tokens(rows, cfg.profile_len),
                   tf.int64)

  def _calibrate(self, p: tf.Tensor, has_review: tf.Tensor) -> tf.Tensor:
    """Temperature scaling of the personal probability (per review path)."""
    temps = getattr(self, TEMPERATURE_ATTR)
    t = tf.where(has_review, temps[0], temps[1])
    eps = 1e-7
    q = tf.clip_by_value(p, eps, 1.0 - eps)
    scaled = tf.sigmoid((tf.math.log(q) - tf.math.log1p(-q)) / t)
    return tf.where(tf.equal(t, 1.0), p, scaled)

  def _score(self, raw: Dict[str, tf.Tensor], force_review_free: bool,
             profile_text: Optional[tf.Tensor] = None
             ) -> Dict[str, tf.Tensor]:
    return self._score_rows(self._transform(raw),
                            tf.reshape(raw[F.REVIEW_KEY], [-1]),
                            force_review_free, profile_text)

  def _score_rows(self, transformed: Dict[str, tf.Tensor],
                  review_text: tf.Tensor, force_review_free: bool,
                  profile_text: Optional[tf.Tensor] = None
                  ) -> Dict[str, tf.Tensor]:
    """Scores transformed rows, one per review; ``review_text`` [B] is each
    row's raw review ("" = review-free)."""
    cfg = self._cfg
    user = tf.cast(tf.reshape(transformed[F.USER_XF], [-1]), tf.int64)
    has_review = tf.greater(tf.strings.length(tf.strings.strip(review_text)),
                            0)
    if force_review_free:
      has_review = tf.zeros_like(has_review)
    profile = tf.gather(self.profile_tokens, user)
    if profile_text is not None:
      # A request profile replaces the stored one when no review is given.
      use_request_profile = tf.logical_and(
          tf.logical_not(has_review),
          tf.greater(tf.strings.length(tf.strings.strip(profile_text)), 0))
      profile = tf.where(use_request_profile[:, None],
                         self._profile_tokens(profile_text), profile)
    else:
      use_request_profile = tf.zeros_like(has_review)
    review = pad_review(tf.cast(transformed[F.REVIEW_XF], tf.int64),
                        cfg.profile_len)
    tokens = tf.where(has_review[:, None], review, profile)
    outputs = call_on_batch(self.model, select_model_inputs(
        self.model, model_inputs_from_transformed(transformed, tokens, cfg)))
    outputs = complete_outputs(outputs, self._num_tags)
    p_agnostic = tf.reshape(outputs[F.AGNOSTIC_OUTPUT], [-1])
    known = tf.less(user, self.num_known_users)
    personal_ok = tf.logical_or(known, tf.logical_and(
        use_request_profile, self.cold_user_profile_personal))
    if not {F.PERSONAL_OUTPUT, F.AGNOSTIC_OUTPUT} <= set(self._heads):
      personal_ok = tf.ones_like(known)  # no agnostic head to fall back on
    p_personal = tf.where(
        personal_ok,
        self._calibrate(tf.reshape(outputs[F.PERSONAL_OUTPUT], [-1]),
                        has_review),
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

  def _transform(self, values: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """One-review rows [B] -> the Transform graph's outputs, one row each."""
    n = tf.shape(values[F.IMAGE_KEY], out_type=tf.int64)[:1]
    transformed = self._call_tft.fn(
        transform_lib.per_review_inputs(values, self._tft_raw_spec))
    return transform_lib.flatten_reviews(transformed, tf.ones(n, tf.int64))

  def _transform_images(self, examples: tf.Tensor):
    """Image-major examples [B] -> (Transform outputs, ragged per review;
    the raw reviews, ragged [B, None])."""
    raw = tf.io.parse_example(examples, self._eval_spec)
    transformed = self._call_tft.fn(
        transform_lib.image_major_inputs(raw, self._tft_raw_spec))
    reviews = raw[F.REVIEW_KEY]
    reviews = (tf.RaggedTensor.from_sparse(reviews)
               if isinstance(reviews, tf.SparseTensor)
               else tf.RaggedTensor.from_tensor(tf.reshape(reviews, [-1, 1])))
    return transformed, reviews

  # -- signatures -----------------------------------------------------------
  # No autograph: the signatures branch only on Python values, and
  # converting their whole call tree (model, Transform layer) took about a
  # fifth of an export.
  @tf.function(input_signature=_EXAMPLES, autograph=False)
  def serve_examples(self, examples):
    return self._score(self._parse(examples), force_review_free=False)

  @tf.function(input_signature=_EXAMPLES, autograph=False)
  def serve_examples_review_free(self, examples):
    return self._score(self._parse(examples), force_review_free=True)

  @tf.function(autograph=False, input_signature=[
      tf.TensorSpec([None], tf.string, name=RAW_USER_INPUT),
      tf.TensorSpec([None], tf.string, name=RAW_IMAGE_INPUT),
      tf.TensorSpec([None], tf.string, name=RAW_REVIEW_INPUT),
      tf.TensorSpec([None], tf.string, name=RAW_PROFILE_INPUT),
  ])
  def serve_raw(self, user_id, image_bytes, review, profile):
    raw = {F.USER_KEY: user_id, F.IMAGE_KEY: image_bytes,
           F.REVIEW_KEY: review,
           F.IMAGE_ID_KEY: tf.fill(tf.shape(user_id), "")}
    return self._score(raw, force_review_free=False, profile_text=profile)

  @tf.function(input_signature=_EXAMPLES, autograph=False)
  def transform_features(self, examples):
    transformed, reviews = self._transform_images(examples)
    return padded_per_review(transformed, reviews.row_lengths())

  @tf.function(input_signature=_EXAMPLES, autograph=False)
  def evaluate_review_free(self, examples):
    transformed, reviews = self._transform_images(examples)
    per_image = reviews.row_lengths()
    rows = transform_lib.flatten_reviews(transformed, per_image)
    out = self._score_rows(rows, reviews.flat_values, force_review_free=True)
    return per_image_outputs(out, per_image)

  def signatures(self) -> Dict[str, tf.types.experimental.GenericFunction]:
    """The served signatures, as tf.functions with input signatures.

    Not concrete functions: ``tf.saved_model.save`` traces each function
    once more inside its save context whatever was traced before, so handing
    it the functions themselves traces each signature once, not twice.
    """
    return {
        SERVING_DEFAULT: self.serve_examples,
        SERVING_REVIEW_FREE: self.serve_examples_review_free,
        SERVING_RAW: self.serve_raw,
        TRANSFORM_FEATURES: self.transform_features,
        F.EVALUATE_REVIEW_FREE: self.evaluate_review_free,
    }


def padded_per_review(transformed: Dict[str, tf.Tensor],
                      per_image: tf.Tensor) -> Dict[str, tf.Tensor]:
  """Transform outputs of image-major examples, for TFMA: the review-level
  ones (ragged) padded to the batch's most reviews, [B, R] (or [B, R, L]),
  the image's as they are, and the weights: ``F.REVIEW_WEIGHT_KEY`` [B, R],
  1.0 on a held-out review (``F.HELD_OUT_KEY``; every review when the data
  marks none), 0.0 on a training review and on the padding;
  ``F.IMAGE_WEIGHT_KEY`` [B], 1.0 when the image has a held-out review.
  ``per_image``: reviews per example [B]."""
  out = {k: v.to_tensor() if isinstance(v, tf.RaggedTensor) else v
         for k, v in transformed.items()}
  weight = tf.sequence_mask(per_image, dtype=tf.float32)
  if F.HELD_OUT_KEY in transformed:
    # One value per review, so padded to the same [B, R] as the mask.
    weight = tf.cast(transformed[F.HELD_OUT_KEY].to_tensor(0), tf.float32)
  out[F.REVIEW_WEIGHT_KEY] = weight
  out[F.IMAGE_WEIGHT_KEY] = tf.reduce_max(
      tf.concat([weight, tf.zeros_like(weight[:, :1])], axis=1), axis=1)
  return out


def per_image_outputs(outputs: Dict[str, tf.Tensor], per_image: tf.Tensor
                      ) -> Dict[str, tf.Tensor]:
  """Scores of the reviews of image-major examples -> TFMA's predictions:
  ``p_personal`` per review padded [B, R] (0.0 on the padding, which
  ``F.REVIEW_WEIGHT_KEY`` weighs out), the image's ``p_agnostic`` [B] and
  ``tag_probs`` [B, T] (the same on each of its reviews: the mean over
  them; 0.0 for an example with no review)."""
  def ragged(x):
    return tf.RaggedTensor.from_row_lengths(x, per_image)

  n = tf.cast(tf.maximum(per_image, 1), tf.float32)
  return {
      F.PERSONAL_OUTPUT: ragged(outputs[F.PERSONAL_OUTPUT]).to_tensor(0.0),
      F.AGNOSTIC_OUTPUT: tf.reduce_sum(ragged(outputs[F.AGNOSTIC_OUTPUT]),
                                       axis=1) / n,
      F.TAG_OUTPUT: tf.reduce_sum(ragged(outputs[F.TAG_OUTPUT]), axis=1)
                    / n[:, None],
  }


def export_serving_model(model, tft_output, profile_tokens: np.ndarray,
                         cfg: ModelConfig, num_known_users: int,
                         tag_names: List[str], export_dir: str,
                         temperatures: Optional[Tuple[float, float]] = None
                         ) -> None:
  """Writes the hermetic SavedModel with all signatures to ``export_dir``.

  ``temperatures``: (review given, review-free) personal-head temperatures
  (``keras_model.calibration``); None exports 1.0 (no scaling).
  """
  module = CfanServingModule(model, tft_output, profile_tokens, cfg,
                             num_known_users, tag_names, temperatures)
  tf.saved_model.save(module, export_dir, signatures=module.signatures())


def set_cold_user_embedding(model, num_known_users: int,
                            mode: str = cfg_lib.COLD_USER_EMBEDDING) -> None:
  """Sets the OOV user rows of ``model``'s user embedding before export.

  The OOV bucket never occurs in training (Transform's user vocabulary covers
  every training user), so its row is still the random initialisation.
  ``mode`` "mean": the mean of the known users' rows (an average user);
  "trained": left as it is.
  """
  if mode == "trained":
    return
  if mode != "mean":
    raise ValueError(f"cold user embedding mode must be 'mean' or 'trained', "
                     f"got {mode!r}")
  if USER_EMBEDDING_LAYER not in {layer.name for layer in model.layers}:
    return  # a variant without gamma_u (BPR/VBPR factors, image-only)
  layer = model.get_layer(USER_EMBEDDING_LAYER)
  table = layer.embeddings
  values = np.array(table.numpy())
  if 0 < num_known_users < values.shape[0]:
    values[num_known_users:] = values[:num_known_users].mean(axis=0)
    table.assign(values)


def load_serving_model(path: str):
  """Loads an exported model (registers tensorflow-text ops first)."""
  import tensorflow_text  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  return tf.saved_model.load(path)

"""TFX Transform: ``preprocessing_fn`` (referenced by dotted path).

Inputs are the labelled tf.Examples of :mod:`preprocessing.build_examples`,
image-major: one image per example with one or more of its reviews (the
review-level features hold one value per review). Outputs are the ``_xf``
features of :mod:`preprocessing.features`, image-major too: the
review-level ones (``features.REVIEW_LEVEL_XF``) ragged, one value per
review, the image's once per example, so each photo is decoded, resized and
stored once per example, not once per review:

* ``review_xf``: review lowercased (Unicode case folding) and split into word
  and punctuation tokens with tensorflow-text, mapped to ids with a
  vocabulary (top-k words + 1 OOV bucket) of the *training* reviews only
  (``tft.vocabulary`` over them, ``tft.apply_vocabulary`` to all), shifted
  by one so that 0 is padding, padded/truncated to ``max_review_len``.
* ``user_id_xf`` / ``image_id_xf`` / ``tag_xf``: vocabulary indices with one
  OOV bucket (the last index), so unseen users/images still score; the
  users' vocabulary is that of the training reviews.
* ``held_out``: passed through, one value per review: the Trainer reads the
  reviews marked 0, the Evaluator scores those marked 1.
* ``image_xf``: the photo decoded once per distinct photo of a batch
  (``resized_jpegs``; JPEG/PNG/GIF/BMP, forced to 3 channels:
  grayscale and CMYK become RGB), resized to ``image_size`` x ``image_size``
  and **re-encoded as JPEG** — decoded pixels per review would be ~12 kB
  (uint8) / ~98 kB (as int64 in a tf.Example) at 64 px and 8x that at 320 px;
  the JPEG is ~2 kB / ~30 kB (see BUILD.md for the measured figures). The
  Trainer and the serving signatures decode it (``decode_image_xf``).
* labels (``rating`` per review, ``agnostic_rating``) pass through unchanged.

The same graph runs inside the exported model (TFT layer), so serving sees
exactly the training-time tokenisation, vocabularies and resizing.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import tensorflow as tf
import tensorflow_text as tf_text  # noqa: F401  (registers text ops)
import tensorflow_transform as tft

from preprocessing import config as cfg_lib
from preprocessing import features as F
from preprocessing import rating

# Whitespace separates tokens; every other non-word character (punctuation,
# emoji) is a token of its own; apostrophes stay inside words ("isn't").
# RE2's \w is ASCII-only, so Unicode letters, marks and digits are added
# explicitly ("très" stays one token instead of "tr", "è", "s").
_DELIM = r"\s+|[^\w\pL\pM\pN'\s]"
_KEEP_DELIM = r"[^\w\pL\pM\pN'\s]"
_APOSTROPHES_RE = "[" + rating.APOSTROPHES + "]"


def _dense_1d(x: tf.Tensor | tf.SparseTensor, default: Any) -> tf.Tensor:
  """[B] tensor from a [B], [B, 1] dense or [B, 1] sparse input."""
  if isinstance(x, tf.SparseTensor):
    x = tf.sparse.to_dense(
        tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]),
        default_value=default)
  if x.shape.rank == 2:
    x = tf.squeeze(x, axis=1)
  return x


def _per_review(x: tf.Tensor | tf.SparseTensor | tf.RaggedTensor
                ) -> tf.RaggedTensor:
  """Ragged [B, None]: a review-level feature's values, one per review.

  Image-major rows hold several reviews (a VarLen feature: sparse [B, R]);
  per-review rows and serving requests hold one (dense [B] or [B, 1], or
  sparse with one value per row).
  """
  if isinstance(x, tf.RaggedTensor):
    return x
  if isinstance(x, tf.SparseTensor):
    return tf.RaggedTensor.from_sparse(x)
  if x.shape.rank == 1:
    x = x[:, None]
  return tf.RaggedTensor.from_tensor(x)


def training_values(x: tf.RaggedTensor, held_out: Optional[tf.Tensor]
                    ) -> tf.RaggedTensor:
  """The values of ``x`` (ragged [B, None, ...]) of training reviews only.

  ``held_out``: the reviews' features.HELD_OUT_KEY, shaped like ``x``'s
  first two dimensions (ragged [B, None], or [N] for x [N, None]); None
  when the data has no held-out reviews (every review trains).
  """
  if held_out is None:
    return x
  return tf.ragged.boolean_mask(x, tf.equal(held_out, 0))


def tokenize_reviews(text: tf.Tensor) -> tf.RaggedTensor:
  """[B] strings -> ragged [B, None] lowercase tokens (tensorflow-text)."""
  # "isn\u2019t" -> "isn't", as ``rating.clean_review_text`` does for stored
  # reviews, so serving-time reviews tokenise like the training ones (before
  # case folding, whose NFKC step would turn "\u00b4" into a space).
  text = tf.strings.regex_replace(text, _APOSTROPHES_RE, "'")
  folded = tf_text.case_fold_utf8(text)
  return tf_text.regex_split(folded, delim_regex_pattern=_DELIM,
                             keep_delim_regex_pattern=_KEEP_DELIM)


def decode_and_resize(image_bytes: tf.Tensor, size: int) -> tf.Tensor:
  """[B] encoded images -> [B, size, size, 3] uint8.

  Undecodable bytes raise at run time (the Beam job already set such images
  aside); serving callers validate first (see keras_model.signatures).
  """

  def one(data: tf.Tensor) -> tf.Tensor:
    img = tf.io.decode_image(data, channels=3, expand_animations=False)
    img = tf.image.resize(img, [size, size], method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(img), 0, 255), tf.uint8)

  return tf.map_fn(one, image_bytes,
                   fn_output_signature=tf.TensorSpec([size, size, 3],
                                                     tf.uint8))


def flatten_reviews(batch: Mapping[str, tf.Tensor],
                    per_row: tf.Tensor) -> Dict[str, tf.Tensor]:
  """Image-major transformed records -> one row per review.

  Args:
    batch: parsed records; the review-level features
      (``features.REVIEW_LEVEL_XF``) ragged [B, None] or [B, None, L], the
      image's features [B, ...].
    per_row: int64 [B], how many reviews each record holds.

  Returns:
    {feature: [N, ...]} with N = sum(per_row): each review's own values and
    its image's values repeated.
  """
  out: Dict[str, tf.Tensor] = {}
  for k, v in batch.items():
    if k in F.REVIEW_LEVEL_XF:
      values = v.values
      out[k] = values.to_tensor() if isinstance(
          values, tf.RaggedTensor) else values
    else:
      out[k] = tf.repeat(v, per_row, axis=0)
  return out


def per_review_inputs(values: Dict[str, tf.Tensor],
                      raw_spec: Dict[str, Any]) -> Dict[str, tf.Tensor]:
  """One-review rows -> the raw inputs the Transform graph takes.

  ``values``: {raw feature: [B] (or [B, 10] votes)}, one review per row (a
  serving request, an eval example). ``raw_spec``: the Transform graph's raw
  feature spec; a review-level feature there may be VarLen (sparse [B, R]),
  ragged, or fixed-length [1] (a schema inferred from single-review data),
  and each value is shaped as its spec says, with one review per row.
  """
  out = {}
  for k, v in values.items():
    spec = raw_spec.get(k)
    if isinstance(spec, tf.io.VarLenFeature):
      n = tf.shape(v, out_type=tf.int64)[0]
      rows = tf.range(n)
      out[k] = tf.SparseTensor(tf.stack([rows, tf.zeros_like(rows)], 1), v,
                               tf.stack([n, tf.constant(1, tf.int64)]))
    elif isinstance(spec, tf.io.RaggedFeature):
      out[k] = tf.RaggedTensor.from_tensor(v[:, None])
    elif (isinstance(spec, tf.io.FixedLenFeature) and spec.shape
          and list(spec.shape) == [1]):
      out[k] = tf.reshape(v, [-1, 1])
    else:
      out[k] = v
  return out


def image_major_inputs(parsed: Mapping[str, Any],
                       raw_spec: Mapping[str, Any]) -> Dict[str, Any]:
  """Parsed image-major examples -> the raw inputs the Transform graph takes.

  ``parsed``: ``tf.io.parse_example`` with the review-level features as
  VarLen (sparse [B, R]); ``raw_spec``: the Transform graph's raw feature
  spec. A review-level feature the graph takes ragged becomes ragged; one
  it takes fixed-length [1] (a schema inferred from single-review data)
  becomes dense [B, 1] and fails at run time on an example with more than
  one review.
  """
  out: Dict[str, Any] = {}
  for k, v in parsed.items():
    spec = raw_spec.get(k)
    if isinstance(v, tf.SparseTensor):
      if isinstance(spec, tf.io.RaggedFeature):
        v = tf.RaggedTensor.from_sparse(v)
      elif isinstance(spec, tf.io.FixedLenFeature):
        v = tf.ensure_shape(tf.sparse.to_dense(v), [None] + list(spec.shape))
    out[k] = v
  return out


def encode_images(pixels: tf.Tensor, quality: int) -> tf.Tensor:
  return tf.map_fn(lambda im: tf.io.encode_jpeg(im, quality=quality),
                   pixels, fn_output_signature=tf.TensorSpec([], tf.string))


def resized_jpegs(image_bytes: tf.Tensor, size: int, quality: int
                  ) -> tf.Tensor:
  """[B] encoded photos -> [B] resized JPEGs, one decode per distinct photo.

  build-examples writes an image's reviews next to each other and stores
  the photo once per image (identical bytes on each review), so a Transform
  batch holds each photo several times: it is decoded, resized and
  re-encoded once per batch and the result fanned out to its rows.
  """
  distinct, row_of = tf.unique(image_bytes)
  return tf.gather(encode_images(decode_and_resize(distinct, size), quality),
                   row_of)


def decode_image_xf(image_xf: tf.Tensor, size: int) -> tf.Tensor:
  """``image_xf`` JPEG bytes [B] -> float32 [B, size, size, 3] in 0..255.

  The element shape is static so that an empty batch (B = 0) gives an empty
  [0, size, size, 3] tensor instead of failing to stack an empty list.
  """
  pixels = tf.map_fn(
      lambda b: tf.reshape(tf.io.decode_jpeg(b, channels=3), [size, size, 3]),
      image_xf, fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))
  return tf.cast(pixels, tf.float32)


def vote_shares(votes: tf.Tensor) -> tf.Tensor:
  """float32 [B, 10] share of each score in an AVA vote histogram.

  An image without votes (all counts 0) gets all zeros, which the model
  reads as "votes unknown".
  """
  v = tf.cast(tf.reshape(votes, [-1, F.AVA_NUM_SCORES]), tf.float32)
  return tf.math.divide_no_nan(v, tf.reduce_sum(v, axis=-1, keepdims=True))


def preprocessing_fn(inputs: Dict[str, Any],
                     custom_config: Optional[Dict[str, Any]] = None
                     ) -> Dict[str, Any]:
  """tf.Transform callback; ``custom_config`` is a TransformConfig dict.

  Only the Transform part of the config comes in, so a Trainer-only change
  (learning rate, variant, ...) leaves Transform's inputs unchanged and a
  rerun takes it from the cache.
  """
  cfg = cfg_lib.TransformConfig.from_dict(custom_config) if custom_config \
      else cfg_lib.get_config(cfg_lib.DEFAULT_CONFIG).transform
  outputs: Dict[str, Any] = {}

  # Review-level features come out ragged, one value per review of the row
  # (features.REVIEW_LEVEL_XF); image-level ones once per row.
  # The vocabularies are learnt from training reviews only: a held-out
  # review (features.HELD_OUT_KEY) is mapped, never counted, so a user or a
  # word seen only in held-out reviews is out of vocabulary, as it would be
  # if those reviews were not stored here at all.
  held_out = (_per_review(inputs[F.HELD_OUT_KEY])
              if F.HELD_OUT_KEY in inputs else None)
  user = _per_review(inputs[F.USER_KEY])
  outputs[F.USER_XF] = tft.apply_vocabulary(
      user, tft.vocabulary(training_values(user, held_out),
                           vocab_filename=F.USER_VOCAB),
      num_oov_buckets=cfg.num_oov_buckets)
  image_id = _dense_1d(inputs[F.IMAGE_ID_KEY], b"")
  outputs[F.IMAGE_ID_XF] = tft.compute_and_apply_vocabulary(
      image_id, num_oov_buckets=cfg.num_oov_buckets,
      vocab_filename=F.IMAGE_VOCAB)

  review = _per_review(inputs[F.REVIEW_KEY])
  tokens = tokenize_reviews(review.flat_values)
  ids = tft.apply_vocabulary(
      tokens, tft.vocabulary(
          training_values(tokens, None if held_out is None
                          else held_out.flat_values),
          top_k=cfg.review_vocab_size, vocab_filename=F.REVIEW_VOCAB),
      num_oov_buckets=cfg.num_oov_buckets)
  ids = ids + 1  # 0 is reserved for padding
  per_row = review.row_lengths()
  outputs[F.REVIEW_XF] = tf.RaggedTensor.from_row_lengths(
      ids.to_tensor(default_value=F.PAD_TOKEN_ID,
                    shape=[None, cfg.max_review_len]), per_row)
  outputs[F.REVIEW_LEN_XF] = tf.RaggedTensor.from_row_lengths(
      tf.minimum(ids.row_lengths(), cfg.max_review_len), per_row)

  outputs[F.IMAGE_XF] = resized_jpegs(_dense_1d(inputs[F.IMAGE_KEY], b""),
                                      cfg.image_size, cfg.jpeg_quality)

  if F.TAG_KEY in inputs:
    outputs[F.TAG_XF] = tft.compute_and_apply_vocabulary(
        _dense_1d(inputs[F.TAG_KEY], b""), num_oov_buckets=1,
        vocab_filename=F.TAG_VOCAB)
  if F.VOTES_KEY in inputs:
    outputs[F.VOTES_XF] = vote_shares(inputs[F.VOTES_KEY])
  if F.LABEL_KEY in inputs:
    outputs[F.LABEL_KEY] = tf.cast(_per_review(inputs[F.LABEL_KEY]),
                                   tf.int64)
  if held_out is not None:  # the Trainer's and the Evaluator's row choice
    outputs[F.HELD_OUT_KEY] = tf.cast(held_out, tf.int64)
  if F.SAID_KEY in inputs:  # a training-time target (features.SAID_KEY)
    outputs[F.SAID_KEY] = tf.cast(_per_review(inputs[F.SAID_KEY]), tf.int64)
  if F.AGNOSTIC_LABEL_KEY in inputs:
    outputs[F.AGNOSTIC_LABEL_KEY] = tf.cast(
        _dense_1d(inputs[F.AGNOSTIC_LABEL_KEY], 0), tf.int64)
  return outputs


# ----------------------------------------------------------------------------
# Transform outside TFX (benchmarks, experiments): same preprocessing_fn
# ----------------------------------------------------------------------------
def review_row_spec() -> Dict[str, Any]:
  """tf.io spec of a labelled example with one review (eval split, serving).

  Every feature is a fixed-length one; the vote histogram has 10 values.
  """
  spec: Dict[str, Any] = {k: tf.io.FixedLenFeature([], tf.string)
                          for k in F.STRING_FEATURES}
  spec.update({k: tf.io.FixedLenFeature([], tf.int64)
               for k in F.INT_FEATURES})
  spec.update({k: tf.io.FixedLenFeature([], tf.float32)
               for k in F.FLOAT_FEATURES})
  spec.update({k: tf.io.FixedLenFeature([n], tf.int64)
               for k, n in F.VECTOR_INT_FEATURES.items()})
  return spec


def raw_feature_spec() -> Dict[str, Any]:
  """tf.io spec of the labelled examples, image-major (features.py contract).

  The review-level features (``features.REVIEW_LEVEL_KEYS``) hold one value
  per review of the example; the image's features are fixed-length.
  """
  spec = review_row_spec()
  for k in F.REVIEW_LEVEL_KEYS:
    spec[k] = tf.io.VarLenFeature(spec[k].dtype)
  spec[F.HELD_OUT_KEY] = tf.io.VarLenFeature(tf.int64)
  return spec


def image_major_spec(raw_spec: Mapping[str, Any]) -> Dict[str, Any]:
  """tf.io spec to parse image-major examples into the Transform graph's
  raw features (``raw_spec``, e.g. a schema's): the review-level ones (and
  ``features.REVIEW_LEVEL_EVAL_KEYS``) VarLen, whatever the schema says
  (see ``image_major_inputs``); the image's as ``raw_spec`` has them."""
  review_level = set(F.REVIEW_LEVEL_KEYS) | set(F.REVIEW_LEVEL_EVAL_KEYS)
  out: Dict[str, Any] = {}
  for k, v in raw_spec.items():
    if k in review_level or not isinstance(v, (tf.io.FixedLenFeature,
                                                tf.io.VarLenFeature)):
      out[k] = tf.io.VarLenFeature(v.dtype)
    else:
      out[k] = v
  return out


def run_transform(examples_pattern: str, out_dir: str,
                  cfg: cfg_lib.ModelConfig,
                  beam_args: Optional[list] = None) -> str:
  """Analyzes and transforms labelled TFRecords with ``preprocessing_fn``.

  Writes ``out_dir/transform_fn`` (a TFTransformOutput directory) and
  ``out_dir/transformed/part-*.gz``, replacing those of an earlier run, and
  returns ``out_dir``. The TFX Transform component does the same inside the
  pipeline; this entry point lets benchmarks time the stage on its own.
  """
  import functools  # pylint: disable=g-import-not-at-top
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  import tensorflow_transform.beam as tft_beam  # pylint: disable=g-import-not-at-top
  from tfx_bsl.coders import example_coder  # pylint: disable=g-import-not-at-top
  from tfx_bsl.public import tfxio  # pylint: disable=g-import-not-at-top
  from tensorflow_transform.tf_metadata import schema_utils  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top

  # A rerun replaces what an earlier run left (tf.Transform will not publish
  # over an existing transform_fn, and stale part files would be read back).
  for owned in ("transform_fn", "transformed", "tmp"):
    stale = os.path.join(out_dir, owned)
    if tf.io.gfile.exists(stale):
      tf.io.gfile.rmtree(stale)
  schema = schema_utils.schema_from_feature_spec(raw_feature_spec())
  source = tfxio.TFExampleRecord(file_pattern=examples_pattern, schema=schema)
  fn = functools.partial(preprocessing_fn,
                         custom_config=cfg.transform.to_dict())
  options = beam.options.pipeline_options.PipelineOptions(beam_args or [])
  with beam.Pipeline(options=options) as p:
    with tft_beam.Context(temp_dir=os.path.join(out_dir, "tmp")):
      raw = p | "Read" >> source.BeamSource()
      (transformed, transformed_meta), transform_fn = (
          (raw, source.TensorAdapterConfig())
          | "AnalyzeAndTransform" >> tft_beam.AnalyzeAndTransformDataset(
              fn, output_record_batches=True))
      # Arrow record batches encoded in C++, as the TFX Transform component
      # does: per-row Python dicts and ExampleProtoCoder cost about a third
      # of the stage's time at 100k reviews.
      encoder = example_coder.RecordBatchToExamplesEncoder(
          transformed_meta.schema)
      (transformed
       | "Encode" >> beam.FlatMap(lambda batch: encoder.encode(batch[0]))
       | "Write" >> beam.io.WriteToTFRecord(
           os.path.join(out_dir, "transformed", "part"),
           file_name_suffix=".gz"))
      _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(
          os.path.join(out_dir, "transform_fn"))
  return out_dir

"""The experiments' data: one Transform, read back through ML Metadata.

``prepare`` runs ``cfan build-examples`` (if the data changed) and the
pipeline's own ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator
-> Transform **once** (a partial run of ``tfx_pipeline.pipeline``, ML Metadata
in ``WORKDIR/metadata.sqlite``; a rerun on the same data is served from the
cache). The transform graph, the transformed examples and ExampleGen's raw
examples are found through ML Metadata (``tfx_pipeline.metadata``).

``load_splits`` holds every transformed row in memory as numpy columns (a
compact JPEG, the review tokens and the indices per row) plus the image's
AVA mean vote (``F.MEAN_SCORE_KEY``), which Transform does not pass on: it
is looked up by the image's transformed JPEG in ExampleGen's raw examples,
so the floors (``evaluation.metrics.floor_scores``) can score every row,
including rows of images Transform's vocabulary has never seen.

The in-memory re-splits of the protocols (``cold_image_split``,
``subsample_per_image``) work on these columns.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from preprocessing import keras_env as _keras_env  # noqa: F401
from preprocessing import config as cfg_lib
from preprocessing import features as F

PIPELINE_NAME = "cfan-experiment"
COLD_BUCKETS = 1000
# Transformed columns the experiments keep per row.
COLUMNS = (F.USER_XF, F.IMAGE_ID_XF, F.REVIEW_XF, F.IMAGE_XF, F.TAG_XF,
           F.VOTES_XF, F.LABEL_KEY, F.AGNOSTIC_LABEL_KEY, F.SAID_KEY)
# What a training image with votes and no review has of COLUMNS.
IMAGE_COLUMNS = tuple(c for c in COLUMNS if c not in F.REVIEW_LEVEL_XF)
Columns = Dict[str, np.ndarray]


# ----------------------------------------------------------------------------
# One Transform, through the pipeline
# ----------------------------------------------------------------------------
def _pipeline_outputs(workdir: str) -> Dict[str, str]:
  """URIs of Transform's outputs and ExampleGen's examples (ML Metadata)."""
  from tfx_pipeline import metadata  # pylint: disable=g-import-not-at-top
  uris = metadata.transform_outputs(workdir)
  uris.update(metadata.latest_outputs(workdir, "ExampleGen", ("examples",)))
  return uris


def prepare(data_dir: str, workdir: str, cfg, *,
            min_tag_images: Optional[int],
            min_tag_share: Optional[float] = None,
            beam_args: Sequence[str] = (), log=print) -> Dict[str, Any]:
  """build-examples (if needed) + the pipeline up to Transform, once.

  Args:
    data_dir: the AVA-review directory.
    workdir: where examples, the partial pipeline run and its ML Metadata
      go (reused by a rerun).
    cfg: the ModelConfig Transform runs with.
    min_tag_images, min_tag_share: the major-tag rule of build-examples
      (an absolute count; None: the share of the images, by default
      ``features.DEFAULT_MIN_TAG_SHARE``).
    beam_args: Beam flags (default: DirectRunner settings by data size).
    log: where progress lines go.

  Returns:
    {"transform_graph", "transformed_examples", "examples": URIs,
    "examples_summary": build-examples' summary}.
  """
  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx
  from tfx.orchestration import pipeline as tfx_pipeline_lib
  from preprocessing import build_examples
  from tfx_pipeline import metadata
  from tfx_pipeline import pipeline as pipeline_lib
  from tfx_pipeline import prepare as prepare_lib
  # pylint: enable=g-import-not-at-top
  os.makedirs(workdir, exist_ok=True)
  examples_root = os.path.join(workdir, "examples")
  summary = prepare_lib.ensure_examples(
      data_dir, examples_root, min_tag_images=min_tag_images,
      min_tag_share=min_tag_share, beam_args=beam_args, log=log)
  beam = list(beam_args) or pipeline_lib.default_beam_args(
      summary["reviews"]["kept"], os.cpu_count() or 1)
  pipe = pipeline_lib.create_pipeline(
      pipeline_name=PIPELINE_NAME, pipeline_root=os.path.join(workdir, "tfx"),
      examples_dir=os.path.join(examples_root, build_examples.EXAMPLES_SUBDIR),
      serving_model_dir=os.path.join(workdir, "serving"), model_config=cfg,
      beam_pipeline_args=beam,
      metadata_connection_config=metadata.connection_config(workdir))
  log("[exp] TFX pipeline up to Transform (ExampleGen -> StatisticsGen -> "
      "SchemaGen -> Transform)")
  tfx.orchestration.LocalDagRunner().run(
      pipe, run_options=tfx_pipeline_lib.RunOptions(to_nodes=["Transform"]))
  uris: Dict[str, Any] = _pipeline_outputs(workdir)
  uris["examples_summary"] = summary
  return uris


# ----------------------------------------------------------------------------
# Rows in memory
# ----------------------------------------------------------------------------
def _mean_votes_by_image(examples_uri: str, cfg) -> Dict[bytes, float]:
  """{transformed JPEG bytes: AVA mean vote} of every image in the examples.

  The transformed JPEG is recomputed from the raw example's image with
  Transform's own resize and encode functions (deterministic), once per
  image id.
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from preprocessing import transform as transform_lib
  # pylint: enable=g-import-not-at-top
  keys = (F.IMAGE_ID_KEY, F.IMAGE_KEY, F.MEAN_SCORE_KEY)
  spec = {k: transform_lib.review_row_spec()[k] for k in keys}
  files = sorted(tf.io.gfile.glob(os.path.join(examples_uri, "Split-*", "*")))
  if not files:
    raise FileNotFoundError(f"no examples under {examples_uri}/Split-*")
  ds = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(256).map(
      lambda x: tf.io.parse_example(x, spec))
  seen = set()
  table: Dict[bytes, float] = {}
  for batch in ds:
    ids = batch[F.IMAGE_ID_KEY].numpy()
    _, first = np.unique(ids, return_index=True)
    first = np.array([i for i in first if ids[i] not in seen], np.int64)
    if not len(first):
      continue
    seen.update(ids[first].tolist())
    encoded = transform_lib.encode_images(transform_lib.decode_and_resize(
        tf.gather(batch[F.IMAGE_KEY], first), cfg.image_size),
                                          cfg.jpeg_quality).numpy()
    votes = batch[F.MEAN_SCORE_KEY].numpy()[first]
    table.update(zip(encoded.tolist(), votes.astype(np.float64).tolist()))
  return table


def load_splits(uris: Dict[str, str], tft_output, cfg
                ) -> Tuple[Columns, Columns]:
  """(train, eval) rows of the pipeline's split as numpy columns.

  Args:
    uris: ``prepare``'s URIs.
    tft_output: the Transform output.
    cfg: the ModelConfig Transform ran with (image size, JPEG quality).

  Returns:
    Two dicts of COLUMNS + MEAN_SCORE_KEY, one row per example (file order).

  Raises:
    ValueError: a row's image is not among ExampleGen's examples (the
      Transform output and the examples disagree).
  """
  from keras_model import inputs  # pylint: disable=g-import-not-at-top
  votes = _mean_votes_by_image(uris["examples"], cfg)
  out = []
  # Training rows: the training reviews (training split only); eval rows:
  # the held-out reviews of both splits (warm images' held-out reviews sit
  # in their training example, cold images in the eval split).
  train, both = (
      [os.path.join(uris["transformed_examples"], f"Split-{s}", "*")
       for s in splits] for splits in ((F.TRAIN_SPLIT,), F.SPLITS))
  for held_out, path in ((False, train), (True, both)):
    cols = inputs.Rows.from_files(path, tft_output,
                                  held_out=held_out).collect(COLUMNS)
    found = np.array([votes.get(x, np.nan) for x in cols[F.IMAGE_XF].tolist()],
                     np.float64)
    missing = int(np.isnan(found).sum())
    if missing:
      raise ValueError(f"{path}: {missing} of {len(found)} rows have an image "
                       f"that is not in the examples of {uris['examples']}")
    cols[F.MEAN_SCORE_KEY] = found
    out.append(cols)
  return out[0], out[1]


def vote_only_images(uris: Dict[str, str], tft_output) -> Columns:
  """IMAGE_COLUMNS of the training images with votes and no review (one row
  per image), for ``inputs.Rows.from_columns(train, vote_only=...)``: the
  pipeline's Trainer reads them from the same files."""
  from keras_model import inputs  # pylint: disable=g-import-not-at-top
  path = os.path.join(uris["transformed_examples"], "Split-train")
  return inputs.Rows.from_files([os.path.join(path, "*")],
                                tft_output).vote_only_images(IMAGE_COLUMNS)


def eval_row_ids(uris: Dict[str, str], tft_output, cfg, test: Columns
                 ) -> Dict[str, np.ndarray]:
  """Raw user id, image id and ``F.SLICE_KEY`` of every transformed eval row.

  Transform keeps neither the raw ids nor the slice, so each transformed
  eval row is matched to a raw eval example of ExampleGen by (transformed
  JPEG, user index, label); users outside Transform's vocabulary (the OOV
  index) match any raw user outside it.

  Args:
    uris: ``prepare``'s URIs.
    tft_output: the Transform output (the user vocabulary).
    cfg: the ModelConfig Transform ran with (image size, JPEG quality).
    test: the eval columns of ``load_splits`` (the rows to name).

  Returns:
    {F.USER_KEY, F.IMAGE_ID_KEY, F.SLICE_KEY: str arrays, one per row}.

  Raises:
    ValueError: a transformed eval row has no raw eval example left to match.
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from preprocessing import transform as transform_lib
  # pylint: enable=g-import-not-at-top
  vocab = {u: i for i, u in enumerate(
      tft_output.vocabulary_by_name(F.USER_VOCAB))}
  oov = len(vocab)
  # Examples are image-major, and the held-out reviews are in both splits
  # (warm images' in their training example, marked; cold images' in eval).
  raw_spec = transform_lib.raw_feature_spec()
  spec = {k: raw_spec[k] for k in (F.USER_KEY, F.IMAGE_ID_KEY, F.IMAGE_KEY,
                                   F.LABEL_KEY, F.HELD_OUT_KEY)}
  spec[F.SLICE_KEY] = tf.io.FixedLenFeature([], tf.string)
  pattern = os.path.join(uris["examples"], "Split-*", "*")
  files = sorted(tf.io.gfile.glob(pattern))
  if not files:
    raise FileNotFoundError(f"no examples match {pattern}")
  ds = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(256).map(
      lambda x: tf.io.parse_example(x, spec))
  jpeg: Dict[bytes, bytes] = {}
  pending: Dict[Tuple[bytes, int, int], List[Tuple[str, str, str]]] = {}
  for batch in ds:
    ids = batch[F.IMAGE_ID_KEY].numpy()
    new = [i for i in np.unique(ids, return_index=True)[1]
           if ids[i] not in jpeg]
    if new:
      encoded = transform_lib.encode_images(transform_lib.decode_and_resize(
          tf.gather(batch[F.IMAGE_KEY], np.asarray(new, np.int64)),
          cfg.image_size), cfg.jpeg_quality).numpy()
      jpeg.update(zip(ids[new].tolist(), encoded.tolist()))
    # One entry per review: the image's id and slice repeated over them.
    per_image = tf.RaggedTensor.from_sparse(
        batch[F.LABEL_KEY]).row_lengths().numpy()
    for u, v, y, s, h in zip(batch[F.USER_KEY].values.numpy().tolist(),
                             np.repeat(ids, per_image).tolist(),
                             batch[F.LABEL_KEY].values.numpy().tolist(),
                             np.repeat(batch[F.SLICE_KEY].numpy(),
                                       per_image).tolist(),
                             batch[F.HELD_OUT_KEY].values.numpy().tolist()):
      if not h:  # a training review
        continue
      key = (jpeg[v], vocab.get(u, oov), int(y))
      pending.setdefault(key, []).append(
          (u.decode("utf-8"), v.decode("utf-8"), s.decode("utf-8")))
  named = []
  for row, (img, user, y) in enumerate(zip(
      test[F.IMAGE_XF].tolist(), test[F.USER_XF].tolist(),
      test[F.LABEL_KEY].tolist())):
    left = pending.get((img, min(int(user), oov), int(y)))
    if not left:
      raise ValueError(f"{pattern}: transformed eval row {row} (user index "
                       f"{user}, label {y}) matches no raw eval example")
    named.append(left.pop())
  cols = np.asarray(named, dtype=object).reshape(-1, 3)
  return {F.USER_KEY: cols[:, 0], F.IMAGE_ID_KEY: cols[:, 1],
          F.SLICE_KEY: cols[:, 2]}


def take(cols: Columns, mask_or_index: np.ndarray) -> Columns:
  """The rows of ``cols`` selected by a boolean mask or an index array."""
  return {k: v[mask_or_index] for k, v in cols.items()}


def concat(a: Columns, b: Columns) -> Columns:
  """The rows of ``a`` followed by those of ``b``."""
  return {k: np.concatenate([a[k], b[k]]) for k in a}


def num_rows(cols: Columns) -> int:
  return int(len(next(iter(cols.values())))) if cols else 0


def num_images(cols: Columns) -> int:
  """Distinct images (by transformed JPEG: cold rows share the OOV index)."""
  return int(len(np.unique(cols[F.IMAGE_XF])))


# ----------------------------------------------------------------------------
# Protocol splits
# ----------------------------------------------------------------------------
def image_bucket(image_index: int) -> int:
  """Stable bucket in [0, COLD_BUCKETS) of an image index (md5)."""
  digest = hashlib.md5(str(int(image_index)).encode()).hexdigest()
  return int(digest, 16) % COLD_BUCKETS


def cold_image_split(cols: Columns, num_image_ids: int,
                     fraction: float = cfg_lib.EVAL_FRACTION
                     ) -> Tuple[Columns, Columns]:
  """(train, test) with disjoint images; test images get the OOV index.

  An image is a test image iff image_bucket(index) < fraction * COLD_BUCKETS;
  rows already at the OOV index (num_image_ids - 1) are test rows.
  """
  images = cols[F.IMAGE_ID_XF].astype(np.int64)
  oov = num_image_ids - 1
  cut = int(round(fraction * COLD_BUCKETS))
  uniq = np.unique(images)
  test_images = {int(i) for i in uniq if i == oov or image_bucket(i) < cut}
  is_test = np.isin(images, np.array(sorted(test_images), np.int64))
  train, test = take(cols, ~is_test), take(cols, is_test)
  test[F.IMAGE_ID_XF] = np.full_like(test[F.IMAGE_ID_XF], oov)
  return train, test


def subsample_per_image(cols: Columns, max_reviews: int, seed: int
                        ) -> Columns:
  """At most ``max_reviews`` rows per image (seeded random choice)."""
  rng = np.random.default_rng(seed)
  order = rng.permutation(num_rows(cols))
  images = cols[F.IMAGE_ID_XF][order]
  keep_sorted = np.zeros(len(order), bool)
  seen: Dict[int, int] = {}
  for pos, img in enumerate(images.tolist()):
    n = seen.get(img, 0)
    if n < max_reviews:
      keep_sorted[pos] = True
      seen[img] = n + 1
  return take(cols, np.sort(order[keep_sorted]))


def mean_reviews_per_image(cols: Columns) -> float:
  n_img = len(np.unique(cols[F.IMAGE_ID_XF]))
  return float(num_rows(cols) / n_img) if n_img else 0.0


"""``cfan experiment``: the paper's comparison (Fig. 7, 8, 9), reproduced.

One data preparation, many models:

1. ``cfan build-examples`` and the pipeline's own ExampleGen -> StatisticsGen
   -> SchemaGen -> Transform run **once** (a partial run of
   ``tfx_pipeline.pipeline.create_pipeline`` up to Transform, ML Metadata in
   ``OUT/work/metadata.sqlite``; a rerun on the same data is served from the
   cache). The transform graph and the transformed examples are found
   through ML Metadata.
2. Every variant of ``keras_model.variants`` is trained in this process on
   the same transformed rows (held in memory: a compact JPEG, the review
   tokens and the indices per row), through ``keras_model.trainer``'s input
   code (``model_dataset``: own review, profile or leave-one-out profile).
3. Scores are the Keras heads (no temperature scaling, no serving fallback),
   completed like the export (``signatures.complete_outputs``).

Protocols
---------
``paper``
    ExampleGen's random 90/10 split of the reviews; the pair's own review is
    given to the model (the paper's set-up).
``review-free``
    The same split and the same trained models; the review is replaced by the
    user's profile (their training reviews), which is what a deployed system
    has. Models are trained once for both (``review_free_prob`` mixing).
``cold-image``
    All transformed rows re-split by image: an image is a test image iff
    ``md5(str(image index)) mod 1000 < 1000 * EVAL_FRACTION`` (rows whose
    image is already the OOV index go to the test side). Test images never
    occur in training and are scored through the OOV image index, like a new
    photo at serving. Review-free.
``reviews-per-image``
    Fig. 9: the random split's training rows subsampled to at most k reviews
    per image (a seeded random choice per image), for each k in
    ``--fig9-levels``; the full test split; both review modes.

Floors beside every number: ``majority`` (the training majority label),
``user_mean`` (the user's training positive rate as the score; the global
rate for a user without training rows) and ``ava_label`` (the image's AVA
user-agnostic label b_v as the score; available for AVA images only, never
for a new photo).

Fig. 7 (user-agnostic accuracy per tag) is computed per test image: the
agnostic head when a variant has one, otherwise the mean of its personal head
over the image's test reviews (labelled as such).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import resource
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from preprocessing import keras_env as _keras_env  # noqa: F401
from preprocessing import config as cfg_lib
from preprocessing import features as F
from tfx_pipeline import report as report_lib

PIPELINE_NAME = "cfan-experiment"
PROTOCOLS = ("paper", "review-free", "cold-image", "reviews-per-image")
DEFAULT_VARIANTS = ("bpr", "vbpr", "cfn-pure-2task", "cfn-1task",
                    "cfan-1task", "cfan-2task", "cfan-3task", "mtrl-cnn")
FIG8_VARIANTS = ("bpr", "vbpr", "cfn-1task", "cfan-1task", "cfan-2task",
                 "cfan-3task")
FIG7_VARIANTS = ("cfn-pure-2task", "mtrl-cnn", "cfan-3task")
FIG9_VARIANTS = ("cfn-1task", "cfan-1task")
FIG9_LEVELS = (1, 2, 4, 8)
# Training steps per model when --train-steps is not given: the default
# variants x all protocols (24 models, 20 with the CNN) then need about 20
# min of user CPU on the demo data, so they finish on 2 CPU cores in < 30 min
# (docs/experiments.md); the pipeline's cpu config trains 1500.
DEFAULT_TRAIN_STEPS = 500
COLD_BUCKETS = 1000
RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
FIG7_FILE = "fig7_agnostic_per_tag.png"
FIG8_FILE = "fig8_methods.png"
FIG9_FILE = "fig9_reviews_per_image.png"
COLUMNS = (F.USER_XF, F.IMAGE_ID_XF, F.REVIEW_XF, F.IMAGE_XF, F.TAG_XF,
           F.LABEL_KEY, F.AGNOSTIC_LABEL_KEY)
Columns = Dict[str, np.ndarray]


# ----------------------------------------------------------------------------
# Data: one Transform, read back through ML Metadata
# ----------------------------------------------------------------------------
def transform_outputs(workdir: str) -> Dict[str, str]:
  """URIs of the latest Transform execution's outputs, from ML Metadata.

  Returns {"transform_graph": uri, "transformed_examples": uri}.
  """
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import local_runner  # pylint: disable=g-import-not-at-top
  store = metadata_store.MetadataStore(local_runner.metadata_config(workdir))
  type_names = {t.id: t.name for t in store.get_execution_types()}
  done = (metadata_store_pb2.Execution.COMPLETE,
          metadata_store_pb2.Execution.CACHED)
  runs = [e for e in store.get_executions()
          if type_names.get(e.type_id, "").endswith("Transform")
          and e.last_known_state in done]
  if not runs:
    raise FileNotFoundError(f"no completed Transform execution in {workdir}")
  latest = max(runs, key=lambda e: (e.create_time_since_epoch, e.id))
  wanted = {"transform_graph", "transformed_examples"}
  ids: Dict[int, str] = {}
  for ev in store.get_events_by_execution_ids([latest.id]):
    if ev.type != metadata_store_pb2.Event.OUTPUT or not ev.path.steps:
      continue
    key = ev.path.steps[0].key
    if key in wanted:
      ids[ev.artifact_id] = key
  out = {ids[a.id]: a.uri for a in store.get_artifacts_by_id(list(ids))}
  missing = wanted - set(out)
  if missing:
    raise FileNotFoundError(f"Transform outputs {sorted(missing)} not in "
                            f"ML Metadata of {workdir}")
  return out


def prepare(data_dir: str, workdir: str, cfg, *, min_tag_images: int,
            beam_args: Sequence[str] = (), log=print) -> Dict[str, Any]:
  """build-examples (if needed) + the pipeline up to Transform, once."""
  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx
  from tfx.orchestration import pipeline as tfx_pipeline_lib
  from preprocessing import build_examples
  from tfx_pipeline import local_runner
  from tfx_pipeline import pipeline as pipeline_lib
  # pylint: enable=g-import-not-at-top
  os.makedirs(workdir, exist_ok=True)
  examples_root = os.path.join(workdir, "examples")
  summary = local_runner.ensure_examples(
      data_dir, examples_root, min_tag_images=min_tag_images,
      beam_args=beam_args, log=log)
  kept = summary["reviews"]["kept"]
  if kept == 0:
    raise ValueError(f"{data_dir}: no review was kept; nothing to train on")
  beam = list(beam_args) or pipeline_lib.default_beam_args(
      kept, os.cpu_count() or 1)
  pipe = pipeline_lib.create_pipeline(
      pipeline_name=PIPELINE_NAME, pipeline_root=os.path.join(workdir, "tfx"),
      examples_dir=os.path.join(examples_root, build_examples.EXAMPLES_SUBDIR),
      serving_model_dir=os.path.join(workdir, "serving"), model_config=cfg,
      beam_pipeline_args=beam,
      metadata_connection_config=local_runner.metadata_config(workdir))
  log("[exp] TFX pipeline up to Transform (ExampleGen -> StatisticsGen -> "
      "SchemaGen -> Transform)")
  tfx.orchestration.LocalDagRunner().run(
      pipe, run_options=tfx_pipeline_lib.RunOptions(to_nodes=["Transform"]))
  uris = transform_outputs(workdir)
  uris["examples_summary"] = summary
  return uris


def load_split(examples_uri: str, split: str, tft_output) -> Columns:
  """Every transformed row of one split as numpy columns (file order)."""
  from keras_model import trainer  # pylint: disable=g-import-not-at-top
  from keras_model import variants  # pylint: disable=g-import-not-at-top
  ds = trainer.transformed_dataset(
      [os.path.join(examples_uri, f"Split-{split}", "*")], tft_output, 1024,
      shuffle=False, seed=0, columns=list(COLUMNS))
  return variants.collect_columns(ds, COLUMNS)


def take(cols: Columns, mask_or_index: np.ndarray) -> Columns:
  return {k: v[mask_or_index] for k, v in cols.items()}


def concat(a: Columns, b: Columns) -> Columns:
  return {k: np.concatenate([a[k], b[k]]) for k in a}


def num_rows(cols: Columns) -> int:
  return int(len(cols[F.LABEL_KEY]))


def image_bucket(image_index: int) -> int:
  """Stable bucket in [0, COLD_BUCKETS) of an image index (md5)."""
  digest = hashlib.md5(str(int(image_index)).encode()).hexdigest()
  return int(digest, 16) % COLD_BUCKETS


def cold_image_split(cols: Columns, num_images: int,
                     fraction: float = cfg_lib.EVAL_FRACTION
                     ) -> Tuple[Columns, Columns]:
  """(train, test) with disjoint images; test images get the OOV index.

  An image is a test image iff image_bucket(index) < fraction * COLD_BUCKETS;
  rows already at the OOV index (num_images - 1) are test rows.
  """
  images = cols[F.IMAGE_ID_XF].astype(np.int64)
  oov = num_images - 1
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


# ----------------------------------------------------------------------------
# Training one variant on in-memory rows
# ----------------------------------------------------------------------------
def rows_dataset(cols: Columns, batch_size: int, *, shuffle: bool, seed: int):
  """Batched dicts shaped like ``trainer.transformed_dataset``'s batches."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  ds = tf.data.Dataset.from_tensor_slices(
      {k: cols[k] for k in COLUMNS if k in cols})
  if shuffle:
    ds = ds.shuffle(num_rows(cols), seed=seed, reshuffle_each_iteration=True)
  return ds.batch(batch_size)


class Trained:
  """A trained variant and what scoring it needs."""

  def __init__(self, variant, model, eval_model, lookup, cfg, seconds: float,
               steps: int, threshold: Optional[float]):
    self.variant = variant
    self.model = model
    self.eval_model = eval_model
    self.lookup = lookup
    self.cfg = cfg
    self.seconds = seconds
    self.steps = steps
    self.threshold = threshold


def train_variant(name: str, train: Columns, cfg, vocab, *, steps: int,
                  seed: int) -> Trained:
  """Trains ``variants.VARIANTS[name]`` on ``train`` for ``steps`` steps."""
  # pylint: disable=g-import-not-at-top
  import keras
  from keras_model import profiles as profiles_lib
  from keras_model import trainer
  from keras_model import variants
  # pylint: enable=g-import-not-at-top
  t0 = time.time()
  variant = variants.get_variant(name)
  cfg = cfg.replace(variant=name, train_steps=steps, seed=seed)
  keras.utils.set_random_seed(cfg.seed)
  table = profiles_lib.build_profile_table(
      train[F.USER_XF], train[F.IMAGE_ID_XF], train[F.REVIEW_XF],
      num_users=vocab.num_users, max_reviews=cfg.profile_max_reviews,
      review_len=cfg.max_review_len, profile_len=cfg.profile_len)
  lookup = {"tokens": table.tokens,
            "loo": profiles_lib.TrainingProfiles(table, vocab.num_images,
                                                 cfg.profile_len)}
  model = variant(cfg, num_users=vocab.num_users,
                  num_images=vocab.num_images, num_tags=vocab.num_tags,
                  review_vocab_size=vocab.review_vocab_size)
  train_model = variants.compile_variant(variant, model, cfg)
  eval_model = variants.evaluation_model(variant, model, train_model, cfg)
  if variant.pairwise:
    ds = variants.pairwise_dataset(
        train, cfg, visual=variant.uses_pixels, num_images=vocab.num_images,
        steps=steps, seed=seed)
  else:
    ds = variants.fit_dataset(train_model, trainer.model_dataset(
        rows_dataset(train, cfg.batch_size, shuffle=True, seed=seed).repeat(),
        cfg, lookup, mode=variant.train_mode, seed=seed))
  steps_per_epoch = max(1, min(steps, math.ceil(num_rows(train) /
                                                cfg.batch_size)))
  epochs = max(1, math.ceil(steps / steps_per_epoch))
  train_model.fit(ds, steps_per_epoch=steps_per_epoch, epochs=epochs,
                  verbose=0)
  threshold = None
  if variant.pairwise:
    threshold = variants.fit_threshold(model, trainer.model_dataset(
        rows_dataset(train, 256, shuffle=False, seed=seed), cfg, lookup,
        mode="given"))
  return Trained(variant, model, eval_model, lookup, cfg, time.time() - t0,
                 steps_per_epoch * epochs, threshold)


def score(trained: Trained, test: Columns, mode: str, num_tags: int
          ) -> Dict[str, np.ndarray]:
  """p_personal, p_agnostic [N] of the test rows; mode "given" or "free"."""
  # pylint: disable=g-import-not-at-top
  from keras_model import signatures
  from keras_model import trainer
  from keras_model import variants
  # pylint: enable=g-import-not-at-top
  batches = trainer.model_dataset(
      rows_dataset(test, 256, shuffle=False, seed=0), trained.cfg,
      trained.lookup, mode=mode)
  net = trained.eval_model
  ds = batches.map(lambda x, y: variants.select_inputs(net, x))
  personal, agnostic = [], []
  for x in ds:
    out = signatures.complete_outputs(net(x, training=False), num_tags)
    personal.append(np.reshape(out[F.PERSONAL_OUTPUT].numpy(), [-1]))
    agnostic.append(np.reshape(out[F.AGNOSTIC_OUTPUT].numpy(), [-1]))
  return {F.PERSONAL_OUTPUT: np.concatenate(personal),
          F.AGNOSTIC_OUTPUT: np.concatenate(agnostic)}


# ----------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------
def tag_names_of(test: Columns, tag_names: Sequence[str]) -> np.ndarray:
  names = list(tag_names) + ["<other>"]
  idx = np.minimum(test[F.TAG_XF].astype(np.int64), len(names) - 1)
  return np.asarray(names, dtype=object)[idx]


def _nanmean(values: List[float]) -> float:
  vals = [v for v in values if v is not None and not math.isnan(v)]
  return float(np.mean(vals)) if vals else float("nan")


def grouped_metrics(labels: np.ndarray, scores: np.ndarray,
                    tags: np.ndarray, *, threshold: float = 0.5
                    ) -> Dict[str, Any]:
  """Overall and per-tag accuracy/AUC, and their mean over tags (Fig. 8)."""
  def one(mask):
    y, s = labels[mask], scores[mask]
    return {"accuracy": report_lib.accuracy(y, s, threshold),
            "auc": report_lib.auc(y, s), "count": int(mask.sum())}
  per_tag = {t: one(tags == t) for t in sorted(set(tags.tolist()))}
  return {
      "overall": one(np.ones(len(labels), bool)),
      "per_tag": per_tag,
      "tag_mean": {
          "accuracy": _nanmean([m["accuracy"] for m in per_tag.values()]),
          "auc": _nanmean([m["auc"] for m in per_tag.values()]),
      },
  }


def per_image(test: Columns, tags: np.ndarray, scores: np.ndarray
              ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(b_v, mean score, tag) per distinct test image (first-row label/tag).

  Cold-image test rows all carry the OOV index, so images are told apart by
  their transformed JPEG bytes.
  """
  keys = test[F.IMAGE_XF]
  _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
  sums = np.bincount(inverse, weights=scores)
  counts = np.bincount(inverse)
  return (test[F.AGNOSTIC_LABEL_KEY][first].astype(np.int64),
          sums / counts, tags[first])


def floors(train: Columns, test: Columns, tags: np.ndarray
           ) -> Dict[str, Dict[str, Any]]:
  """majority, user_mean and ava_label floors of the personal label."""
  y_train = train[F.LABEL_KEY].astype(np.float64)
  y = test[F.LABEL_KEY].astype(np.int64)
  rate = float(y_train.mean()) if len(y_train) else 0.5
  majority = 1.0 if rate >= 0.5 else 0.0
  users = train[F.USER_XF].astype(np.int64)
  width = int(max(users.max(initial=0), test[F.USER_XF].max(initial=0))) + 1
  pos = np.bincount(users, weights=y_train, minlength=width)
  cnt = np.bincount(users, minlength=width)
  user_rate = np.where(cnt > 0, pos / np.maximum(cnt, 1), rate)
  return {
      "majority": grouped_metrics(y, np.full(len(y), majority), tags),
      "user_mean": grouped_metrics(
          y, user_rate[test[F.USER_XF].astype(np.int64)], tags),
      "ava_label": grouped_metrics(
          y, test[F.AGNOSTIC_LABEL_KEY].astype(np.float64), tags),
  }


def agnostic_floor(train: Columns, test: Columns, tags: np.ndarray
                   ) -> Dict[str, Any]:
  """Majority b_v of the training images, per test image (Fig. 7 floor)."""
  _, first = np.unique(train[F.IMAGE_XF], return_index=True)
  b_train = train[F.AGNOSTIC_LABEL_KEY][first]
  majority = 1.0 if (b_train.mean() if len(b_train) else 1.0) >= 0.5 else 0.0
  b, _, img_tags = per_image(test, tags, np.zeros(num_rows(test)))
  return grouped_metrics(b, np.full(len(b), majority), img_tags)


def evaluate(trained: Trained, test: Columns, tags: np.ndarray,
             modes: Sequence[str], num_tags: int) -> Dict[str, Any]:
  """Personal metrics per review mode + per-image agnostic metrics."""
  from keras_model import variants  # pylint: disable=g-import-not-at-top
  y = test[F.LABEL_KEY].astype(np.int64)
  out: Dict[str, Any] = {}
  cache: Dict[str, Dict[str, np.ndarray]] = {}
  for mode in modes:
    key = mode if trained.variant.uses_review else "any"
    if key not in cache:
      cache[key] = score(trained, test, mode, num_tags)
    out[mode] = grouped_metrics(y, cache[key][F.PERSONAL_OUTPUT], tags)
  # Review-free scores when there are any: a personal-head proxy of b_v
  # must not read the review its label came from.
  s = cache.get("free", cache.get("any", cache[next(iter(cache))]))
  has_agnostic = F.AGNOSTIC_OUTPUT in variants.heads(trained.model)
  source = (F.AGNOSTIC_OUTPUT if has_agnostic else F.PERSONAL_OUTPUT)
  b, p, img_tags = per_image(test, tags, s[source])
  out["agnostic"] = grouped_metrics(b, p, img_tags)
  out["agnostic_source"] = ("agnostic head" if has_agnostic else
                            "personal head, mean over the image's reviews")
  return out


# ----------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------
def _cpu_seconds() -> float:
  me = resource.getrusage(resource.RUSAGE_SELF)
  kids = resource.getrusage(resource.RUSAGE_CHILDREN)
  return me.ru_utime + kids.ru_utime


def run_experiment(data_dir: str, out_dir: str, *,
                   variants: Optional[Sequence[str]] = None,
                   protocols: Optional[Sequence[str]] = None,
                   train_steps: Optional[int] = None,
                   config_name: str = cfg_lib.DEFAULT_CONFIG,
                   min_tag_images: int = F.DEFAULT_MIN_TAG_IMAGES,
                   fig9_levels: Sequence[int] = FIG9_LEVELS,
                   fig9_variants: Sequence[str] = FIG9_VARIANTS,
                   beam_args: Sequence[str] = (), seed: int = 0,
                   log: Callable[[str], None] = print) -> Dict[str, Any]:
  """Runs the comparison; writes results.json, results.md and the figures."""
  # pylint: disable=g-import-not-at-top
  from keras_model import variants as variants_lib
  # pylint: enable=g-import-not-at-top
  t_start, cpu_start = time.time(), _cpu_seconds()
  variants = list(variants or DEFAULT_VARIANTS)
  protocols = list(protocols or PROTOCOLS)
  for name in variants + list(fig9_variants):
    variants_lib.get_variant(name)  # ValueError on a bad name
  bad = set(protocols) - set(PROTOCOLS)
  if bad:
    raise ValueError(f"Unknown protocol(s) {sorted(bad)}; choose from "
                     f"{list(PROTOCOLS)}")
  steps = int(train_steps or DEFAULT_TRAIN_STEPS)
  cfg = cfg_lib.get_config(config_name)
  out_dir = os.path.abspath(out_dir)
  workdir = os.path.join(out_dir, "work")

  t0 = time.time()
  uris = prepare(data_dir, workdir, cfg, min_tag_images=min_tag_images,
                 beam_args=beam_args, log=log)
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from keras_model import cfan  # pylint: disable=g-import-not-at-top
  from keras_model import trainer  # pylint: disable=g-import-not-at-top
  cfan.configure_precision(cfg)
  tft_output = tft.TFTransformOutput(uris["transform_graph"])
  vocab = trainer.Vocab(tft_output, cfg)
  random_train = load_split(uris["transformed_examples"], "train", tft_output)
  random_test = load_split(uris["transformed_examples"], "eval", tft_output)
  prep_seconds = time.time() - t0
  log(f"[exp] data ready in {prep_seconds:.0f} s: {num_rows(random_train):,d}"
      f" train / {num_rows(random_test):,d} test rows (random split), "
      f"{vocab.num_users - 1} users, {vocab.num_images - 1} images, "
      f"{len(vocab.tag_names)} tags; {steps} steps per model")

  results: Dict[str, Any] = {
      "data": os.path.abspath(data_dir), "config": cfg.to_dict(),
      "train_steps": steps, "seed": seed, "variants": variants,
      "protocols": {}, "transform": {k: v for k, v in uris.items()
                                     if k != "examples_summary"},
      "examples_summary": uris["examples_summary"],
      "labels": {n: variants_lib.get_variant(n).label
                 for n in set(variants) | set(fig9_variants)},
      "tags": list(vocab.tag_names),
  }
  timings: List[Dict[str, Any]] = []

  def run_split(split_name: str, train: Columns, test: Columns,
                names: Sequence[str], modes: Sequence[str]
                ) -> Dict[str, Dict[str, Any]]:
    tags = tag_names_of(test, vocab.tag_names)
    per_variant = {}
    for i, name in enumerate(names):
      t = time.time()
      trained = train_variant(name, train, cfg, vocab, steps=steps,
                              seed=seed)
      res = evaluate(trained, test, tags, modes, vocab.num_tags)
      res["train_seconds"] = trained.seconds
      res["steps"] = trained.steps
      if trained.threshold is not None:
        res["bpr_threshold"] = trained.threshold
      per_variant[name] = res
      total = time.time() - t
      timings.append({"split": split_name, "variant": name,
                      "train_seconds": trained.seconds,
                      "total_seconds": total})
      summary = "  ".join(
          f"{m}: acc {res[m]['overall']['accuracy']:.3f} "
          f"AUC {res[m]['overall']['auc']:.3f}" for m in modes)
      log(f"[exp] {split_name:<18s} {i + 1}/{len(names)} {name:<15s} "
          f"train {trained.seconds:5.1f} s, total {total:5.1f} s | {summary}"
          f" | elapsed {(time.time() - t_start) / 60:.1f} min")
      del trained
    return per_variant

  def protocol_block(split: str, review: str, train: Columns, test: Columns,
                     per_variant: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    tags = tag_names_of(test, vocab.tag_names)
    return {
        "split": split, "review": review,
        "train_rows": num_rows(train), "test_rows": num_rows(test),
        "test_images": int(len(np.unique(test[F.IMAGE_XF]))),
        "positive_rate": float(np.mean(test[F.LABEL_KEY])),
        "floors": floors(train, test, tags),
        "agnostic_floor": agnostic_floor(train, test, tags),
        "variants": {n: {**r[review], "agnostic": r["agnostic"],
                         "agnostic_source": r["agnostic_source"],
                         "train_seconds": r["train_seconds"],
                         "steps": r["steps"],
                         **({"bpr_threshold": r["bpr_threshold"]}
                            if "bpr_threshold" in r else {})}
                     for n, r in per_variant.items()},
    }

  if {"paper", "review-free"} & set(protocols):
    res = run_split("random split", random_train, random_test, variants,
                    ("given", "free"))
    for proto, review in (("paper", "given"), ("review-free", "free")):
      if proto in protocols:
        results["protocols"][proto] = protocol_block(
            "random 90/10 of reviews (ExampleGen)", review, random_train,
            random_test, res)
  if "cold-image" in protocols:
    cold_train, cold_test = cold_image_split(
        concat(random_train, random_test), vocab.num_images)
    log(f"[exp] cold-image split: {num_rows(cold_train):,d} train / "
        f"{num_rows(cold_test):,d} test rows, "
        f"{len(np.unique(cold_test[F.IMAGE_XF]))} unseen test images")
    res = run_split("cold-image split", cold_train, cold_test, variants,
                    ("free",))
    results["protocols"]["cold-image"] = protocol_block(
        "by image (md5 of the image index), test images unseen", "free",
        cold_train, cold_test, res)
  if "reviews-per-image" in protocols:
    tags = tag_names_of(random_test, vocab.tag_names)
    points = []
    for k in fig9_levels:
      sub = subsample_per_image(random_train, int(k), seed)
      res = run_split(f"<= {k} reviews/image", sub, random_test,
                      list(fig9_variants), ("given", "free"))
      points.append({
          "max_reviews": int(k), "train_rows": num_rows(sub),
          "mean_reviews_per_image": mean_reviews_per_image(sub),
          "floors": floors(sub, random_test, tags),
          "variants": {n: {"given": r["given"]["overall"],
                           "free": r["free"]["overall"],
                           "given_tag_mean": r["given"]["tag_mean"],
                           "free_tag_mean": r["free"]["tag_mean"]}
                       for n, r in res.items()},
      })
    results["reviews_per_image"] = {"variants": list(fig9_variants),
                                    "test_rows": num_rows(random_test),
                                    "points": points}

  results["timing"] = {
      "wall_seconds": time.time() - t_start,
      "cpu_user_seconds": _cpu_seconds() - cpu_start,
      "prepare_seconds": prep_seconds,
      "models": timings,
      "cpu_count": os.cpu_count(),
  }
  paths = write_results(results, out_dir)
  results["files"] = paths
  log(f"[exp] done in {results['timing']['wall_seconds'] / 60:.1f} min wall, "
      f"{results['timing']['cpu_user_seconds'] / 60:.1f} min user CPU; "
      f"wrote {', '.join(os.path.basename(p) for p in paths.values())} in "
      f"{out_dir}")
  return results


# ----------------------------------------------------------------------------
# Output: results.json, results.md, figures
# ----------------------------------------------------------------------------
def _fmt(x: Optional[float]) -> str:
  if x is None or (isinstance(x, float) and math.isnan(x)):
    return "–"
  return f"{x:.3f}"


def _ordered(names, order=DEFAULT_VARIANTS) -> List[str]:
  rank = {n: i for i, n in enumerate(order)}
  return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def results_markdown(results: Dict[str, Any]) -> str:
  """The tables of results.md."""
  labels = results.get("labels", {})
  lines = ["# CFAN experiment results", ""]
  t = results.get("timing", {})
  lines += [f"Data: `{results['data']}`; config `{results['config']['name']}`"
            f"; {results['train_steps']} training steps per model; seed "
            f"{results['seed']}.", ""]
  if t:
    lines += [f"Time: {t['wall_seconds'] / 60:.1f} min wall, "
              f"{t['cpu_user_seconds'] / 60:.1f} min user CPU "
              f"({t['cpu_count']} cores); data preparation "
              f"{t['prepare_seconds']:.0f} s.", ""]
  for proto, block in results["protocols"].items():
    lines += [f"## Protocol `{proto}` — personal head (Fig. 8)", "",
              f"Split: {block['split']}; review: {block['review']}; "
              f"{block['train_rows']:,d} training rows, "
              f"{block['test_rows']:,d} test rows ({block['test_images']} "
              f"images), {100 * block['positive_rate']:.1f} % positive.", "",
              "| model | accuracy | AUC | tag-mean accuracy | tag-mean AUC "
              "| train s |", "|---|---|---|---|---|---|"]
    for name in _ordered(block["variants"]):
      v = block["variants"][name]
      lines.append(
          f"| {labels.get(name, name)} | {_fmt(v['overall']['accuracy'])} | "
          f"{_fmt(v['overall']['auc'])} | {_fmt(v['tag_mean']['accuracy'])} "
          f"| {_fmt(v['tag_mean']['auc'])} | {v['train_seconds']:.0f} |")
    for fname, f in block["floors"].items():
      lines.append(
          f"| *floor: {fname}* | {_fmt(f['overall']['accuracy'])} | "
          f"{_fmt(f['overall']['auc'])} | {_fmt(f['tag_mean']['accuracy'])} "
          f"| {_fmt(f['tag_mean']['auc'])} | |")
    lines.append("")
    # Per tag: personal accuracy / AUC.
    tags = sorted(next(iter(block["floors"].values()))["per_tag"])
    names = _ordered(block["variants"])
    lines += [f"### `{proto}` — personal head per tag (accuracy / AUC)", "",
              "| tag | n | " + " | ".join(labels.get(n, n) for n in names) +
              " | floor: user_mean |",
              "|---|---|" + "---|" * (len(names) + 1)]
    for tag in tags:
      row = [tag, str(block["floors"]["majority"]["per_tag"][tag]["count"])]
      for n in names:
        m = block["variants"][n]["per_tag"].get(tag, {})
        row.append(f"{_fmt(m.get('accuracy'))} / {_fmt(m.get('auc'))}")
      f = block["floors"]["user_mean"]["per_tag"][tag]
      row.append(f"{_fmt(f['accuracy'])} / {_fmt(f['auc'])}")
      lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    # Fig. 7: agnostic accuracy per tag.
    lines += [f"### `{proto}` — user-agnostic accuracy per tag (Fig. 7, per "
              "test image)", "",
              "| tag | images | " + " | ".join(labels.get(n, n) for n in names)
              + " | floor: majority b_v |",
              "|---|---|" + "---|" * (len(names) + 1)]
    af = block["agnostic_floor"]
    for tag in list(af["per_tag"]) + ["overall"]:
      fm = af["overall"] if tag == "overall" else af["per_tag"][tag]
      row = [f"**{tag}**" if tag == "overall" else tag, str(fm["count"])]
      for n in names:
        a = block["variants"][n]["agnostic"]
        m = a["overall"] if tag == "overall" else a["per_tag"].get(tag, {})
        row.append(_fmt(m.get("accuracy")))
      row.append(_fmt(fm["accuracy"]))
      lines.append("| " + " | ".join(row) + " |")
    sources = {labels.get(n, n): block["variants"][n]["agnostic_source"]
               for n in names}
    lines += ["", "Agnostic score source: " + "; ".join(
        f"{k}: {v}" for k, v in sources.items()) + ".", ""]
  rpi = results.get("reviews_per_image")
  if rpi:
    lines += ["## Reviews per image (Fig. 9) — personal head, "
              f"{rpi['test_rows']:,d} test rows", "",
              "| max reviews/image | mean reviews/image | train rows | model "
              "| acc (given) | AUC (given) | acc (free) | AUC (free) |",
              "|---|---|---|---|---|---|---|---|"]
    for p in rpi["points"]:
      for n in rpi["variants"]:
        v = p["variants"][n]
        lines.append(
            f"| {p['max_reviews']} | {p['mean_reviews_per_image']:.2f} | "
            f"{p['train_rows']:,d} | {labels.get(n, n)} | "
            f"{_fmt(v['given']['accuracy'])} | {_fmt(v['given']['auc'])} | "
            f"{_fmt(v['free']['accuracy'])} | {_fmt(v['free']['auc'])} |")
      um = p["floors"]["user_mean"]["overall"]
      lines.append(f"| {p['max_reviews']} | | | *floor: user_mean* | "
                   f"{_fmt(um['accuracy'])} | {_fmt(um['auc'])} | "
                   f"{_fmt(um['accuracy'])} | {_fmt(um['auc'])} |")
    lines.append("")
  if t and t.get("models"):
    lines += ["## Timing per model", "", "| split | model | train s | "
              "train + score s |", "|---|---|---|---|"]
    for m in t["models"]:
      lines.append(f"| {m['split']} | {labels.get(m['variant'], m['variant'])}"
                   f" | {m['train_seconds']:.1f} | {m['total_seconds']:.1f} |")
    lines.append("")
  return "\n".join(lines)


def _plt():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def plot_fig7(results: Dict[str, Any], path: str) -> Optional[str]:
  """User-agnostic accuracy per tag, overall rightmost (paper Fig. 7).

  One panel for the random split (its test images also occur in training,
  as in the paper) and one for the cold-image split (they do not).
  """
  protos = [p for p in (next((q for q in ("review-free", "paper")
                              if q in results["protocols"]), None),
                        "cold-image") if p in results["protocols"]]
  if not protos:
    return None
  labels = results.get("labels", {})
  plt = _plt()
  first = results["protocols"][protos[0]]
  width_in = max(8, 0.9 * (len(first["agnostic_floor"]["per_tag"]) + 1) + 2)
  fig, axes = plt.subplots(len(protos), 1, squeeze=False,
                           figsize=(width_in, 4.2 * len(protos) + 0.8))
  for ax, proto in zip(axes[:, 0], protos):
    block = results["protocols"][proto]
    # The paper's three (CFN-pure-2task, MTRLCNN, CFAN-3task) when trained,
    # else every model (personal-head proxies where there is no agnostic
    # head).
    names = ([n for n in FIG7_VARIANTS if n in block["variants"]] or
             _ordered(block["variants"]))
    tags = list(block["agnostic_floor"]["per_tag"]) + ["overall"]
    series = [(labels.get(n, n), block["variants"][n]["agnostic"])
              for n in names]
    series.append(("floor: majority b_v", block["agnostic_floor"]))
    x = np.arange(len(tags))
    width = 0.8 / len(series)
    for i, (label, agn) in enumerate(series):
      vals = [(agn["overall"] if t == "overall" else
               agn["per_tag"].get(t, {})).get("accuracy", np.nan)
              for t in tags]
      ax.bar(x + (i - (len(series) - 1) / 2) * width, vals, width,
             label=label)
    ax.set_xticks(x)
    ax.set_xticklabels(tags, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy per test image")
    ax.set_title(f"{proto}: {block['split']} "
                 f"({block['test_images']} test images)", fontsize=10)
    ax.axvline(len(tags) - 1.5, color="grey", lw=0.8, ls=":")
  axes[-1][0].legend(fontsize=8, loc="upper center",
                     bbox_to_anchor=(0.5, -0.3), ncol=len(series),
                     frameon=False)
  fig.suptitle("Fig. 7: user-agnostic assessment per major tag")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def plot_fig8(results: Dict[str, Any], path: str) -> Optional[str]:
  """Tag-averaged accuracy and AUC per method, one panel per protocol."""
  protos = [p for p in ("paper", "review-free", "cold-image")
            if p in results["protocols"]]
  if not protos:
    return None
  labels = results.get("labels", {})
  plt = _plt()
  fig, axes = plt.subplots(1, len(protos), figsize=(6 * len(protos), 4.8),
                           squeeze=False)
  for ax, proto in zip(axes[0], protos):
    block = results["protocols"][proto]
    names = [n for n in FIG8_VARIANTS if n in block["variants"]] + [
        n for n in _ordered(block["variants"]) if n not in FIG8_VARIANTS]
    x = np.arange(len(names))
    for j, (metric, color) in enumerate((("accuracy", "tab:blue"),
                                         ("auc", "tab:orange"))):
      vals = [block["variants"][n]["tag_mean"][metric] for n in names]
      ax.bar(x + (j - 0.5) * 0.38, vals, 0.38, color=color,
             label=f"{metric} (mean over tags)")
    for fname, style in (("majority", ":"), ("user_mean", "--")):
      f = block["floors"][fname]["tag_mean"]
      ax.axhline(f["accuracy"], color="tab:blue", ls=style, lw=1,
                 label=f"floor {fname}: accuracy")
      if fname == "user_mean":
        ax.axhline(f["auc"], color="tab:orange", ls=style, lw=1,
                   label=f"floor {fname}: AUC")
    ax.set_xticks(x)
    ax.set_xticklabels([labels.get(n, n) for n in names], rotation=35,
                       ha="right", fontsize=8)
    ax.set_ylim(0.3, 1)
    ax.set_title(f"{proto} ("
                 + ("own review given" if block["review"] == "given" else
                    "no review: user profile") + ")")
  axes[0][0].set_ylabel("personal head")
  handles, legend_labels = axes[0][0].get_legend_handles_labels()
  fig.legend(handles, legend_labels, loc="lower center", ncol=3, fontsize=8,
             frameon=False)
  fig.suptitle("Fig. 8: evaluation of methods")
  fig.tight_layout(rect=(0, 0.1, 1, 0.95))
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def plot_fig9(results: Dict[str, Any], path: str) -> Optional[str]:
  """Accuracy and AUC against the mean number of reviews per image."""
  rpi = results.get("reviews_per_image")
  if not rpi or not rpi["points"]:
    return None
  labels = results.get("labels", {})
  plt = _plt()
  fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
  xs = [p["mean_reviews_per_image"] for p in rpi["points"]]
  colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  for ax, metric in zip(axes, ("accuracy", "auc")):
    for i, n in enumerate(rpi["variants"]):
      for mode, style in (("given", "-o"), ("free", "--s")):
        ax.plot(xs, [p["variants"][n][mode][metric] for p in rpi["points"]],
                style, color=colors[i % len(colors)],
                label=f"{labels.get(n, n)} (review {mode})")
    ax.plot(xs, [p["floors"]["user_mean"]["overall"][metric]
                 for p in rpi["points"]], ":", color="grey",
            label="floor: user mean")
    ax.set_xlabel("mean reviews per image in training")
    ax.set_ylabel(metric)
    ax.set_title(metric)
  axes[0].legend(fontsize=8)
  fig.suptitle("Fig. 9: personal head vs. reviews per image")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def write_results(results: Dict[str, Any], out_dir: str) -> Dict[str, str]:
  """results.json, results.md and the Fig. 7/8/9 PNGs in ``out_dir``."""
  os.makedirs(out_dir, exist_ok=True)
  paths: Dict[str, str] = {}
  for key, fname, fn in (("fig7", FIG7_FILE, plot_fig7),
                         ("fig8", FIG8_FILE, plot_fig8),
                         ("fig9", FIG9_FILE, plot_fig9)):
    p = fn(results, os.path.join(out_dir, fname))
    if p:
      paths[key] = p
  md = os.path.join(out_dir, RESULTS_MD)
  with open(md, "w") as fh:
    fh.write(results_markdown(results))
  paths["markdown"] = md
  js = os.path.join(out_dir, RESULTS_JSON)
  tmp = js + ".tmp"
  with open(tmp, "w") as fh:
    json.dump({**results, "files": {k: os.path.basename(v)
                                    for k, v in paths.items()}}, fh,
              indent=2, sort_keys=True, default=_json_default)
  os.replace(tmp, js)
  paths["json"] = js
  return paths


def _json_default(o):
  if isinstance(o, (np.integer,)):
    return int(o)
  if isinstance(o, (np.floating,)):
    return float(o)
  if isinstance(o, np.ndarray):
    return o.tolist()
  return str(o)

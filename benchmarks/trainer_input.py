"""Trainer input pipeline: steps/s from transformed TFRecords vs in memory.

Trains the `cpu` CFAN on the output of a Transform run (``benchmarks.
preprocess`` leaves one under ``bench_runs/throughput_*``), once fed by the
Trainer's real input pipeline (TFRecord read, parse, JPEG decode, review /
leave-one-out profile mixing: ``keras_model.inputs``) and once fed the same
batches already materialised as tensors; both in one process, side by side,
in alternating rounds: the ratio is the median of the rounds' ratios.
"""
from __future__ import annotations

import argparse
import glob
import itertools
import os
import sys
import time
from typing import Any, Dict, Sequence

import numpy as np

from benchmarks import common

# The report's two tables (this module's output and docs/benchmarks.md).
RATE_COLUMNS = ("examples", "batch_size", "steps", "rounds",
                "timed_images_per_batch", "tfrecords_steps_per_s",
                "in_memory_steps_per_s", "ratio_tfrecords_over_memory",
                "ratio_min", "ratio_max")
# Alternating rounds (file feed, then in-memory, back to back). This
# machine's speed drifts between phases ~1.4x apart within minutes; a ratio
# of two neighbouring fits is stable where the best rate of each feed over
# the whole run is not (0.70-0.97 for the same code).
ROUNDS = 5
BACKBONE_COLUMNS = ("examples", "distinct_images",
                    "shuffled_backbone_rows_per_epoch",
                    "shuffled_reviews_per_backbone_row",
                    "file_order_backbone_rows_per_epoch",
                    "file_order_reviews_per_backbone_row")


def backbone_rows_per_epoch(model_ds) -> Dict[str, int]:
  """Rows (reviews) and backbone rows (distinct images per batch) of one
  pass over ``inputs.model_dataset`` batches: what the image backbone of a
  slot-reading variant runs on (``keras_model.blocks.row_features``)."""
  # pylint: disable=g-import-not-at-top
  from preprocessing import features as F
  # pylint: enable=g-import-not-at-top
  rows = images = batches = 0
  for x, _ in model_ds:
    rows += int(x[F.IMAGE_SLOT_KEY].shape[0])
    images += int(x[F.IMAGE_PIXELS_KEY].shape[0])
    batches += 1
  return {"batches": batches, "reviews": rows, "backbone_rows": images}


def materialised(batches) -> "tf.data.Dataset":
  """A dataset that yields ``batches`` ((x, y) dicts of tensors whose first
  dimension may differ per batch and per key) from tensors held in memory:
  each key's batches concatenated once, each step one slice of them."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  # pylint: enable=g-import-not-at-top
  def flat(part):
    keys = sorted(batches[0][part])
    values = {k: tf.concat([b[part][k] for b in batches], 0) for k in keys}
    sizes = {k: [int(b[part][k].shape[0]) for b in batches] for k in keys}
    starts = {k: tf.constant([0] + list(itertools.accumulate(sizes[k]))[:-1],
                             tf.int64) for k in keys}
    lengths = {k: tf.constant(sizes[k], tf.int64) for k in keys}
    return keys, values, starts, lengths

  parts = [flat(0), flat(1)]

  def pick(i):
    return tuple({k: values[k][starts[k][i]:starts[k][i] + lengths[k][i]]
                  for k in keys} for keys, values, starts, lengths in parts)

  return tf.data.Dataset.range(len(batches)).map(
      pick, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def measure(transform_dir: str, steps: int = 150, warmup: int = 20,
            batch_size: int = 32, rounds: int = ROUNDS) -> Dict[str, Any]:
  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft
  from preprocessing import config as cfg_lib
  from preprocessing import features as F
  from keras_model import cfan
  from keras_model import inputs
  from keras_model import training
  # pylint: enable=g-import-not-at-top
  cfg = cfg_lib.get_config("cpu", batch_size=batch_size)
  tft_output = tft.TFTransformOutput(os.path.join(transform_dir,
                                                  "transform_fn"))
  rows = inputs.Rows.from_files(
      [os.path.join(transform_dir, "transformed", "*")], tft_output)
  vocab = inputs.Vocab(tft_output, cfg)
  profile_cols = rows.collect(training.PROFILE_COLUMNS)
  _, lookup = training.build_profiles(profile_cols, vocab, cfg)

  def file_feed():
    # A fresh dataset each time: new iterators of one dataset object draw a
    # new shuffle order, fresh objects with one seed repeat the same batches.
    return inputs.model_dataset(
        rows.batches(cfg.batch_size, shuffle=True, seed=0).repeat(), cfg,
        lookup, mode="mixed", seed=0)

  # Exactly the batches a fit of `steps` steps reads from the files,
  # materialised: no I/O, no parsing, no decoding. A batch holds as many
  # decoded images as it has distinct ones, and its step costs accordingly,
  # so both feeds must be the same batches (an arbitrary cached subset
  # differed by 8% in images per batch and the ratio swung 0.4-1.2x).
  cached = list(file_feed().take(steps))
  mem_ds = materialised(cached).repeat()
  images_per_batch = (sum(int(x[F.IMAGE_PIXELS_KEY].shape[0])
                          for x, _ in cached) / len(cached))
  check = [int(x[F.IMAGE_PIXELS_KEY].shape[0])
           for x, _ in file_feed().take(steps)]
  if sum(check) / len(check) != images_per_batch:
    raise RuntimeError("the file feed does not repeat its batches; the "
                       "in-memory feed would time other batches")

  def build():
    model = cfan.build_cfan(cfg, num_users=vocab.num_users,
                            num_images=vocab.num_images,
                            num_tags=vocab.num_tags,
                            review_vocab_size=vocab.review_vocab_size)
    return cfan.compile_cfan(model, cfg)

  out: Dict[str, Any] = {"examples": int(len(profile_cols[F.USER_XF])),
                         "batch_size": batch_size, "steps": steps,
                         "rounds": rounds,
                         "distinct_images": int(len(set(
                             profile_cols[F.IMAGE_ID_XF].tolist()))),
                         "timed_images_per_batch": images_per_batch}
  # Backbone rows per epoch: shuffled training batches (what fit sees) and
  # the files' row order (build-examples writes an image's reviews together:
  # what batches of whole images, i.e. image-major data, would give).
  for name, shuffle in (("shuffled", True), ("file_order", False)):
    epoch = backbone_rows_per_epoch(inputs.model_dataset(
        rows.batches(cfg.batch_size, shuffle=shuffle, seed=0), cfg, lookup,
        mode="given"))
    out[f"{name}_backbone_rows_per_epoch"] = epoch["backbone_rows"]
    out[f"{name}_reviews_per_backbone_row"] = (
        epoch["reviews"] / max(epoch["backbone_rows"], 1))
  feeds = {"tfrecords": file_feed, "in_memory": lambda: mem_ds}
  rates: Dict[str, list] = {name: [] for name in feeds}
  for rnd in range(rounds):
    # Which feed goes first alternates, so a drift within a round does not
    # always favour the same one.
    for name in (list(feeds) if rnd % 2 == 0 else list(feeds)[::-1]):
      model = build()
      model.fit(feeds[name](), steps_per_epoch=warmup, epochs=1, verbose=0)
      t0 = time.perf_counter()
      model.fit(feeds[name](), steps_per_epoch=steps, epochs=1, verbose=0)
      rates[name].append(steps / (time.perf_counter() - t0))
  ratios = [f / m for f, m in zip(rates["tfrecords"], rates["in_memory"])]
  for name, rs in rates.items():
    out[f"{name}_steps_per_s"] = float(np.median(rs))
  out["ratio_tfrecords_over_memory"] = float(np.median(ratios))
  out["ratio_min"], out["ratio_max"] = min(ratios), max(ratios)
  out["round_ratios"] = ratios
  return out


def main(argv: Sequence[str] | None = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--out", default=common.DEFAULT_OUT)
  ap.add_argument("--transform-dir", default=None,
                  help="a benchmarks.preprocess run's transform dir")
  ap.add_argument("--steps", type=int, default=150)
  ap.add_argument("--rounds", type=int, default=ROUNDS)
  args = ap.parse_args(argv)
  found = sorted(glob.glob(os.path.join(args.out, "throughput_*",
                                        "transform")))
  if not (args.transform_dir or found):
    ap.error(f"no benchmarks.preprocess run under {args.out}: run it first "
             "or pass --transform-dir")
  tdir = args.transform_dir or found[-1]
  res = measure(tdir, steps=args.steps, rounds=args.rounds)
  print(common.table([res], list(RATE_COLUMNS)))
  print(common.table([res], list(BACKBONE_COLUMNS),
                     title="Backbone rows per epoch (distinct images per "
                     "batch, summed)"))
  path = common.write_json(os.path.join(args.out, "trainer_input.json"),
                           {"machine": common.machine(), **res})
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

"""Trainer input pipeline: steps/s from transformed TFRecords vs in memory.

Trains the `cpu` CFAN on the output of a Transform run (``benchmarks.
preprocess`` leaves one under ``bench_runs/throughput_*``), once fed by the
Trainer's real input pipeline (TFRecord read, parse, JPEG decode, review /
leave-one-out profile mixing: ``keras_model.inputs``) and once fed the same
batches already materialised as tensors; both in one process, side by side.
"""
from __future__ import annotations

import argparse
import functools
import glob
import os
import sys
import time
from typing import Any, Dict, Sequence

from benchmarks import common


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


def measure(transform_dir: str, steps: int = 150, warmup: int = 20,
            batch_size: int = 32) -> Dict[str, Any]:
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
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
  file_ds = inputs.model_dataset(
      rows.batches(cfg.batch_size, shuffle=True, seed=0).repeat(), cfg,
      lookup, mode="mixed", seed=0)
  # The same pipeline's first batches, materialised: no I/O, no decoding.
  cached = [b for b in file_ds.take(80)
            if int(b[1][F.PERSONAL_OUTPUT].shape[0]) == batch_size][:50]
  # (Concatenated, not stacked: a batch holds as many decoded images as it
  # has distinct ones.)
  mem_ds = functools.reduce(lambda a, b: a.concatenate(b), [
      tf.data.Dataset.from_tensors(b) for b in cached]).repeat()

  def build():
    model = cfan.build_cfan(cfg, num_users=vocab.num_users,
                            num_images=vocab.num_images,
                            num_tags=vocab.num_tags,
                            review_vocab_size=vocab.review_vocab_size)
    return cfan.compile_cfan(model, cfg)

  out: Dict[str, Any] = {"examples": int(len(profile_cols[F.USER_XF])),
                         "batch_size": batch_size, "steps": steps,
                         "distinct_images": int(len(set(
                             profile_cols[F.IMAGE_ID_XF].tolist())))}
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
  # Alternate the two feeds twice so drift in machine load hits both.
  for rnd in range(2):
    for name, ds in (("tfrecords", file_ds), ("in_memory", mem_ds)):
      model = build()
      model.fit(ds, steps_per_epoch=warmup, epochs=1, verbose=0)
      t0 = time.perf_counter()
      model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
      rate = steps / (time.perf_counter() - t0)
      out.setdefault(f"{name}_steps_per_s", []).append(rate)
  for name in ("tfrecords", "in_memory"):
    out[f"{name}_steps_per_s"] = max(out[f"{name}_steps_per_s"])
  out["ratio_tfrecords_over_memory"] = (out["tfrecords_steps_per_s"] /
                                        out["in_memory_steps_per_s"])
  return out


def main(argv: Sequence[str] | None = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--out", default=common.DEFAULT_OUT)
  ap.add_argument("--transform-dir", default=None,
                  help="a benchmarks.preprocess run's transform dir")
  ap.add_argument("--steps", type=int, default=150)
  args = ap.parse_args(argv)
  tdir = args.transform_dir or sorted(glob.glob(os.path.join(
      args.out, "throughput_*", "transform")))[-1]
  res = measure(tdir, steps=args.steps)
  print(common.table([res], ["examples", "batch_size", "steps",
                             "tfrecords_steps_per_s", "in_memory_steps_per_s",
                             "ratio_tfrecords_over_memory"]))
  print(common.table([res], [
      "examples", "distinct_images", "shuffled_backbone_rows_per_epoch",
      "shuffled_reviews_per_backbone_row",
      "file_order_backbone_rows_per_epoch",
      "file_order_reviews_per_backbone_row"],
                     title="Backbone rows per epoch (distinct images per "
                     "batch, summed)"))
  path = common.write_json(os.path.join(args.out, "trainer_input.json"),
                           {"machine": common.machine(), **res})
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

"""GPU check: the `paper` model's training throughput, and Transform at 320 px.

Run by ``benchmarks/gpu_check.sh`` on a lent GPU machine (issue 11):

1. Demo data with 320 px photos, ``build-examples``, then Transform with the
   `paper` Transform config (320 x 320 images) in a fresh interpreter
   (``benchmarks.preprocess.run_stages``): Transform reviews/s and images/s.
2. The `paper` CFAN-3task (VGG-16 backbone, **random init**: no ImageNet
   weights are needed for throughput) trained for a fixed number of steps on
   the Trainer's own input pipeline over that Transform output, once per
   precision mode: float32, mixed precision (mixed_float16) and mixed
   precision with XLA (``jit_compile``). Reviews/s is examples per second;
   images/s is distinct images per second (reviews/s times the measured share
   of distinct images in a batch).

On a machine without a GPU the mixed modes fall back to float32 (the table's
``policy`` column says which ran); ``STEPS=2 BATCH=2`` makes that a smoke
test. Prints a table and writes ``gpu_check.json`` under ``--out``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Dict, List, Sequence

from benchmarks import common
from benchmarks import preprocess

CONFIG = "paper"
# (name, ModelConfig.mixed_precision, ModelConfig.xla)
MODES = (("float32", "off", False), ("mixed", "on", False),
         ("mixed+xla", "on", True))
# Photos of the demo data: the longest side build-examples keeps.
PHOTO_SIZE = 320


def transform_throughput(data_dir: str, run_dir: str) -> Dict[str, Any]:
  """build-examples + Transform (paper config) in a fresh interpreter."""
  r = preprocess.run_stages(data_dir, run_dir, common.IN_MEMORY, cfg=CONFIG)
  return {"reviews": r["kept"], "images": r["images"],
          "transform_s": r["transform_s"],
          "transform_reviews_per_s": r["kept"] / r["transform_s"],
          "transform_images_per_s": r["images"] / r["transform_s"],
          "build_examples_s": r["build_examples_s"]}


def _distinct_share(ds, batches: int) -> float:
  """Mean share of distinct image ids in the first ``batches`` batches."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from preprocessing import features as F  # pylint: disable=g-import-not-at-top
  shares = [len(np.unique(x[F.IMAGE_ID_XF].numpy())) /
            int(x[F.IMAGE_ID_XF].shape[0]) for x, _ in ds.take(batches)]
  return float(np.mean(shares))


def train_throughput(transform_dir: str, *, steps: int, warmup: int,
                     batch_size: int) -> List[Dict[str, Any]]:
  """One row per precision mode: steps/s, reviews/s, images/s."""
  # pylint: disable=g-import-not-at-top
  import keras
  import tensorflow_transform as tft
  from keras_model import cfan
  from keras_model import inputs
  from keras_model import training
  from preprocessing import config as cfg_lib
  # pylint: enable=g-import-not-at-top
  base = cfg_lib.get_config(CONFIG, batch_size=batch_size)
  tft_output = tft.TFTransformOutput(os.path.join(transform_dir,
                                                  "transform_fn"))
  rows = inputs.Rows.from_files(
      [os.path.join(transform_dir, "transformed", "*")], tft_output)
  vocab = inputs.Vocab(tft_output, base)
  _, lookup = training.build_profiles(
      rows.collect(training.PROFILE_COLUMNS), vocab, base)
  ds = inputs.model_dataset(
      rows.batches(batch_size, shuffle=True, seed=0).repeat(), base, lookup,
      mode="mixed", seed=0)
  distinct = _distinct_share(ds, min(steps, 50))
  out = []
  for name, precision, xla in MODES:
    cfg = base.replace(mixed_precision=precision, xla=xla)
    keras.backend.clear_session()
    policy = cfan.configure_precision(cfg)
    model = cfan.build_cfan(cfg, num_users=vocab.num_users,
                            num_images=vocab.num_images,
                            num_tags=vocab.num_tags,
                            review_vocab_size=vocab.review_vocab_size,
                            allow_random_init=True)
    train_model = cfan.compile_cfan(model, cfg)
    t0 = time.perf_counter()
    train_model.fit(ds, steps_per_epoch=warmup, epochs=1, verbose=0)
    warmup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    train_model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - t0
    reviews_per_s = steps * batch_size / seconds
    out.append({"mode": name, "policy": policy, "xla": xla,
                "batch_size": batch_size, "steps": steps,
                "warmup_s": warmup_s, "steps_per_s": steps / seconds,
                "reviews_per_s": reviews_per_s,
                "images_per_s": reviews_per_s * distinct,
                "distinct_images_per_batch": distinct * batch_size})
  keras.mixed_precision.set_global_policy("float32")
  return out


def main(argv: Sequence[str] | None = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--out", default=os.path.join(common.DEFAULT_OUT,
                                                "gpu_check"))
  ap.add_argument("--steps", type=int, default=100,
                  help="timed training steps per precision mode")
  ap.add_argument("--warmup", type=int, default=10,
                  help="untimed steps first (graph building, XLA compile)")
  ap.add_argument("--batch-size", type=int, default=None,
                  help="default: the paper config's")
  ap.add_argument("--users", type=int, default=150)
  ap.add_argument("--images", type=int, default=1200)
  args = ap.parse_args(argv)
  if min(args.steps, args.warmup, args.users, args.images) < 1:
    ap.error("--steps, --warmup, --users and --images must be >= 1")
  # pylint: disable=g-import-not-at-top
  import demo_data
  import tensorflow as tf
  from preprocessing import config as cfg_lib
  # pylint: enable=g-import-not-at-top
  batch_size = args.batch_size or cfg_lib.get_config(CONFIG).batch_size
  data = os.path.join(args.out, f"data_{args.users}u_{args.images}i")
  if not os.path.exists(os.path.join(data, demo_data.TRUTH_FILE)):
    demo_data.generate(data, users=args.users, images=args.images, seed=0,
                       image_size=PHOTO_SIZE)
  run_dir = os.path.join(args.out, "run")
  stages = transform_throughput(data, run_dir)
  image_size = cfg_lib.get_config(CONFIG).image_size
  print(common.table([stages], list(stages),
                     title=f"Transform at {image_size} px ({CONFIG})"),
        flush=True)
  modes = train_throughput(os.path.join(run_dir, "transform"),
                           steps=args.steps, warmup=args.warmup,
                           batch_size=batch_size)
  gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
  print(common.table(modes, ["mode", "policy", "batch_size", "steps",
                             "warmup_s", "steps_per_s", "reviews_per_s",
                             "images_per_s", "distinct_images_per_batch"],
                     title=f"Training {CONFIG} (random-init VGG-16), GPUs: "
                     f"{', '.join(gpus) or 'none'}"), flush=True)
  path = common.write_json(os.path.join(args.out, "gpu_check.json"), {
      "machine": common.machine(), "gpus": gpus, "config": CONFIG,
      "image_size": image_size, "transform": stages, "training": modes})
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

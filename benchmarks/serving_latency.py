"""Latency of ``serving_raw`` next to the bare Keras model, on CPU.

``serving_raw`` does everything a request needs: JPEG decode, resize and
re-encode (the Transform graph), tokenisation and vocabulary look-ups, the
stored-profile gather, the model, temperature and the cold-user rule. The
bare Keras CFAN (same config and vocabulary sizes, the exported weights
copied in) is called on tensors that are already decoded, resized and
tokenised. The ratio of the two is the serving overhead.

Measured: p50/p99 latency of single-row calls (batch 1) and throughput at
batch 64, each after warm-up, in graph mode (a ``tf.function`` for the bare
model, the SavedModel's concrete function for serving). Variants of
serving_raw: review-free (stored profile), with a review, and with a request
profile (one more Transform pass over its lines).

Usage::

  .venv/bin/python benchmarks/serving_latency.py --model demo_run/serving \\
      --out bench_out/latency

Without ``--model`` a tiny pipeline run (cpu config) is made first.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from typing import Any, Callable, Dict

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

from preprocessing import keras_env as _keras_env  # noqa: E402,F401
import numpy as np  # noqa: E402

from preprocessing import config as cfg_lib  # noqa: E402
from preprocessing import features as F  # noqa: E402

RESULT_FILE = "serving_latency.json"
PROFILE = ("The composition is great and the light is lovely.\n"
           "Too dark, the focus is soft.\nBeautiful colours, sharp detail.")


def timed(fns: Dict[str, Callable[[], Any]], calls: int,
          warmup: int) -> Dict[str, np.ndarray]:
  """Seconds per call of each fn, interleaved call by call.

  Round-robin over the variants, so that load from other processes on a
  shared machine falls on all of them alike (results are forced to host
  memory by the callables).
  """
  for fn in fns.values():
    for _ in range(warmup):
      fn()
  out = {name: np.empty(calls) for name in fns}
  for i in range(calls):
    for name, fn in fns.items():
      t = time.perf_counter()
      fn()
      out[name][i] = time.perf_counter() - t
  return out


def summarise(batch1: np.ndarray, batch64: np.ndarray) -> Dict[str, float]:
  return {"p50_ms": float(np.percentile(batch1, 50) * 1e3),
          "p99_ms": float(np.percentile(batch1, 99) * 1e3),
          "mean_ms": float(batch1.mean() * 1e3),
          "rows_per_s_batch64": float(64 / np.median(batch64)),
          "batch64_p50_ms": float(np.percentile(batch64, 50) * 1e3)}


def bare_model(fn, cfg):
  """CFAN rebuilt at the exported sizes, with the exported weights."""
  from keras_model import cfan  # pylint: disable=g-import-not-at-top
  variables = {v.name.split(":")[0]: v for v in fn.variables}

  def rows(name):
    return int(variables[name].shape[0])

  tag_kernel = [v for k, v in variables.items()
                if k.startswith(F.TAG_OUTPUT) and k.endswith("logits/kernel")]
  model = cfan.build_cfan(
      cfg, num_users=rows("user_embedding/embeddings"),
      num_images=rows("image_embedding/embeddings"),
      num_tags=int(tag_kernel[0].shape[1]),
      review_vocab_size=rows("word_embedding/embeddings"))
  def plain(path):  # Keras numbers repeated names per process: gru_1
    return re.sub(r"_\d+(?=/|$)", "", path)

  by_plain: Dict[str, list] = {}
  for k, v in variables.items():
    by_plain.setdefault(plain(k), []).append(v)
  missing = []
  for w in model.weights:
    src = variables.get(w.path)
    if src is None and len(by_plain.get(plain(w.path), [])) == 1:
      src = by_plain[plain(w.path)][0]
    if src is not None and tuple(src.shape) == tuple(w.shape):
      w.assign(src.numpy())
    else:
      missing.append(w.path)
  return model, missing


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--model", default=None,
                  help="serving dir or SavedModel (cpu config)")
  ap.add_argument("--out", required=True)
  ap.add_argument("--calls", type=int, default=300, help="batch-1 calls")
  ap.add_argument("--batches", type=int, default=30, help="batch-64 calls")
  ap.add_argument("--warmup", type=int, default=20)
  args = ap.parse_args(argv)
  out_dir = os.path.abspath(args.out)
  os.makedirs(out_dir, exist_ok=True)

  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from keras_model import signatures
  import demo_data
  from preprocessing.images import reencode_image
  from tfx_pipeline import predict
  # pylint: enable=g-import-not-at-top
  model_path = args.model
  if model_path is None:
    from tfx_pipeline import local_runner  # pylint: disable=g-import-not-at-top
    data = os.path.join(out_dir, "data")
    demo_data.generate(data, users=16, images=90, seed=3)
    res = local_runner.run(data, os.path.join(out_dir, "work"),
                           config_name="cpu", train_steps=40, min_auc=0.0,
                           min_tag_images=6, floor_gate=False,
                           log=lambda *a: None)
    model_path = res.serving_dir
  model_dir = predict.resolve_model_dir(model_path)
  cfg = cfg_lib.get_config("cpu")
  loaded = signatures.load_serving_model(model_dir)
  fn = loaded.signatures[signatures.SERVING_RAW]
  with open(os.path.join(model_dir, "assets", F.USER_VOCAB), "rb") as fh:
    user = fh.readline().strip().decode()  # a known user
  # A demo photo at the stored size (320 px JPEG), as requests carry it.
  demo = os.path.join(out_dir, "photo")
  if not os.path.isdir(demo):
    demo_data.generate(demo, users=2, images=4, seed=5, image_size=320)
  img_dir = os.path.join(demo, F.IMAGES_DIR)
  photo = reencode_image(open(os.path.join(
      img_dir, sorted(os.listdir(img_dir))[0]), "rb").read())

  def raw_call(n, review="", profile=""):
    kw = {"user_id": tf.constant([user] * n),
          "image_bytes": tf.constant([photo] * n),
          "review": tf.constant([review] * n),
          "profile": tf.constant([profile] * n)}
    return lambda: fn(**kw)[F.PERSONAL_OUTPUT].numpy()

  variants = {"serving_raw (review-free, stored profile)": {},
              "serving_raw (with a review)": {"review": "the light is "
                                              "beautiful but the focus is "
                                              "soft"},
              "serving_raw (request profile, 3 lines)": {"profile": PROFILE}}
  keras_model, missing = bare_model(fn, cfg)
  copied, total = len(keras_model.weights) - len(missing), len(
      keras_model.weights)
  spec = {F.USER_XF: tf.TensorSpec([None], tf.int64),
          F.IMAGE_ID_XF: tf.TensorSpec([None], tf.int64),
          F.IMAGE_PIXELS_KEY: tf.TensorSpec(
              [None, cfg.image_size, cfg.image_size, 3], tf.float32),
          F.IMAGE_SLOT_KEY: tf.TensorSpec([None], tf.int64),
          F.REVIEW_XF: tf.TensorSpec([None, cfg.profile_len], tf.int64)}
  call = tf.function(lambda x: keras_model(x, training=False),
                     input_signature=[spec])
  rng = np.random.default_rng(0)

  def bare_call(n):
    x = {F.USER_XF: tf.zeros([n], tf.int64),
         F.IMAGE_ID_XF: tf.zeros([n], tf.int64),
         F.IMAGE_PIXELS_KEY: tf.constant(rng.uniform(
             0, 255, (n, cfg.image_size, cfg.image_size, 3)), tf.float32),
         F.IMAGE_SLOT_KEY: tf.range(n, dtype=tf.int64),
         F.REVIEW_XF: tf.constant(rng.integers(
             1, 50, (n, cfg.profile_len)), tf.int64)}
    return lambda: call(x)[F.PERSONAL_OUTPUT].numpy()

  bare = "bare Keras model (decoded tensors)"
  by_batch = {}
  for n, calls, warm in ((1, args.calls, args.warmup),
                         (64, args.batches, max(3, args.warmup // 4))):
    fns = {name: raw_call(n, **kw) for name, kw in variants.items()}
    fns[bare] = bare_call(n)
    by_batch[n] = timed(fns, calls, warm)
    print(f"measured batch {n}", flush=True)
  results: Dict[str, Dict[str, float]] = {
      name: summarise(by_batch[1][name], by_batch[64][name])
      for name in by_batch[1]}
  base = results["serving_raw (review-free, stored profile)"]
  ratio = {"p50_batch1": base["p50_ms"] / results[bare]["p50_ms"],
           "throughput_batch64": (results[bare]["rows_per_s_batch64"] /
                                  base["rows_per_s_batch64"])}
  report = {"model": model_dir, "config": "cpu", "cpu_cores": os.cpu_count(),
            "load_average_at_end": list(os.getloadavg()),
            "tf_threads": {"intra": tf.config.threading
                           .get_intra_op_parallelism_threads(),
                           "inter": tf.config.threading
                           .get_inter_op_parallelism_threads()},
            "calls_batch1": args.calls, "calls_batch64": args.batches,
            "bare_model_weights_copied": f"{copied}/{total}",
            "bare_model_weights_not_found": missing,
            "results": results, "serving_over_bare": ratio}
  with open(os.path.join(out_dir, RESULT_FILE), "w") as fh:
    json.dump(report, fh, indent=2)
  print(f"\nmodel {model_dir} (cpu config), {os.cpu_count()} CPU cores")
  print(f"{'path':<44s} {'p50 ms':>7s} {'p99 ms':>7s} {'rows/s @64':>11s}")
  for name, r in results.items():
    print(f"{name:<44s} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} "
          f"{r['rows_per_s_batch64']:11.0f}")
  print(f"serving_raw / bare: {ratio['p50_batch1']:.1f}x the batch-1 p50, "
        f"{ratio['throughput_batch64']:.1f}x fewer rows/s at batch 64 "
        f"(weights copied {copied}/{total})")
  print(f"wrote {os.path.join(out_dir, RESULT_FILE)}")
  return 0


if __name__ == "__main__":
  rc = main()
  sys.stdout.flush()
  os._exit(rc)  # pylint: disable=protected-access

"""Preprocessing benchmarks: scaling, Beam modes, throughput vs decode limit.

* ``scaling``: wall time and peak memory of the two Beam stages (rating
  recovery = ``build-examples``; Transform = ``preprocessing_fn`` through
  tf.Transform) at growing demo sizes, and the fitted exponent
  time ~ reviews^k (k = 1 is linear).
* ``beam_modes``: the same stages with the DirectRunner in memory vs
  multi-processing, side by side per size: where multi-processing wins.
* ``throughput``: images/s of each stage vs the machine's raw limit for the
  same image bytes, one decode per image (a tf.data loop of decode_image +
  resize), at the `cpu` size and at 320 px.

Each measurement runs in a fresh interpreter (so peak memory is its own);
``python -m benchmarks.preprocess --help``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

from benchmarks import common

_STAGES_CODE = """
import time, glob, os, json
import preprocessing
from preprocessing import build_examples, transform, config
data, out, beam_args, cfg_name = {data!r}, {out!r}, {beam_args!r}, {cfg!r}
t0 = time.perf_counter()
s = build_examples.run(data, os.path.join(out, "examples"),
                       min_tag_images={min_tag_images!r},
                       beam_args=beam_args)
t1 = time.perf_counter()
transform.run_transform(os.path.join(out, "examples", "examples", "*"),
                        os.path.join(out, "transform"),
                        config.get_config(cfg_name), beam_args)
t2 = time.perf_counter()
result = {{"reviews_in": s["reviews"]["in"], "kept": s["reviews"]["kept"],
          "images": s["images"]["with_kept_reviews"],
          "build_examples_s": t1 - t0, "transform_s": t2 - t1}}
"""


_TRANSFORM_CODE = """
import time, os
import preprocessing
from preprocessing import transform, config
t0 = time.perf_counter()
transform.run_transform({pattern!r}, {out!r}, config.get_config({cfg!r}),
                        {beam_args!r})
result = {{"transform_s": time.perf_counter() - t0}}
"""


def run_stages(data: str, out: str, beam_args: Sequence[str],
               cfg: str = "cpu") -> Dict[str, Any]:
  return common.run_python(_STAGES_CODE.format(
      data=data, out=out, beam_args=list(beam_args), cfg=cfg,
      min_tag_images=common.min_tag_images_for(data)))


def fit_exponent(xs: Sequence[float], ys: Sequence[float]) -> float:
  """Least-squares slope of log(y) on log(x)."""
  lx = [math.log(x) for x in xs]
  ly = [math.log(y) for y in ys]
  mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
  num = sum((a - mx) * (b - my) for a, b in zip(lx, ly))
  den = sum((a - mx) ** 2 for a in lx)
  return num / den if den else float("nan")


def scaling(out_root: str, scales: Sequence[float]) -> Dict[str, Any]:
  from tfx_pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  rows: List[Dict[str, Any]] = []
  for scale in scales:
    data = common.demo_dataset(out_root, scale)
    approx = int(scale * 1000)
    beam_args = pipeline_lib.default_beam_args(approx, os.cpu_count() or 1)
    r = run_stages(data, os.path.join(out_root, f"scaling_{scale:g}"),
                   beam_args)
    r.update(scale=scale, beam_mode=beam_args[0].split("=")[1],
             total_s=r["build_examples_s"] + r["transform_s"])
    rows.append(r)
    print(common.table([r], ["scale", "reviews_in", "kept", "beam_mode",
                             "build_examples_s", "transform_s", "total_s",
                             "peak_rss_mib"]), flush=True)
  rows = [r for r in rows if r["kept"] > 0]
  kept = [r["kept"] for r in rows]
  result = {"rows": rows}
  if len(rows) >= 2:
    result["exponent_total"] = fit_exponent(kept, [r["total_s"] for r in rows])
    result["exponent_largest_two"] = fit_exponent(
        kept[-2:], [r["total_s"] for r in rows[-2:]])
    result["exponent_memory"] = fit_exponent(
        kept, [r["peak_rss_mib"] for r in rows])
  return result


def transform_marginal_rate(rows: Sequence[Dict[str, Any]]
                            ) -> Optional[float]:
  """Images per second Transform adds between the two largest scaling runs:
  (images_b - images_a) / (transform_s_b - transform_s_a), its rate without
  the fixed start-up and analysis cost that dominates small runs; None with
  fewer than two runs or no time added."""
  if len(rows) < 2:
    return None
  a, b = rows[-2], rows[-1]
  dt = b["transform_s"] - a["transform_s"]
  return (b["images"] - a["images"]) / dt if dt > 0 else None


def beam_modes(out_root: str, scales: Sequence[float]) -> Dict[str, Any]:
  rows = []
  for scale in scales:
    data = common.demo_dataset(out_root, scale)
    row: Dict[str, Any] = {"scale": scale}
    for mode, args in (("in_memory", common.IN_MEMORY),
                       ("multi_processing", common.multi_processing())):
      r = run_stages(data, os.path.join(out_root, f"modes_{scale:g}_{mode}"),
                     args)
      row["kept"] = r["kept"]
      row[f"{mode}_s"] = r["build_examples_s"] + r["transform_s"]
      row[f"{mode}_rss_mib"] = r["peak_rss_mib"]
    row["mp_over_inmem"] = row["multi_processing_s"] / row["in_memory_s"]
    rows.append(row)
    print(common.table([row], ["scale", "kept", "in_memory_s",
                               "multi_processing_s", "mp_over_inmem"]),
          flush=True)
  wins = [r["kept"] for r in rows if r["mp_over_inmem"] < 1.0]
  return {"rows": rows, "cpus": os.cpu_count(),
          "multi_processing_wins_from_kept": min(wins) if wins else None}


_DECODE_CODE = """
import glob, time
import preprocessing
import tensorflow as tf
from preprocessing import features as F, config
cfg = config.get_config({cfg!r})
files = sorted(glob.glob({pattern!r}))
spec = {{F.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)}}
# One decode per image: the distinct stored photos (build-examples stores
# the same bytes on every review of an image).
images = list(dict.fromkeys(
    tf.io.parse_single_example(r, spec)[F.IMAGE_KEY].numpy()
    for r in tf.data.TFRecordDataset(files)))
def decode(b):
  img = tf.io.decode_image(b, channels=3, expand_animations=False)
  return tf.image.resize(img, [cfg.image_size, cfg.image_size])
ds = (tf.data.Dataset.from_tensor_slices(images)
      .map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(256)
      .prefetch(tf.data.AUTOTUNE))
for _ in ds.take(2): pass  # warm-up
t0 = time.perf_counter(); n = 0
for b in ds: n += int(b.shape[0])
dt = time.perf_counter() - t0
result = {{"images": n, "decode_resize_per_s": n / dt}}
"""


def throughput(out_root: str, scale: float,
               photo_px: Optional[int] = None) -> Dict[str, Any]:
  """Stage throughput vs the raw decode+resize limit, in images per second.

  The limit decodes and resizes each distinct stored photo once (a tf.data
  loop); Transform runs at the `cpu` size (with build-examples) and again
  at the `paper` size (320 px) on the same labelled examples, each against
  the limit at its own size. ``photo_px``: the demo photos' longer side
  (default: the demo's small photos).
  """
  from preprocessing import config as cfg_lib  # pylint: disable=g-import-not-at-top
  data = common.demo_dataset(out_root, scale, photo_px=photo_px)
  run_dir = os.path.join(out_root,
                         f"throughput_{scale:g}{common.px_suffix(photo_px)}")
  stages = run_stages(data, run_dir, common.IN_MEMORY)
  pattern = os.path.join(run_dir, "examples", "examples", "*")
  paper = common.run_python(_TRANSFORM_CODE.format(
      pattern=pattern, out=os.path.join(run_dir, "transform_paper"),
      cfg="paper", beam_args=common.IN_MEMORY))
  images = stages["images"]
  row = {
      "photo_px": photo_px or cfg_lib.DEMO_IMAGE_SIZE,
      "kept": stages["kept"], "images": images,
      "build_examples_images_per_s": images / stages["build_examples_s"],
  }
  for name, transform_s in (("cpu", stages["transform_s"]),
                            ("paper", paper["transform_s"])):
    limit = common.run_python(_DECODE_CODE.format(cfg=name, pattern=pattern))
    row[f"transform_{name}_images_per_s"] = images / transform_s
    row[f"raw_decode_resize_{name}_images_per_s"] = limit[
        "decode_resize_per_s"]
    row[f"transform_{name}_over_limit"] = (
        row[f"transform_{name}_images_per_s"] /
        limit["decode_resize_per_s"])
  row["build_examples_over_limit"] = (
      row["build_examples_images_per_s"] /
      row["raw_decode_resize_cpu_images_per_s"])
  print(common.table([row], list(row)), flush=True)
  return {"row": row, "run_dir": run_dir}


def main(argv: Sequence[str] | None = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--out", default=common.DEFAULT_OUT)
  ap.add_argument("--what", choices=("scaling", "beam_modes", "throughput"),
                  action="append")
  ap.add_argument("--scales", type=float, nargs="+", default=[1, 10, 100])
  ap.add_argument("--mode-scales", type=float, nargs="+", default=[2, 10, 40])
  ap.add_argument("--throughput-scale", type=float, default=10)
  args = ap.parse_args(argv)
  what = args.what or ["throughput", "beam_modes", "scaling"]
  res: Dict[str, Any] = {"machine": common.machine()}
  if "throughput" in what:
    res["throughput"] = throughput(args.out, args.throughput_scale)
  if "beam_modes" in what:
    res["beam_modes"] = beam_modes(args.out, args.mode_scales)
  if "scaling" in what:
    res["scaling"] = scaling(args.out, args.scales)
  path = common.write_json(os.path.join(args.out, "preprocess.json"), res)
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

"""Storage: bytes per labelled / transformed example and per image, and the
projection to AVA scale (255,530 images, 1,435,120 labelled reviews).

Measured on a ``benchmarks.preprocess`` run directory (labelled examples of
``build-examples`` and the `cpu` Transform output) plus a small Transform run
at the `paper` image size (320x320) to measure the transformed JPEG there.
The demo photos are synthetic and compress better than real photographs, so
the projection uses the measured *non-image* bytes per example plus the
design notes' 30 kB for a 320-px JPEG at quality 90; the measured figures are
printed beside it.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
from typing import Any, Dict, Sequence

from benchmarks import common

AVA_IMAGES = 255_530
AVA_REVIEWS = 1_435_120
JPEG_320_BYTES = 30_000  # design notes: re-encoded 320-px JPEG, quality 90


def _examples_stats(pattern: str, image_key: str) -> Dict[str, float]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = sorted(glob.glob(pattern))
  comp = "GZIP" if files and files[0].endswith(".gz") else ""
  n = total = image = 0
  for rec in tf.data.TFRecordDataset(files, compression_type=comp):
    raw = rec.numpy()
    ex = tf.train.Example.FromString(raw)
    n += 1
    total += len(raw)
    image += len(ex.features.feature[image_key].bytes_list.value[0])
  disk = sum(os.path.getsize(f) for f in files)
  return {"examples": n, "serialized_bytes_per_example": total / max(n, 1),
          "image_bytes_per_example": image / max(n, 1),
          "non_image_bytes_per_example": (total - image) / max(n, 1),
          "disk_bytes_per_example": disk / max(n, 1)}


def measure(run_dir: str, data_dir: str, paper_sample: int = 300
            ) -> Dict[str, Any]:
  # pylint: disable=g-import-not-at-top
  import json
  import tensorflow as tf
  from preprocessing import config as cfg_lib
  from preprocessing import features as F
  from preprocessing import transform
  # pylint: enable=g-import-not-at-top
  labelled = _examples_stats(os.path.join(run_dir, "examples", "examples",
                                          "*"), F.IMAGE_KEY)
  xf_cpu = _examples_stats(os.path.join(run_dir, "transform", "transformed",
                                        "*"), F.IMAGE_XF)
  with open(os.path.join(run_dir, "examples", "summary.json")) as fh:
    summary = json.load(fh)
  n_images = summary["images"]["with_kept_reviews"]
  raw_images = common.dir_bytes(os.path.join(data_dir, "images"))
  n_files = len(os.listdir(os.path.join(data_dir, "images")))
  # Transform at the paper size on a sample of the labelled examples.
  sample_dir = os.path.join(run_dir, "paper_sample")
  os.makedirs(os.path.join(sample_dir, "in"), exist_ok=True)
  src = sorted(glob.glob(os.path.join(run_dir, "examples", "examples", "*")))
  with tf.io.TFRecordWriter(os.path.join(sample_dir, "in",
                                         "sample.tfrecord")) as w:
    for rec in tf.data.TFRecordDataset(src).take(paper_sample):
      w.write(rec.numpy())
  transform.run_transform(os.path.join(sample_dir, "in", "*"),
                          os.path.join(sample_dir, "out"),
                          cfg_lib.get_config("paper"), common.IN_MEMORY)
  xf_paper = _examples_stats(os.path.join(sample_dir, "out", "transformed",
                                          "*"), F.IMAGE_XF)
  per_review_labelled = labelled["non_image_bytes_per_example"] + \
      JPEG_320_BYTES
  per_review_xf = xf_paper["non_image_bytes_per_example"] + JPEG_320_BYTES
  proj = {
      "labelled_examples_gb": AVA_REVIEWS * per_review_labelled / 1e9,
      "transformed_paper_gb": AVA_REVIEWS * per_review_xf / 1e9,
      "one_copy_per_image_gb": AVA_IMAGES * JPEG_320_BYTES / 1e9,
      "decoded_uint8_per_review_gb": AVA_REVIEWS * 320 * 320 * 3 / 1e9,
      "decoded_int64_per_review_gb": AVA_REVIEWS * 320 * 320 * 3 * 8 / 1e9,
  }
  # Raw AVA JPEG size per image at which each design meets "<= 0.5x corpus".
  proj["raw_kb_per_image_needed_for_half_labelled"] = (
      2 * proj["labelled_examples_gb"] * 1e9 / AVA_IMAGES / 1e3)
  proj["raw_kb_per_image_needed_for_half_per_image_store"] = (
      2 * proj["one_copy_per_image_gb"] * 1e9 / AVA_IMAGES / 1e3)
  return {
      "labelled": labelled, "transformed_cpu": xf_cpu,
      "transformed_paper_sample": xf_paper,
      "images": {"kept_images": n_images, "raw_files": n_files,
                 "raw_bytes_per_file": raw_images / max(n_files, 1),
                 "stored_jpeg_bytes_per_image":
                     summary["images"]["stored_jpeg_bytes_mean"]},
      "reviews_per_image": labelled["examples"] / max(n_images, 1),
      "ava_projection": proj,
  }


def main(argv: Sequence[str] | None = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--out", default=common.DEFAULT_OUT)
  ap.add_argument("--run-dir", default=None)
  ap.add_argument("--data-dir", default=None)
  args = ap.parse_args(argv)
  run_dir = args.run_dir or sorted(glob.glob(os.path.join(
      args.out, "throughput_*")))[-1]
  scale = run_dir.rsplit("_", 1)[-1]
  data_dir = args.data_dir or os.path.join(args.out,
                                           f"data_scale{scale}_seed0")
  res = measure(run_dir, data_dir)
  rows = [{"what": k, **{c: res[k][c] for c in (
      "examples", "serialized_bytes_per_example", "image_bytes_per_example",
      "non_image_bytes_per_example")}}
          for k in ("labelled", "transformed_cpu", "transformed_paper_sample")]
  print(common.table(rows, list(rows[0])))
  print(common.table([res["ava_projection"]], list(res["ava_projection"]),
                     title="AVA-scale projection"))
  path = common.write_json(os.path.join(args.out, "storage.json"),
                           {"machine": common.machine(), **res})
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

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
AVA_RAW_CORPUS_GB = 32.0  # the raw AVA JPEG corpus, about 32 GB (issue #11)


# Columns of the one-example-per-image table, in report order.
IMAGE_MAJOR_COLUMNS = ("images", "reviews", "serialized_bytes_per_image",
                       "image_bytes_per_image",
                       "fixed_non_image_bytes_per_image", "bytes_per_review")


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


# Per-image features of an image-major labelled example; the others
# (user, review text, labels of each review) become one list entry per review.
def _per_image_keys():
  from preprocessing import features as F  # pylint: disable=g-import-not-at-top
  return (F.IMAGE_ID_KEY, F.IMAGE_KEY, F.TAG_KEY, F.MEAN_SCORE_KEY,
          F.VOTES_KEY, F.AGNOSTIC_LABEL_KEY, F.CHALLENGE_KEY)


def image_major_stats(pattern: str) -> Dict[str, float]:
  """Bytes of the labelled examples regrouped one tf.Example per image.

  Every review of an image is appended to that image's list features (user
  id, review text, rating, ...); the photo, votes, tag and other per-image
  features are stored once. Measures the serialized bytes per image without
  any review (fixed part, photo excluded) and the bytes each review adds.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from preprocessing import features as F  # pylint: disable=g-import-not-at-top
  per_image = _per_image_keys()
  groups: Dict[bytes, Any] = {}
  files = sorted(glob.glob(pattern))
  comp = "GZIP" if files and files[0].endswith(".gz") else ""
  reviews = 0
  for rec in tf.data.TFRecordDataset(files, compression_type=comp):
    ex = tf.train.Example.FromString(rec.numpy())
    feats = ex.features.feature
    key = feats[F.IMAGE_ID_KEY].bytes_list.value[0]
    if key not in groups:
      groups[key] = tf.train.Example()
      for k in per_image:
        if k in feats:
          groups[key].features.feature[k].CopyFrom(feats[k])
    out = groups[key].features.feature
    for k, v in feats.items():
      if k in per_image:
        continue
      kind = v.WhichOneof("kind")
      getattr(out[k], kind).value.extend(getattr(v, kind).value)
    reviews += 1
  total = image = fixed = 0
  for ex in groups.values():
    total += ex.ByteSize()
    image += len(ex.features.feature[F.IMAGE_KEY].bytes_list.value[0])
    bare = tf.train.Example()
    for k in per_image:
      if k in ex.features.feature and k != F.IMAGE_KEY:
        bare.features.feature[k].CopyFrom(ex.features.feature[k])
    fixed += bare.ByteSize()
  n = max(len(groups), 1)
  return {"images": len(groups), "reviews": reviews,
          "serialized_bytes_per_image": total / n,
          "image_bytes_per_image": image / n,
          "fixed_non_image_bytes_per_image": fixed / n,
          "bytes_per_review": (total - image - fixed) / max(reviews, 1)}


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
  image_major = image_major_stats(os.path.join(run_dir, "examples",
                                              "examples", "*"))
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
  # Image-major: the photo and per-image fields once, each review's bytes
  # once. Transformed at the paper size: one 320-px JPEG per image plus, per
  # review, the measured transformed non-image bytes of a review-major row
  # (an upper bound: that row also repeats the image's votes, tag and index).
  proj["labelled_image_major_gb"] = (
      AVA_IMAGES * (JPEG_320_BYTES +
                    image_major["fixed_non_image_bytes_per_image"]) +
      AVA_REVIEWS * image_major["bytes_per_review"]) / 1e9
  proj["transformed_image_major_gb"] = (
      AVA_IMAGES * JPEG_320_BYTES +
      AVA_REVIEWS * xf_paper["non_image_bytes_per_example"]) / 1e9
  proj["image_major_both_gb"] = (proj["labelled_image_major_gb"] +
                                 proj["transformed_image_major_gb"])
  proj["review_major_both_gb"] = (proj["labelled_examples_gb"] +
                                  proj["transformed_paper_gb"])
  proj["image_major_both_over_raw_corpus"] = (proj["image_major_both_gb"] /
                                              AVA_RAW_CORPUS_GB)
  proj["review_major_both_over_raw_corpus"] = (proj["review_major_both_gb"] /
                                               AVA_RAW_CORPUS_GB)
  # Raw AVA JPEG size per image at which each design meets "<= 0.5x corpus".
  proj["raw_kb_per_image_needed_for_half_labelled"] = (
      2 * proj["labelled_examples_gb"] * 1e9 / AVA_IMAGES / 1e3)
  proj["raw_kb_per_image_needed_for_half_per_image_store"] = (
      2 * proj["one_copy_per_image_gb"] * 1e9 / AVA_IMAGES / 1e3)
  return {
      "labelled": labelled, "transformed_cpu": xf_cpu,
      "labelled_image_major": image_major,
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
  im = res["labelled_image_major"]
  print(common.table([im], list(IMAGE_MAJOR_COLUMNS),
                     title="Labelled, one example per image"))
  print(common.table([res["ava_projection"]], list(res["ava_projection"]),
                     title="AVA-scale projection"))
  path = common.write_json(os.path.join(args.out, "storage.json"),
                           {"machine": common.machine(), **res})
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

"""Storage: bytes per stored example, photo and review, and the projection to
AVA scale (255,530 images, 1,435,120 labelled reviews).

The stored layout is image-major (preprocessing.features): an example holds
one photo and all its reviews of its split (training or eval).

Measured on a ``benchmarks.preprocess`` run directory (labelled examples of
``build-examples`` and the `cpu` Transform output) plus a small Transform run
at the `paper` image size (320x320) to measure the transformed JPEG there.
The demo photos are synthetic and compress better than real photographs, so
the projection uses the measured photos stored per image and *non-image*
bytes per review plus the design notes' 30 kB for a 320-px JPEG at quality
90; the measured figures are printed beside it.
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


# Columns of the stored-bytes table, in report order.
STORED_COLUMNS = ("what", "examples", "reviews", "reviews_per_example",
                  "image_bytes_per_example", "non_image_bytes_per_review",
                  "serialized_bytes_per_review")


def _examples_stats(pattern: str, image_key: str, review_key: str
                    ) -> Dict[str, float]:
  """Measured bytes of stored tf.Examples (labelled or transformed).

  The layout is image-major (preprocessing.features): an example holds one
  photo and ``review_key`` holds one value per review of it (ragged
  transformed features are stored as ``<key>$ragged_values``).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = sorted(glob.glob(pattern))
  comp = "GZIP" if files and files[0].endswith(".gz") else ""
  n = reviews = total = image = 0
  for rec in tf.data.TFRecordDataset(files, compression_type=comp):
    raw = rec.numpy()
    feats = tf.train.Example.FromString(raw).features.feature
    n += 1
    total += len(raw)
    image += len(feats[image_key].bytes_list.value[0])
    per_review = feats[review_key] if review_key in feats else feats[
        review_key + "$ragged_values"]
    kind = per_review.WhichOneof("kind")
    reviews += len(getattr(per_review, kind).value)
  disk = sum(os.path.getsize(f) for f in files)
  return {"examples": n, "reviews": reviews,
          "reviews_per_example": reviews / max(n, 1),
          "serialized_bytes_per_example": total / max(n, 1),
          "image_bytes_per_example": image / max(n, 1),
          "non_image_bytes_per_review": (total - image) / max(reviews, 1),
          "serialized_bytes_per_review": total / max(reviews, 1),
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
                                          "*"), F.IMAGE_KEY, F.USER_KEY)
  xf_cpu = _examples_stats(os.path.join(run_dir, "transform", "transformed",
                                        "*"), F.IMAGE_XF, F.USER_XF)
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
                                          "*"), F.IMAGE_XF, F.USER_XF)
  # AVA projection from the stored layout: photos stored per image (one per
  # split the image has reviews in) at the design notes' 30 kB per 320-px
  # JPEG, plus
  # the measured non-photo bytes per review of each kind of data.
  photos_per_image = labelled["examples"] / max(n_images, 1)
  photo_gb = AVA_IMAGES * photos_per_image * JPEG_320_BYTES / 1e9
  proj = {
      "stored_photos_per_image": photos_per_image,
      "labelled_gb": photo_gb + AVA_REVIEWS *
                     labelled["non_image_bytes_per_review"] / 1e9,
      "transformed_paper_gb": photo_gb + AVA_REVIEWS *
                              xf_paper["non_image_bytes_per_review"] / 1e9,
      "one_copy_per_image_gb": AVA_IMAGES * JPEG_320_BYTES / 1e9,
      # A photo on every review (the layout before image-major storage).
      "photo_per_review_gb": AVA_REVIEWS * JPEG_320_BYTES / 1e9,
  }
  proj["both_gb"] = proj["labelled_gb"] + proj["transformed_paper_gb"]
  proj["both_over_raw_corpus"] = proj["both_gb"] / AVA_RAW_CORPUS_GB
  return {
      "labelled": labelled, "transformed_cpu": xf_cpu,
      "transformed_paper_sample": xf_paper,
      "images": {"kept_images": n_images, "raw_files": n_files,
                 "raw_bytes_per_file": raw_images / max(n_files, 1),
                 "stored_jpeg_bytes_per_image":
                     summary["images"]["stored_jpeg_bytes_mean"]},
      "reviews_per_image": labelled["reviews"] / max(n_images, 1),
      "ava_projection": proj,
  }


def stored_rows(res: Dict[str, Any]) -> list:
  """The stored-bytes table's rows of a ``measure`` result."""
  return [{"what": k, **{c: res[k][c] for c in STORED_COLUMNS[1:]}}
          for k in ("labelled", "transformed_cpu", "transformed_paper_sample")]


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
  print(common.table(stored_rows(res), list(STORED_COLUMNS),
                     title="Stored examples"))
  print(common.table([res["ava_projection"]], list(res["ava_projection"]),
                     title="AVA-scale projection"))
  path = common.write_json(os.path.join(args.out, "storage.json"),
                           {"machine": common.machine(), **res})
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

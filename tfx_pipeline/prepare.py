"""Data preparation before a pipeline run: labelled examples on disk.

``ensure_examples`` runs ``cfan build-examples`` (Beam) unless the data
directory is unchanged since the last conversion (fingerprint of names,
sizes and mtimes), so a rerun keeps ImportExampleGen's input fingerprint and
every component is served from cache. ``read_tfrecords`` reads examples back
(tests, benchmarks).
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Callable, Dict, List, Optional, Sequence

FINGERPRINT_FILE = "data_fingerprint.json"


def _data_fingerprint(data_dir: str) -> str:
  """Hash of every file's relative path, size and mtime under data_dir."""
  h = hashlib.sha256()
  for root, dirs, files in os.walk(data_dir):
    dirs.sort()
    for name in sorted(files):
      path = os.path.join(root, name)
      st = os.stat(path)
      h.update(f"{os.path.relpath(path, data_dir)}\0{st.st_size}\0"
               f"{st.st_mtime_ns}\n".encode())
  return h.hexdigest()


def _reusable_summary(examples_root: str, key: Dict[str, Any]):
  """The summary of a finished conversion of the same inputs, else None."""
  # pylint: disable=g-import-not-at-top
  from preprocessing import build_examples
  from preprocessing import examples_summary
  # pylint: enable=g-import-not-at-top
  fp_path = os.path.join(examples_root, FINGERPRINT_FILE)
  summary_path = os.path.join(examples_root, build_examples.SUMMARY_FILE)
  if not (os.path.exists(fp_path) and os.path.exists(summary_path)):
    return None
  with open(fp_path) as fh:
    if json.load(fh) != key:
      return None
  with open(summary_path) as fh:
    summary = json.load(fh)
  return summary if examples_summary.accounting_ok(summary) else None


def ensure_examples(data_dir: str, examples_root: str, *,
                    min_tag_images: Optional[int], beam_args: Sequence[str],
                    min_tag_share: Optional[float] = None,
                    log: Callable[..., None] = print) -> Dict[str, Any]:
  """Runs build-examples unless the same data was already converted.

  Args:
    data_dir: the AVA-review directory.
    examples_root: output directory of build-examples (examples/, rejects/,
      summary.json) and of the fingerprint of the inputs it was built from.
    min_tag_images: the major-tag threshold, an absolute count; None: the
      share ``min_tag_share`` of the images (default
      ``features.DEFAULT_MIN_TAG_SHARE``). Both are part of the fingerprint.
    min_tag_share: see ``min_tag_images``.
    beam_args: Beam flags of the conversion.
    log: where the progress lines go.

  Returns:
    The build-examples summary (counts, split, floors).

  Raises:
    ValueError: no review of ``data_dir`` was kept (nothing to train on); the
      message names the reject reasons and the flag to change.
  """
  # pylint: disable=g-import-not-at-top
  from preprocessing import build_examples
  from preprocessing import examples_summary
  # pylint: enable=g-import-not-at-top
  from preprocessing import config as cfg_lib  # pylint: disable=g-import-not-at-top
  from preprocessing import eval_split  # pylint: disable=g-import-not-at-top
  from preprocessing import features as F  # pylint: disable=g-import-not-at-top
  if min_tag_share is None:
    min_tag_share = F.DEFAULT_MIN_TAG_SHARE
  key = {"data": os.path.abspath(data_dir),
         "fingerprint": _data_fingerprint(data_dir),
         "min_tag_images": min_tag_images,
         "min_tag_share": min_tag_share if min_tag_images is None else None,
         # The split's shares: examples of another split (or of the older
         # single-split layout) are rebuilt, never reused.
         "split": [cfg_lib.EVAL_COLD_IMAGE_SHARE,
                   cfg_lib.EVAL_WARM_PAIR_SHARE],
         # The data contract's features: examples written before a feature
         # joined it (or after one left) are rebuilt.
         "features": sorted(F.STRING_FEATURES + F.INT_FEATURES +
                            F.FLOAT_FEATURES +
                            tuple(F.VECTOR_INT_FEATURES))}
  summary = _reusable_summary(examples_root, key)
  if summary is not None:
    log(f"[1/2] build-examples: inputs unchanged, reusing {examples_root}")
    log(examples_summary.format_accounting(summary))
    log(eval_split.format_split(summary))
  else:
    # The fingerprint is written last and removed before a rebuild starts,
    # so the output of a job that died half-way is never taken for a
    # finished one.
    fp_path = os.path.join(examples_root, FINGERPRINT_FILE)
    if os.path.exists(fp_path):
      os.remove(fp_path)
    log(f"[1/2] build-examples: {data_dir} -> {examples_root}")
    summary = build_examples.run(data_dir, examples_root,
                                 min_tag_images=min_tag_images,
                                 min_tag_share=min_tag_share,
                                 beam_args=beam_args)
    log(examples_summary.format_summary(summary))
    tmp = fp_path + ".tmp"
    with open(tmp, "w") as fh:
      json.dump(key, fh)
    os.replace(tmp, fp_path)
  build_examples.check_kept(summary, data_dir, examples_root)
  return summary


def read_tfrecords(pattern: str) -> List[bytes]:
  """Every record of the TFRecord files matching ``pattern`` (GZIP by name).

  Args:
    pattern: a glob, e.g. ``.../Split-eval/*``.

  Returns:
    The serialized records, files in sorted order.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out: List[bytes] = []
  for f in sorted(tf.io.gfile.glob(pattern)):
    comp = "GZIP" if f.endswith(".gz") else ""
    out.extend(r.numpy() for r in tf.data.TFRecordDataset(
        f, compression_type=comp))
  return out

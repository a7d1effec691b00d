"""Beam job: AVA-review directory -> labelled tf.Examples + rejects + summary.

Stages (each a named Beam transform, so runner UIs show per-stage counts):

1. ``ReadAVA`` / ``ReadReviews``: the readers of :mod:`preprocessing.ava`
   yield records or :class:`~preprocessing.ava.Reject` s naming file and line.
2. ``MajorTags``: Kao et al.'s protocol — tag counts over AVA.txt, tags on at
   least :func:`major_tag_threshold` images are "major" (by default a share
   of the images, ``F.DEFAULT_MIN_TAG_SHARE``, which keeps AVA's 29 tags on
   full AVA; or an absolute count).
3. ``RecoverRatings``: paper §4.1 — classify each review (types I-IV), rewrite
   type II, drop III/IV (as counted rejects), aspect sentiment -> five
   preference levels -> good/bad.
4. ``DedupePairs``: one review per (user, image); later duplicates rejected.
5. ``JoinImages``: per image, its AVA record and its kept reviews; the image
   file is read and re-encoded **once per image**. Reviews of images that are unknown, without a major
   tag, missing on disk or undecodable become rejects with that reason. Each
   kept review gets its split here (:func:`eval_split.assign_splits`: stable hashes of
   the ids, so a rebuild gives the same split): a share of images is held
   out entirely (cold), and of the other images a share of (user, image)
   pairs goes to eval (warm); an eval row whose image has no training review
   is cold. An image with votes but no kept review (none written, or all
   rejected) that has a major tag and a readable file is kept as a training
   image with no reviews: the ``residual`` default's image model learns the
   vote distribution from every such image (design notes: NIMA). One
   without is set aside, counted by reason in the summary.
6. ``UserTrainStats`` / ``MakeExamples``: good and total counts of each
   user's *training* rows (a side input: one small dict, ~40 k users on AVA)
   give every row its ``user_train_rate`` (leave-one-out on training rows);
   the examples are written image-major (features.py), **one example per
   image** that stores the photo once with all its reviews: a warm image's
   in the training split, its held-out eval reviews marked
   (``features.HELD_OUT_KEY``: Transform's analyzers and the Trainer skip
   them, TFMA scores them); a cold image's in the eval split; a vote-only
   image makes one training example with no reviews.
7. ``Summary``: records in / kept / rejected (by reason), Eq. 7 consistency,
   the Table-1 statistics, the split counts and the floors
   (:mod:`evaluation.metrics`) on the eval rows, overall / warm / cold,
   written as JSON next to the examples.

Invariant checked at the end of every run: reviews in = kept + rejected.

Outputs under ``out_dir``::

    examples/examples-train-XXXXX-of-NNNNN.tfrecord  one tf.Example per warm
                                                     (or vote-only) image
    examples/examples-eval-XXXXX-of-NNNNN.tfrecord   one tf.Example per cold
                                                     image
    rejects/rejects-XXXXX-of-NNNNN.jsonl        one JSON object per reject
    summary.json                    counts, Eq. 7, Table 1, split, floors

(``examples/examples-*`` matches both splits; ImportExampleGen reads one
pattern per split, :func:`split_file_pattern`.)

Any standard Beam flag (``--runner=DataflowRunner --project ...``,
``--runner=FlinkRunner --flink_master ...``, ``--runner=SparkRunner``,
``--direct_num_workers`` ...) passes through ``beam_args`` unchanged.
"""
from __future__ import annotations

import json
import logging
import math
import os
from typing import (Any, Dict, Iterable, Iterator, List, Optional, Sequence,
                    Tuple)

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from preprocessing import ava
from preprocessing import config as cfg_lib
from preprocessing import critique_text
from preprocessing import eval_split
from preprocessing import examples_summary
from preprocessing import features as F
from preprocessing import rating
from preprocessing.images import reencode_image
from preprocessing.labelled import make_example

_NS = "cfan.build_examples"
SUMMARY_FILE = "summary.json"
EXAMPLES_SUBDIR = "examples"
REJECTS_SUBDIR = "rejects"
EXAMPLES_PREFIX = "examples"

# Reject reasons produced by this job (readers add their own).
REASON_UNKNOWN_IMAGE = "unknown_image"
REASON_NO_MAJOR_TAG = "no_major_tag"
REASON_MISSING_IMAGE_FILE = "missing_image_file"
REASON_CORRUPT_IMAGE = "corrupt_image"
REASON_DUPLICATE_PAIR = "duplicate_user_image"
REASON_REVIEW_TYPE = {
    F.REVIEW_TYPE_OFF_TOPIC: "off_topic_review",
    F.REVIEW_TYPE_EQUIVOCAL: "equivocal_review",
}


# ----------------------------------------------------------------------------
# Small pure helpers (unit-tested directly)
# ----------------------------------------------------------------------------
def split_file_pattern(split: str) -> str:
  """File pattern (relative to ``examples/``) of one split's shards."""
  return f"{EXAMPLES_PREFIX}-{split}-*"


def _reject_dict(rej: ava.Reject) -> Dict[str, Any]:
  return {"source": rej.source, "line": rej.line, "reason": rej.reason,
          "detail": rej.detail, "record": rej.record}


def _review_reject(review: Dict[str, Any], reason: str,
                   detail: str) -> Dict[str, Any]:
  return {"source": review["source"], "line": review["line"], "reason": reason,
          "detail": detail,
          "record": f"{review['user_id']}|{review['image_id']}|"
                    f"{review['raw_text'][:160]}"}


# ----------------------------------------------------------------------------
# DoFns
# ----------------------------------------------------------------------------
class _TagRecords(beam.DoFn):
  """Splits reader output into records and rejects (main / 'rejects')."""

  def __init__(self, kind: str):
    self._kind = kind
    self._in = beam.metrics.Metrics.counter(_NS, f"{kind}_records_in")
    self._rej = beam.metrics.Metrics.counter(_NS, f"{kind}_rejected")

  def process(self, rec):
    self._in.inc()
    if isinstance(rec, ava.Reject):
      self._rej.inc()
      yield beam.pvalue.TaggedOutput("rejects", _reject_dict(rec))
    else:
      yield rec


def _read_reviews(path: str) -> Iterator[Any]:
  name = os.path.basename(path)
  if name == F.UIR_FILE:
    return ava.read_uir(path)
  return ava.read_reviews_blocks(path)


class _RecoverRating(beam.DoFn):
  """Paper §4.1 on one review: kept dict (main) or reject ('rejects')."""

  def __init__(self):
    self._labeler = rating.ReviewLabeler()
    self._types = {t: beam.metrics.Metrics.counter(_NS, f"review_type_{t}")
                   for t in ("I", "II", "III", "IV")}

  def process(self, raw: ava.RawReview):
    labeled = self._labeler.label(raw.text)
    self._types[labeled.review_type].inc()
    review = {"user_id": raw.user_id, "image_id": raw.image_id,
              "source": raw.source, "line": raw.line, "raw_text": raw.text,
              "text": labeled.text, "label": labeled.label,
              "level": labeled.level, "review_type": labeled.review_type,
              "score": labeled.score}
    if labeled.kept:
      # What the critique says the photo looks like (features.SAID_KEY),
      # read from the cleaned text (a type II review's stored text is the
      # rewrite).
      review["said"] = F.encode_said(critique_text.said_states(
          labeled.text if labeled.review_type == F.REVIEW_TYPE_RULE
          else critique_text.clean_review_text(raw.text)))
      yield review
    else:
      yield beam.pvalue.TaggedOutput(
          "rejects", _review_reject(
              review, REASON_REVIEW_TYPE[labeled.review_type],
              f"review type {labeled.review_type} is dropped (paper §4.1)"))


def _dedupe_pair(kv: Tuple[Tuple[str, str], Iterable[Dict[str, Any]]]):
  """Keeps the first review (by file position) of a (user, image) pair."""
  _, reviews = kv
  ordered = sorted(reviews, key=lambda r: (r["source"], r["line"]))
  yield ordered[0]
  for dup in ordered[1:]:
    yield beam.pvalue.TaggedOutput("rejects", _review_reject(
        dup, REASON_DUPLICATE_PAIR,
        f"user {dup['user_id']} already reviewed image {dup['image_id']} "
        f"({ordered[0]['source']}:{ordered[0]['line']}); first kept"))


class _JoinImage(beam.DoFn):
  """Per image: its once-re-encoded pixels and its kept reviews with splits.

  The main output is one element per image (the pixels travel once per
  image until ``MakeExamples`` fans them out to the review examples).
  """

  def __init__(self, images_dir: str, max_side: int, cold_image_share: float,
               warm_pair_share: float):
    self._images_dir = images_dir
    self._max_side = max_side
    self._shares = {"cold_image_share": cold_image_share,
                    "warm_pair_share": warm_pair_share}
    self._read = beam.metrics.Metrics.counter(_NS, "image_files_read")

  def _find(self, image_id: str) -> Optional[str]:
    for ext in F.IMAGE_EXTENSIONS + tuple(e.upper() for e in F.IMAGE_EXTENSIONS):
      path = FileSystems.join(self._images_dir, image_id + ext)
      if FileSystems.exists(path):
        return path
    return None

  def _load(self, image_id: str, image: ava.AvaImage,
            major_tags: Dict[int, str]) -> Tuple[str, bytes]:
    """(major tag name, re-encoded JPEG) of an image; raises _SetAside."""
    tag_id = ava.primary_tag_id(image, set(major_tags))
    if tag_id is None:
      raise _SetAside(REASON_NO_MAJOR_TAG,
                      f"image {image_id} (tags {image.tag_ids}) has no major "
                      "tag")
    path = self._find(image_id)
    if path is None:
      raise _SetAside(
          REASON_MISSING_IMAGE_FILE,
          f"no {F.IMAGES_DIR}/{image_id}{{{','.join(F.IMAGE_EXTENSIONS)}}}")
    try:
      with FileSystems.open(path) as fh:
        data = fh.read()
      self._read.inc()
      return major_tags[tag_id], reencode_image(data, self._max_side)
    except (ValueError, OSError) as e:
      raise _SetAside(REASON_CORRUPT_IMAGE, f"{path}: {e}") from e

  def process(self, kv, major_tags: Dict[int, str]):
    image_id, grouped = kv
    images = list(grouped["image"])
    reviews = sorted(grouped["reviews"], key=lambda r: (r["source"], r["line"]))
    if not reviews:
      if images:
        yield from self._vote_only(image_id, images[0], major_tags)
      return

    def reject_all(reason: str, detail: str):
      for r in reviews:
        yield beam.pvalue.TaggedOutput("rejects",
                                       _review_reject(r, reason, detail))

    if not images:
      yield from reject_all(REASON_UNKNOWN_IMAGE,
                            f"image {image_id} has no valid line in {F.AVA_FILE} "
                            "(absent, or its line was rejected)")
      return
    image = images[0]
    try:
      tag_name, jpeg = self._load(image_id, image, major_tags)
    except _SetAside as e:
      if e.reason == REASON_NO_MAJOR_TAG:
        yield beam.pvalue.TaggedOutput("image_stats", {
            "image_id": image_id, "reviewed": True, "no_major_tag": True})
      yield from reject_all(e.reason, e.detail)
      return
    labels = [r["label"] for r in reviews]
    splits = eval_split.assign_splits(
        image_id, [r["user_id"] for r in reviews], **self._shares)
    reviews = [dict(r, split=split, image_slice=image_slice)
               for r, (split, image_slice) in zip(reviews, splits)]
    yield beam.pvalue.TaggedOutput("image_stats", {
        "image_id": image_id, "reviewed": True, "no_major_tag": False,
        "tag": tag_name, "num_reviews": len(reviews),
        "agnostic_label": image.agnostic_label, "labels": labels,
        "slices": [_row_slice(r) for r in reviews],
        "stored_bytes": len(jpeg)})
    yield {"image": image, "tag": tag_name, "jpeg": jpeg, "reviews": reviews}

  def _vote_only(self, image_id: str, image: ava.AvaImage,
                 major_tags: Dict[int, str]):
    """An image with AVA votes and no kept review.

    It becomes a training example with no reviews (the ``residual``
    default's image model learns the vote distribution from it; models of
    (user, image) pairs find no row in it), or it is set aside with the
    reason counted in the summary. It has no review to reject, so nothing
    goes to rejects/*.jsonl.
    """
    stat = {"image_id": image_id, "reviewed": False}
    try:
      tag_name, jpeg = self._load(image_id, image, major_tags)
    except _SetAside as e:
      yield beam.pvalue.TaggedOutput("image_stats",
                                     dict(stat, set_aside=e.reason))
      return
    yield beam.pvalue.TaggedOutput("image_stats", dict(
        stat, vote_only=True, stored_bytes=len(jpeg)))
    yield {"image": image, "tag": tag_name, "jpeg": jpeg, "reviews": []}


class _SetAside(Exception):
  """An image that cannot become an example: the reason and its detail."""

  def __init__(self, reason: str, detail: str):
    super().__init__(f"{reason}: {detail}")
    self.reason = reason
    self.detail = detail


def _row_slice(review: Dict[str, Any]) -> str:
  """"train" for a training row, else the eval row's image slice."""
  return (F.TRAIN_SPLIT if review["split"] == F.TRAIN_SPLIT
          else review["image_slice"])


def _train_label(joined: Dict[str, Any]) -> Iterator[Tuple[str, Tuple[int,
                                                                      int]]]:
  """(user, (good, 1)) of each training row of one image."""
  for r in joined["reviews"]:
    if r["split"] == F.TRAIN_SPLIT:
      yield r["user_id"], (r["label"], 1)


def _sum_pairs(pairs: Iterable[Tuple[int, int]]) -> Tuple[int, int]:
  good = total = 0
  for g, n in pairs:
    good += g
    total += n
  return good, total


def _make_examples(joined: Dict[str, Any],
                   user_stats: Dict[str, Tuple[int, int]],
                   totals: Tuple[int, int]) -> Iterator[Tuple[str, bytes]]:
  """(split, serialized tf.Example) of one image and all its reviews.

  The photo is stored once: an image with a training review (warm) makes one
  training example holding its training and its held-out eval reviews
  (``features.HELD_OUT_KEY`` marks the latter: Transform's analyzers and the
  Trainer skip them, TFMA scores them); an image without (cold) makes one
  eval example, every review held out. An image with votes and no kept
  review makes one training example with no reviews.
  """
  by_split: Dict[str, List[Tuple[Dict[str, Any], float]]] = {
      s: [] for s in F.SPLITS}
  for r in joined["reviews"]:
    train = r["split"] == F.TRAIN_SPLIT
    by_split[r["split"]].append((r, eval_split.user_train_rate(
        user_stats.get(r["user_id"], (0, 0)), totals,
        own_label=r["label"] if train else None)))
  train = by_split[F.TRAIN_SPLIT]
  if not joined["reviews"]:  # votes, no review: a training image, no rows
    example = make_example([], joined["image"], joined["tag"],
                           joined["jpeg"], F.SLICE_WARM, [])
    yield F.TRAIN_SPLIT, example.SerializeToString(deterministic=True)
    return
  group = train + by_split[F.EVAL_SPLIT]
  reviews = [r for r, _ in group]
  example = make_example(reviews, joined["image"], joined["tag"],
                         joined["jpeg"], reviews[0]["image_slice"],
                         [rate for _, rate in group])
  # deterministic: proto map order is otherwise random per message, and a
  # rebuild must give the same bytes (rerun safety, caching).
  yield (F.TRAIN_SPLIT if train else F.EVAL_SPLIT,
         example.SerializeToString(deterministic=True))


def _eval_row(joined: Dict[str, Any]) -> Iterator[Tuple[str, int, float,
                                                        str]]:
  """(user, label, mean vote, image slice) of each eval row of one image."""
  for r in joined["reviews"]:
    if r["split"] == F.EVAL_SPLIT:
      yield (r["user_id"], r["label"], joined["image"].mean_score,
             r["image_slice"])


def check_tag_rule(min_tag_images: Optional[int],
                   min_tag_share: float) -> None:
  """Raises ValueError naming the flag when the major-tag rule is invalid."""
  if min_tag_images is not None and min_tag_images < 1:
    raise ValueError(f"--min-tag-images {min_tag_images}: must be >= 1")
  if min_tag_images is None and not 0 < min_tag_share <= 1:
    raise ValueError(f"--min-tag-share {min_tag_share}: must be in (0, 1]")


def major_tag_threshold(num_images: int, min_tag_images: Optional[int] = None,
                        min_tag_share: float = F.DEFAULT_MIN_TAG_SHARE) -> int:
  """Images a tag needs to be major: ``min_tag_images`` when given, else
  ``min_tag_share`` of ``num_images`` rounded up (3000 on AVA's 255,530
  images with the default share), at least 1."""
  if min_tag_images is not None:
    return min_tag_images
  # round() first: 3000 / 255530 * 255530 must not round up to 3001.
  return max(1, math.ceil(round(min_tag_share * num_images, 6)))


def _tag_name(tag_id: int, tag_names: Dict[int, str]) -> str:
  return tag_names.get(tag_id, f"tag_{tag_id}")


def _major_tags(tag_counts: Dict[int, int], tag_names: Dict[int, str],
                min_images: int) -> Dict[int, str]:
  return {t: _tag_name(t, tag_names) for t, c in tag_counts.items()
          if c >= min_images}


# ----------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------
def load_summary(out_dir: str) -> Dict[str, Any]:
  """The summary.json of a finished job in ``out_dir`` (any Beam FS)."""
  with FileSystems.open(os.path.join(out_dir, SUMMARY_FILE)) as fh:
    return json.loads(fh.read().decode("utf-8"))


def _write_json_atomically(path: str, obj: Any) -> None:
  tmp = path + ".tmp"
  with FileSystems.create(tmp) as fh:
    fh.write(json.dumps(obj, indent=2, sort_keys=True).encode("utf-8"))
  FileSystems.rename([tmp], [path])


# ----------------------------------------------------------------------------
# Pipeline
# ----------------------------------------------------------------------------
def find_reviews_file(data_dir: str) -> str:
  for name in (F.REVIEWS_FILE, F.UIR_FILE):
    path = os.path.join(data_dir, name)
    if FileSystems.exists(path):
      return path
  raise FileNotFoundError(
      f"{data_dir}: no reviews file; expected {F.REVIEWS_FILE} (crawler block "
      f"layout) or {F.UIR_FILE} (user_id|image_id|review)")


def build_pipeline(p: beam.Pipeline, data_dir: str, out_dir: str,
                   min_tag_images: Optional[int], tag_names: Dict[int, str],
                   max_side: int, num_shards: int = 0, *,
                   min_tag_share: float = F.DEFAULT_MIN_TAG_SHARE,
                   cold_image_share: float = cfg_lib.EVAL_COLD_IMAGE_SHARE,
                   warm_pair_share: float = cfg_lib.EVAL_WARM_PAIR_SHARE):
  """Adds the job's transforms to ``p``; returns the PCollections it writes.

  ``min_tag_images`` (absolute; None: ``min_tag_share`` of the images) is
  the major-tag rule of :func:`major_tag_threshold`.
  """
  ava_path = os.path.join(data_dir, F.AVA_FILE)
  reviews_path = find_reviews_file(data_dir)
  images_dir = os.path.join(data_dir, F.IMAGES_DIR)

  ava_out = (p | "AVAPath" >> beam.Create([ava_path])
             | "ReadAVA" >> beam.FlatMap(ava.read_ava)
             | "SplitAVA" >> beam.ParDo(_TagRecords("ava")).with_outputs(
                 "rejects", main="images"))
  images = ava_out.images
  rev_out = (p | "ReviewsPath" >> beam.Create([reviews_path])
             | "ReadReviews" >> beam.FlatMap(_read_reviews)
             | "SplitReviews" >> beam.ParDo(_TagRecords("reviews"))
             .with_outputs("rejects", main="reviews"))

  tag_counts = (images
                | "TagIds" >> beam.FlatMap(
                    lambda im: sorted({t for t in im.tag_ids
                                       if t != F.NO_TAG_ID}))
                | "CountTags" >> beam.combiners.Count.PerElement())
  num_images = images | "CountAVAImages" >> beam.combiners.Count.Globally()
  threshold = num_images | "TagThreshold" >> beam.Map(
      major_tag_threshold, min_tag_images, min_tag_share)
  all_tag_counts = tag_counts | "AllTagCounts" >> beam.combiners.ToDict()
  major = all_tag_counts | "MajorTags" >> beam.Map(
      _major_tags, tag_names, beam.pvalue.AsSingleton(threshold))

  rated = (rev_out.reviews | "Reshuffle" >> beam.Reshuffle()
           | "RecoverRatings" >> beam.ParDo(_RecoverRating()).with_outputs(
               "rejects", main="kept"))
  deduped = (rated.kept
             | "KeyPair" >> beam.Map(lambda r: ((r["user_id"], r["image_id"]),
                                                r))
             | "GroupPair" >> beam.GroupByKey()
             | "DedupePairs" >> beam.FlatMap(_dedupe_pair).with_outputs(
                 "rejects", main="unique"))
  joined = ({"image": images | "KeyImage" >> beam.Map(
      lambda im: (im.image_id, im)),
             "reviews": deduped.unique | "KeyReview" >> beam.Map(
                 lambda r: (r["image_id"], r))}
            | "CoGroup" >> beam.CoGroupByKey()
            | "JoinImages" >> beam.ParDo(
                _JoinImage(images_dir, max_side, cold_image_share,
                           warm_pair_share),
                major_tags=beam.pvalue.AsSingleton(major)).with_outputs(
                    "rejects", "image_stats", main="images"))

  # ---- training-side statistics: per user (side input) and overall ----
  user_train = (joined.images
                | "TrainLabels" >> beam.FlatMap(_train_label)
                | "UserTrainStats" >> beam.CombinePerKey(_sum_pairs))
  train_totals = (user_train | "UserStatValues" >> beam.Values()
                  | "TrainTotals" >> beam.CombineGlobally(_sum_pairs))
  user_stats = beam.pvalue.AsDict(user_train)
  examples = (joined.images
              | "MakeExamples" >> beam.FlatMap(
                  _make_examples, user_stats,
                  beam.pvalue.AsSingleton(train_totals))
              | "BySplit" >> beam.Partition(
                  lambda e, _: F.SPLITS.index(e[0]), len(F.SPLITS)))

  review_rejects = ((rev_out.rejects, rated.rejects, deduped.rejects,
                     joined.rejects) | "ReviewRejects" >> beam.Flatten())
  all_rejects = ((review_rejects, ava_out.rejects)
                 | "AllRejects" >> beam.Flatten())
  (all_rejects | "RejectsJson" >> beam.Map(
      lambda d: json.dumps(d, sort_keys=True, ensure_ascii=False))
   | "WriteRejects" >> beam.io.WriteToText(
       os.path.join(out_dir, REJECTS_SUBDIR, "rejects"),
       file_name_suffix=".jsonl", num_shards=1))
  for split, split_examples in zip(F.SPLITS, examples):
    (split_examples | f"Serialized{split}" >> beam.Map(lambda e: e[1])
     | f"WriteExamples{split}" >> beam.io.WriteToTFRecord(
         os.path.join(out_dir, EXAMPLES_SUBDIR,
                      f"{EXAMPLES_PREFIX}-{split}"),
         file_name_suffix=".tfrecord", num_shards=num_shards))

  # ---- summary inputs, each combined to one element ----
  def count(pcoll, label):
    return pcoll | f"Count{label}" >> beam.combiners.Count.Globally()

  user_counts = (joined.images | "UsersOfImage" >> beam.FlatMap(
      lambda j: [r["user_id"] for r in j["reviews"]])
                 | "CountPerUser" >> beam.combiners.Count.PerElement()
                 | "UserCounts" >> beam.combiners.ToDict())
  reject_counts = (all_rejects | "RejectReason" >> beam.Map(
      lambda d: ("ava:" if d["source"].endswith(F.AVA_FILE) else "") +
      d["reason"])
                   | "CountReasons" >> beam.combiners.Count.PerElement()
                   | "ReasonCounts" >> beam.combiners.ToDict())
  image_stats = joined.image_stats | "ImageStats" >> beam.combiners.ToList()
  eval_rows = (joined.images | "EvalRows" >> beam.FlatMap(_eval_row)
               | "AllEvalRows" >> beam.combiners.ToList())
  counts = {
      "reviews_in": count(rev_out.reviews, "ReviewRecords"),
      "reviews_rejected_by_reader": count(rev_out.rejects, "ReviewReadRejects"),
      "ava_kept": num_images,
      "ava_rejected": count(ava_out.rejects, "AVARejects"),
  }

  def _summary(_, stats, users, reasons, major_tags, rows, train_stats,
               tag_images, min_images, **c):
    c = dict(c)
    c["reviews_in"] += c.pop("reviews_rejected_by_reader")
    c["ava_in"] = c["ava_kept"] + c.pop("ava_rejected")
    review_reasons = {k: v for k, v in reasons.items()
                      if not k.startswith("ava:")}
    summary = examples_summary.summarize(stats, users, review_reasons, c, major_tags)
    summary["ava_rejects_by_reason"] = {
        k[4:]: v for k, v in sorted(reasons.items()) if k.startswith("ava:")}
    # Every reject written to rejects/*.jsonl: review rejects + AVA lines.
    summary["rejects_total"] = sum(reasons.values())
    # Major tag ids that tags.txt does not name: their examples are kept
    # under the placeholder name "tag_<id>"; reported so nobody mistakes it.
    summary["major_tags_without_name"] = sorted(
        t for t in major_tags if t not in tag_names)
    summary["major_tag_rule"] = {
        "min_images": min_images, "images": c["ava_kept"],
        "min_tag_images": min_tag_images,
        "min_tag_share": None if min_tag_images is not None else min_tag_share}
    # Images per tag: what a threshold can keep.
    summary["tag_images"] = {_tag_name(t, tag_names): n
                             for t, n in tag_images.items()}
    summary["split"] = {"cold_image_share": cold_image_share,
                        "warm_pair_share": warm_pair_share,
                        **eval_split.split_summary(stats)}
    summary["floors"] = eval_split.floor_summary(rows, train_stats)
    return summary

  summary = (p | "SummarySeed" >> beam.Create([None])
             | "Summary" >> beam.Map(
                 _summary,
                 beam.pvalue.AsSingleton(image_stats),
                 beam.pvalue.AsSingleton(user_counts),
                 beam.pvalue.AsSingleton(reject_counts),
                 beam.pvalue.AsSingleton(major),
                 beam.pvalue.AsSingleton(eval_rows),
                 beam.pvalue.AsDict(user_train),
                 beam.pvalue.AsSingleton(all_tag_counts),
                 beam.pvalue.AsSingleton(threshold),
                 **{k: beam.pvalue.AsSingleton(v) for k, v in counts.items()}))
  summary | "WriteSummary" >> beam.Map(
      lambda s: _write_json_atomically(os.path.join(out_dir, SUMMARY_FILE), s))
  return summary


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
  """Beam options from the user's flags, passed through unchanged."""
  return PipelineOptions(list(beam_args))


def run(data_dir: str, out_dir: str, *,
        min_tag_images: Optional[int] = None,
        min_tag_share: float = F.DEFAULT_MIN_TAG_SHARE,
        max_side: int = cfg_lib.STORED_IMAGE_MAX_SIDE,
        beam_args: Sequence[str] = (), num_shards: int = 0,
        cold_image_share: float = cfg_lib.EVAL_COLD_IMAGE_SHARE,
        warm_pair_share: float = cfg_lib.EVAL_WARM_PAIR_SHARE
        ) -> Dict[str, Any]:
  """Runs the job and returns the summary (also at ``out_dir/summary.json``).

  ``min_tag_images`` / ``min_tag_share``: the major-tag rule (an absolute
  count, or when it is None a share of the images; see
  :func:`major_tag_threshold`). ``cold_image_share`` / ``warm_pair_share``:
  the eval split (see :func:`eval_split.assign_splits`). Raises
  ``RuntimeError`` if the in = kept + rejected invariant fails.
  """
  eval_split.check_shares(cold_image_share, warm_pair_share)
  check_tag_rule(min_tag_images, min_tag_share)
  for required in (F.AVA_FILE,):
    if not FileSystems.exists(os.path.join(data_dir, required)):
      raise FileNotFoundError(f"{os.path.join(data_dir, required)}: missing "
                              "(an AVA-review directory needs AVA.txt)")
  find_reviews_file(data_dir)
  tags_path = os.path.join(data_dir, F.TAGS_FILE)
  tag_names, tag_rejects = (ava.read_id_names(tags_path)
                            if FileSystems.exists(tags_path) else ({}, []))
  for rej in tag_rejects:
    logging.warning("%s:%d: %s (%s)", rej.source, rej.line, rej.reason,
                    rej.detail)
  # Clear outputs of an earlier run so stale shards are never mixed in. The
  # summary goes first: summary.json is written last, so its presence means
  # a finished job. (Beam writes shards to beam-temp-* and renames them into
  # place when the job succeeds; a failed job leaves no final shard.)
  summary_path = os.path.join(out_dir, SUMMARY_FILE)
  if FileSystems.exists(summary_path):
    FileSystems.delete([summary_path])
  # Temp files a failed job left in beam-temp-*/ go too ("*" does not match
  # inside directories on a local disk).
  for sub in (EXAMPLES_SUBDIR, REJECTS_SUBDIR):
    for pattern in ("*", "beam-temp-*/*"):
      match = FileSystems.match([os.path.join(out_dir, sub, pattern)])[0]
      if match.metadata_list:
        FileSystems.delete([m.path for m in match.metadata_list])
  with beam.Pipeline(options=pipeline_options(beam_args)) as p:
    build_pipeline(p, data_dir, out_dir, min_tag_images, tag_names, max_side,
                   num_shards, min_tag_share=min_tag_share,
                   cold_image_share=cold_image_share,
                   warm_pair_share=warm_pair_share)
  summary = load_summary(out_dir)
  summary["tags_file_rejects"] = len(tag_rejects)
  r = summary["reviews"]
  if not examples_summary.accounting_ok(summary):
    raise RuntimeError(
        f"record accounting failed: in={r['in']} kept={r['kept']} "
        f"rejected={r['rejected']} rejects written="
        f"{summary['rejects_total'] - summary['ava_lines']['rejected']}")
  _write_json_atomically(os.path.join(out_dir, SUMMARY_FILE), summary)
  return summary


def check_kept(summary: Dict[str, Any], data_dir: str, out_dir: str) -> None:
  """Raises ValueError when no review was kept, naming the reject reasons
  and, when reviews were set aside for want of a major tag, the flags that
  change the major-tag rule and the largest tags."""
  if summary["reviews"]["kept"]:
    return
  reasons = ", ".join(f"{reason} {n:,d}" for reason, n in sorted(
      summary["rejects_by_reason"].items(), key=lambda kv: -kv[1]))
  msg = (f"{data_dir}: no review was kept; nothing to train on. Reviews in: "
         f"{summary['reviews']['in']:,d}; rejected by reason: "
         f"{reasons or 'none'}.")
  if summary["rejects_by_reason"].get(REASON_NO_MAJOR_TAG):
    msg += f" No tag is major{examples_summary.rule_text(summary)}."
    # summary.json sorts its keys: order by count here.
    largest = sorted(summary.get("tag_images", {}).items(),
                     key=lambda kv: (-kv[1], kv[0]))[:5]
    if largest:
      n = largest[-1][1]
      images = summary["major_tag_rule"]["images"]
      msg += (" Images per tag, largest first: " + ", ".join(
          f"{name} {c:,d}" for name, c in largest) + f". To keep these "
              f"{len(largest)} tags: --min-tag-images {n} or --min-tag-share "
              f"{math.floor(n / images * 1e6) / 1e6:g}.")
  msg += (" Each reject is a line of "
          f"{os.path.join(out_dir, REJECTS_SUBDIR)}/*.jsonl.")
  raise ValueError(msg)

"""Tests of the Beam job preprocessing/build_examples.py.

Covers ``images.reencode_image`` on every image flavour a crawl can hold, and
``run()`` end to end (Beam runs shared by module fixtures where they can): the
demo data in both review layouts, a hand-built malformed AVA-review
directory in which every reject reason is planted a known number of times,
and the major-tag rule (a share of the images by default, or a count).
"""
from __future__ import annotations

import collections
import glob
import io
import json
import os
from typing import Any, Dict, List

import numpy as np
import pytest
from PIL import Image
from PIL import ImageFile

import demo_data
from preprocessing import build_examples
from preprocessing import critique_text
from preprocessing import examples_summary
from preprocessing import eval_split
from preprocessing import features as F
from preprocessing import images
from preprocessing import labelled

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
MAX_SIDE = build_examples.cfg_lib.STORED_IMAGE_MAX_SIDE


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------
def _encode(img: Image.Image, fmt: str, **kw: Any) -> bytes:
  buf = io.BytesIO()
  img.save(buf, format=fmt, **kw)
  return buf.getvalue()


def _decoded(jpeg: bytes, max_side: int = MAX_SIDE) -> Image.Image:
  """Asserts ``jpeg`` is an RGB JPEG within ``max_side``; returns it."""
  img = Image.open(io.BytesIO(jpeg))
  assert img.format == "JPEG"
  assert img.mode == "RGB"
  assert max(img.size) <= max_side
  img.load()
  return img


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
  return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def _close(pixel, expected, tol: int = 12) -> bool:
  return all(abs(int(a) - int(b)) <= tol for a, b in zip(pixel, expected))


# --------------------------------------------------------------------------
# reencode_image
# --------------------------------------------------------------------------
def test_reencode_rgb_jpeg_keeps_size_and_colour():
  src = _encode(Image.new("RGB", (60, 40), (200, 30, 40)), "JPEG")
  out = _decoded(images.reencode_image(src))
  assert out.size == (60, 40)
  assert _close(out.getpixel((30, 20)), (200, 30, 40))


def test_reencode_rgba_png_composites_alpha_on_white():
  arr = np.zeros((30, 40, 4), np.uint8)
  arr[..., 0] = 255  # red
  arr[:, :20, 3] = 255  # left half opaque, right half fully transparent
  out = _decoded(images.reencode_image(
      _encode(Image.fromarray(arr), "PNG")))
  assert out.size == (40, 30)
  assert _close(out.getpixel((5, 15)), (255, 0, 0))
  assert _close(out.getpixel((35, 15)), (255, 255, 255))


def test_reencode_16_bit_png_scales_to_8_bits():
  arr = np.full((24, 32), 65535, np.uint16)
  arr[:, :16] = 0
  src_img = Image.fromarray(arr)
  src = _encode(src_img, "PNG")
  assert Image.open(io.BytesIO(src)).mode == "I;16"
  out = _decoded(images.reencode_image(src))
  assert out.size == (32, 24)
  assert _close(out.getpixel((4, 12)), (0, 0, 0))
  assert _close(out.getpixel((28, 12)), (255, 255, 255))


def test_reencode_grayscale():
  src = _encode(Image.new("L", (50, 20), 128), "PNG")
  out = _decoded(images.reencode_image(src))
  assert out.size == (50, 20)
  assert _close(out.getpixel((25, 10)), (128, 128, 128))


def test_reencode_cmyk_jpeg():
  src = _encode(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG")
  assert Image.open(io.BytesIO(src)).mode == "CMYK"
  out = _decoded(images.reencode_image(src))
  assert _close(out.getpixel((20, 20)), (255, 0, 0), tol=20)  # C=0 M=Y=1: red


def test_reencode_palette_png_with_transparency():
  pal = Image.new("P", (20, 20), 0)
  pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
  pal.paste(1, (0, 0, 10, 20))  # left half: index 1 (blue) = transparent
  src = _encode(pal, "PNG", transparency=1)
  reopened = Image.open(io.BytesIO(src))
  assert reopened.mode == "P" and "transparency" in reopened.info
  out = _decoded(images.reencode_image(src))
  assert _close(out.getpixel((3, 10)), (255, 255, 255))  # not blue
  assert _close(out.getpixel((16, 10)), (255, 0, 0))


def test_reencode_huge_image_is_capped_aspect_kept():
  src = _encode(Image.new("RGB", (4000, 3000), (10, 120, 200)), "JPEG",
                quality=50)
  out = _decoded(images.reencode_image(src))
  assert out.size == (MAX_SIDE, MAX_SIDE * 3 // 4)
  small = _decoded(images.reencode_image(src, max_side=64), 64)
  assert small.size == (64, 48)


def test_reencode_portrait_is_capped_on_height():
  src = _encode(Image.new("RGB", (300, 900), (0, 0, 0)), "PNG")
  out = _decoded(images.reencode_image(src, max_side=90), 90)
  assert out.size == (30, 90)


def test_reencode_truncated_jpeg_is_a_clean_value_error(monkeypatch):
  """Documented behaviour: with Pillow's default (LOAD_TRUNCATED_IMAGES off)
  a JPEG cut in half raises ValueError, so the Beam job rejects it as
  ``corrupt_image``; if some library turns the global flag on, the same bytes
  decode partially into a valid (grey-padded) JPEG instead."""
  src = _encode(Image.fromarray(_noise(200, 300)), "JPEG", quality=95)
  cut = src[:len(src) // 2]
  assert ImageFile.LOAD_TRUNCATED_IMAGES is False
  with pytest.raises(ValueError, match="not a decodable image"):
    images.reencode_image(cut)
  monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
  out = _decoded(images.reencode_image(cut))
  assert out.size == (300, 200)


@pytest.mark.parametrize("data", [
    b"",
    b"this is not an image at all" * 10,
    bytes(range(256)) * 4,
    b"\xff\xd8\xff\xe0" + b"\x00" * 64,  # JPEG magic, no image
    b"\x89PNG\r\n\x1a\n" + b"garbage" * 8,  # PNG magic, no image
], ids=["empty", "text", "bytes", "jpeg-magic", "png-magic"])
def test_reencode_rejects_non_images(data):
  with pytest.raises(ValueError, match="not a decodable image"):
    images.reencode_image(data)


# --------------------------------------------------------------------------
# run(): shared helpers
# --------------------------------------------------------------------------
def _read_examples(out_dir: str) -> List[bytes]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = sorted(glob.glob(os.path.join(
      out_dir, build_examples.EXAMPLES_SUBDIR, "*.tfrecord")))
  assert files, "no example shards written"
  return [r.numpy() for r in tf.data.TFRecordDataset(files)]


def _read_rejects(out_dir: str) -> List[Dict[str, Any]]:
  files = sorted(glob.glob(os.path.join(
      out_dir, build_examples.REJECTS_SUBDIR, "*.jsonl")))
  assert files, "no reject shards written"
  out = []
  for path in files:
    with open(path, encoding="utf-8") as f:
      out.extend(json.loads(line) for line in f if line.strip())
  return out


def _check_examples(serialized: List[bytes]) -> List[Dict[str, Any]]:
  """Checks every example against features.py (image-major: the image's
  features once, one value per review of the review-level ones); returns
  one dict per review (``labelled.review_rows``)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  kinds = {**{k: ("bytes_list", 1)
              for k in F.STRING_FEATURES + F.EVAL_STRING_FEATURES},
           **{k: ("int64_list", 1)
              for k in F.INT_FEATURES + F.EVAL_INT_FEATURES},
           **{k: ("float_list", 1)
              for k in F.FLOAT_FEATURES + F.EVAL_FLOAT_FEATURES},
           **{k: ("int64_list", n) for k, n in F.VECTOR_INT_FEATURES.items()}}
  per_review = F.REVIEW_LEVEL_KEYS + F.REVIEW_LEVEL_EVAL_KEYS
  rows = []
  for s in serialized:
    feats = tf.train.Example.FromString(s).features.feature
    assert set(feats) == set(kinds)
    n_reviews = len(feats[F.USER_KEY].bytes_list.value)
    # No review: an image with votes only, a training ("warm") image.
    assert n_reviews >= 1 or list(feats[F.SLICE_KEY].bytes_list.value) == [
        F.SLICE_WARM.encode()]
    for key, (kind, n) in kinds.items():
      assert feats[key].WhichOneof("kind") == kind, key
      want = n_reviews if key in per_review else n
      assert len(getattr(feats[key], kind).value) == want, key
    for row in labelled.review_rows(s):
      assert row[F.LABEL_KEY] in (0, 1)
      assert row[F.AGNOSTIC_LABEL_KEY] in (0, 1)
      assert 1 <= row[F.PREFERENCE_KEY] <= F.NUM_PREFERENCE_LEVELS
      assert row[F.LABEL_KEY] == int(
          row[F.PREFERENCE_KEY] >= F.GOOD_MIN_LEVEL)
      assert row[F.REVIEW_TYPE_KEY].decode() in F.KEPT_REVIEW_TYPES
      said = [F.decode_said(row[F.SAID_KEY], a)
              for a in range(len(F.SAID_ATTRIBUTES))]
      assert row[F.SAID_KEY] == F.encode_said(said)
      if row[F.REVIEW_TYPE_KEY].decode() == F.REVIEW_TYPE_RULE:
        assert tuple(said) == critique_text.said_states(
            row[F.REVIEW_KEY].decode())
      votes = row[F.VOTES_KEY] = np.asarray(row[F.VOTES_KEY])
      assert votes.sum() > 0
      mean = float((votes * np.arange(1, 11)).sum() / votes.sum())
      assert row[F.MEAN_SCORE_KEY] == pytest.approx(mean, rel=1e-5)
      assert row[F.AGNOSTIC_LABEL_KEY] == int(mean > F.AGNOSTIC_THRESHOLD)
      assert row[F.REVIEW_KEY].strip()
      row[F.SLICE_KEY] = row[F.SLICE_KEY].decode()
      assert row[F.SLICE_KEY] in F.SLICE_VALUES
      assert 0.0 <= row[F.USER_TRAIN_RATE_KEY] <= 1.0
      assert row[F.HELD_OUT_KEY] in (0, 1)
      rows.append(row)
  return rows


def _num_reviews(serialized: List[bytes]) -> int:
  return sum(len(labelled.review_rows(s)) for s in serialized)


def _check_accounting(summary: Dict[str, Any], out_dir: str,
                      num_examples: int, rejects: List[Dict[str, Any]]):
  r = summary["reviews"]
  assert r["in"] == r["kept"] + r["rejected"]
  assert sum(summary["rejects_by_reason"].values()) == r["rejected"]
  a = summary["ava_lines"]
  assert a["in"] == a["kept"] + a["rejected"]
  assert sum(summary["ava_rejects_by_reason"].values()) == a["rejected"]
  assert summary["rejects_total"] == r["rejected"] + a["rejected"]
  assert num_examples == r["kept"]
  assert len(rejects) == summary["rejects_total"]
  by_reason = collections.Counter(
      ("ava:" if d["source"].endswith(F.AVA_FILE) else "") + d["reason"]
      for d in rejects)
  expected = collections.Counter(summary["rejects_by_reason"])
  expected.update({"ava:" + k: v
                   for k, v in summary["ava_rejects_by_reason"].items()})
  assert by_reason == expected
  for d in rejects:
    assert set(d) == {"source", "line", "reason", "detail", "record"}
    assert os.path.isfile(d["source"])
    assert d["line"] >= 1
  # The summary on disk is the one returned.
  with open(os.path.join(out_dir, build_examples.SUMMARY_FILE),
            encoding="utf-8") as f:
    on_disk = json.load(f)
  assert on_disk["reviews"] == summary["reviews"]
  assert on_disk["rejects_total"] == summary["rejects_total"]


# --------------------------------------------------------------------------
# run(): demo data, crawler block layout
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
  root = tmp_path_factory.mktemp("demo_blocks")
  data, out = str(root / "data"), str(root / "out")
  gen = demo_data.generate(data, users=12, images=60, seed=1)
  summary = build_examples.run(data, out, min_tag_images=3,
                               beam_args=BEAM_ARGS)
  return gen, data, out, summary


def test_demo_run_accounting(demo_run):
  gen, _, out, summary = demo_run
  assert gen["reviews_file"] == F.REVIEWS_FILE
  assert summary["reviews"]["in"] == gen["reviews"]
  assert summary["ava_lines"] == {"in": 60, "kept": 60, "rejected": 0}
  assert summary["reviews"]["kept"] > 0
  # The demo plants off-topic and equivocal reviews; both must be dropped.
  assert summary["rejects_by_reason"].get("off_topic_review", 0) > 0
  assert summary["rejects_by_reason"].get("equivocal_review", 0) > 0
  examples = _read_examples(out)
  _check_accounting(summary, out, _num_reviews(examples), _read_rejects(out))


def test_demo_run_examples_match_features(demo_run):
  _, _, out, summary = demo_run
  rows = _check_examples(_read_examples(out))
  assert len(rows) == summary["reviews"]["kept"]
  # One review per (user, image).
  pairs = [(r[F.USER_KEY], r[F.IMAGE_ID_KEY]) for r in rows]
  assert len(set(pairs)) == len(pairs)
  # Each image is re-encoded once: its examples share identical bytes.
  by_image = collections.defaultdict(set)
  for r in rows:
    by_image[r[F.IMAGE_ID_KEY]].add(r[F.IMAGE_KEY])
  assert all(len(v) == 1 for v in by_image.values())
  for blobs in by_image.values():
    _decoded(next(iter(blobs)))
  assert {r[F.TAG_KEY].decode() for r in rows} <= set(summary["major_tags"])
  good = sum(int(r[F.LABEL_KEY]) for r in rows)
  assert summary["labels"] == {"good": good, "bad": len(rows) - good,
                               "good_ratio": pytest.approx(good / len(rows))}


def test_demo_run_eq7_and_table1(demo_run):
  _, _, out, summary = demo_run
  assert 0.0 <= summary["eq7_consistency"] <= 1.0
  t1 = summary["table1"]
  assert t1["reviews"] == summary["reviews"]["kept"]
  assert t1["images"] == summary["images"]["with_kept_reviews"]
  assert 0 < t1["users"] <= 12
  assert t1["reviews_per_image"]["count"] == t1["images"]
  assert t1["reviews_per_user"]["count"] == t1["users"]
  assert sum(t["reviews"] for t in t1["per_tag"].values()) == t1["reviews"]
  assert sorted(t1["per_tag"]) == sorted(
      set(t1["per_tag"]) & set(summary["major_tags"]))


def test_format_summary(demo_run):
  summary = demo_run[3]
  text = examples_summary.format_summary(summary)
  for word in ("in", "kept", "rejected", "Eq. 7", "Table 1"):
    assert word in text
  r = summary["reviews"]
  assert f"{r['in']:,d}" in text and f"{r['kept']:,d}" in text
  for reason in summary["rejects_by_reason"]:
    assert reason in text


# --------------------------------------------------------------------------
# run(): hand-built malformed directory
# --------------------------------------------------------------------------
def _ava(index, image_id, votes, tags, challenge=10) -> str:
  return " ".join(str(c) for c in (index, image_id, *votes, *tags, challenge))


GOOD_VOTES = (0, 0, 1, 2, 5, 10, 12, 6, 2, 1)  # mean > 5
BAD_VOTES = (1, 4, 10, 12, 6, 2, 1, 0, 0, 0)  # mean < 5

MALFORMED_AVA = "\n".join([
    _ava(1, 1001, GOOD_VOTES, (1, 0)),  # 1: fine
    _ava(2, 1002, BAD_VOTES, (1, 2)),  # 2: fine (tag 2 is not major)
    "3 1003 0 1 2 3 4 5 6 7 8 9 1 0",  # 3: 14 columns
    "4 1007 0 1 x 3 4 5 6 7 8 9 1 0 10",  # 4: non-numeric vote
    _ava(5, 1008, (0,) * 10, (1, 0)),  # 5: all-zero votes
    _ava(6, 1004, GOOD_VOTES, (1, 0)),  # 6: image file missing on disk
    _ava(7, 1005, GOOD_VOTES, (0, 1)),  # 7: image file is garbage bytes
    _ava(8, 1006, GOOD_VOTES, (9, 0)),  # 8: only tag 9, not major
]) + "\n"

MALFORMED_REVIEWS = "\n".join([
    "1001", "3",  # 1-2
    "alice", "The composition is sharp and the colors are beautiful.",  # 3-4
    "bob", "Congrats on the ribbon!",  # 5-6  off-topic (III)
    "carol", "Do you live in the steeple?",  # 7-8  equivocal (IV)
    "1002", "3",  # 9-10
    "alice", "Sharp focus but the exposure is too dark.",  # 11-12
    "bob", "Lovely soft light and great detail.",  # 13-14
    "alice", "The colors are dull and the focus is soft.",  # 15-16 duplicate
    "9999", "1",  # 17-18
    "dave", "Nice composition and great colors.",  # 19-20 not in AVA.txt
    "1004", "1",  # 21-22
    "alice", "Great detail and lovely colors.",  # 23-24 file missing
    "1005", "1",  # 25-26
    "bob", "Wonderful lighting and sharp details.",  # 27-28 garbage file
    "1006", "1",  # 29-30
    "carol", "Beautiful composition and lovely tones.",  # 31-32 no major tag
]) + "\n"

# (reason, line in reviews.txt) of every planted review reject.
EXPECTED_REVIEW_REJECTS = {
    ("off_topic_review", 5),
    ("equivocal_review", 7),
    ("duplicate_user_image", 15),
    ("unknown_image", 19),
    ("missing_image_file", 23),
    ("corrupt_image", 27),
    ("no_major_tag", 31),
}
EXPECTED_AVA_REJECTS = {
    ("ava_wrong_column_count", 3),
    ("ava_non_numeric", 4),
    ("ava_no_votes", 5),
}


@pytest.fixture(scope="module")
def malformed_run(tmp_path_factory):
  root = tmp_path_factory.mktemp("malformed")
  data = root / "data"
  (data / F.IMAGES_DIR).mkdir(parents=True)
  (data / F.AVA_FILE).write_text(MALFORMED_AVA, encoding="utf-8")
  (data / F.TAGS_FILE).write_text("1 Landscape\n2 Urban\n9 Rare Tag\n",
                                  encoding="utf-8")
  (data / F.REVIEWS_FILE).write_text(MALFORMED_REVIEWS, encoding="utf-8")
  images = data / F.IMAGES_DIR
  (images / "1001.jpg").write_bytes(
      _encode(Image.fromarray(_noise(40, 50, 1)), "JPEG"))
  (images / "1002.png").write_bytes(
      _encode(Image.new("L", (30, 30), 90), "PNG"))
  (images / "1005.jpg").write_bytes(b"\x00garbage, not a JPEG\xff" * 20)
  (images / "1006.jpg").write_bytes(
      _encode(Image.new("RGB", (20, 20), (1, 2, 3)), "JPEG"))
  out = str(root / "out")
  summary = build_examples.run(str(data), out, min_tag_images=2,
                               beam_args=BEAM_ARGS)
  return str(data), out, summary


def test_malformed_counts_by_reason(malformed_run):
  _, _, summary = malformed_run
  assert summary["reviews"] == {"in": 10, "kept": 3, "rejected": 7}
  assert summary["rejects_by_reason"] == {
      reason: 1 for reason, _ in EXPECTED_REVIEW_REJECTS}
  assert summary["ava_lines"] == {"in": 8, "kept": 5, "rejected": 3}
  assert summary["ava_rejects_by_reason"] == {
      reason: 1 for reason, _ in EXPECTED_AVA_REJECTS}
  assert summary["rejects_total"] == 10
  assert summary["major_tags"] == ["Landscape"]
  assert summary["images"]["set_aside_no_major_tag"] == 1
  assert summary["images"]["with_kept_reviews"] == 2


def test_malformed_rejects_jsonl_name_file_and_line(malformed_run):
  data, out, summary = malformed_run
  rejects = _read_rejects(out)
  reviews_path = os.path.join(data, F.REVIEWS_FILE)
  ava_path = os.path.join(data, F.AVA_FILE)
  got_reviews = {(d["reason"], d["line"]) for d in rejects
                 if d["source"] == reviews_path}
  got_ava = {(d["reason"], d["line"]) for d in rejects
             if d["source"] == ava_path}
  assert got_reviews == EXPECTED_REVIEW_REJECTS
  assert got_ava == EXPECTED_AVA_REJECTS
  assert len(rejects) == len(got_reviews) + len(got_ava)
  # Review rejects carry user|image|text; the details name the evidence.
  by_reason = {d["reason"]: d for d in rejects}
  assert by_reason["off_topic_review"]["record"] == (
      "bob|1001|Congrats on the ribbon!")
  assert by_reason["duplicate_user_image"]["record"].startswith("alice|1002|")
  assert f"{F.REVIEWS_FILE}:11" in by_reason["duplicate_user_image"]["detail"]
  assert "1005.jpg" in by_reason["corrupt_image"]["detail"]
  assert "1004" in by_reason["missing_image_file"]["detail"]
  assert by_reason["ava_wrong_column_count"]["record"].startswith("3 1003")
  _check_accounting(summary, out, _num_reviews(_read_examples(out)),
                    rejects)


def test_malformed_kept_examples(malformed_run):
  _, out, _ = malformed_run
  rows = _check_examples(_read_examples(out))
  got = {(r[F.USER_KEY].decode(), r[F.IMAGE_ID_KEY].decode()):
         r for r in rows}
  assert set(got) == {("alice", "1001"), ("alice", "1002"), ("bob", "1002")}
  # The first review of the duplicated pair is the one kept.
  first = got[("alice", "1002")]
  assert first[F.REVIEW_KEY] == b"Sharp focus but the exposure is too dark."
  assert first[F.LABEL_KEY] == 0
  assert first[F.AGNOSTIC_LABEL_KEY] == 0
  assert got[("alice", "1001")][F.AGNOSTIC_LABEL_KEY] == 1
  assert got[("alice", "1001")][F.CHALLENGE_KEY] == 10
  assert list(got[("alice", "1001")][F.VOTES_KEY]) == list(GOOD_VOTES)
  assert {r[F.TAG_KEY] for r in rows} == {b"Landscape"}
  # The grayscale PNG of image 1002 is stored as an RGB JPEG.
  gray = _decoded(got[("bob", "1002")][F.IMAGE_KEY])
  assert gray.size == (30, 30)
  assert _close(gray.getpixel((15, 15)), (90, 90, 90))


# --------------------------------------------------------------------------
# run(): images with votes and no kept review
# --------------------------------------------------------------------------
def test_vote_only_images_are_training_examples_without_reviews(tmp_path):
  data = tmp_path / "data"
  (data / F.IMAGES_DIR).mkdir(parents=True)
  (data / F.AVA_FILE).write_text("\n".join([
      _ava(1, 2001, GOOD_VOTES, (1, 0)),  # reviewed, kept
      _ava(2, 2002, BAD_VOTES, (1, 0)),  # no review: kept, votes only
      _ava(3, 2003, GOOD_VOTES, (1, 0)),  # no review, no file: set aside
      _ava(4, 2004, GOOD_VOTES, (1, 0)),  # its one review rejected: kept
      _ava(5, 2005, GOOD_VOTES, (9, 0)),  # no review, no major tag
      _ava(6, 2006, GOOD_VOTES, (1, 0)),  # no review, garbage file
  ]) + "\n", encoding="utf-8")
  (data / F.TAGS_FILE).write_text("1 Landscape\n9 Rare\n", encoding="utf-8")
  (data / F.REVIEWS_FILE).write_text("\n".join([
      "2001", "1", "alice", "Sharp focus and beautiful colors.",
      "2004", "1", "bob", "Congrats on the ribbon!",
  ]) + "\n", encoding="utf-8")
  images = data / F.IMAGES_DIR
  for image_id in (2001, 2002, 2004, 2005):
    (images / f"{image_id}.jpg").write_bytes(
        _encode(Image.fromarray(_noise(30, 40, image_id)), "JPEG"))
  (images / "2006.jpg").write_bytes(b"not a JPEG" * 10)
  out = str(tmp_path / "out")
  summary = build_examples.run(str(data), out, min_tag_images=2,
                               beam_args=BEAM_ARGS)
  im = summary["images"]
  assert im["with_kept_reviews"] == 1
  assert im["without_reviews"] == 5
  assert im["vote_only_kept"] == 2
  assert im["vote_only_set_aside"] == {"corrupt_image": 1,
                                       "missing_image_file": 1,
                                       "no_major_tag": 1}
  assert "2 kept as training images with votes only; set aside: " \
      "corrupt_image 1, missing_image_file 1, no_major_tag 1" in \
      examples_summary.format_summary(summary)
  # Nothing about them in the rejects: only the off-topic review.
  assert summary["rejects_by_reason"] == {"off_topic_review": 1}
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  train = [tf.train.Example.FromString(r.numpy()).features.feature
           for r in tf.data.TFRecordDataset(glob.glob(os.path.join(
               out, build_examples.EXAMPLES_SUBDIR, "*-train-*")))]
  by_image = {f[F.IMAGE_ID_KEY].bytes_list.value[0].decode(): f
              for f in train}
  assert set(by_image) <= {"2001", "2002", "2004"}
  assert {"2002", "2004"} <= set(by_image)
  for image_id in ("2002", "2004"):
    f = by_image[image_id]
    for key in F.REVIEW_LEVEL_KEYS + F.REVIEW_LEVEL_EVAL_KEYS:
      assert len(getattr(f[key], f[key].WhichOneof("kind")).value) == 0, key
    assert labelled.review_rows(tf.train.Example(
        features=tf.train.Features(feature=f)).SerializeToString()) == []
    assert _decoded(f[F.IMAGE_KEY].bytes_list.value[0]).size == (40, 30)
  assert list(by_image["2002"][F.VOTES_KEY].int64_list.value) == list(
      BAD_VOTES)
  assert by_image["2002"][F.AGNOSTIC_LABEL_KEY].int64_list.value[0] == 0
  _check_examples([r.numpy() for r in tf.data.TFRecordDataset(glob.glob(
      os.path.join(out, build_examples.EXAMPLES_SUBDIR, "*.tfrecord")))])


# --------------------------------------------------------------------------
# run(): uir.txt layout
# --------------------------------------------------------------------------
def test_uir_layout(tmp_path):
  data, out = str(tmp_path / "data"), str(tmp_path / "out")
  gen = demo_data.generate(data, users=8, images=30, seed=2, layout="uir")
  assert gen["reviews_file"] == F.UIR_FILE
  assert not os.path.exists(os.path.join(data, F.REVIEWS_FILE))
  with open(os.path.join(data, F.UIR_FILE), encoding="utf-8") as f:
    num_lines = sum(1 for line in f if line.strip())
  # Shares of 0 (the paper's everything-trains setting): the eval split is
  # empty, yet its file exists (ImportExampleGen needs a match per split)
  # and no floor is defined.
  summary = build_examples.run(data, out, min_tag_images=3,
                               beam_args=BEAM_ARGS, cold_image_share=0.0,
                               warm_pair_share=0.0)
  assert summary["reviews"]["in"] == num_lines == gen["reviews"]
  examples = _read_examples(out)
  rejects = _read_rejects(out)
  _check_accounting(summary, out, _num_reviews(examples), rejects)
  assert all(d["source"].endswith(F.UIR_FILE) for d in rejects)
  rows = _check_examples(examples)
  assert len(rows) == summary["reviews"]["kept"] > 0
  split_rows = _split_rows(out)
  assert split_rows[F.EVAL_SPLIT] == []
  assert len(split_rows[F.TRAIN_SPLIT]) == len(rows)
  assert summary["split"]["train"]["rows"] == len(rows)
  assert eval_split.best_floors(summary) == {}
  assert "best: overall none (AUC undefined)" in eval_split.format_split(
      summary)


# --------------------------------------------------------------------------
# run(): set-up errors
# --------------------------------------------------------------------------
def test_run_missing_files_raise(tmp_path):
  with pytest.raises(FileNotFoundError, match="AVA.txt"):
    build_examples.run(str(tmp_path / "nope"), str(tmp_path / "out"))
  (tmp_path / F.AVA_FILE).write_text(_ava(1, 1, GOOD_VOTES, (1, 0)) + "\n")
  with pytest.raises(FileNotFoundError, match="no reviews file"):
    build_examples.run(str(tmp_path), str(tmp_path / "out"))


# --------------------------------------------------------------------------
# The major-tag rule (issue 12): a share of the images by default
# --------------------------------------------------------------------------
def test_default_share_reproduces_ava_and_scales_down():
  assert F.DEFAULT_MIN_TAG_SHARE == 3000 / 255530
  threshold = build_examples.major_tag_threshold
  assert threshold(F.AVA_NUM_IMAGES) == F.AVA_MAJOR_TAG_IMAGES == 3000
  assert threshold(F.AVA_NUM_IMAGES + 1) == 3001  # rounded up, never down
  assert threshold(900) == 11  # 10.57 -> 11
  assert threshold(300) == 4
  assert threshold(0) == 1  # at least one image
  # An absolute count wins over the share.
  assert threshold(F.AVA_NUM_IMAGES, min_tag_images=40) == 40
  assert threshold(300, min_tag_share=0.1) == 30


@pytest.mark.parametrize("count,share,match", [
    (0, F.DEFAULT_MIN_TAG_SHARE, "--min-tag-images 0"),
    (None, 0.0, "--min-tag-share 0.0"),
    (None, 1.5, "--min-tag-share 1.5")])
def test_bad_tag_rule_is_refused(count, share, match, tmp_path):
  with pytest.raises(ValueError, match=match):
    build_examples.run(str(tmp_path), str(tmp_path / "out"),
                       min_tag_images=count, min_tag_share=share)


def test_default_rule_keeps_reviews_of_a_small_collection(tmp_path):
  """No flag: a 90-image demo directory keeps its tags on >= 2 images (the
  absolute 3000 of AVA would set every review aside)."""
  data, out = str(tmp_path / "data"), str(tmp_path / "out")
  demo_data.generate(data, users=12, images=90, seed=3)
  summary = build_examples.run(data, out, beam_args=BEAM_ARGS)
  assert summary["major_tag_rule"] == {
      "min_images": 2, "images": 90, "min_tag_images": None,
      "min_tag_share": F.DEFAULT_MIN_TAG_SHARE}
  counts = summary["tag_images"]
  assert sum(counts.values()) >= 90 - summary["images"]["without_reviews"]
  assert summary["major_tags"] == sorted(n for n, c in counts.items()
                                         if c >= 2)
  assert summary["reviews"]["kept"] > 0
  assert "(a tag needs >= 2 of the 90 images: --min-tag-share 0.0117403)" in \
      examples_summary.format_summary(summary)


def test_nothing_kept_names_reasons_and_flags(malformed_run, tmp_path,
                                              capsys):
  """``cfan build-examples`` with a threshold no tag reaches: exit 2, and
  the error names each reject reason with its count, the largest tags and
  the flags that keep them."""
  from tfx_pipeline import cli  # pylint: disable=g-import-not-at-top
  data = malformed_run[0]
  out = str(tmp_path / "out")
  assert cli.main(["build-examples", "--data", data, "--out", out,
                   "--min-tag-images", "100", "--", *BEAM_ARGS]) == 2
  err = capsys.readouterr().err
  assert f"{data}: no review was kept; nothing to train on" in err
  # The tag is looked at before the image file: the reviews of the missing
  # and the corrupt image are set aside for want of a major tag too.
  assert ("rejected by reason: no_major_tag 6, duplicate_user_image 1, "
          "equivocal_review 1, off_topic_review 1, unknown_image 1.") in err
  assert "(a tag needs >= 100 of the 5 images: --min-tag-images 100)" in err
  # AVA.txt lines kept: tag 1 on 1001, 1002, 1004, 1005; tag 2 on 1002;
  # tag 9 on 1006.
  assert "largest first: Landscape 4, Rare Tag 1, Urban 1" in err
  assert "--min-tag-images 1 or --min-tag-share 0.2" in err
  assert os.path.join(out, build_examples.REJECTS_SUBDIR) in err


# --------------------------------------------------------------------------
# The honest evaluation split (issue 10): rule, rates, files and floors
# --------------------------------------------------------------------------
def _split_of(image_id: str, users, cold=0.1, warm=0.1):
  return eval_split.assign_splits(image_id, users, cold_image_share=cold,
                                      warm_pair_share=warm)


def test_split_is_deterministic_across_processes():
  """sha1, never Python's salted hash: another interpreter (another hash
  seed) assigns the same splits."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  images = [(str(i), [f"u{j}" for j in range(i % 7 + 1)]) for i in range(300)]
  here = [_split_of(i, u) for i, u in images]
  assert here == [_split_of(i, u) for i, u in images]
  code = ("import json, sys\nfrom preprocessing import eval_split as b\n"
          "images = json.load(sys.stdin)\n"
          "print(json.dumps([b.assign_splits(i, u) for i, u in images]))")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = subprocess.run([sys.executable, "-c", code], input=json.dumps(images),
                       capture_output=True, text=True, cwd=root, check=True,
                       env={**os.environ, "PYTHONHASHSEED": "12345"})
  assert [[tuple(r) for r in rows] for rows in json.loads(out.stdout)] == here


def test_split_shares_match_the_config():
  users = [f"user{j}" for j in range(5)]
  splits = {str(i): _split_of(str(i), users, cold=0.1, warm=0.2)
            for i in range(20000)}
  cold_images = [i for i, rows in splits.items()
                 if rows[0] == (F.EVAL_SPLIT, F.SLICE_COLD)]
  # 10 % held out by the image hash, plus the images whose five pairs all
  # fell in eval (0.2 ** 5 of the others).
  expected = 0.1 + 0.9 * 0.2 ** 5
  assert abs(len(cold_images) / 20000 - expected) < 0.01
  warm_rows = [r for rows in splits.values() if rows[0][1] == F.SLICE_WARM
               for r in rows]
  eval_share = sum(r[0] == F.EVAL_SPLIT for r in warm_rows) / len(warm_rows)
  assert abs(eval_share - 0.2) < 0.01
  # Shares of 0: everything trains, nothing is cold.
  assert {r for i in range(500) for r in _split_of(str(i), users, 0.0, 0.0)
          } == {(F.TRAIN_SPLIT, F.SLICE_WARM)}


def test_cold_means_never_seen_in_training():
  users = [f"u{j}" for j in range(3)]
  whole = [(F.EVAL_SPLIT, F.SLICE_COLD)] * 3
  for i in range(3000):
    rows = _split_of(str(i), users, cold=0.1, warm=0.5)
    trained = (F.TRAIN_SPLIT, F.SLICE_WARM) in rows
    # An image with a training row is warm on every row; without one, every
    # row of it is a cold eval row.
    assert rows == whole if not trained else \
        all(s == F.SLICE_WARM for _, s in rows)
  # An image with one review whose pair is held out has no training row:
  # its row is cold although the image hash did not hold it out.
  lone = next(str(i) for i in range(10000)
              if _split_of(str(i), ["solo"], cold=0.0, warm=0.5) ==
              [(F.EVAL_SPLIT, F.SLICE_COLD)])
  assert _split_of(lone, ["solo"], cold=0.0, warm=0.0) == [
      (F.TRAIN_SPLIT, F.SLICE_WARM)]


@pytest.mark.parametrize("cold,warm", [(-0.1, 0.1), (0.1, 1.0), (1.5, 0.0)])
def test_bad_shares_are_refused(cold, warm, tmp_path):
  with pytest.raises(ValueError, match="share must be in"):
    build_examples.run(str(tmp_path), str(tmp_path / "out"),
                       cold_image_share=cold, warm_pair_share=warm)


def test_user_train_rate_is_leave_one_out():
  """A training row's rate is metrics.user_rates over the *other* training
  rows; an eval row's is over all training rows (base rate for a user with
  none)."""
  from evaluation import metrics  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  users = [f"u{k}" for k in rng.integers(0, 6, 60)]
  labels = [int(v) for v in rng.integers(0, 2, 60)]
  stats = collections.defaultdict(lambda: [0, 0])
  for u, y in zip(users, labels):
    stats[u][0] += y
    stats[u][1] += 1
  totals = (sum(labels), len(labels))
  for i, (u, y) in enumerate(zip(users, labels)):
    others_u = users[:i] + users[i + 1:]
    others_y = labels[:i] + labels[i + 1:]
    base = metrics.base_rate(sum(others_y), len(others_y))
    expected = metrics.user_rates(others_u, others_y).get(u, base)
    got = eval_split.user_train_rate(tuple(stats[u]), totals,
                                         own_label=y)
    assert got == pytest.approx(expected, abs=1e-12)
  rates = metrics.user_rates(users, labels)
  for u in set(users):
    assert eval_split.user_train_rate(tuple(stats[u]), totals) == \
        pytest.approx(rates[u], abs=1e-12)
  assert eval_split.user_train_rate((0, 0), totals) == pytest.approx(
      sum(labels) / len(labels))
  # The row's own label moves its rate not at all; the user's other rows do.
  one = eval_split.user_train_rate((1, 1), (10, 20), own_label=1)
  zero = eval_split.user_train_rate((0, 1), (9, 20), own_label=0)
  assert one == zero


def _split_rows(out: str) -> Dict[str, List[Dict[str, Any]]]:
  """The checked rows, by role: the training reviews ("train") and the
  held-out ones ("eval"), from both splits' files."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  rows = {split: [] for split in F.SPLITS}
  images = []
  for split in F.SPLITS:
    files = sorted(glob.glob(os.path.join(
        out, build_examples.EXAMPLES_SUBDIR,
        build_examples.split_file_pattern(split))))
    assert files, split
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(files)]
    images += [tf.train.Example.FromString(s).features.feature[
        F.IMAGE_ID_KEY].bytes_list.value[0] for s in serialized]
    for row in _check_examples(serialized):
      # The training split holds warm images, their held-out reviews
      # marked; the eval split cold images, every review held out.
      if split == F.EVAL_SPLIT:
        assert row[F.HELD_OUT_KEY] == 1 and row[F.SLICE_KEY] == F.SLICE_COLD
      else:
        assert row[F.SLICE_KEY] == F.SLICE_WARM
      rows[F.EVAL_SPLIT if row[F.HELD_OUT_KEY] else F.TRAIN_SPLIT].append(row)
  # One example per image: its photo is stored once.
  assert len(images) == len(set(images))
  return rows


def test_demo_run_split_files_slices_and_rates(demo_run):
  from evaluation import metrics  # pylint: disable=g-import-not-at-top
  _, _, out, summary = demo_run
  rows = _split_rows(out)
  train, evals = rows[F.TRAIN_SPLIT], rows[F.EVAL_SPLIT]
  assert len(train) + len(evals) == summary["reviews"]["kept"]
  assert evals, "the demo run has no eval row"
  train_images = {r[F.IMAGE_ID_KEY] for r in train}
  assert {r[F.SLICE_KEY] for r in train} == {F.SLICE_WARM}
  for r in evals:  # cold <=> the image has no training row
    assert (r[F.SLICE_KEY] == F.SLICE_COLD) == (
        r[F.IMAGE_ID_KEY] not in train_images)
  # Each row's split is the rule's, from its ids alone.
  by_image = collections.defaultdict(list)
  for split, rs in rows.items():
    for r in rs:
      by_image[r[F.IMAGE_ID_KEY].decode()].append(
          (r[F.USER_KEY].decode(), split, r[F.SLICE_KEY]))
  for image_id, got in by_image.items():
    got.sort()
    assert [(s, v) for _, s, v in got] == _split_of(
        image_id, [u for u, _, _ in got])
  # The rate never sees an eval label: recomputed from training rows only.
  t_users = [r[F.USER_KEY] for r in train]
  t_labels = [int(r[F.LABEL_KEY]) for r in train]
  rates = metrics.user_rates(t_users, t_labels)
  base = metrics.base_rate(sum(t_labels), len(t_labels))
  for r in evals:
    assert r[F.USER_TRAIN_RATE_KEY] == pytest.approx(
        rates.get(r[F.USER_KEY], base), rel=1e-6)
  for i, r in enumerate(train):
    u_i, y_i = t_users[:i] + t_users[i + 1:], t_labels[:i] + t_labels[i + 1:]
    expected = metrics.user_rates(u_i, y_i).get(
        r[F.USER_KEY], metrics.base_rate(sum(y_i), len(y_i)))
    assert r[F.USER_TRAIN_RATE_KEY] == pytest.approx(expected, rel=1e-6)


def test_demo_run_summary_split_and_floors(demo_run):
  from evaluation import metrics  # pylint: disable=g-import-not-at-top
  _, _, out, summary = demo_run
  rows = _split_rows(out)
  train, evals = rows[F.TRAIN_SPLIT], rows[F.EVAL_SPLIT]
  sp = summary["split"]
  assert sp["cold_image_share"] == build_examples.cfg_lib.EVAL_COLD_IMAGE_SHARE
  assert sp[F.TRAIN_SPLIT] == {
      "rows": len(train), "images": len({r[F.IMAGE_ID_KEY] for r in train})}
  for value in F.SLICE_VALUES:
    mine = [r for r in evals if r[F.SLICE_KEY] == value]
    assert sp[f"{F.EVAL_SPLIT}_{value}"] == {
        "rows": len(mine), "images": len({r[F.IMAGE_ID_KEY] for r in mine})}
  # The floors: evaluation.metrics on the eval rows, training rows as prior.
  scores = metrics.floor_scores(
      [r[F.USER_KEY].decode() for r in train],
      [int(r[F.LABEL_KEY]) for r in train],
      [r[F.USER_KEY].decode() for r in evals],
      [float(r[F.MEAN_SCORE_KEY]) for r in evals])
  y = np.asarray([int(r[F.LABEL_KEY]) for r in evals])
  slices = np.asarray([r[F.SLICE_KEY] for r in evals])
  # The rows' own user_train_rate is the user_rate floor's score.
  np.testing.assert_allclose(
      scores["user_rate"], [r[F.USER_TRAIN_RATE_KEY] for r in evals],
      rtol=1e-6)
  for name in eval_split.FLOOR_SLICES:
    mask = (np.ones(len(y), bool) if name == eval_split.OVERALL
            else slices == name)
    got = summary["floors"][name]
    assert got["rows"] == int(mask.sum())
    expected = metrics.floor_metrics(y, scores, mask)
    for floor in metrics.FLOOR_NAMES:
      for key, value in expected[floor].items():
        assert got["floors"][floor][key] == pytest.approx(value, nan_ok=True)
    if got["best"] is not None:
      assert got["best"] == metrics.best_floor(expected)
      assert got["best_auc"] == pytest.approx(expected[got["best"]]["auc"])
  assert eval_split.best_floors(summary)[eval_split.OVERALL] == (
      summary["floors"]["overall"]["best"],
      summary["floors"]["overall"]["best_auc"])
  text = examples_summary.format_summary(summary)
  assert f"split: train {len(train):,d} rows" in text
  line = next(t for t in text.splitlines() if t.startswith("floors"))
  for floor in metrics.FLOOR_NAMES:
    assert floor in line


def test_floor_summary_without_cold_rows():
  """No cold row (or one class only): no best floor there, so the gate
  cannot hold on that slice (tfx_pipeline/gate.py says so)."""
  user_stats = {"a": (3, 4), "b": (1, 4)}
  rows = [("a", 1, 6.0, F.SLICE_WARM), ("b", 0, 4.0, F.SLICE_WARM),
          ("a", 0, 5.5, F.SLICE_WARM)]
  floors = eval_split.floor_summary(rows, user_stats)
  assert floors[F.SLICE_COLD]["rows"] == 0
  assert floors[F.SLICE_COLD]["best"] is None
  assert floors["overall"]["best"] is not None
  assert F.SLICE_COLD not in eval_split.best_floors({"floors": floors})
  one_class = eval_split.floor_summary(
      rows + [("b", 1, 6.0, F.SLICE_COLD)], user_stats)
  assert one_class[F.SLICE_COLD]["rows"] == 1
  assert one_class[F.SLICE_COLD]["best"] is None


def test_malformed_run_splits_its_three_rows(malformed_run):
  """Both split files exist even when a split is empty (ImportExampleGen
  needs a match for each pattern), and the counts follow the rule."""
  _, out, summary = malformed_run
  rows = _split_rows(out)
  expected = collections.Counter(
      s if s == F.TRAIN_SPLIT else f"{F.EVAL_SPLIT}_{v}"
      for image_id, users in (("1001", ["alice"]), ("1002", ["alice", "bob"]))
      for s, v in _split_of(image_id, users))
  got = {k: v["rows"] for k, v in summary["split"].items()
         if isinstance(v, dict)}
  assert got == {k: expected.get(k, 0) for k in got}
  assert len(rows[F.TRAIN_SPLIT]) == expected[F.TRAIN_SPLIT]

"""Bad-input catalogue, data side (GitHub issue 7; table in docs/bad_inputs.md).

ONE hostile AVA-review directory holds every data case of the catalogue next
to valid records; ``build_examples.run`` runs over it once (module fixture).
Each test then checks one case: the record is either kept (and stored
correctly) or rejected with its reason, file and line, and nothing else is
lost: reviews in = kept + rejected, AVA lines in = kept + rejected, and the
kept (user, image) pairs are exactly the valid ones planted.

Reader-level unit tests of the same inputs live in tests/test_ava_readers.py,
tests/test_rating.py and tests/test_build_examples.py; the serving side
(unknown user, garbage bytes, empty batch) is tests/test_bad_inputs_serving.py.
The last section crafts examples whose feature types differ between examples
(a pipeline-level case: StatisticsGen's listed anomaly).
"""
from __future__ import annotations

import collections
import dataclasses
import glob
import io
import json
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest
from PIL import Image

from preprocessing import build_examples
from preprocessing import examples_summary
from preprocessing import features as F
from preprocessing import images
from preprocessing import labelled
from preprocessing import rating

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
MAX_SIDE = build_examples.cfg_lib.STORED_IMAGE_MAX_SIDE
GOOD_VOTES = (0, 0, 1, 2, 5, 10, 12, 6, 2, 1)  # mean > 5
TAGS_TXT = "1 Landscape\n2 Urban\n2 Portraits\n"  # line 3: duplicate id 2
UNNAMED_TAG = 77  # used in AVA.txt, absent from tags.txt

# Review texts that the §4.1 labeler keeps (type I) whatever else happens.
GOOD_TEXT = "The color is wonderful and the composition is great!"
LONG_REVIEW = "The composition is excellent and the light is lovely. " * 1900
CURLY_REVIEW = "The focus isn\u2019t great and the colors aren\u2019t good."
HTML_EMOJI_REVIEW = ("The colors &amp; the light are wonderful &lt;3 "
                     "\U0001F60D\U0001F44D")
SPILL_LINES = ["The composition is strong", "and the colors are",
               "really beautiful."]


# --------------------------------------------------------------------------
# Image fixtures
# --------------------------------------------------------------------------
def _encode(img: Image.Image, fmt: str, **kw: Any) -> bytes:
  buf = io.BytesIO()
  img.save(buf, format=fmt, **kw)
  return buf.getvalue()


def _noise(h: int, w: int, seed: int) -> np.ndarray:
  return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def _rgba_half_transparent() -> bytes:
  arr = np.zeros((30, 40, 4), np.uint8)
  arr[..., 0] = 255  # red
  arr[:, :20, 3] = 255  # left half opaque, right half transparent
  return _encode(Image.fromarray(arr), "PNG")


def _dark_16_bit_png() -> bytes:
  arr = np.full((24, 32), 200, np.uint16)  # 200 / 65535: nearly black
  arr[:, 16:] = 65535
  return _encode(Image.fromarray(arr), "PNG")


def _truncated_jpeg() -> bytes:
  whole = _encode(Image.fromarray(_noise(200, 300, 5)), "JPEG", quality=95)
  return whole[:len(whole) // 2]


IMAGES = {
    # image id -> (file name, bytes or None for "not on disk")
    "2001": ("2001.jpg", lambda: _encode(Image.fromarray(_noise(40, 50, 1)),
                                         "JPEG")),
    "2002": ("2002.jpg", _truncated_jpeg),
    "2003": ("2003.jpg", lambda: b""),
    "2004": ("2004.png", _rgba_half_transparent),
    "2005": ("2005.png", _dark_16_bit_png),
    "2006": ("2006.png", lambda: _encode(Image.new("L", (50, 20), 128),
                                         "PNG")),
    "2007": ("2007.jpg", lambda: _encode(
        Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG")),
    "2008": ("2008.jpg", lambda: _encode(
        Image.new("RGB", (8000, 6000), (10, 120, 200)), "JPEG", quality=50)),
    "2010": ("2010.jpg", lambda: b"\x00garbage, not a JPEG\xff" * 20),
    "2011": ("2011.jpg", lambda: _encode(Image.new("RGB", (20, 20),
                                                   (0, 90, 0)), "JPEG")),
    "2012": ("2012.jpg", lambda: _encode(Image.new("RGB", (20, 20),
                                                   (90, 0, 0)), "JPEG")),
    # On disk but not in AVA.txt: one reviewed, one never mentioned.
    "2099": ("2099.jpg", lambda: _encode(Image.new("RGB", (20, 20)), "JPEG")),
    "2098": ("2098.jpg", lambda: _encode(Image.new("RGB", (20, 20)), "JPEG")),
}


# --------------------------------------------------------------------------
# The hostile directory
# --------------------------------------------------------------------------
@dataclasses.dataclass
class Planted:
  """One planted review and what must become of it."""
  case: str
  user: str
  image: str
  line: int  # line of the user id in reviews.txt
  reason: Optional[str]  # None = must be kept


class _Builder:
  """Writes reviews.txt / AVA.txt line by line, remembering line numbers."""

  def __init__(self) -> None:
    self.review_lines: List[bytes] = []
    self.ava_lines: List[str] = []
    self.planted: List[Planted] = []
    self.ava_cases: Dict[str, Tuple[int, Optional[str]]] = {}
    self.block_rejects: Dict[str, Tuple[int, str]] = {}

  def ava(self, case: str, line: str, reason: Optional[str] = None) -> None:
    self.ava_lines.append(line)
    self.ava_cases[case] = (len(self.ava_lines), reason)

  def block(self, image: str, count: int,
            reviews: List[Tuple[str, str, Any, Optional[str]]],
            count_case: Optional[str] = None) -> None:
    """reviews: (case, user, text str/bytes/list of lines, reject reason)."""
    start = len(self.review_lines) + 1
    self.review_lines += [image.encode(), str(count).encode()]
    for case, user, text, reason in reviews:
      self.review_lines.append(user.encode())
      self.planted.append(Planted(case, user, image,
                                  len(self.review_lines), reason))
      parts = text if isinstance(text, list) else [text]
      self.review_lines += [p if isinstance(p, bytes) else p.encode("utf-8")
                            for p in parts]
    if count_case:
      self.block_rejects[count_case] = (start, "block_count_mismatch")


def _ava(index: int, image_id: str, votes=GOOD_VOTES, tags=(1, 0),
         challenge: int = 10) -> str:
  return " ".join(str(c) for c in (index, image_id, *votes, *tags, challenge))


def _build() -> _Builder:
  b = _Builder()
  for i, image_id in enumerate(("2001", "2002", "2003", "2004", "2005",
                                "2006", "2007", "2008", "2009", "2010"), 1):
    b.ava(f"ava_ok_{image_id}", _ava(i, image_id))
  b.ava("unknown_tag_id", _ava(11, "2011", tags=(UNNAMED_TAG, 0)))
  b.ava("tags_duplicate_id", _ava(12, "2012", tags=(2, 0)))
  b.ava("ava_14_columns", " ".join(_ava(13, "2020").split()[:14]),
        "ava_wrong_column_count")
  b.ava("ava_16_columns", _ava(14, "2021") + " 7", "ava_wrong_column_count")
  b.ava("ava_non_numeric_votes",
        "15 2022 0 1 x 3 4 5 6 7 8 9 1 0 10", "ava_non_numeric")
  b.ava("ava_all_zero_votes", _ava(16, "2023", votes=(0,) * 10),
        "ava_no_votes")

  # Count 2, three reviews: the stale count is reported, all three kept.
  b.block("2001", 2, [
      ("review_spilling_over_lines", "u_alice", SPILL_LINES, None),
      ("valid", "u_bob", "Great light and sharp focus.", None),
      ("user_with_single_review", "u_single", GOOD_TEXT, None),
  ], count_case="block_count_too_small")
  b.block("2002", 1, [("truncated_jpeg", "u_jack", GOOD_TEXT,
                       "corrupt_image")])
  b.block("2003", 1, [("zero_byte_file", "u_kate", GOOD_TEXT,
                       "corrupt_image")])
  # Count 3, two reviews, mid-file: reported, both kept.
  b.block("2004", 3, [
      ("png_with_alpha", "u_alice", GOOD_TEXT, None),
      ("html_entities_and_emoji", "u_pat", HTML_EMOJI_REVIEW, None),
  ], count_case="block_count_too_large")
  b.block("2005", 1, [("png_16_bit", "u_gina", GOOD_TEXT, None)])
  b.block("2006", 4, [
      ("grayscale", "u_carol", GOOD_TEXT, None),
      ("non_utf8_bytes", "u_bob",
       b"Lovely caf\xe9 colours and the composition is great.", None),
      ("empty_review", "u_empty", "   ", "empty_review"),
      ("duplicate_user_image", "u_carol",
       "The colors are dull and the focus is soft.", "duplicate_user_image"),
  ])
  b.block("2007", 2, [
      ("cmyk_jpeg", "u_hank", GOOD_TEXT, None),
      ("curly_apostrophe", "u_bob", CURLY_REVIEW, None),
  ])
  b.block("2008", 2, [
      ("huge_image", "u_ivan", GOOD_TEXT, None),
      ("review_100kB", "u_carol", LONG_REVIEW, None),
  ])
  b.block("2009", 1, [("missing_on_disk", "u_liam", GOOD_TEXT,
                       "missing_image_file")])
  b.block("2010", 1, [("garbage_image_bytes", "u_mia", GOOD_TEXT,
                       "corrupt_image")])
  b.block("2011", 1, [("unknown_tag_id", "u_erin", GOOD_TEXT, None)])
  b.block("2012", 1, [("tags_duplicate_id", "u_frank", GOOD_TEXT, None)])
  b.block("2099", 1, [("on_disk_not_in_ava", "u_dave", GOOD_TEXT,
                       "unknown_image")])
  b.block("3000", 1, [("review_for_unknown_image", "u_dave", GOOD_TEXT,
                       "unknown_image")])
  b.block("2021", 1, [("review_of_rejected_ava_line", "u_olga", GOOD_TEXT,
                       "unknown_image")])
  b.block("2023", 1, [("review_of_image_without_votes", "u_noah", GOOD_TEXT,
                       "unknown_image")])
  return b


@dataclasses.dataclass
class HostileRun:
  data: str
  out: str
  summary: Dict[str, Any]
  builder: _Builder
  examples: Dict[Tuple[str, str], Dict[str, Any]]
  rejects: List[Dict[str, Any]]

  @property
  def reviews_path(self) -> str:
    return os.path.join(self.data, F.REVIEWS_FILE)

  @property
  def ava_path(self) -> str:
    return os.path.join(self.data, F.AVA_FILE)

  def planted(self, case: str) -> Planted:
    (p,) = [p for p in self.builder.planted if p.case == case]
    return p

  def reject_at(self, source: str, line: int) -> Dict[str, Any]:
    hits = [d for d in self.rejects
            if d["source"] == source and d["line"] == line]
    assert len(hits) == 1, (source, line, hits)
    return hits[0]

  def kept(self, case: str) -> Dict[str, Any]:
    p = self.planted(case)
    assert p.reason is None
    return self.examples[(p.user, p.image)]

  def rejected(self, case: str) -> Dict[str, Any]:
    p = self.planted(case)
    assert (p.user, p.image) not in self.examples or p.reason == (
        "duplicate_user_image")
    d = self.reject_at(self.reviews_path, p.line)
    assert d["reason"] == p.reason, d
    # Job rejects carry user|image|text; reader rejects the raw line.
    assert d["record"].startswith(f"{p.user}|{p.image}|") or (
        d["record"] == p.user)
    return d


def _parse_examples(out: str) -> Dict[Tuple[str, str], Dict[str, Any]]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = sorted(glob.glob(os.path.join(out, build_examples.EXAMPLES_SUBDIR,
                                        "*.tfrecord")))
  rows: Dict[Tuple[str, str], Dict[str, Any]] = {}
  for record in tf.data.TFRecordDataset(files):
    for review in labelled.review_rows(record.numpy()):
      row = {k: v if isinstance(v, list) else [v] for k, v in review.items()}
      key = (row[F.USER_KEY][0].decode(), row[F.IMAGE_ID_KEY][0].decode())
      assert key not in rows, f"two reviews of {key}"
      rows[key] = row
  return rows


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> HostileRun:
  root = tmp_path_factory.mktemp("hostile")
  data = root / "data"
  (data / F.IMAGES_DIR).mkdir(parents=True)
  b = _build()
  (data / F.AVA_FILE).write_text("\n".join(b.ava_lines) + "\n",
                                 encoding="utf-8")
  (data / F.TAGS_FILE).write_text(TAGS_TXT, encoding="utf-8")
  (data / F.REVIEWS_FILE).write_bytes(b"\n".join(b.review_lines) + b"\n")
  for name, make in IMAGES.values():
    (data / F.IMAGES_DIR / name).write_bytes(make())
  out = str(root / "out")
  summary = build_examples.run(str(data), out, min_tag_images=1,
                               beam_args=BEAM_ARGS)
  rejects = []
  for path in sorted(glob.glob(os.path.join(
      out, build_examples.REJECTS_SUBDIR, "*.jsonl"))):
    with open(path, encoding="utf-8") as fh:
      rejects += [json.loads(line) for line in fh if line.strip()]
  return HostileRun(str(data), out, summary, b, _parse_examples(out), rejects)


def _stored_image(row: Dict[str, Any]) -> Image.Image:
  img = Image.open(io.BytesIO(row[F.IMAGE_KEY][0]))
  assert img.format == "JPEG" and img.mode == "RGB"
  assert max(img.size) <= MAX_SIDE
  img.load()
  return img


def _close(pixel, expected, tol: int = 14) -> bool:
  return all(abs(int(a) - int(b)) <= tol for a, b in zip(pixel, expected))


# --------------------------------------------------------------------------
# Nothing lost: in = kept + rejected, and exactly the valid records kept
# --------------------------------------------------------------------------
def test_in_equals_kept_plus_rejected(hostile):
  s = hostile.summary
  planted = hostile.builder.planted
  kept = [p for p in planted if p.reason is None]
  # The reader yields one item per review plus one per block-level problem
  # (here the two stale counts); every item is kept or rejected.
  n_block = len(hostile.builder.block_rejects)
  assert s["reviews"] == {"in": len(planted) + n_block, "kept": len(kept),
                          "rejected": len(planted) - len(kept) + n_block}
  assert len(hostile.examples) == s["reviews"]["kept"]
  a = s["ava_lines"]
  want_ava_rejects = [c for c, (_, r) in hostile.builder.ava_cases.items()
                      if r]
  assert a == {"in": len(hostile.builder.ava_lines),
               "kept": len(hostile.builder.ava_lines) -
               len(want_ava_rejects), "rejected": len(want_ava_rejects)}
  # Every reject is on disk: review items + AVA lines.
  assert len(hostile.rejects) == s["rejects_total"] == (
      s["reviews"]["rejected"] + a["rejected"])
  text = examples_summary.format_summary(s)
  assert (f"reviews   in {s['reviews']['in']:>9,d} = kept "
          f"{s['reviews']['kept']:>9,d} + rejected") in text


def test_valid_records_are_never_dropped(hostile):
  want = {(p.user, p.image) for p in hostile.builder.planted
          if p.reason is None}
  assert set(hostile.examples) == want
  by_reason = collections.Counter(p.reason for p in hostile.builder.planted
                                  if p.reason)
  got = collections.Counter(hostile.summary["rejects_by_reason"])
  for reason in ("block_count_mismatch",):
    got.pop(reason)
  assert got == by_reason


def test_every_reject_names_file_line_reason(hostile):
  for d in hostile.rejects:
    assert d["source"] in (hostile.reviews_path, hostile.ava_path), d
    assert d["line"] >= 1 and d["reason"] and d["detail"], d
    assert len(d["record"]) <= 200


# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------
def test_truncated_jpeg_is_a_counted_reject(hostile):
  d = hostile.rejected("truncated_jpeg")
  assert "2002.jpg" in d["detail"] and "not a decodable image" in d["detail"]


def test_zero_byte_file_is_a_counted_reject(hostile):
  d = hostile.rejected("zero_byte_file")
  assert "2003.jpg" in d["detail"]


def test_garbage_image_file_is_a_counted_reject(hostile):
  d = hostile.rejected("garbage_image_bytes")
  assert "2010.jpg" in d["detail"]


def test_png_with_alpha_is_composited_on_white(hostile):
  img = _stored_image(hostile.kept("png_with_alpha"))
  assert img.size == (40, 30)
  assert _close(img.getpixel((5, 15)), (255, 0, 0))
  assert _close(img.getpixel((35, 15)), (255, 255, 255))


def test_16_bit_png_keeps_its_brightness(hostile):
  """A dark 16-bit PNG (values 200 of 65535) must stay dark. Before the fix
  the peak heuristic read any 16-bit image whose peak is <= 255 as 8-bit."""
  img = _stored_image(hostile.kept("png_16_bit"))
  assert img.size == (32, 24)
  assert _close(img.getpixel((4, 12)), (0, 0, 0), tol=4)
  assert _close(img.getpixel((28, 12)), (255, 255, 255))


def test_16_bit_png_all_dark_stays_dark():
  """Same bug, whole image dark (peak 200 <= 255): was stored as grey 200."""
  src = _encode(Image.fromarray(np.full((8, 8), 200, np.uint16)), "PNG")
  out = Image.open(io.BytesIO(images.reencode_image(src)))
  assert _close(out.getpixel((4, 4)), (1, 1, 1), tol=2)


def test_grayscale_is_stored_as_rgb(hostile):
  img = _stored_image(hostile.kept("grayscale"))
  assert img.size == (50, 20)
  assert _close(img.getpixel((25, 10)), (128, 128, 128))


def test_cmyk_jpeg_is_stored_as_rgb(hostile):
  img = _stored_image(hostile.kept("cmyk_jpeg"))
  assert _close(img.getpixel((20, 20)), (255, 0, 0), tol=20)


def test_huge_image_is_capped_once(hostile):
  img = _stored_image(hostile.kept("huge_image"))
  assert img.size == (MAX_SIDE, MAX_SIDE * 3 // 4)
  assert _close(img.getpixel((100, 100)), (10, 120, 200), tol=20)
  # Stored once per image: both reviews of 2008 carry the same bytes.
  other = hostile.kept("review_100kB")
  assert other[F.IMAGE_KEY] == hostile.kept("huge_image")[F.IMAGE_KEY]
  assert len(other[F.IMAGE_KEY][0]) < 60_000


def test_image_in_ava_missing_on_disk(hostile):
  d = hostile.rejected("missing_on_disk")
  assert "2009" in d["detail"] and F.IMAGES_DIR in d["detail"]


def test_image_on_disk_not_in_ava(hostile):
  d = hostile.rejected("on_disk_not_in_ava")
  assert "2099" in d["detail"] and F.AVA_FILE in d["detail"]
  # An unreviewed stray file is simply not read: it is no record.
  assert not any(k[1] in ("2098", "2099") for k in hostile.examples)
  assert not any("2098" in d["record"] + d["detail"]
                 for d in hostile.rejects)


# --------------------------------------------------------------------------
# AVA.txt
# --------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["ava_14_columns", "ava_16_columns",
                                  "ava_non_numeric_votes",
                                  "ava_all_zero_votes"])
def test_bad_ava_line_is_a_counted_reject(hostile, case):
  line, reason = hostile.builder.ava_cases[case]
  d = hostile.reject_at(hostile.ava_path, line)
  assert d["reason"] == reason
  assert d["record"] == hostile.builder.ava_lines[line - 1]
  assert hostile.summary["ava_rejects_by_reason"][reason] >= 1


@pytest.mark.parametrize("case", ["review_of_rejected_ava_line",
                                  "review_of_image_without_votes"])
def test_reviews_of_rejected_ava_lines_are_counted(hostile, case):
  d = hostile.rejected(case)
  assert "no valid line" in d["detail"]


# --------------------------------------------------------------------------
# tags.txt
# --------------------------------------------------------------------------
def test_unknown_tag_id_is_kept_under_a_placeholder_name(hostile):
  row = hostile.kept("unknown_tag_id")
  assert row[F.TAG_KEY] == [f"tag_{UNNAMED_TAG}".encode()]
  assert hostile.summary["major_tags_without_name"] == [UNNAMED_TAG]
  assert f"tag_{UNNAMED_TAG}" in hostile.summary["major_tags"]
  assert "not named in tags.txt: [77]" in examples_summary.format_summary(
      hostile.summary)


def test_tags_file_duplicate_id_first_definition_wins(hostile):
  row = hostile.kept("tags_duplicate_id")
  assert row[F.TAG_KEY] == [b"Urban"]
  assert "Portraits" not in hostile.summary["major_tags"]
  assert hostile.summary["tags_file_rejects"] == 1


# --------------------------------------------------------------------------
# reviews.txt
# --------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["block_count_too_small",
                                  "block_count_too_large"])
def test_block_count_disagreeing_with_lines(hostile, case):
  line, reason = hostile.builder.block_rejects[case]
  d = hostile.reject_at(hostile.reviews_path, line)
  assert d["reason"] == reason and "count says" in d["detail"]
  image = hostile.builder.review_lines[line - 1].decode()
  planted = [p for p in hostile.builder.planted if p.image == image]
  assert planted and all((p.user, p.image) in hostile.examples
                         for p in planted)


def test_review_spilling_over_lines_is_one_review(hostile):
  row = hostile.kept("review_spilling_over_lines")
  assert row[F.REVIEW_KEY] == [" ".join(SPILL_LINES).encode()]


def test_review_for_unknown_image(hostile):
  d = hostile.rejected("review_for_unknown_image")
  assert "3000" in d["detail"]


def test_empty_review_is_a_counted_reject(hostile):
  d = hostile.rejected("empty_review")
  assert "u_empty" in d["detail"]


def test_non_utf8_bytes_keep_the_review(hostile):
  row = hostile.kept("non_utf8_bytes")
  assert row[F.REVIEW_KEY][0].decode("utf-8") == (
      "Lovely caf\ufffd colours and the composition is great.")


def test_html_entities_and_emoji(hostile):
  row = hostile.kept("html_entities_and_emoji")
  assert row[F.REVIEW_KEY][0].decode("utf-8") == (
      "The colors & the light are wonderful <3 \U0001F60D\U0001F44D")
  assert row[F.LABEL_KEY] == [1]


def test_curly_apostrophe_negation_is_read(hostile):
  """"isn\u2019t" used to lose its negation (VADER only knows "isn't") and
  the review was labelled good; it is bad."""
  row = hostile.kept("curly_apostrophe")
  assert row[F.REVIEW_KEY] == [
      b"The focus isn't great and the colors aren't good."]
  assert row[F.LABEL_KEY] == [0]
  labeler = rating.ReviewLabeler()
  assert labeler.label(CURLY_REVIEW) == labeler.label(
      CURLY_REVIEW.replace("\u2019", "'"))


def test_review_of_100_kb(hostile):
  assert len(LONG_REVIEW.encode()) > 100_000
  row = hostile.kept("review_100kB")
  text = row[F.REVIEW_KEY][0].decode()
  assert 0 < len(text) <= rating.MAX_REVIEW_CHARS
  assert LONG_REVIEW.startswith(text)


def test_duplicate_user_image_first_kept(hostile):
  d = hostile.rejected("duplicate_user_image")
  first = hostile.kept("grayscale")  # u_carol's first review of 2006
  assert first[F.REVIEW_KEY] == [GOOD_TEXT.encode()]
  assert f"{F.REVIEWS_FILE}:{hostile.planted('grayscale').line}" in d["detail"]


def test_user_with_a_single_review_is_kept(hostile):
  p = hostile.planted("user_with_single_review")
  assert [k for k in hostile.examples if k[0] == p.user] == [(p.user,
                                                              p.image)]
  assert hostile.summary["table1"]["reviews_per_user"]["min"] == 1


# --------------------------------------------------------------------------
# Pipeline level: a feature whose value type differs between examples
# --------------------------------------------------------------------------
def _mixed_type_examples(root: str, gzip: bool) -> str:
  """Examples in build-examples' layout (one file per split) where
  ``challenge_id`` is a float in the 4th training example and an int
  elsewhere, and ``mean_score`` an int in the 2nd eval example."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  os.makedirs(root)
  for split in F.SPLITS:
    name = build_examples.split_file_pattern(split).replace(
        "*", "mixed.tfrecord" + (".gz" if gzip else ""))
    with tf.io.TFRecordWriter(os.path.join(root, name),
                              "GZIP" if gzip else None) as w:
      for i in range(12):
        ex = tf.train.Example()
        f = ex.features.feature
        f[F.USER_KEY].bytes_list.value.append(f"u{i % 3}".encode())
        f[F.LABEL_KEY].int64_list.value.append(i % 2)
        if split == F.TRAIN_SPLIT and i == 3:
          f[F.CHALLENGE_KEY].float_list.value.append(10.5)
        else:
          f[F.CHALLENGE_KEY].int64_list.value.append(10)
        if split == F.EVAL_SPLIT and i == 1:
          f[F.MEAN_SCORE_KEY].int64_list.value.append(5)
        else:
          f[F.MEAN_SCORE_KEY].float_list.value.append(5.5)
        w.write(ex.SerializeToString())
  return root


MIXED_LINES = (
    "split 'eval': feature 'mean_score': Mixed value types (examples with "
    "float_list in 11 (first: examples-eval-mixed.tfrecord{ext} record 1), "
    "int64_list in 1 (first: examples-eval-mixed.tfrecord{ext} record 2)",
    "split 'train': feature 'challenge_id': Mixed value types (examples "
    "with int64_list in 11 (first: examples-train-mixed.tfrecord{ext} "
    "record 1), float_list in 1 (first: examples-train-mixed.tfrecord{ext} "
    "record 4)")


@pytest.mark.parametrize("gzip", [False, True])
def test_mixed_type_anomalies_name_feature_types_and_record(tmp_path, gzip):
  from tfx_pipeline import components  # pylint: disable=g-import-not-at-top
  root = _mixed_type_examples(str(tmp_path / "ex"), gzip)
  # One directory per split, as ExampleGen writes them.
  uris = {}
  for split in F.SPLITS:
    uris[split] = str(tmp_path / f"Split-{split}")
    os.makedirs(uris[split])
    for path in glob.glob(os.path.join(root, f"examples-{split}-*")):
      os.rename(path, os.path.join(uris[split], os.path.basename(path)))
  lines = components.mixed_type_anomalies(uris)
  ext = ".gz" if gzip else ""
  assert len(lines) == 2
  for got, want in zip(lines, MIXED_LINES):
    assert got.startswith(want.format(ext=ext)), got


@pytest.mark.slow
def test_mixed_types_stop_the_run_with_listed_anomalies(tmp_path):
  """Through the pipeline: ImportExampleGen, then StatisticsGen fails with
  ``DataAnomaliesError`` naming both features (a ValueError: ``cfan run``
  prints it and exits 2), not tfx_bsl's "Feature had wrong type" traceback;
  nothing after StatisticsGen runs."""
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  from tfx.orchestration import pipeline as tfx_pipeline_lib  # pylint: disable=g-import-not-at-top
  from preprocessing import config as cfg_lib  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import components  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import metadata  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  examples = _mixed_type_examples(str(tmp_path / "ex"), gzip=False)
  run_dir = str(tmp_path / "run")
  os.makedirs(run_dir)
  p = pipeline_lib.create_pipeline(
      pipeline_name="mixed-types", pipeline_root=os.path.join(run_dir, "tfx"),
      examples_dir=examples, serving_model_dir=os.path.join(run_dir, "srv"),
      model_config=cfg_lib.get_config("cpu"), beam_pipeline_args=BEAM_ARGS,
      metadata_connection_config=metadata.connection_config(run_dir))
  with pytest.raises(components.DataAnomaliesError) as exc:
    tfx.orchestration.LocalDagRunner().run(
        p, run_options=tfx_pipeline_lib.RunOptions(to_nodes=["Transform"]))
  msg = str(exc.value)
  assert isinstance(exc.value, ValueError)
  assert msg.startswith("data validation failed: 2 anomaly(ies)")
  # ImportExampleGen writes its own file names: the features and types.
  assert ("split 'train': feature 'challenge_id': Mixed value types "
          "(examples with int64_list in 11") in msg
  assert "float_list in 1" in msg
  assert "split 'eval': feature 'mean_score': Mixed value types" in msg
  ran = metadata.latest_run_executions(run_dir)
  assert ran["StatisticsGen"] == "FAILED"
  assert not {"SchemaGen", "Transform", "Trainer"} & set(ran)

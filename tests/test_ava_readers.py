"""Tests of preprocessing.ava: the AVA-review directory readers."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from typing import List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from preprocessing import ava
from preprocessing import features


def _write(path, content) -> str:
  data = content if isinstance(content, bytes) else content.encode("utf-8")
  with open(path, "wb") as f:
    f.write(data)
  return str(path)


def _split(items) -> Tuple[list, List[ava.Reject]]:
  records, rejects = [], []
  for item in items:
    (rejects if isinstance(item, ava.Reject) else records).append(item)
  return records, rejects


def _ava_line(index=1, image_id="953619", votes=(0, 1, 5, 17, 38, 36, 15, 6,
                                                 5, 1), tags=(1, 22),
              challenge=1396) -> str:
  cols = [index, image_id, *votes, *tags, challenge]
  return " ".join(str(c) for c in cols)


# ---------------------------------------------------------------------------
# AVA.txt
# ---------------------------------------------------------------------------
def test_parse_ava_line_valid():
  img = ava.parse_ava_line(_ava_line(), "AVA.txt", 7)
  assert isinstance(img, ava.AvaImage)
  assert img.image_id == "953619"
  assert img.votes == (0, 1, 5, 17, 38, 36, 15, 6, 5, 1)
  assert img.tag_ids == (1, 22) and img.challenge_id == 1396
  assert (img.source, img.line) == ("AVA.txt", 7)
  assert img.num_votes == 124
  want = sum(s * c for s, c in enumerate(img.votes, 1)) / 124
  assert img.mean_score == pytest.approx(want)
  assert img.agnostic_label == int(want > features.AGNOSTIC_THRESHOLD)


def test_agnostic_label_is_strictly_greater_than_threshold():
  at_five = ava.parse_ava_line(_ava_line(votes=(0, 0, 0, 0, 10, 0, 0, 0, 0,
                                                0)))
  above = ava.parse_ava_line(_ava_line(votes=(0, 0, 0, 0, 9, 1, 0, 0, 0, 0)))
  assert at_five.mean_score == 5.0 and at_five.agnostic_label == 0
  assert above.agnostic_label == 1


def test_parse_ava_line_extra_whitespace_is_fine():
  line = "  1\t953619  " + "  ".join(["1"] * 10) + "\t0 0  5\r"
  img = ava.parse_ava_line(line)
  assert isinstance(img, ava.AvaImage)
  assert img.tag_ids == (0, 0) and img.challenge_id == 5


@pytest.mark.parametrize("line,reason", [
    (" ".join(_ava_line().split()[:14]), "ava_wrong_column_count"),
    (_ava_line() + " 7", "ava_wrong_column_count"),
    ("", "ava_wrong_column_count"),
    (_ava_line(votes=(0, 1, "x", 17, 38, 36, 15, 6, 5, 1)), "ava_non_numeric"),
    (_ava_line(votes=(0, 1, 2.5, 17, 38, 36, 15, 6, 5, 1)),
     "ava_non_numeric"),
    (_ava_line(index="a"), "ava_non_numeric"),
    (_ava_line(tags=("x", 2)), "ava_non_numeric"),
    (_ava_line(challenge="c12"), "ava_non_numeric"),
    (_ava_line(votes=(0, 1, -5, 17, 38, 36, 15, 6, 5, 1)),
     "ava_negative_value"),
    (_ava_line(votes=(0,) * 10), "ava_no_votes"),
    (_ava_line(image_id="abc"), "ava_bad_image_id"),
    (_ava_line(image_id="12\u0663"), "ava_bad_image_id"),  # Arabic digit
])
def test_parse_ava_line_rejects(line, reason):
  got = ava.parse_ava_line(line, "AVA.txt", 3)
  assert isinstance(got, ava.Reject)
  assert got.reason == reason
  assert (got.source, got.line) == ("AVA.txt", 3)
  assert got.record == line[:ava.MAX_REJECT_RECORD_CHARS]
  assert got.detail


def test_read_ava_duplicates_blank_lines_crlf_bom(tmp_path):
  lines = [
      _ava_line(1, "10"),
      "",
      _ava_line(2, "11", votes=(0,) * 10),
      _ava_line(3, "10", votes=(1,) * 10),  # duplicate of line 1
      "   ",
      " ".join(_ava_line(4, "12").split()[:14]),
      _ava_line(5, "13"),
  ]
  path = _write(tmp_path / "AVA.txt",
                b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
  items = list(ava.read_ava(path))
  records, rejects = _split(items)
  assert [r.image_id for r in records] == ["10", "13"]
  assert [r.line for r in records] == [1, 7]
  assert records[0].votes == (0, 1, 5, 17, 38, 36, 15, 6, 5, 1)  # first wins
  assert [(r.line, r.reason) for r in rejects] == [
      (3, "ava_no_votes"), (4, "ava_duplicate_image"),
      (6, "ava_wrong_column_count")]
  assert "line 1" in rejects[1].detail
  assert all(r.source == path for r in rejects)


def test_read_ava_non_utf8_bytes(tmp_path):
  path = _write(tmp_path / "AVA.txt",
                _ava_line(1, "10").encode() + b" \xff\xfe\n" +
                _ava_line(2, "11").encode() + b"\x00\n")
  records, rejects = _split(ava.read_ava(path))
  assert [r.image_id for r in records] == ["11"]  # NUL stripped
  assert rejects[0].reason == "ava_wrong_column_count"
  assert "\ufffd" in rejects[0].record


def test_ava_image_validates_shape():
  with pytest.raises(ValueError):
    ava.AvaImage("1", (1, 2, 3), (0, 0), 0)
  with pytest.raises(ValueError):
    ava.AvaImage("1", (1,) * 10, (0,), 0)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# tags.txt / challenges.txt
# ---------------------------------------------------------------------------
def test_read_id_names(tmp_path):
  path = _write(tmp_path / "tags.txt", "\n".join([
      "1 Abstract",
      "14\tDigital Art  ",
      "",
      "15   Black and White",
      "14 Duplicate Name",
      "x7 Bad id",
      "-3 Negative",
      "16",
      "17 Rock & Roll \u2014 \u00e9t\u00e9",
  ]) + "\n")
  names, rejects = ava.read_id_names(path)
  assert names == {1: "Abstract", 14: "Digital Art", 15: "Black and White",
                   17: "Rock & Roll \u2014 \u00e9t\u00e9"}
  assert [(r.line, r.reason) for r in rejects] == [
      (5, "names_duplicate_id"), (6, "names_non_numeric_id"),
      (7, "names_negative_id"), (8, "names_missing_name")]
  assert "line 2" in rejects[0].detail and "Digital Art" in rejects[0].detail


def test_challenges_optional_tags_mandatory(tmp_path):
  missing = str(tmp_path / features.CHALLENGES_FILE)
  assert ava.read_challenges(missing) == ({}, [])
  assert ava.read_id_names(missing, optional=True) == ({}, [])
  with pytest.raises(FileNotFoundError):
    ava.read_tags(str(tmp_path / features.TAGS_FILE))
  path = _write(tmp_path / features.CHALLENGES_FILE, "1396 Fun with Lines\n")
  assert ava.read_challenges(path) == ({1396: "Fun with Lines"}, [])


# ---------------------------------------------------------------------------
# reviews.txt (crawler block layout)
# ---------------------------------------------------------------------------
def _blocks(tmp_path, text, name="reviews.txt"):
  path = _write(tmp_path / name, text)
  return path, _split(ava.read_reviews_blocks(path))


def test_blocks_valid(tmp_path):
  path, (reviews, rejects) = _blocks(tmp_path, (
      "953619\n2\nalice\nGreat shot!\nbob_42\nNice colors.\n"
      "\n\n"
      "953958\n1\nj.doe-3\nLovely light.\n"
      "953960\n0\n"))
  assert rejects == []
  assert [(r.user_id, r.image_id, r.text, r.line) for r in reviews] == [
      ("alice", "953619", "Great shot!", 3),
      ("bob_42", "953619", "Nice colors.", 5),
      ("j.doe-3", "953958", "Lovely light.", 11),
  ]
  assert all(r.source == path for r in reviews)


def test_blocks_review_spilling_over_lines(tmp_path):
  _, (reviews, rejects) = _blocks(tmp_path, (
      "100\n2\nalice\nNice colors but\nthe focus is soft.\n\nStill, well "
      "done!\nbob\nMe too.\n200\n1\ncarol\nok\n"))
  assert rejects == []
  assert reviews[0].text == ("Nice colors but\nthe focus is soft.\n\nStill, "
                             "well done!")
  assert [(r.user_id, r.image_id, r.line) for r in reviews] == [
      ("alice", "100", 3), ("bob", "100", 8), ("carol", "200", 12)]


def test_blocks_one_word_spill_is_resolved_by_the_count(tmp_path):
  # "Wow" looks like a user id; the count (3) says it is review text.
  _, (reviews, rejects) = _blocks(tmp_path, (
      "200\n3\ncarol\nLove it\nWow\nreally\ndave\nGood\nerin\nmeh\n"))
  assert rejects == []
  assert [(r.user_id, r.text) for r in reviews] == [
      ("carol", "Love it\nWow\nreally"), ("dave", "Good"), ("erin", "meh")]


def test_blocks_count_too_small(tmp_path):
  _, (reviews, rejects) = _blocks(tmp_path, (
      "400\n2\nhank\nfirst\nivan\ntext\njoe\nmore\n500\n1\nkate\nhi\n"))
  assert [r.user_id for r in reviews] == ["hank", "ivan", "joe", "kate"]
  assert [(r.line, r.reason) for r in rejects] == [
      (1, "block_count_mismatch")]
  assert "count says 2" in rejects[0].detail and "3" in rejects[0].detail
  assert rejects[0].source.endswith("reviews.txt")


def test_blocks_count_too_large_mid_file(tmp_path):
  _, (reviews, rejects) = _blocks(tmp_path, (
      "400\n3\nhank\nfirst\nivan\ntext\n500\n1\nkate\nhi\n"))
  assert [r.user_id for r in reviews] == ["hank", "ivan", "kate"]
  assert [(r.line, r.reason) for r in rejects] == [
      (1, "block_count_mismatch")]


def test_blocks_truncated_final_block(tmp_path):
  _, (reviews, rejects) = _blocks(tmp_path, (
      "100\n1\nalice\nfine\n300\n3\nfrank\nhello\ngina\nthe end"))
  assert [r.user_id for r in reviews] == ["alice", "frank", "gina"]
  assert [(r.line, r.reason) for r in rejects] == [(5, "block_truncated")]
  assert "2 of 3" in rejects[0].detail


def test_blocks_truncated_after_user_id(tmp_path):
  _, (reviews, rejects) = _blocks(tmp_path, "300\n2\nfrank\nhello\ngina\n")
  assert [r.user_id for r in reviews] == ["frank"]
  assert [(r.line, r.reason) for r in rejects] == [(1, "block_truncated")]
  assert "gina" in rejects[0].detail


def test_blocks_truncated_header(tmp_path):
  # The next block's image id made it to disk, its count did not.
  _, (reviews, rejects) = _blocks(tmp_path, "500\n1\nkate\nsome text\n600\n")
  assert [r.user_id for r in reviews] == ["kate"]
  assert [(r.line, r.reason) for r in rejects] == [(5, "block_truncated")]
  _, (reviews, rejects) = _blocks(tmp_path, "500\n1\nkate\nsome text\n600\n4\n",
                                  name="r2.txt")
  assert [r.user_id for r in reviews] == ["kate"]
  assert [(r.line, r.reason) for r in rejects] == [(5, "block_truncated")]


def test_blocks_ambiguous_spill(tmp_path):
  # count 3, certain ids hank & ivan, two one-word lines: one of them must
  # be a user id, nobody can tell which.
  _, (reviews, rejects) = _blocks(tmp_path, (
      "400\n3\nhank\nfirst\nWow\nx y\nivan\ntext\nNice\ny z\n"
      "500\n1\nkate\nhi\n"))
  assert [r.user_id for r in reviews] == ["kate"]
  assert [(r.line, r.reason) for r in rejects] == [(1, "block_ambiguous")]
  assert "lines 3-6" in rejects[0].detail


def test_blocks_ambiguous_keeps_unambiguous_reviews(tmp_path):
  _, (reviews, rejects) = _blocks(tmp_path, (
      "400\n4\nhank\nfirst\nivan\ntext\nNice\ny z\nWow\nw x\njoe\nplain\n"))
  # 5 id-like lines, count 4, 3 certain ids: one of Nice/Wow is a user.
  # hank's and joe's reviews are bounded by certain ids, ivan's is not.
  assert [(r.user_id, r.text) for r in reviews] == [
      ("hank", "first"), ("joe", "plain")]
  assert [(r.line, r.reason) for r in rejects] == [(1, "block_ambiguous")]
  assert "lines 5-10" in rejects[0].detail


def test_blocks_empty_review_orphans_and_bad_headers(tmp_path):
  _, (reviews, rejects) = _blocks(tmp_path, (
      "garbage line\nmore garbage\n"
      "100\n3\nalice\n\nbob\nok then\ncarol\n \n"
      "200\n0\nThis text has no user\nstill none\n"
      "300\n1\ndave\nhi\n"
      "400\n2\n"))
  assert [(r.user_id, r.image_id) for r in reviews] == [
      ("bob", "100"), ("dave", "300")]
  assert [(r.line, r.reason) for r in rejects] == [
      (1, "block_bad_header"), (5, "empty_review"), (9, "empty_review"),
      (11, "block_orphan_text"), (19, "block_truncated")]
  assert "2 line(s)" in rejects[0].detail
  assert "lines 13-14" in rejects[3].detail


def test_blocks_decoding(tmp_path):
  raw = (b"\xef\xbb\xbf100\r\n2\r\nalice\r\nJoli caf\xe9 &amp; "
         b"\xf0\x9f\x98\x8d\r\nbob\r\nnul\x00byte\r\n")
  _, (reviews, rejects) = _blocks(tmp_path, raw)
  assert rejects == []
  assert reviews[0].text == "Joli caf\ufffd &amp; \U0001F60D"  # raw, kept
  assert reviews[1].text == "nulbyte"
  assert reviews[0].image_id == "100"


def test_blocks_empty_file(tmp_path):
  assert _blocks(tmp_path, "")[1] == ([], [])
  assert _blocks(tmp_path, "\n\n  \n", name="b.txt")[1] == ([], [])


# ---------------------------------------------------------------------------
# uir.txt
# ---------------------------------------------------------------------------
def test_read_uir(tmp_path):
  path = _write(tmp_path / "uir.txt", "\n".join([
      "alice|953619|Great shot!",
      "bob | 953619 |Love it | really | a lot",
      "",
      "carol|953619",
      "dave|953619|   ",
      "erin smith|953619|text",
      "|953619|text",
      "frank|95x|text",
      "gina|953958|caf\u00e9 &lt;3 \U0001F44D",
  ]) + "\n")
  reviews, rejects = _split(ava.read_uir(path))
  assert [(r.user_id, r.image_id, r.text, r.line) for r in reviews] == [
      ("alice", "953619", "Great shot!", 1),
      ("bob", "953619", "Love it | really | a lot", 2),
      ("gina", "953958", "caf\u00e9 &lt;3 \U0001F44D", 9),
  ]
  assert [(r.line, r.reason) for r in rejects] == [
      (4, "uir_wrong_field_count"), (5, "empty_review"),
      (6, "uir_bad_user_id"), (7, "uir_bad_user_id"),
      (8, "uir_bad_image_id")]


def test_read_uir_bad_bytes(tmp_path):
  path = _write(tmp_path / "uir.txt", b"u1|1|ok \xc3\x28 fine\x00\r\n")
  (review,), rejects = _split(ava.read_uir(path))
  assert rejects == []
  assert review.text == "ok \ufffd( fine"


# ---------------------------------------------------------------------------
# Images, tags, helpers
# ---------------------------------------------------------------------------
def test_find_image(tmp_path):
  images = tmp_path / "images"
  images.mkdir()
  for name in ("1.jpg", "2.JPG", "3.Jpeg", "4.png", "5.png", "5.jpeg",
               "6.gif", "7.jpg.bak"):
    (images / name).write_bytes(b"x")
  (images / "8.jpg").mkdir()  # a directory is not an image
  d = str(images)
  assert ava.find_image(d, "1") == os.path.join(d, "1.jpg")
  assert ava.find_image(d, "2") == os.path.join(d, "2.JPG")
  assert ava.find_image(d, "3") == os.path.join(d, "3.Jpeg")
  assert ava.find_image(d, "4") == os.path.join(d, "4.png")
  assert ava.find_image(d, "5") == os.path.join(d, "5.jpeg")  # order wins
  for missing in ("6", "7", "8", "9", "", "..", "../images/1", "a/1"):
    assert ava.find_image(d, missing) is None, missing
  assert ava.find_image(str(tmp_path / "nope"), "1") is None
  index = ava.index_images(d)
  assert {k: os.path.basename(v) for k, v in index.items()} == {
      "1": "1.jpg", "2": "2.JPG", "3": "3.Jpeg", "4": "4.png",
      "5": "5.jpeg"}


def _img(image_id, tags):
  return ava.AvaImage(image_id, (1,) * 10, tags, 0)


def test_major_and_primary_tags():
  images = [_img("1", (1, 2)), _img("2", (1, 0)), _img("3", (2, 3)),
            _img("4", (3, 3)), _img("5", (0, 0)), _img("6", (4, 1))]
  # counts: tag1 -> 3, tag2 -> 2, tag3 -> 2 (image 4 counts once), tag4 -> 1
  assert ava.major_tag_ids(images, 3) == {1}
  assert ava.major_tag_ids(images, 2) == {1, 2, 3}
  assert ava.major_tag_ids(iter(images), 1) == {1, 2, 3, 4}
  major = {1, 3}
  assert [ava.primary_tag_id(i, major) for i in images] == [
      1, 1, 3, 3, None, 1]
  assert ava.primary_tag_id(_img("7", (2, 4)), major) is None
  assert ava.primary_tag_id(_img("8", (0, 3)), major) == 3


def test_reject_json_and_truncation():
  r = ava.Reject("f.txt", 3, "x_reason", "detail", "y" * 500)
  assert len(r.record) == ava.MAX_REJECT_RECORD_CHARS
  d = r.to_dict()
  assert d == r.to_json()
  assert json.loads(json.dumps(d)) == d
  assert ava.Reject.from_dict(d) == r


def test_read_stats(tmp_path):
  path = _write(tmp_path / "uir.txt", "a|1|x\nb|2\nc|3|y\nd|z|w\n")
  stats = ava.ReadStats()
  items = [stats.observe(i) for i in ava.read_uir(path)]
  assert len(items) == 4
  assert stats.records == 2 and stats.num_rejects == 2
  assert stats.to_dict() == {"records": 2, "rejects": {
      "uir_bad_image_id": 1, "uir_wrong_field_count": 1}}


def test_readers_and_rating_import_neither_tensorflow_nor_beam():
  # In a fresh interpreter: other test modules may have imported TF here.
  code = ("import sys, preprocessing.ava, preprocessing.rating; "
          "bad = {'tensorflow', 'apache_beam', 'keras'} & set(sys.modules); "
          "assert not bad, bad")
  subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------
_SETTINGS = settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])
_line_alphabet = st.sampled_from(
    list("0123456789 abcWow|.-_\t\r\x00&;") + ["\u00e9", "\U0001F60D", "\n"])
_noisy_text = st.one_of(st.text(max_size=400),
                        st.text(_line_alphabet, max_size=400))


def _check_items(path, items, num_lines):
  for item in items:
    assert isinstance(item, (ava.RawReview, ava.Reject))
    assert item.source == path
    assert 0 <= item.line <= num_lines
    if isinstance(item, ava.RawReview):
      assert item.text.strip() and item.user_id and item.image_id.isdigit()
      assert item.line >= 1
    else:
      assert item.reason and len(item.record) <= ava.MAX_REJECT_RECORD_CHARS


@_SETTINGS
@given(_noisy_text)
def test_parse_ava_line_never_raises(line):
  got = ava.parse_ava_line(line, "AVA.txt", 1)
  assert isinstance(got, (ava.AvaImage, ava.Reject))
  if isinstance(got, ava.AvaImage):
    assert got.num_votes > 0 and 1.0 <= got.mean_score <= 10.0


@_SETTINGS
@given(st.one_of(_noisy_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.binary(max_size=300)))
def test_readers_never_raise_on_random_files(data):
  with tempfile.TemporaryDirectory() as d:
    path = _write(os.path.join(d, "f.txt"), data)
    num_lines = data.count(b"\n") + 1
    _check_items(path, list(ava.read_reviews_blocks(path)), num_lines)
    _check_items(path, list(ava.read_uir(path)), num_lines)
    for item in ava.read_ava(path):
      assert isinstance(item, (ava.AvaImage, ava.Reject))
    names, rejects = ava.read_id_names(path)
    assert all(isinstance(k, int) and v for k, v in names.items())


_user_ids = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{2,10}", fullmatch=True)
# Review lines always contain a space, so they never look like user ids.
_review_lines = st.from_regex(r"[A-Za-z!,.']{1,8}( [A-Za-z0-9!,.']{1,8}){1,5}",
                              fullmatch=True)


@_SETTINGS
@given(st.lists(
    st.tuples(st.integers(1, 999999),
              st.lists(st.tuples(_user_ids,
                                 st.lists(_review_lines, min_size=1,
                                          max_size=3)), max_size=4)),
    max_size=5))
def test_blocks_round_trip(blocks):
  """Well-formed files (with multi-line reviews) parse back exactly."""
  lines, want = [], []
  for image_id, reviews in blocks:
    lines += [str(image_id), str(len(reviews))]
    for user, texts in reviews:
      lines.append(user)
      want.append((user, str(image_id), "\n".join(texts), len(lines)))
      lines += texts
  with tempfile.TemporaryDirectory() as d:
    path = _write(os.path.join(d, "reviews.txt"), "\n".join(lines) + "\n")
    reviews, rejects = _split(ava.read_reviews_blocks(path))
  assert rejects == []
  assert [(r.user_id, r.image_id, r.text, r.line) for r in reviews] == want


def test_mean_score_nan_without_votes():
  img = ava.AvaImage.__new__(ava.AvaImage)
  object.__setattr__(img, "votes", (0,) * 10)
  assert math.isnan(img.mean_score)

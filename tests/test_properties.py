"""Property-based tests of the readers and the review labeler (issue 7).

These extend, and do not repeat, the properties already in
tests/test_ava_readers.py (no reader raises on random bytes; a random
AVA.txt line never raises; well-formed block files round-trip) and
tests/test_rating.py (cleaning is idempotent and bounded; the labeler never
crashes on random text). Here the inputs are *structured* (mostly-valid
files with planted damage), so the properties reach the deeper paths, and
they check accounting, not only "no crash":

* every non-blank line of AVA.txt, tags.txt and uir.txt yields exactly one
  record or one Reject, at that line;
* a mutated AVA.txt column gives the Reject reason of that mutation;
* a review read from a block file is really there: its user id is on its
  line and its text is the lines that follow;
* stale review counts never lose a review;
* the labeler's outcome is consistent (labels in {0, 1} exactly when kept)
  and does not depend on HTML escaping, line breaks or the apostrophe glyph.
"""
from __future__ import annotations

import html
import math
import os
import tempfile
import unicodedata
from typing import List, Tuple

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from preprocessing import ava
from preprocessing import features as F
from preprocessing import rating

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
FEW = settings(max_examples=60, deadline=None,
               suppress_health_check=[HealthCheck.too_slow,
                                      HealthCheck.data_too_large])

REVIEW_REASONS = {"block_bad_header", "block_orphan_text", "block_truncated",
                  "block_count_mismatch", "block_ambiguous", "empty_review",
                  "uir_wrong_field_count", "uir_bad_user_id",
                  "uir_bad_image_id"}


def _write(directory: str, name: str, data: bytes) -> str:
  path = os.path.join(directory, name)
  with open(path, "wb") as fh:
    fh.write(data)
  return path


def _non_blank_lines(text: str) -> List[int]:
  return [i for i, line in enumerate(text.split("\n"), 1) if line.strip()]


def _check_reject(rej: ava.Reject, path: str) -> None:
  assert rej.source == path
  assert rej.line >= 1
  assert rej.reason and rej.reason == rej.reason.strip()
  assert rej.detail
  assert len(rej.record) <= ava.MAX_REJECT_RECORD_CHARS


# ---------------------------------------------------------------------------
# AVA.txt
# ---------------------------------------------------------------------------
_whitespace = st.sampled_from([" ", "  ", "\t", " \t "])
_votes = st.lists(st.integers(0, 500), min_size=10, max_size=10).filter(
    lambda v: sum(v) > 0)
_ava_values = st.tuples(st.integers(0, 10**6), st.integers(0, 10**9), _votes,
                        st.integers(0, 70), st.integers(0, 70),
                        st.integers(0, 3000))


def _columns(values) -> List[str]:
  index, image_id, votes, tag_1, tag_2, challenge = values
  return [str(index), str(image_id), *map(str, votes), str(tag_1),
          str(tag_2), str(challenge)]


@SETTINGS
@given(_ava_values, st.lists(_whitespace, min_size=16, max_size=16))
def test_ava_line_round_trip(values, seps):
  cols = _columns(values)
  line = seps[0] + "".join(c + s for c, s in zip(cols, seps[1:]))
  got = ava.parse_ava_line(line, "AVA.txt", 9)
  assert isinstance(got, ava.AvaImage), got
  index, image_id, votes, tag_1, tag_2, challenge = values
  del index
  assert (got.image_id, got.votes, got.tag_ids, got.challenge_id) == (
      str(image_id), tuple(votes), (tag_1, tag_2), challenge)
  assert (got.source, got.line) == ("AVA.txt", 9)
  assert 1.0 <= got.mean_score <= 10.0
  assert got.agnostic_label == int(got.mean_score > F.AGNOSTIC_THRESHOLD)


_bad_int_token = st.one_of(
    st.from_regex(r"[0-9]{0,3}[a-zA-Z.,x][0-9a-z]{0,3}", fullmatch=True),
    st.sampled_from(["1.5", "1e3", "+-1", "\u0663", "--2", "NaN", "\ufffd"]))


@SETTINGS
@given(_ava_values, st.integers(0, 14), st.sampled_from(
    ["bad_token", "negative", "drop", "extra"]), _bad_int_token,
       st.integers(1, 999))
def test_ava_line_single_mutation_gives_its_reason(values, col, kind, token,
                                                   negative):
  cols = _columns(values)
  if kind == "bad_token":
    cols[col] = token
    want = "ava_bad_image_id" if col == 1 else "ava_non_numeric"
  elif kind == "negative":
    cols[col] = f"-{negative}"
    want = "ava_bad_image_id" if col == 1 else "ava_negative_value"
  elif kind == "drop":
    del cols[col]
    want = "ava_wrong_column_count"
  else:
    cols.insert(col, "7")
    want = "ava_wrong_column_count"
  line = " ".join(cols)
  got = ava.parse_ava_line(line, "AVA.txt", 4)
  assert isinstance(got, ava.Reject), (line, got)
  assert got.reason == want, (line, got)
  _check_reject(got, "AVA.txt")
  assert got.record == line[:ava.MAX_REJECT_RECORD_CHARS]


_ava_file_line = st.one_of(
    _ava_values.map(lambda v: " ".join(_columns(v))),
    # duplicates of a small id space
    st.tuples(_ava_values, st.integers(1, 4)).map(
        lambda t: " ".join([_columns(t[0])[0], str(t[1])] +
                           _columns(t[0])[2:])),
    st.text(st.sampled_from(list("0123456789 x-\t.\u00e9")), max_size=60),
    st.just(""), st.just("   "))


@SETTINGS
@given(st.lists(_ava_file_line, max_size=25))
def test_read_ava_one_item_per_non_blank_line(lines):
  text = "\n".join(lines) + "\n"
  with tempfile.TemporaryDirectory() as d:
    path = _write(d, "AVA.txt", text.encode("utf-8"))
    items = list(ava.read_ava(path))
  assert [i.line for i in items] == _non_blank_lines(text)
  first_line = {}
  for item in items:
    if isinstance(item, ava.AvaImage):
      assert item.image_id not in first_line, "duplicate id kept twice"
      first_line[item.image_id] = item.line
    else:
      _check_reject(item, path)
      assert item.record == text.split("\n")[item.line - 1][:200]
      if item.reason == "ava_duplicate_image":
        image_id = item.record.split()[1]
        assert f"line {first_line[image_id]}" in item.detail


# ---------------------------------------------------------------------------
# tags.txt / challenges.txt
# ---------------------------------------------------------------------------
_name = st.text(st.sampled_from(list("ab AZ&-\u00e9\u2014\t")), max_size=12)
_id_token = st.one_of(st.integers(0, 6).map(str),
                      st.sampled_from(["-1", "x", "1a", "\u0661", "+2"]))
_id_line = st.one_of(st.tuples(_id_token, _whitespace, _name).map("".join),
                     _id_token, st.just(""), st.just("  \t"))


@SETTINGS
@given(st.lists(_id_line, max_size=20), st.booleans())
def test_read_id_names_accounts_for_every_line(lines, crlf):
  text = ("\r\n" if crlf else "\n").join(lines) + "\n"
  with tempfile.TemporaryDirectory() as d:
    path = _write(d, "tags.txt", text.encode("utf-8"))
    names, rejects = ava.read_id_names(path)
  stripped = [line.rstrip("\r") for line in text.split("\n")]
  non_blank = [i for i, line in enumerate(stripped, 1) if line.strip()]
  assert len(names) + len(rejects) == len(non_blank)
  assert {r.line for r in rejects} <= set(non_blank)
  for r in rejects:
    _check_reject(r, path)
    assert r.reason in {"names_non_numeric_id", "names_negative_id",
                        "names_missing_name", "names_duplicate_id"}
  # First definition wins; names are stripped and never empty.
  for id_, name in names.items():
    assert id_ >= 0 and name and name == name.strip()
    first = next(parts for parts in (line.split(None, 1) for line in stripped)
                 if len(parts) == 2 and parts[0] == str(id_) and
                 parts[1].strip())
    assert first[1].strip() == name


# ---------------------------------------------------------------------------
# uir.txt
# ---------------------------------------------------------------------------
_uir_part = st.text(st.sampled_from(list("ab1 |\t.&;\u00e9\U0001F60D")),
                    max_size=12)
_uir_line = st.one_of(
    st.tuples(_uir_part, _uir_part, _uir_part).map("|".join),
    st.tuples(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
              st.integers(0, 99999), _uir_part).map(
                  lambda t: f"{t[0]}|{t[1]}|{t[2]}"),
    _uir_part, st.just(""))


@SETTINGS
@given(st.lists(_uir_line, max_size=20))
def test_read_uir_one_item_per_non_blank_line(lines):
  text = "\n".join(lines) + "\n"
  with tempfile.TemporaryDirectory() as d:
    path = _write(d, "uir.txt", text.encode("utf-8"))
    items = list(ava.read_uir(path))
  assert [i.line for i in items] == _non_blank_lines(text)
  file_lines = text.split("\n")
  for item in items:
    raw = file_lines[item.line - 1]
    if isinstance(item, ava.Reject):
      _check_reject(item, path)
      assert item.reason in REVIEW_REASONS
    else:
      user, image, review = raw.split("|", 2)
      assert (item.user_id, item.image_id, item.text) == (
          user.strip(), image.strip(), review)
      assert item.user_id and not any(c.isspace() for c in item.user_id)
      assert item.image_id.isdigit() and item.text.strip()


# ---------------------------------------------------------------------------
# reviews.txt (crawler blocks)
# ---------------------------------------------------------------------------
_block_line = st.one_of(
    st.integers(0, 999).map(str),  # image ids / counts
    st.from_regex(r"[a-z]{1,6}[0-9_.\-]{0,3}", fullmatch=True),  # user ids
    st.sampled_from(["Wow", "Nice", "thanks", "composition", "ok"]),
    st.from_regex(r"[A-Za-z,.!']{1,6}( [A-Za-z0-9,.!']{1,6}){1,4}",
                  fullmatch=True),  # review text
    st.just(""), st.just("  "))


@SETTINGS
@given(st.lists(_block_line, max_size=40))
def test_block_reviews_are_really_in_the_file(lines):
  """Whatever the damage, a review's user id is on its line and its text is
  the lines right after it; no line starts two reviews; rejects are sane."""
  text = "\n".join(lines) + "\n"
  with tempfile.TemporaryDirectory() as d:
    path = _write(d, "reviews.txt", text.encode("utf-8"))
    items = list(ava.read_reviews_blocks(path))
  file_lines = text.split("\n")
  review_lines = []
  for item in items:
    if isinstance(item, ava.Reject):
      _check_reject(item, path)
      assert item.reason in REVIEW_REASONS
      continue
    review_lines.append(item.line)
    assert file_lines[item.line - 1].strip() == item.user_id
    assert ava.is_plausible_user_id(item.user_id)
    assert item.image_id.isdigit() and item.text.strip()
    after = "\n".join(file_lines[item.line:]).lstrip("\n")
    assert after.startswith(item.text)
  assert len(review_lines) == len(set(review_lines))


_user = st.from_regex(r"[a-z]{2,6}[0-9]{1,3}", fullmatch=True)
_text = st.from_regex(r"[A-Za-z,.!']{1,8}( [A-Za-z0-9,.!']{1,8}){1,5}",
                      fullmatch=True)


@SETTINGS
@given(st.lists(st.tuples(st.integers(1, 99999),
                          st.lists(st.tuples(_user, st.lists(
                              _text, min_size=1, max_size=3)), max_size=4),
                          st.integers(-3, 3)), min_size=1, max_size=6))
def test_stale_block_counts_lose_no_review(blocks):
  """Counts that disagree with the lines (too small, too large, zero) are
  reported once per block, at its first line; every review is still read."""
  lines: List[str] = []
  want: List[Tuple[str, str, str, int]] = []
  stale = {}
  for image_id, reviews, delta in blocks:
    count = max(0, len(reviews) + delta)
    start = len(lines) + 1
    if count != len(reviews):
      stale[start] = image_id
    lines += [str(image_id), str(count)]
    for user, texts in reviews:
      lines.append(user)
      want.append((user, str(image_id), "\n".join(texts), len(lines)))
      lines += texts
  with tempfile.TemporaryDirectory() as d:
    path = _write(d, "reviews.txt", ("\n".join(lines) + "\n").encode())
    items = list(ava.read_reviews_blocks(path))
  got = [(r.user_id, r.image_id, r.text, r.line) for r in items
         if isinstance(r, ava.RawReview)]
  rejects = [r for r in items if isinstance(r, ava.Reject)]
  assert got == want
  assert sorted(r.line for r in rejects) == sorted(stale)
  for r in rejects:
    _check_reject(r, path)
    assert r.reason in ("block_count_mismatch", "block_truncated")
    assert str(stale[r.line]) in r.detail


# ---------------------------------------------------------------------------
# Review labeler
# ---------------------------------------------------------------------------
_LABELER = rating.ReviewLabeler()
_TYPES = (F.REVIEW_TYPE_RULE, F.REVIEW_TYPE_FEELING, F.REVIEW_TYPE_OFF_TOPIC,
          F.REVIEW_TYPE_EQUIVOCAL)
_words = st.sampled_from(
    ["the", "focus", "isn't", "is", "not", "sharp", "but", "colors", "love",
     "too", "dark", "great", "light", "composition", "congrats", "hmm", "?",
     "!", ",", ".", "&amp;", "&lt;3", "&#39;", "\U0001F60D", ":(", "don't",
     "boring", "beautiful", "out", "of", "she", "photo", "would", "helped"])
_hostile_text = st.one_of(
    st.lists(_words, max_size=30).map(" ".join),
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", "replace")),
    st.lists(st.sampled_from(list("\x00\x07\u200b\u202e\u2028\r\n\t &;#x"
                                  "a\u2019\u00b4e\u0301")
                             + ["&amp;", "&#0;", "&#x110000;", "\ud800",
                                "&rsquo;", "&amp;lt;"]),
             max_size=60).map("".join),
    st.tuples(st.lists(_words, min_size=1, max_size=8).map(" ".join),
              st.integers(50, 800)).map(lambda t: (t[0] + ". ") * t[1]))


def _check_outcome(text: str, got: rating.LabeledReview) -> None:
  assert got.review_type in _TYPES
  assert math.isfinite(got.score) and -1.0 <= got.score <= 1.0
  if got.kept:
    assert got.label in (0, 1)
    assert got.level in range(1, F.NUM_PREFERENCE_LEVELS + 1)
    assert got.label == int(got.level >= F.GOOD_MIN_LEVEL)
  else:
    assert got.label is None and got.level is None
  if got.review_type == F.REVIEW_TYPE_FEELING:
    assert got.text == F.FEELING_REWRITE[got.label]
  else:
    assert got.text == rating.clean_review_text(text)
  assert bool(got.aspects) == (got.review_type == F.REVIEW_TYPE_RULE)


@SETTINGS
@given(_hostile_text)
def test_label_outcome_is_consistent_on_hostile_text(text):
  got = _LABELER.label(text)
  _check_outcome(text, got)
  assert _LABELER.classify(text) == got.review_type
  assert rating.label_review(text) == got


@SETTINGS
@given(_hostile_text)
def test_cleaned_text_is_normalised(text):
  out = rating.clean_review_text(text)
  assert out == out.strip()
  assert "  " not in out
  assert all(c == " " or not c.isspace() for c in out)
  assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in out)
  assert unicodedata.is_normalized("NFC", out)
  assert not set(rating.APOSTROPHES) & set(out)
  assert len(out) <= rating.MAX_REVIEW_CHARS


@FEW
@given(st.lists(_words, min_size=1, max_size=25),
       st.lists(st.sampled_from([" ", "\n", "  ", "\r\n", "\t"]),
                min_size=25, max_size=25))
def test_label_ignores_escaping_line_breaks_and_apostrophe_glyph(words, seps):
  """A review spilled over lines, HTML-escaped once more by a crawler, or
  typed with typographic apostrophes gets the same outcome."""
  text = " ".join(words)
  assume(len(text) < rating.MAX_REVIEW_CHARS)
  want = _LABELER.label(text)
  broken = "".join(w + s for w, s in zip(words, seps)).strip()
  assert _LABELER.label(broken) == want
  assert _LABELER.label(html.escape(text)) == want
  assert _LABELER.label(text.replace("'", "\u2019")) == want

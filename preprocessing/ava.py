"""Pure-Python readers for an AVA-review directory (no Beam, no TensorFlow).

An AVA-review directory holds (names from ``preprocessing.features``):

* ``AVA.txt`` -- one image per line, 15 space-separated columns: index,
  image id, ten vote counts (scores 1..10), tag 1, tag 2, challenge id.
* ``tags.txt`` / ``challenges.txt`` -- ``id name`` per line; names may
  contain spaces (the line is split on its first whitespace run).
  ``challenges.txt`` is optional.
* ``reviews.txt`` -- the crawler block layout (see ``read_reviews_blocks``)
  and/or ``uir.txt`` -- ``user_id|image_id|review`` lines (see ``read_uir``).
* ``images/`` -- ``<image_id>.jpg|.jpeg|.png`` (see ``find_image``).

Error policy. Readers never raise on bad *records*: every record either
becomes a typed value (``AvaImage``, ``RawReview``) or a ``Reject`` naming
the file, the 1-based line, a short machine-friendly reason code, a human
detail and the raw text (truncated to ``MAX_REJECT_RECORD_CHARS``). A
missing mandatory file raises ``FileNotFoundError`` (that is a set-up error,
not a data error). Blank lines are separators, never records.

Decoding. Files are read as bytes and split on ``\\n`` only (a trailing
``\\r`` is dropped, so CRLF files read like LF files; a lone ``\\r`` or
``\\u2028`` inside a review stays inside it, so line numbers always agree
with ``sed -n Np``). NUL bytes are removed, a UTF-8 byte-order mark at the
start of a file is dropped, and each line is decoded as UTF-8 with
``errors="replace"``: a review with a few bad bytes keeps its record, the bad
bytes become U+FFFD. This is deliberate -- a crawl in a legacy encoding would
otherwise lose whole reviews over one accented letter.
"""
from __future__ import annotations

import collections
import dataclasses
import os
import re
from typing import (Any, Collection, Dict, Iterable, Iterator, List,
                    Optional, Set, Tuple, Union)

from preprocessing import features

MAX_REJECT_RECORD_CHARS = 200
# A user id in the crawler layout: word characters, dots and dashes, starting
# and ending with a word character, no spaces, at most 64 characters. ("Wow."
# and "Nice!" are therefore never user ids; "Wow" is, and is resolved by the
# block count, see ``read_reviews_blocks``.)
_USER_ID_RE = re.compile(r"^\w(?:[\w.\-]{0,62}\w)?$")
_DIGITS_RE = re.compile(r"^[0-9]+$")
_INT_RE = re.compile(r"^-?[0-9]+$")

# One-word lines that are far more likely a spilled-over piece of a review
# than a user name. Used only to break ties when a block has more
# user-id-looking lines than its count allows.
_COMMON_WORDS = frozenset("""
a about absolutely again agreed all also amazing and anyway awesome bad
beautiful best beautifully bravo brilliant but cheers congrats
congratulations cool cute definitely done edit enjoyed especially etc
exactly excellent fab fabulous fantastic fave favorite favourite fine for
gorgeous great good haha hahaha hehe hello hey hi hmm hmmm however i imho
imo indeed interesting it just kudos later like liked lol love loved lovely
luck magnificent maybe meh more much nice no not nope oh ok okay one or
otherwise overall p.s perfect please pretty ps really regards same see
so sorry still stunning super superb sure thank thanks that the then there
this though too update very well what why wonderful wow yeah yes yet you
yours light lighting color colors colour colours composition focus shot
exposure contrast detail details background crop sharp sharpness tones
""".split())

Record = Union["AvaImage", "RawReview"]


# ---------------------------------------------------------------------------
# Value types
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class AvaImage:
  """One valid line of AVA.txt."""
  image_id: str
  votes: Tuple[int, ...]  # counts for scores 1..10
  tag_ids: Tuple[int, int]  # NO_TAG_ID (0) = no tag
  challenge_id: int
  source: str = ""
  line: int = 0

  def __post_init__(self) -> None:
    if len(self.votes) != features.AVA_NUM_SCORES:
      raise ValueError(f"votes must have {features.AVA_NUM_SCORES} counts, "
                       f"got {len(self.votes)}")
    if len(self.tag_ids) != 2:
      raise ValueError(f"tag_ids must have 2 ids, got {len(self.tag_ids)}")

  @property
  def num_votes(self) -> int:
    return sum(self.votes)

  @property
  def mean_score(self) -> float:
    """Mean raw vote sum(s * c) / n; NaN when there are no votes."""
    n = self.num_votes
    if n == 0:
      return float("nan")
    return sum(s * c for s, c in enumerate(self.votes, start=1)) / n

  @property
  def agnostic_label(self) -> int:
    """User-agnostic label b_v: 1 iff mean score > AGNOSTIC_THRESHOLD."""
    return int(self.mean_score > features.AGNOSTIC_THRESHOLD)


@dataclasses.dataclass(frozen=True)
class Reject:
  """A record that could not be used, and why."""
  source: str  # file path
  line: int  # 1-based line number; 0 when not applicable
  reason: str  # short machine-friendly code, e.g. "ava_wrong_column_count"
  detail: str = ""  # human text
  record: str = ""  # raw text, truncated to MAX_REJECT_RECORD_CHARS

  def __post_init__(self) -> None:
    if len(self.record) > MAX_REJECT_RECORD_CHARS:
      object.__setattr__(self, "record",
                         self.record[:MAX_REJECT_RECORD_CHARS])

  def to_dict(self) -> Dict[str, Any]:
    """A JSON-serialisable dict (``json.dumps(reject.to_dict())``)."""
    return dataclasses.asdict(self)

  # Same dict; the name reads well at call sites that write JSON lines.
  to_json = to_dict

  @classmethod
  def from_dict(cls, d: Dict[str, Any]) -> "Reject":
    return cls(source=str(d["source"]), line=int(d["line"]),
               reason=str(d["reason"]), detail=str(d.get("detail", "")),
               record=str(d.get("record", "")))


@dataclasses.dataclass(frozen=True)
class RawReview:
  """One review as read from disk (text not cleaned yet)."""
  user_id: str
  image_id: str
  text: str
  source: str = ""
  line: int = 0  # line of the user id (blocks) or of the record (uir)


@dataclasses.dataclass
class ReadStats:
  """Counts records and rejects (by reason) flowing out of a reader.

  Usage: ``stats = ReadStats(); for item in map(stats.observe, read_ava(p))``.
  """
  records: int = 0
  rejects: collections.Counter = dataclasses.field(
      default_factory=collections.Counter)

  def observe(self, item: Union[Record, Reject]) -> Union[Record, Reject]:
    if isinstance(item, Reject):
      self.rejects[item.reason] += 1
    else:
      self.records += 1
    return item

  @property
  def num_rejects(self) -> int:
    return sum(self.rejects.values())

  def to_dict(self) -> Dict[str, Any]:
    return {"records": self.records, "rejects": dict(sorted(
        self.rejects.items()))}


# ---------------------------------------------------------------------------
# Byte-level line reading
# ---------------------------------------------------------------------------
def decode_line(raw: bytes) -> str:
  """Bytes of one line (with or without its newline) -> text.

  Drops the line terminator (``\\n``, ``\\r\\n``), removes NUL bytes and
  decodes UTF-8 with ``errors="replace"``.
  """
  if raw.endswith(b"\n"):
    raw = raw[:-1]
  if raw.endswith(b"\r"):
    raw = raw[:-1]
  return raw.replace(b"\x00", b"").decode("utf-8", errors="replace")


def iter_lines(path: str) -> Iterator[Tuple[int, str]]:
  """Yields (1-based line number, decoded text) for each line of a file."""
  with open(path, "rb") as f:
    for lineno, raw in enumerate(f, start=1):
      text = decode_line(raw)
      if lineno == 1 and text.startswith("\ufeff"):
        text = text[1:]
      yield lineno, text


def _truncate(text: str) -> str:
  return text[:MAX_REJECT_RECORD_CHARS]


# ---------------------------------------------------------------------------
# AVA.txt
# ---------------------------------------------------------------------------
def parse_ava_line(line: str, source: str = "",
                   lineno: int = 0) -> Union[AvaImage, Reject]:
  """Parses one AVA.txt line into an ``AvaImage`` or a ``Reject``.

  Reject reasons: ``ava_wrong_column_count``, ``ava_bad_image_id`` (image id
  not made of ASCII digits), ``ava_non_numeric`` (index, a vote count, a tag
  or the challenge id is not an integer), ``ava_negative_value`` and
  ``ava_no_votes`` (all ten counts are zero). Duplicate ids are handled by
  ``read_ava``, which sees the whole file.
  """
  cols = line.split()

  def reject(reason: str, detail: str) -> Reject:
    return Reject(source, lineno, reason, detail, _truncate(line))

  if len(cols) != features.AVA_NUM_COLUMNS:
    return reject("ava_wrong_column_count",
                  f"expected {features.AVA_NUM_COLUMNS} columns, got "
                  f"{len(cols)}")
  index, image_id = cols[0], cols[1]
  if not _DIGITS_RE.match(image_id):
    return reject("ava_bad_image_id",
                  f"image id {image_id!r} is not a decimal number")
  numeric = [index] + cols[2:]
  names = (["index"] + [f"vote[{s}]" for s in range(1, 11)] +
           ["tag_1", "tag_2", "challenge_id"])
  values: List[int] = []
  for name, tok in zip(names, numeric):
    if not _INT_RE.match(tok):
      return reject("ava_non_numeric", f"{name} = {tok!r} is not an integer")
    value = int(tok)
    if value < 0:
      return reject("ava_negative_value", f"{name} = {value} is negative")
    values.append(value)
  votes = tuple(values[1:1 + features.AVA_NUM_SCORES])
  if sum(votes) == 0:
    return reject("ava_no_votes", "all ten vote counts are zero")
  tag_1, tag_2, challenge = values[1 + features.AVA_NUM_SCORES:]
  return AvaImage(image_id=image_id, votes=votes, tag_ids=(tag_1, tag_2),
                  challenge_id=challenge, source=source, line=lineno)


def read_ava(path: str) -> Iterator[Union[AvaImage, Reject]]:
  """Reads AVA.txt: one ``AvaImage`` or ``Reject`` per non-blank line.

  The second and later occurrences of an image id are rejected with
  ``ava_duplicate_image`` (the first occurrence wins, whatever its votes).
  """
  seen: Dict[str, int] = {}
  for lineno, text in iter_lines(path):
    if not text.strip():
      continue
    item = parse_ava_line(text, path, lineno)
    if isinstance(item, AvaImage):
      first = seen.get(item.image_id)
      if first is not None:
        item = Reject(path, lineno, "ava_duplicate_image",
                      f"image {item.image_id} already read at line {first}",
                      _truncate(text))
      else:
        seen[item.image_id] = lineno
    yield item


# ---------------------------------------------------------------------------
# tags.txt / challenges.txt
# ---------------------------------------------------------------------------
def read_id_names(path: str, optional: bool = False
                  ) -> Tuple[Dict[int, str], List[Reject]]:
  """Reads an ``id name`` file (tags.txt, challenges.txt).

  The line is split on its first whitespace run, so names keep their inner
  spaces ("14 Digital Art" -> {14: "Digital Art"}); the name is stripped.
  Rejects: ``names_non_numeric_id``, ``names_negative_id``,
  ``names_missing_name`` and ``names_duplicate_id`` (the later line is
  rejected; the first definition wins). With ``optional=True`` a missing file
  gives ``({}, [])``; otherwise it raises ``FileNotFoundError``.
  """
  if optional and not os.path.exists(path):
    return {}, []
  names: Dict[int, str] = {}
  first_line: Dict[int, int] = {}
  rejects: List[Reject] = []
  for lineno, text in iter_lines(path):
    stripped = text.strip()
    if not stripped:
      continue
    parts = stripped.split(None, 1)
    tok = parts[0]
    if not _INT_RE.match(tok):
      rejects.append(Reject(path, lineno, "names_non_numeric_id",
                            f"id {tok!r} is not an integer",
                            _truncate(text)))
      continue
    id_ = int(tok)
    if id_ < 0:
      rejects.append(Reject(path, lineno, "names_negative_id",
                            f"id {id_} is negative", _truncate(text)))
      continue
    name = parts[1].strip() if len(parts) > 1 else ""
    if not name:
      rejects.append(Reject(path, lineno, "names_missing_name",
                            f"id {id_} has no name", _truncate(text)))
      continue
    if id_ in names:
      rejects.append(Reject(
          path, lineno, "names_duplicate_id",
          f"id {id_} already defined at line {first_line[id_]} as "
          f"{names[id_]!r}", _truncate(text)))
      continue
    names[id_] = name
    first_line[id_] = lineno
  return names, rejects


def read_tags(path: str) -> Tuple[Dict[int, str], List[Reject]]:
  """tags.txt (mandatory)."""
  return read_id_names(path, optional=False)


def read_challenges(path: str) -> Tuple[Dict[int, str], List[Reject]]:
  """challenges.txt (optional: a missing file gives an empty mapping)."""
  return read_id_names(path, optional=True)


# ---------------------------------------------------------------------------
# reviews.txt, crawler block layout
# ---------------------------------------------------------------------------
def is_plausible_user_id(text: str) -> bool:
  """A single token of word characters (dots/dashes inside), <= 64 chars."""
  return bool(_USER_ID_RE.match(text.strip()))


def _is_weak_user_id(text: str) -> bool:
  return text.strip().lower() in _COMMON_WORDS


class _Lookahead:
  """Iterator over (lineno, text) with random-access peeking."""

  def __init__(self, it: Iterator[Tuple[int, str]]) -> None:
    self._it = it
    self._buf: collections.deque = collections.deque()

  def peek(self, k: int = 0) -> Optional[Tuple[int, str]]:
    while len(self._buf) <= k:
      nxt = next(self._it, None)
      if nxt is None:
        return None
      self._buf.append(nxt)
    return self._buf[k]

  def pop(self) -> Tuple[int, str]:
    item = self.peek(0)
    if item is None:
      raise IndexError("pop from exhausted reader")
    return self._buf.popleft()


def _header_at(lines: _Lookahead, k: int = 0) -> Optional[int]:
  """The count of the block header starting ``k`` lines ahead, else None.

  A header is an image-id line (ASCII digits) followed by a count line
  (ASCII digits) followed, when the count is positive, by a plausible user
  id or by the end of the file.
  """
  first, second = lines.peek(k), lines.peek(k + 1)
  if first is None or second is None:
    return None
  if not (_DIGITS_RE.match(first[1].strip()) and
          _DIGITS_RE.match(second[1].strip())):
    return None
  count = int(second[1].strip())
  if count > 0:
    third = lines.peek(k + 2)
    if third is not None and not is_plausible_user_id(third[1]):
      return None
  return count


def _starts(body: List[Tuple[int, str]],
            eligible: Collection[int]) -> List[int]:
  """Greedy user-id positions: line 0 and every eligible line that does not
  immediately follow a user-id line (a user id is followed by >= 1 text
  line)."""
  starts: List[int] = []
  for j in range(len(body)):
    if starts and starts[-1] == j - 1:
      continue  # forced text line
    if j == 0 or j in eligible:
      starts.append(j)
  return starts


def _reviews_from(image_id: str, body: List[Tuple[int, str]],
                  starts: List[int], path: str
                  ) -> Iterator[Union[RawReview, Reject]]:
  bounds = starts + [len(body)]
  for a, b in zip(bounds, bounds[1:]):
    lineno, uid_text = body[a]
    text = "\n".join(t for _, t in body[a + 1:b]).strip("\n")
    if not text.strip():
      yield Reject(path, lineno, "empty_review",
                   f"user {uid_text.strip()} on image {image_id} has an "
                   "empty review", _truncate(uid_text))
    else:
      yield RawReview(user_id=uid_text.strip(), image_id=image_id,
                      text=text, source=path, line=lineno)


def _parse_block(path: str, start_line: int, image_id: str, count: int,
                 body: List[Tuple[int, str]], at_eof: bool
                 ) -> Iterator[Union[RawReview, Reject]]:
  """Splits one block body into reviews; see ``read_reviews_blocks``."""
  header = f"{image_id} / {count}"

  def block_reject(reason: str, detail: str) -> Reject:
    return Reject(path, start_line, reason, f"block of image {image_id}: "
                  f"{detail}", header)

  # Text before the first user id cannot be attributed.
  first_uid = next((j for j, (_, t) in enumerate(body)
                    if is_plausible_user_id(t)), len(body))
  if first_uid > 0:
    yield block_reject("block_orphan_text",
                       f"{first_uid} line(s) before the first user id "
                       f"(lines {body[0][0]}-{body[first_uid - 1][0]}) "
                       "skipped")
    body = body[first_uid:]
  if not body:
    if count > 0:
      yield block_reject("block_truncated" if at_eof else
                         "block_count_mismatch",
                         f"count says {count} review(s), found 0")
    return

  plausible = {j for j, (_, t) in enumerate(body) if is_plausible_user_id(t)}
  starts = _starts(body, plausible)
  last = len(body) - 1
  dangling = ""
  if (at_eof and starts[-1] == last and
      (last == 0 or not _is_weak_user_id(body[last][1]))):
    # The file stops right after an id line: a user id whose text is
    # missing, or the image id of a next block whose count line is missing.
    lineno, text = body.pop()
    plausible.discard(last)
    starts = starts[:-1]
    if len(starts) >= count:
      yield Reject(path, lineno, "block_truncated",
                   f"file ends after the id line {text.strip()!r} (after "
                   f"the complete block of image {image_id})",
                   _truncate(text))
    else:
      dangling = (f"; the last line ({lineno}, {text.strip()!r}) is an id "
                  "without text")
    if not body:
      yield block_reject("block_truncated",
                         f"file ends after 0 of {count} review(s){dangling}")
      return
  if len(starts) == count:
    yield from _reviews_from(image_id, body, starts, path)
    return
  if len(starts) < count:
    yield from _reviews_from(image_id, body, starts, path)
    if at_eof:
      yield block_reject("block_truncated",
                         f"file ends after {len(starts)} of {count} "
                         f"review(s){dangling}")
    else:
      yield block_reject("block_count_mismatch",
                         f"count says {count} review(s), found "
                         f"{len(starts)}")
    return
  # More user-id-looking lines than the count: common one-word lines
  # ("Wow", "Nice", "thanks") are the likely spill-overs. Trust the others.
  weak = {j for j in plausible if j != 0 and _is_weak_user_id(body[j][1])}
  strong_starts = _starts(body, plausible - weak)
  if len(strong_starts) == count:
    yield from _reviews_from(image_id, body, strong_starts, path)
    return
  if len(strong_starts) > count:
    yield from _reviews_from(image_id, body, strong_starts, path)
    yield block_reject("block_count_mismatch",
                       f"count says {count} review(s), found "
                       f"{len(strong_starts)} user ids")
    return
  # Some of the weak lines are real user ids, some are not: only segments
  # between trusted user ids that contain no weak line are unambiguous.
  bounds = strong_starts + [len(body)]
  clean_starts = []
  ambiguous_lines = []
  for a, b in zip(bounds, bounds[1:]):
    inner_weak = [j for j in weak if a < j < b and j != a + 1]
    if inner_weak:
      ambiguous_lines.append((body[a][0], body[b - 1][0], len(inner_weak)))
    else:
      clean_starts.append(a)
  for a in clean_starts:
    b = next((s for s in strong_starts if s > a), len(body))
    yield from _reviews_from(image_id, body[:b], [a], path)
  spans = ", ".join(f"lines {x}-{y} ({n} one-word line(s))"
                    for x, y, n in ambiguous_lines)
  yield block_reject(
      "block_ambiguous",
      f"count says {count} review(s); {len(strong_starts)} certain user ids "
      f"and {len(weak)} one-word lines that may be user ids or review "
      f"text; skipped {spans}")


def read_reviews_blocks(path: str) -> Iterator[Union[RawReview, Reject]]:
  """Reads the crawler block layout of reviews.txt.

  Layout: repeated blocks of an image-id line, a review-count line ``n`` and
  ``n`` pairs of (user-id line, review-text line). Blank lines between
  blocks are ignored.

  Heuristic (real crawls spill review texts over several lines and stop
  mid-block):

  1. Block header = a line of ASCII digits (image id), then a line of ASCII
     digits (count ``n``), then -- if ``n > 0`` -- a line that is a
     plausible user id (``is_plausible_user_id``: one token of word
     characters, dots or dashes, no spaces, <= 64 chars) or the end of file.
     A block's body runs to the next header or the end of the file, and
     trailing blank lines of the body are dropped.
  2. In a body, the first line is a user id; the line after a user id is
     always review text (so a review may itself look like a user id); any
     later plausible-user-id line starts a new review, every other line
     (including blank lines) continues the current review's text, joined
     with ``\\n``.
  3. The count decides between readings:
     * as many user-id lines as ``n``: all reviews are yielded;
     * fewer than ``n``: all reviews found are yielded plus one block
       ``Reject`` -- ``block_truncated`` when the file ends in this block,
       else ``block_count_mismatch``;
     * more than ``n``: one-word lines that are common English words
       ("Wow", "Nice", "thanks", "composition", ...) are taken as spill-over
       text. If that leaves exactly ``n`` user ids, all reviews are yielded.
       If it leaves more, the remaining user ids are trusted, all reviews are
       yielded and a ``block_count_mismatch`` Reject records the stale
       count. If it leaves fewer, some common words really are user ids and
       the reading is ambiguous: reviews between trusted user ids with no
       common-word line inside are yielded, the others are skipped and
       counted in a ``block_ambiguous`` Reject.
  4. When the file ends right after a one-token line that is not a common
     word (a user id without its text, or an image id without its count
     line), that line is not counted as a review: it is named in the
     block's ``block_truncated`` Reject, or gets its own ``block_truncated``
     Reject when the block before it is complete.
  5. Text before a block's first user id (possible after a count-0 header)
     -> ``block_orphan_text``; runs of lines that belong to no block (text
     at the top of the file, an image id whose count line is missing or not
     followed by a user id) -> one ``block_bad_header`` Reject per run; a
     user id followed by blank text -> ``empty_review``.

  Block-level Rejects carry the block's first line (the image-id line) and
  a detail with the numbers; review Rejects carry the user-id line. Known
  limit: a numeric user id whose whole review is a number (or a review made
  only of digits followed by a numeric user id) reads as a block header; the
  count check then reports the affected blocks.
  """
  lines = _Lookahead(iter_lines(path))
  while True:
    while lines.peek() is not None and not lines.peek()[1].strip():
      lines.pop()
    if lines.peek() is None:
      return
    count = _header_at(lines)
    if count is None:
      # Resynchronise: skip to the next header, reporting the run.
      first_line, first_text = lines.pop()
      last_line, non_blank = first_line, 1
      while lines.peek() is not None and _header_at(lines) is None:
        last_line, text = lines.pop()
        non_blank += bool(text.strip())
      yield Reject(path, first_line, "block_bad_header",
                   f"{non_blank} line(s) outside any block (lines "
                   f"{first_line}-{last_line}): expected an image id line "
                   "followed by a review-count line", _truncate(first_text))
      continue
    start_line, id_text = lines.pop()
    lines.pop()  # the count line
    image_id = id_text.strip()
    body: List[Tuple[int, str]] = []
    while lines.peek() is not None and _header_at(lines) is None:
      body.append(lines.pop())
    at_eof = lines.peek() is None
    while body and not body[-1][1].strip():
      body.pop()
    yield from _parse_block(path, start_line, image_id, count, body, at_eof)


# ---------------------------------------------------------------------------
# uir.txt
# ---------------------------------------------------------------------------
def read_uir(path: str) -> Iterator[Union[RawReview, Reject]]:
  """Reads ``user_id|image_id|review`` lines.

  The line is split on its first two ``|`` only, so reviews may contain
  ``|``. User and image ids are stripped; the review keeps its text.
  Rejects: ``uir_wrong_field_count`` (fewer than three fields),
  ``uir_bad_user_id`` (empty or containing whitespace), ``uir_bad_image_id``
  (not ASCII digits, like AVA ids) and ``empty_review``. Blank lines are
  skipped.
  """
  for lineno, text in iter_lines(path):
    if not text.strip():
      continue
    parts = text.split("|", 2)
    if len(parts) < 3:
      yield Reject(path, lineno, "uir_wrong_field_count",
                   f"expected user_id|image_id|review, got {len(parts)} "
                   "field(s)", _truncate(text))
      continue
    user_id, image_id, review = parts[0].strip(), parts[1].strip(), parts[2]
    if not user_id or any(c.isspace() for c in user_id):
      yield Reject(path, lineno, "uir_bad_user_id",
                   f"user id {user_id!r} is empty or contains spaces",
                   _truncate(text))
      continue
    if not _DIGITS_RE.match(image_id):
      yield Reject(path, lineno, "uir_bad_image_id",
                   f"image id {image_id!r} is not a decimal number",
                   _truncate(text))
      continue
    if not review.strip():
      yield Reject(path, lineno, "empty_review",
                   f"user {user_id} on image {image_id} has an empty review",
                   _truncate(text))
      continue
    yield RawReview(user_id=user_id, image_id=image_id, text=review,
                    source=path, line=lineno)


# ---------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------
def _safe_image_id(image_id: str) -> bool:
  return (bool(image_id) and image_id not in (".", "..") and
          "/" not in image_id and "\\" not in image_id and
          "\x00" not in image_id)


def find_image(images_dir: str, image_id: str) -> Optional[str]:
  """Path of ``<image_id><ext>`` for ext in IMAGE_EXTENSIONS, or None.

  The extension match is case-insensitive (``123.JPG`` is found); when
  several files match, IMAGE_EXTENSIONS order wins (.jpg, .jpeg, .png). Ids
  that could escape ``images_dir`` (with a path separator) give None.
  """
  if not _safe_image_id(image_id):
    return None
  for ext in features.IMAGE_EXTENSIONS:
    for variant in (ext, ext.upper()):
      candidate = os.path.join(images_dir, image_id + variant)
      if os.path.isfile(candidate):
        return candidate
  # Mixed-case extensions (".Jpg"): one directory scan.
  try:
    entries = os.listdir(images_dir)
  except OSError:
    return None
  found: Dict[str, str] = {}
  for name in entries:
    stem, ext = os.path.splitext(name)
    if stem == image_id and ext.lower() in features.IMAGE_EXTENSIONS:
      found.setdefault(ext.lower(), os.path.join(images_dir, name))
  for ext in features.IMAGE_EXTENSIONS:
    path = found.get(ext)
    if path is not None and os.path.isfile(path):
      return path
  return None


def index_images(images_dir: str) -> Dict[str, str]:
  """{image_id: path} for every image file in a directory (one scan).

  Use this instead of ``find_image`` when looking up many ids. Same
  preference order as ``find_image`` when an id has several files.
  """
  rank = {ext: i for i, ext in enumerate(features.IMAGE_EXTENSIONS)}
  best: Dict[str, Tuple[int, str]] = {}
  try:
    entries = sorted(os.listdir(images_dir))
  except OSError:
    return {}
  for name in entries:
    stem, ext = os.path.splitext(name)
    r = rank.get(ext.lower())
    path = os.path.join(images_dir, name)
    if r is None or not stem or not os.path.isfile(path):
      continue
    if stem not in best or r < best[stem][0]:
      best[stem] = (r, path)
  return {stem: path for stem, (_, path) in best.items()}


# ---------------------------------------------------------------------------
# Tag protocol (Kao et al., 2017)
# ---------------------------------------------------------------------------
def major_tag_ids(images: Iterable[AvaImage], min_images: int) -> Set[int]:
  """Tag ids carried by at least ``min_images`` images.

  An image counts once for each distinct non-zero tag id it carries (tag_1
  and tag_2; NO_TAG_ID is ignored).
  """
  counts: collections.Counter = collections.Counter()
  for image in images:
    counts.update({t for t in image.tag_ids if t != features.NO_TAG_ID})
  return {t for t, n in counts.items() if n >= min_images}


def primary_tag_id(image: AvaImage, major: Collection[int]) -> Optional[int]:
  """tag_1 if it is major, else tag_2 if it is major, else None."""
  tag_1, tag_2 = image.tag_ids
  if tag_1 != features.NO_TAG_ID and tag_1 in major:
    return tag_1
  if tag_2 != features.NO_TAG_ID and tag_2 in major:
    return tag_2
  return None

"""Text handling of the §4.1 review rating (``preprocessing.rating``).

Cleaning of stored review text (``clean_review_text``, step 1 of the
``preprocessing.rating`` module docstring), the rewritten scoring copy
(``scoring_text``, step 2: typo correction, score talk -> vote tokens,
phrase and idiom rewrites, "too X"), aspect matching (``find_aspects``),
what a critique says the photo looks like (``said_states``) and the compiled
patterns that split a text into clauses and flag them (step 3).
The vocabulary lives in ``preprocessing.critique_lexicon``.
"""
from __future__ import annotations

import html
import re
import unicodedata
from typing import List, Mapping, Tuple

from preprocessing import critique_lexicon
from preprocessing import features

MAX_REVIEW_CHARS = 5000

# ---------------------------------------------------------------------------
# Clause splitting and clause cues
# ---------------------------------------------------------------------------
LEADING_CONTRAST_RE = re.compile(
    r"^\s*(?:but|however|yet|still|that\s+said|nevertheless|nonetheless|"
    r"on\s+the\s+other\s+hand)\b[\s,]*", re.I)
LEADING_CONCESSIVE_RE = re.compile(
    r"^\s*(?:although|though|even\s+though|while|whilst)\b\s*", re.I)
INNER_CONTRAST_RE = re.compile(
    r",\s*(?:however|though)\s*,|,?\s*\bthough\s*$", re.I)
BUT_RE = re.compile(r"\bbut\b", re.I)
# Sentence terminators; ";" is kept when it is part of an emoticon (";)").
SENTENCE_RE = re.compile(r"(?:[^.!?;]|;(?=[)(\-DPp]))*(?:[.!?]+|;|$)")
_WORD_RE = re.compile(r"[\w'&-]+")
_TOO_RE = re.compile(r"\btoo\s+([\w-]+)", re.I)


def _form_pattern(form: str) -> str:
  words = [re.escape(w) for w in form.split()]
  return r"[\s-]+".join(words)


def _aspect_regex() -> "re.Pattern[str]":
  forms = sorted({f for fs in critique_lexicon.ASPECT_WORDS.values()
                  for f in fs}, key=len, reverse=True)
  return re.compile(r"(?<![\w-])(?:" + "|".join(_form_pattern(f)
                                                 for f in forms) +
                    r")(?![\w])", re.I)


_ASPECT_RE = _aspect_regex()
_FORM_TO_ASPECT = {re.sub(r"[\s-]+", " ", f): a
                   for a, fs in critique_lexicon.ASPECT_WORDS.items()
                   for f in fs}
OFF_TOPIC_RE = re.compile("|".join(critique_lexicon.OFF_TOPIC_PATTERNS),
                          re.I)
GEAR_RE = re.compile("|".join(critique_lexicon.GEAR_PATTERNS), re.I)
HEDGE_RE = re.compile("|".join(critique_lexicon.HEDGE_PATTERNS), re.I)
SUGGESTION_RE = re.compile("|".join(critique_lexicon.SUGGESTION_PATTERNS),
                           re.I)
SARCASM_RE = re.compile("|".join(critique_lexicon.SARCASM_PATTERNS), re.I)
VOTE_TOKEN_RE = re.compile(r"\b" + critique_lexicon.VOTE_TOKEN + r"\d+\b")


def words(text: str) -> List[str]:
  """The lowercased words of ``text``."""
  return [w.lower() for w in _WORD_RE.findall(text)]


def find_aspects(text: str) -> List[str]:
  """Canonical aspects named in ``text``, in order of first mention."""
  out: List[str] = []
  for m in _ASPECT_RE.finditer(text):
    aspect = _FORM_TO_ASPECT.get(re.sub(r"[\s-]+", " ", m.group(0).lower()))
    if aspect is not None and aspect not in out:
      out.append(aspect)
  return out


def _said_regex(forms_low, forms_high) -> "re.Pattern[str]":
  forms = sorted(set(forms_low) | set(forms_high), key=len, reverse=True)
  return re.compile(r"(?<![\w&])(?:" + "|".join(
      _form_pattern(f) for f in forms) + r")(?![\w&])", re.I)


_SAID = [(_said_regex(*critique_lexicon.SAID_FORMS[a]),
          {re.sub(r"[\s-]+", " ", f)
           for f in critique_lexicon.SAID_FORMS[a][1]})
         for a in features.SAID_ATTRIBUTES]


def said_states(text: str) -> Tuple[int, ...]:
  """What ``text`` says the photo looks like: per features.SAID_ATTRIBUTES,
  -1 (more low forms than high ones), +1 (more high), 0 (neither or a tie)."""
  out = []
  for pattern, high in _SAID:
    net = 0
    for m in pattern.finditer(text):
      net += 1 if re.sub(r"[\s-]+", " ", m.group(0).lower()) in high else -1
    out.append((net > 0) - (net < 0))
  return tuple(out)


# ---------------------------------------------------------------------------
# Scoring copy: typos, score talk, phrase rewrites
# ---------------------------------------------------------------------------
_TYPO_RE = re.compile(
    r"\b(?:" + "|".join(critique_lexicon.TYPO_FIXES) + r")\b", re.I)
# Score talk. A number 1..10 that is a vote: after "gave it (a)", before
# "from me", "n/10" / "n out of 10", or a whole last sentence ("... 8.").
_VOTE_NUMBER = (r"(10|[1-9])(?!\s*(?:[.,:]\d|%|mm\b|x\b|px\b|stops?\b|"
                r"s\b|secs?\b|seconds?\b|min\b|minutes?\b|th\b|st\b|nd\b|"
                r"rd\b))")
_VOTE_RES = (
    re.compile(r"\b(?:i\s+)?(?:gave|give|giving|voted|vote|scored|score|"
               r"scoring|rated|rate|rating)\s+(?:it|this(?:\s+one)?|you|"
               r"your\s+\w+)?\s*(?:an?\s+)?" + _VOTE_NUMBER +
               r"(?:\s*(?:/|out\s+of)\s*10)?\b", re.I),
    re.compile(r"\b(?:an?\s+)?" + _VOTE_NUMBER +
               r"(?:\s*(?:/|out\s+of)\s*10)?\s+from\s+me\b", re.I),
    re.compile(r"\b(10|[1-9])\s*(?:/|out\s+of)\s*10\b", re.I),
    re.compile(r"(?:^|(?<=[.!?])\s+)(10|[1-9])\s*[.!]*\s*$"),
)
_VOTE_WORD_RE = re.compile(
    r"\b(?:i\s+)?(?:scored|voted|rated|marked|scoring|voting|rating)\s+"
    r"(?:it|this(?:\s+one)?|you)?\s*(?:quite\s+|very\s+|pretty\s+|"
    r"rather\s+|really\s+|so\s+)?(" + "|".join(critique_lexicon.VOTE_WORDS) +
    r")\b"
    r"|\b(high|highest|low|lowest)\s+(?:score|vote|mark)s?\b"
    r"|\btop\s+(marks)\b", re.I)
_REWRITES = tuple((re.compile(p, re.I), r)
                  for p, r in critique_lexicon.PHRASE_REWRITES)


def _vote_token(n: int) -> str:
  return f"{critique_lexicon.VOTE_TOKEN}{n}"


def _rewrite_votes(text: str) -> str:
  """Score talk -> ``VOTE_TOKEN`` words ("gave it a 3" -> "dpcvote3")."""
  for pattern in _VOTE_RES:
    text = pattern.sub(lambda m: " " + _vote_token(int(m.group(1))), text)

  def word_vote(m: "re.Match[str]") -> str:
    word = next(g for g in m.groups() if g).lower()
    return _vote_token(9 if word == "marks" else
                       critique_lexicon.VOTE_WORDS[word])

  return _VOTE_WORD_RE.sub(word_vote, text)


def scoring_text(cleaned: str, lexicon: Mapping[str, float]) -> str:
  """The rewritten copy of a cleaned review that VADER scores (step 2).

  Args:
    cleaned: text from ``clean_review_text``.
    lexicon: the scoring word -> valence table (the VADER analyzer's
      lexicon, ``DOMAIN_LEXICON`` included); "too X" with a positive X hides
      X's valence.

  Returns:
    The scoring copy.
  """
  text = _TYPO_RE.sub(
      lambda m: critique_lexicon.TYPO_FIXES[m.group(0).lower()], cleaned)
  text = _rewrite_votes(text)
  for pattern, repl in _REWRITES:
    text = pattern.sub(repl, text)

  def too(m: "re.Match[str]") -> str:
    word = m.group(1)
    low = word.lower()
    if low in critique_lexicon.TOO_KEEP:
      return m.group(0)
    if lexicon.get(low, 0.0) > 0:
      # Keep the word for aspect matching, hide its valence from VADER.
      return f"overdone {word}-ish"
    return f"overdone {word}"

  return _TOO_RE.sub(too, text)


# ---------------------------------------------------------------------------
# Cleaning
# ---------------------------------------------------------------------------
_KEEP_FORMAT_CHARS = frozenset(["\u200d"])  # ZWJ (emoji sequences)


def _keep_char(c: str) -> bool:
  cat = unicodedata.category(c)
  if cat in ("Cc", "Cs"):
    return False
  if cat == "Cf":
    # ZWJ and the emoji tag block (subdivision flags) are part of emoji.
    return c in _KEEP_FORMAT_CHARS or 0xE0020 <= ord(c) <= 0xE007F
  return True


# Typographic apostrophes ("isn\u2019t") -> ASCII "'", so negations and
# contractions read the same whichever keyboard typed them (VADER's negation
# list and the phrase rewrites only know "isn't").
APOSTROPHES = "\u2018\u2019\u201b\u02bc\uff07\u00b4`"
_APOSTROPHE_TABLE = str.maketrans({c: "'" for c in APOSTROPHES})


def _clean_once(text: str) -> str:
  prev = None
  while prev != text:
    prev, text = text, html.unescape(text)
  text = unicodedata.normalize("NFC", text).translate(_APOSTROPHE_TABLE)
  text = "".join(c if not c.isspace() else " " for c in text if
                 c.isspace() or _keep_char(c))
  text = " ".join(text.split())
  return text[:MAX_REVIEW_CHARS].rstrip()


def clean_review_text(text: str) -> str:
  """Cleaned review text (``preprocessing.rating``, step 1). Idempotent."""
  text = text[:MAX_REVIEW_CHARS * 4]
  for _ in range(16):
    new = _clean_once(text)
    if new == text:
      break
    text = new
  return text

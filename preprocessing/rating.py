"""Recovering user-specific ratings from review text (paper §4.1).

The paper classifies reviews with CoreNLP into four types, rewrites or drops
them, and counts positive and negative words around photographic aspect
words to get five preference levels. CoreNLP is not available here; this
module implements the same protocol with VADER (vaderSentiment 3.3.2), a
rule-based sentiment scorer that handles negation ("not sharp", "isn't
great"), intensifiers ("very", "extremely"), dampeners ("a bit",
"slightly"), emoticons and emoji. Everything below is deterministic.

The vocabulary (aspect words, lexicon, misspellings, rewrites, cue
patterns) lives in ``preprocessing.critique_lexicon`` and the text handling
(cleaning, the scoring copy, aspect matching, clause patterns) in
``preprocessing.critique_text``; their public names are re-exported here.

1. Cleaning (``clean_review_text``). HTML entities are unescaped (until
   none is left, so ``&amp;lt;`` becomes ``<``), the text is NFC-normalised,
   typographic apostrophes (``APOSTROPHES``) become ``'``, control and
   invisible format characters are removed (emoji, including ZWJ sequences
   and flag tags, are kept), whitespace runs and newlines become one space,
   and the text is capped at ``MAX_REVIEW_CHARS``. The function is
   idempotent.

2. Scoring text. A copy of the cleaned text is rewritten for scoring only.
   Common misspellings are corrected (``TYPO_FIXES``: "beatiful",
   "compositon", "focuse"). Score talk becomes a vote token
   ``VOTE_TOKEN``n whose valence is ``VOTE_VALENCE[n - 1]`` (1..4 negative,
   5 neutral, 6..10 positive): "gave it a 7", "a 3 from me", "8/10", a last
   sentence that is only a number ("... 8."), and "I scored this low/high",
   "voted highest", "top marks". Colloquial praise is read as praise
   (``SLANG_REWRITES``, first of the rewrites): its complaint uses become
   complaints ("an insane amount of noise" -> "too much noise", "the noise
   is insane" -> "... is distracting", "sick of HDR" -> "tired of HDR"),
   then "no notes" -> "flawless", "nothing I'd change" -> "perfect",
   "stopped me in my tracks" -> "captivates me", "this kills" -> "this
   excels", "you killed it" -> "you nailed it", "crazy good" -> "very good",
   and what is left of "sick", "insane", "wicked", "unreal", "ridiculous",
   "bonkers", "nuts", "crazy" scores as praise (``DOMAIN_LEXICON``). Then
   photographic idioms become single
   lexicon tokens ("out of focus" ->
   "unfocused", "blown out" -> "blown", "spot on" -> "spoton", "not my cup of
   tea" / "doesn't work for me" / "not for me" -> "dislike", "the white
   balance is off" -> "... is wrong", "soft light" -> "gentle light" but
   "slightly soft" -> "slightly blurry", "isn't level" -> "tilted", "the
   focus is on X rather than Y" -> "focus wrong", "too X" -> "overdone X"
   with a positive X neutralised, "not too X" -> "not X", "is to dark" ->
   "is too dark", "sharp as a tack" -> "tack-sharp", "nothing in focus" ->
   "everything unfocused", "isn't there" -> "lacking", "doesn't fit the
   challenge" -> "offbrief", "ribbon worthy" -> "superb", "camera shake" ->
   "shaky blur", "why so dark?" -> "too dark", "What a shot!" -> "great
   shot", "lacks a strong X" -> "lacks a X", a trailing "... not." ->
   ``SARCASM_MARK``); "like" after
   "looks/seems/feels/just" is a preposition and becomes "as", and
   discourse markers ("to be honest", "imo") are removed. VADER's lexicon is
   extended with ``DOMAIN_LEXICON`` (critique vocabulary: sharp, crisp,
   blurry, cluttered, tilted, oversaturated, noisy, lacks, crunchy,
   clipped, ... and corrections such as "interesting" 1.7 -> 0.5, "ok" 1.2
   -> 0.3, which are noncommittal in critiques, or "killer" -3.3 -> 1.8,
   praise in critiques). Entries of valence 0 ("soft", "dark") are removed
   from the lexicon rather than kept at 0, because VADER adds a booster's
   weight even to a 0-valence word ("so dark" would read as positive).

3. Clauses. The text is split into sentences on ``. ! ? ;`` and each
   sentence into clauses on "but" and commas. Clause weights follow VADER's
   contrast rule: before "but" x0.5, after "but" x1.5; a sentence opening
   with (or containing ", however," / ", though," / ending with "though") a
   contrast marker weighs x1.5 and the previous sentence x0.5; a sentence
   opening with a concessive "Although/Though/While X, Y" weighs X x0.5 and
   Y x1.5. A comma fragment that names an aspect but carries no sentiment is
   merged with the following aspect-less fragment ("The colors, however, are
   dull"); a clause without an aspect word whose first word is a pronoun
   (it, this, that, they) refers back to the aspects of the previous clause
   of its sentence ("The crop is tight but it works").

   Each clause is scored with VADER's compound score in [-1, 1] and gets
   flags: aspects (``ASPECT_WORDS``, with plural/inflected forms), off-topic
   cue (``OFF_TOPIC_PATTERNS``: congratulations, ribbons, thanks, good luck,
   social chat, challenge rules, personal anecdotes; a gear or settings cue,
   ``GEAR_PATTERNS``, only in a question or a clause without an aspect:
   "Shooting at ISO 3200 made it noisy" is a critique), hedge
   (``HEDGE_PATTERNS``: "not sure", "can't decide", "hmm", "I wonder",
   "back and forth", "I'm torn" -> its score is set to 0, nothing
   evaluable), suggestion (``SUGGESTION_PATTERNS``: "could be sharper",
   "would have helped", "needs more", "I would have cropped", an imperative
   such as "crop from the top" -> the clause says the aspect falls short:
   score = min(score, 0) - ``SUGGESTION_PENALTY``), sarcasm (a sentence
   matching ``SARCASM_PATTERNS``: "Great, another sunset", "yet another",
   "how original", "... not." -> score = -max(|score|,
   ``SARCASM_MIN_ABS_SCORE``)) and vote (a vote token in the clause).

4. Classification (``classify_review``), first rule that applies:

   * Type I (photographic rule): at least one clause that names an aspect,
     has no off-topic cue and has ``|score| >= ASPECT_MIN_ABS_SCORE``.
   * Type III (off-topic): an off-topic cue anywhere, unless a clause
     without one holds a vote ("Congrats on the ribbon, 9 from me" is kept).
   * Type IV (equivocal): the feeling score -- the aggregate (step 5) of
     the clauses that are not questions, not hedged, not off-topic and have
     ``|score| >= ASPECT_MIN_ABS_SCORE``; 0 when there is none -- has
     ``|score| < FEELING_BAND`` (questions only, hedges, "Interesting.",
     "Ok.").
   * Type III (off-topic): the text names a person or animal (he, she, boy,
     girl, dog, puppy, ...) and never the photo (photo, image, picture, pic,
     shot, entry, capture, work, job, it, this) nor votes: "How handsome
     the boy is!".
   * Type II (subjective feeling): otherwise ("I like this photo!",
     "Beautiful!", "Not my cup of tea").

5. Sentiment counting and rating.

   * Aggregate of clauses: each clause's compound c_i is turned back into
     its summed word valence v_i (inverting VADER's c = v / sqrt(v^2 + 15)),
     and score = normalize(sum_i w_i v_i) with the step-3 weights w_i: the
     positive and negative words of the clauses are counted together, as in
     the paper, and the result is in [-1, 1].
   * Type I: score = aggregate of the evaluable aspect clauses and vote
     clauses. Only these count, as in the paper (a vote is the reviewer's
     verdict on the photo). The stored text is the cleaned review.
   * Type II: score = the feeling score; the stored text is rewritten to
     ``FEELING_REWRITE[label]`` ("The photo is good" / "The photo is bad").
   * Five preference levels from the score with ``LEVEL_CUTS`` =
     (-0.5, -0.05, 0.3, 0.6): level 1 if score < -0.5, 2 if < -0.05, 3 if
     < 0.3, 4 if < 0.6, else 5. Label s_uv = 1 iff level >= GOOD_MIN_LEVEL
     (3), i.e. the paper's "first two levels bad, other three good". For
     type II the band makes levels 2/3 start at -0.2/+0.2.
   * Types III and IV are dropped (level and label None; the score is the
     whole-text compound, for inspection).

6. Validation (``consistency_eq7``): the paper's Eq. 7 positive/negative
   ratio consistency between the recovered s_v and the AVA vote-based b_v,
   divided by the number of images with at least one recovered rating.

Known limits: no parser, so aspect scope is the clause, not the syntactic
head ("the colors of her dress are lovely" counts as a color comment); a
critique with no aspect word ("I'd have liked more of the building") is
read as a feeling; sarcasm is detected only in the forms above and within
one sentence ("Wow, a sunset. How original." still reads "Wow" as praise).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from preprocessing import critique_lexicon
from preprocessing import critique_text
from preprocessing import features

# ---------------------------------------------------------------------------
# Constants of the rule (documented in the module docstring)
# ---------------------------------------------------------------------------
MAX_REVIEW_CHARS = critique_text.MAX_REVIEW_CHARS
# Levels: score < cut[0] -> 1, < cut[1] -> 2, < cut[2] -> 3, < cut[3] -> 4,
# else 5.
LEVEL_CUTS = (-0.5, -0.05, 0.3, 0.6)
# A type-II feeling needs |compound| >= this, else the review is type IV.
FEELING_BAND = 0.2
# An aspect clause is evaluable when |compound| >= this (VADER's own neutral
# threshold).
ASPECT_MIN_ABS_SCORE = 0.05
SUGGESTION_PENALTY = 0.3
SARCASM_MIN_ABS_SCORE = 0.3
BUT_BEFORE_WEIGHT = 0.5
BUT_AFTER_WEIGHT = 1.5

# The vocabulary (preprocessing/critique_lexicon.py) and the text helpers
# (preprocessing/critique_text.py), under the names this module has always
# offered.
VOTE_TOKEN = critique_lexicon.VOTE_TOKEN
SARCASM_MARK = critique_lexicon.SARCASM_MARK
VOTE_VALENCE = critique_lexicon.VOTE_VALENCE
ASPECT_WORDS = critique_lexicon.ASPECT_WORDS
DOMAIN_LEXICON = critique_lexicon.DOMAIN_LEXICON
TYPO_FIXES = critique_lexicon.TYPO_FIXES
PHRASE_REWRITES = critique_lexicon.PHRASE_REWRITES
OFF_TOPIC_PATTERNS = critique_lexicon.OFF_TOPIC_PATTERNS
GEAR_PATTERNS = critique_lexicon.GEAR_PATTERNS
HEDGE_PATTERNS = critique_lexicon.HEDGE_PATTERNS
SUGGESTION_PATTERNS = critique_lexicon.SUGGESTION_PATTERNS
SARCASM_PATTERNS = critique_lexicon.SARCASM_PATTERNS
SUBJECT_WORDS = critique_lexicon.SUBJECT_WORDS
PHOTO_REFERENT_WORDS = critique_lexicon.PHOTO_REFERENT_WORDS
APOSTROPHES = critique_text.APOSTROPHES
clean_review_text = critique_text.clean_review_text
find_aspects = critique_text.find_aspects


# ---------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------
def level_from_score(score: float) -> int:
  """Preference level 1..NUM_PREFERENCE_LEVELS from a score in [-1, 1]."""
  level = 1
  for cut in LEVEL_CUTS:
    if score >= cut:
      level += 1
  return level


def label_from_level(level: int) -> int:
  return int(level >= features.GOOD_MIN_LEVEL)


@dataclasses.dataclass(frozen=True)
class LabeledReview:
  """Outcome of the §4.1 protocol for one review."""
  review_type: str  # features.REVIEW_TYPE_*
  text: str  # cleaned text (type I/III/IV) or FEELING_REWRITE (type II)
  level: Optional[int]  # 1..5 for kept reviews, else None
  label: Optional[int]  # s_uv for kept reviews, else None
  score: float  # aggregated sentiment in [-1, 1]
  aspects: Tuple[str, ...] = ()  # aspects of the scored clauses (type I)

  @property
  def kept(self) -> bool:
    return self.review_type in features.KEPT_REVIEW_TYPES


@dataclasses.dataclass
class _Clause:
  text: str
  weight: float
  question: bool
  sentence: int
  aspects: Tuple[str, ...] = ()
  off_topic: bool = False
  hedge: bool = False
  suggestion: bool = False
  sarcasm: bool = False
  vote: bool = False
  score: float = 0.0


_VADER_ALPHA = 15.0  # VADER's normalisation constant: x / sqrt(x^2 + alpha)


def _raw_valence(compound: float) -> float:
  """Inverse of VADER's normalisation: the clause's summed word valence."""
  c = max(-0.9999, min(0.9999, compound))
  return c * math.sqrt(_VADER_ALPHA / (1.0 - c * c))


def _aggregate(clauses: Sequence["_Clause"]) -> float:
  """normalize(sum_i w_i * raw_i): VADER's own summation, with clause weights.

  Summing (rather than averaging) counts sentiment, as the paper does: two
  positive remarks outweigh one, and a weak aside does not dilute a strong
  verdict. 0.0 for no clause.
  """
  if not clauses:
    return 0.0
  total = sum(c.weight * _raw_valence(c.score) for c in clauses)
  return total / math.sqrt(total * total + _VADER_ALPHA)


class ReviewLabeler:
  """Classifies and rates reviews (paper §4.1 with VADER).

  The VADER analyzer is created lazily, once per process, and is not
  pickled (``__getstate__`` drops it), so a labeler can live inside a Beam
  DoFn.
  """

  def __init__(self) -> None:
    self._analyzer: Any = None

  def __getstate__(self) -> Dict[str, Any]:
    state = dict(self.__dict__)
    state["_analyzer"] = None
    return state

  def __setstate__(self, state: Dict[str, Any]) -> None:
    self.__dict__.update(state)

  @property
  def analyzer(self) -> Any:
    if self._analyzer is None:
      from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
      analyzer = SentimentIntensityAnalyzer()
      analyzer.lexicon.update(DOMAIN_LEXICON)
      # A word with valence 0 is dropped rather than kept at 0: VADER adds a
      # booster's weight to a known word even when its valence is 0 ("so
      # dark" would read as positive).
      for word in [w for w, v in DOMAIN_LEXICON.items() if v == 0.0]:
        del analyzer.lexicon[word]
      self._analyzer = analyzer
    return self._analyzer

  # -- scoring helpers ------------------------------------------------------
  def _compound(self, text: str) -> float:
    if not text.strip():
      return 0.0
    return float(self.analyzer.polarity_scores(text)["compound"])

  def scoring_text(self, cleaned: str) -> str:
    """The rewritten copy of a cleaned review that VADER scores (step 2)."""
    return critique_text.scoring_text(cleaned, self.analyzer.lexicon)

  def _clauses(self, text: str) -> List[_Clause]:
    clauses: List[_Clause] = []
    sentences = [m.group(0) for m in critique_text.SENTENCE_RE.finditer(text)
                 if m.group(0).strip()]
    prev_start = 0
    for si, sentence in enumerate(sentences):
      body = sentence.strip()
      question = body.endswith("?")
      stripped = body.rstrip(".!?; ")
      # Exclamation marks stay with the sentence's last clause (VADER
      # emphasis).
      bang = "!" * min(body[len(stripped):].count("!"), 4)
      body = stripped
      sarcasm = bool(critique_text.SARCASM_RE.search(body))
      start = len(clauses)
      contrast_prev = False
      concessive = False
      m = critique_text.LEADING_CONCESSIVE_RE.match(body)
      if m and "," in body[m.end():]:
        concessive = True
        body = body[m.end():]
      else:
        m = critique_text.LEADING_CONTRAST_RE.match(body)
        if m:
          contrast_prev = True
          body = body[m.end():]
      if critique_text.INNER_CONTRAST_RE.search(body):
        contrast_prev = True
        body = critique_text.INNER_CONTRAST_RE.sub(",", body)
      # "but" inside the sentence.
      parts = critique_text.BUT_RE.split(body, maxsplit=1)
      weighted: List[Tuple[str, float]] = []
      if len(parts) == 2:
        weighted = [(parts[0], BUT_BEFORE_WEIGHT), (parts[1], BUT_AFTER_WEIGHT)]
      else:
        weighted = [(body, 1.0)]
      frags: List[Tuple[str, float]] = []
      for pi, (part, w) in enumerate(weighted):
        pieces = [p for p in part.split(",") if p.strip()]
        for k, piece in enumerate(pieces):
          fw = w
          if concessive and pi == 0:
            fw *= BUT_BEFORE_WEIGHT if k == 0 else BUT_AFTER_WEIGHT
          frags.append((piece.strip(), fw))
      # Merge "aspect without sentiment" + "sentiment without aspect".
      merged: List[Tuple[str, float]] = []
      for frag, w in frags:
        if merged:
          last, lw = merged[-1]
          if (find_aspects(last) and not find_aspects(frag) and
              abs(self._compound(last)) < ASPECT_MIN_ABS_SCORE and
              critique_text.words(frag)[:1] != ["and"]):
            merged[-1] = (f"{last} {frag}", max(lw, w))
            continue
        merged.append((frag, w))
      if merged and bang:
        merged[-1] = (merged[-1][0] + bang, merged[-1][1])
      for frag, w in merged:
        aspects = tuple(find_aspects(frag))
        words = critique_text.words(frag)
        if (not aspects and words and
            words[0] in critique_lexicon.PRONOUN_STARTS and
            len(clauses) > start):
          aspects = clauses[-1].aspects
        clauses.append(_Clause(text=frag, weight=w, question=question,
                               sentence=si, aspects=aspects, sarcasm=sarcasm))
      if contrast_prev and si > 0:
        for c in clauses[prev_start:start]:
          c.weight *= BUT_BEFORE_WEIGHT
        for c in clauses[start:]:
          c.weight *= BUT_AFTER_WEIGHT
      prev_start = start
    for c in clauses:
      c.off_topic = bool(critique_text.OFF_TOPIC_RE.search(c.text)) or bool(
          critique_text.GEAR_RE.search(c.text) and
          (c.question or not c.aspects))
      c.hedge = bool(critique_text.HEDGE_RE.search(c.text))
      c.suggestion = bool(critique_text.SUGGESTION_RE.search(c.text))
      c.vote = bool(critique_text.VOTE_TOKEN_RE.search(c.text))
      if c.hedge:
        c.score = 0.0
      else:
        c.score = self._compound(c.text)
        if c.suggestion:
          c.score = max(-1.0, min(c.score, 0.0) - SUGGESTION_PENALTY)
        if c.sarcasm:
          c.score = -max(abs(c.score), SARCASM_MIN_ABS_SCORE)
    return clauses

  # -- public API -----------------------------------------------------------
  def label(self, text: str) -> LabeledReview:
    """Applies the §4.1 protocol to one raw or cleaned review."""
    cleaned = clean_review_text(text)
    if not cleaned:
      return LabeledReview(features.REVIEW_TYPE_EQUIVOCAL, cleaned, None,
                           None, 0.0)
    scoring = self.scoring_text(cleaned)
    clauses = self._clauses(scoring)
    whole = self._compound(scoring)

    rated = [c for c in clauses if (c.aspects or c.vote) and
             not c.off_topic and abs(c.score) >= ASPECT_MIN_ABS_SCORE]
    if any(c.aspects for c in rated):
      score = _aggregate(rated)
      level = level_from_score(score)
      aspects: List[str] = []
      for c in rated:
        aspects.extend(a for a in c.aspects if a not in aspects)
      return LabeledReview(features.REVIEW_TYPE_RULE, cleaned, level,
                           label_from_level(level), score, tuple(aspects))

    # A vote is a verdict on the photo: it keeps a review that also
    # chats ("Congrats on the ribbon, 9 from me").
    voted = any(c.vote for c in rated)
    if any(c.off_topic for c in clauses) and not voted:
      return LabeledReview(features.REVIEW_TYPE_OFF_TOPIC, cleaned, None,
                           None, whole)
    felt = [c for c in clauses if not (c.question or c.hedge or c.off_topic)
            and abs(c.score) >= ASPECT_MIN_ABS_SCORE]
    feeling = _aggregate(felt)
    if abs(feeling) < FEELING_BAND:
      return LabeledReview(features.REVIEW_TYPE_EQUIVOCAL, cleaned, None,
                           None, whole)
    words = set(critique_text.words(cleaned))
    if (words & SUBJECT_WORDS and not words & PHOTO_REFERENT_WORDS and
        not voted):
      return LabeledReview(features.REVIEW_TYPE_OFF_TOPIC, cleaned, None,
                           None, whole)
    level = level_from_score(feeling)
    label = label_from_level(level)
    return LabeledReview(features.REVIEW_TYPE_FEELING,
                         features.FEELING_REWRITE[label], level, label,
                         feeling)

  def classify(self, text: str) -> str:
    return self.label(text).review_type


_DEFAULT_LABELER: Optional[ReviewLabeler] = None


def _default_labeler() -> ReviewLabeler:
  global _DEFAULT_LABELER
  if _DEFAULT_LABELER is None:
    _DEFAULT_LABELER = ReviewLabeler()
  return _DEFAULT_LABELER


def classify_review(text: str) -> str:
  """Review type (features.REVIEW_TYPE_*) of a raw or cleaned review."""
  return _default_labeler().classify(text)


def label_review(text: str) -> LabeledReview:
  """``ReviewLabeler().label(text)`` with a shared module-level labeler."""
  return _default_labeler().label(text)


# ---------------------------------------------------------------------------
# Validation: paper Eq. 7
# ---------------------------------------------------------------------------
def consistency_eq7(pairs: Iterable[Tuple[int, Sequence[int]]]) -> float:
  """Positive/negative ratio consistency of recovered ratings (Eq. 7).

  ``pairs`` holds, per image, (b_v, [s_v ...]): the vote-based agnostic
  label and the recovered binary ratings of its reviews.

    C = sum_{v: b_v=1} #{s_v == 1} / #{s_v}
      + sum_{v: b_v=0} #{s_v == 0} / #{s_v}

  and the result is C divided by the number of images with at least one
  recovered rating, a value in [0, 1]. Images without any s_v are excluded
  from both C and the count (their ratio is undefined; the paper only
  counts images with reviews). With no such image at all the result is
  ``nan`` (undefined, rather than a misleading 0 or 1). Values other than 0
  and 1 raise ValueError.
  """
  total = 0.0
  images = 0
  for b_v, ratings in pairs:
    if b_v not in (0, 1):
      raise ValueError(f"b_v must be 0 or 1, got {b_v!r}")
    ratings = list(ratings)
    if not ratings:
      continue
    bad = [s for s in ratings if s not in (0, 1)]
    if bad:
      raise ValueError(f"ratings must be 0 or 1, got {bad[0]!r}")
    agree = sum(1 for s in ratings if s == b_v)
    total += agree / len(ratings)
    images += 1
  if images == 0:
    return math.nan
  return total / images

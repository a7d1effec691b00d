"""The review writer: dpchallenge-style critique text that expresses s_uv.

Review types follow the paper (§4.1): I comments on photographic aspects,
II states a feeling, III is off-topic and IV is equivocal; types I and II
express the label s_uv, III and IV say nothing about it. The realistic
presets (``Difficulty.idiom_p`` and friends > 0) also write critique idiom
("a bit soft", "killer light"), sarcasm for bad judgements ("Great, another
sunset.") and typos; with all of them 0 the writer draws exactly what the
original demo drew.
"""
from __future__ import annotations

import random
import re
from typing import List, Sequence, Tuple

from demo_data import phrases as ph
from demo_data.difficulty import Difficulty
from demo_data.planting import Img, QUALITY_WEIGHTS, User
from preprocessing import features

_PUNCT = ".,!?;:'\"()"


def _capitalise(text: str) -> str:
  return text[:1].upper() + text[1:]


class ReviewWriter:
  """Writes dpchallenge-style critique text that expresses a judgement."""

  def __init__(self, rnd: random.Random, d: Difficulty):
    self.rnd = rnd
    self.d = d
    self._subjects_used: List[str] = []  # within the current review

  def _start(self) -> None:
    self._subjects_used = []

  def _pick(self, seq: Sequence[str]) -> str:
    return seq[int(self.rnd.random() * len(seq))]

  def _fill(self, template: str, subjects: Sequence[str],
            strong: bool = False, plain: bool = False) -> str:
    """Fills the slots; ``plain`` = no intensifier and mild adjectives."""
    text = template
    while "{I}" in text:
      if plain:
        word = ""
      else:
        word = self._pick(ph.STRONG_INTENS if strong else ph.INTENS)
      text = text.replace("{I}", word, 1)
    while "{P}" in text:
      text = text.replace("{P}", self._pick(ph.POS_MILD if plain else ph.POS),
                          1)
    while "{N}" in text:
      text = text.replace("{N}", self._pick(ph.NEG_MILD if plain else ph.NEG),
                          1)
    if "{S}" in text:
      subj = self._pick(subjects)
      if subj in self._subjects_used and len(subjects) > 1:
        subj = self._pick(subjects)  # prefer another noun in one review
      self._subjects_used.append(subj)
      if self.rnd.random() < 0.012:  # HTML-escaped quotes from the crawler
        head, _, noun = subj.partition(" ")
        subj = f"{head} &quot;{noun}&quot;" if noun else subj
      text = text.replace("{S}", subj)
    text = text.replace("{PET}", self._pick(ph.PETS))
    text = text.replace("{PLACE}", self._pick(ph.PLACES))
    text = text.replace("{THING}", self._pick(ph.THINGS))
    return ph.A_AN.sub(r"\1n \2", text)

  @staticmethod
  def _state(aspect: str, img: Img) -> str:
    b, s, c, p = img.attrs
    if aspect == "light":
      return "bright" if b >= 0.5 else "dark"
    if aspect == "focus":
      return "sharp" if s >= 0.55 else "soft"
    if aspect == "color":
      if img.grayscale:
        return "mono"
      return "vivid" if c >= 0.5 else "muted"
    if aspect == "composition":
      return "centred" if p >= 0.5 else "thirds"
    return ""

  def _aspect_weights(self, user: User, img: Img, polarity: int,
                      exclude: Sequence[str]) -> Tuple[List[str], List[float]]:
    sign = 1.0 if polarity else -1.0
    value = (QUALITY_WEIGHTS + user.taste) * img.z  # per-attribute pull
    names, weights = [], []
    for j, aspect in enumerate(ph.ATTR_ASPECT):
      if aspect in exclude:
        continue
      care = 0.35 + abs(float(user.taste[j]))
      names.append(aspect)
      weights.append(care * (0.1 + max(0.0, sign * float(value[j]))))
    for aspect in ph.GENERIC_ASPECTS:
      if aspect not in exclude:
        names.append(aspect)
        weights.append(0.12)
    return names, weights

  def _choose(self, names: List[str], weights: List[float]) -> str:
    total = sum(weights)
    r = self.rnd.random() * total
    for name, w in zip(names, weights):
      r -= w
      if r <= 0:
        return name
    return names[-1]

  def _clause(self, aspect: str, img: Img, polarity: int, strong: bool = False,
              plain: bool = False) -> str:
    key = (aspect, self._state(aspect, img), polarity)
    if self.d.idiom_p and self.rnd.random() < self.d.idiom_p:
      idiom = ph.IDIOM.get(key) or ph.GENERIC_IDIOM[polarity]
      return self._fill(self._pick(idiom), img.subjects)
    return self._fill(self._pick(ph.CLAUSES[key]), img.subjects, strong=strong,
                      plain=plain)

  @staticmethod
  def _sentence(text: str, end: str) -> str:
    return _capitalise(text.strip()) + end

  def write(self, user: User, img: Img, s: int) -> Tuple[str, str]:
    """(review type, text) of one review; the type is drawn first.

    Type shares (paper §4.1): III and IV from the preset, II per user
    (``User.type_ii_p``), I otherwise.
    """
    r = self.rnd.random()
    if r < self.d.off_topic_p:
      return features.REVIEW_TYPE_OFF_TOPIC, self.off_topic_review(user, img)
    if r < self.d.off_topic_p + self.d.equivocal_p:
      return features.REVIEW_TYPE_EQUIVOCAL, self.equivocal_review(user, img)
    if not s and self.d.sarcasm_p and self.rnd.random() < self.d.sarcasm_p:
      return features.REVIEW_TYPE_FEELING, self.sarcastic_review(user, img)
    if self.rnd.random() < user.type_ii_p:
      return features.REVIEW_TYPE_FEELING, self.feeling_review(user, img, s)
    return features.REVIEW_TYPE_RULE, self.rule_review(user, img, s)

  def rule_review(self, user: User, img: Img, s: int) -> str:
    """Type I: comments on photographic aspects; the lean expresses ``s``."""
    self._start()
    rnd = self.rnd
    n = 1 + (rnd.random() < user.verbose) + (rnd.random() < user.verbose / 2)
    used: List[str] = []
    clauses = []
    for _ in range(n):
      aspect = self._choose(*self._aspect_weights(user, img, s, used))
      used.append(aspect)
      clauses.append(aspect)
    mixed = rnd.random() < 0.25
    end = "!" if s and rnd.random() < user.exclaim else "."
    parts: List[str] = []
    if mixed:
      contra = self._choose(*self._aspect_weights(user, img, 1 - s, used))
      first = self._clause(contra, img, 1 - s, plain=True)
      main = self._clause(clauses[0], img, s, strong=True)
      parts.append(self._sentence(f"{first}, but {main}", end))
      rest = clauses[1:]
    else:
      rest = clauses
    if rest:
      texts = [self._clause(a, img, s) for a in rest]
      if len(texts) >= 2 and rnd.random() < 0.4:
        parts.append(self._sentence(f"{texts[0]} and {texts[1]}", end))
        texts = texts[2:]
      parts.extend(self._sentence(t, end) for t in texts)
    if rnd.random() < 0.15:  # a feeling next to the critique
      feeling = _capitalise(self._fill(
          self._pick(ph.FEELING_POS if s else ph.FEELING_NEG), img.subjects))
      if rnd.random() < 0.5:
        parts.insert(0, feeling)
      else:
        parts.append(feeling)
    return self._decorate(user, " ".join(parts), s)

  def feeling_review(self, user: User, img: Img, s: int) -> str:
    """Type II: a subjective feeling with no photographic aspect."""
    self._start()
    bank = ph.FEELING_POS if s else ph.FEELING_NEG
    first = self._pick(bank)
    text = _capitalise(self._fill(first, img.subjects))
    if self.rnd.random() < 0.2:
      second = self._pick(bank)
      if second != first:
        text = f"{text} {_capitalise(self._fill(second, img.subjects))}"
    return self._decorate(user, text, s, closers=False)

  def off_topic_review(self, user: User, img: Img) -> str:
    """Type III: not about the photo's aesthetics."""
    self._start()
    pool = ph.OFF_TOPIC + (ph.OFF_TOPIC_MORE if self.d.idiom_p else ())
    text = self._fill(self._pick(pool), img.subjects)
    if self.rnd.random() < 0.15:
      text = f"{text} {self._fill(self._pick(pool), img.subjects)}"
    return self._finish(user, text)

  def equivocal_review(self, user: User, img: Img) -> str:
    """Type IV: an equivocal message."""
    self._start()
    pool = ph.EQUIVOCAL + (ph.EQUIVOCAL_MORE if self.d.idiom_p else ())
    return self._finish(user, self._fill(self._pick(pool), img.subjects))

  def sarcastic_review(self, user: User, img: Img) -> str:
    """A bad judgement worded as praise (type II: no aspect is rated)."""
    self._start()
    return self._finish(user, self._fill(self._pick(ph.SARCASM),
                                         img.subjects))

  def _decorate(self, user: User, text: str, s: int,
                closers: bool = True) -> str:
    rnd = self.rnd
    if rnd.random() < user.opener_p:
      pool = (ph.OPEN_POS + ph.OPEN_NEUTRAL if s else
              ph.OPEN_NEUTRAL + ph.OPEN_NEG)
      opener = self._pick(pool)
      if opener.endswith(",") and not re.match(r"I\b", text):
        text = f"{opener} {text[0].lower()}{text[1:]}"
      else:
        text = f"{opener} {text}"
    if closers and rnd.random() < user.closer_p:
      pool = (ph.CLOSE_POS + ph.CLOSE_NEUTRAL if s else
              ph.CLOSE_NEUTRAL + ph.CLOSE_NEG)
      text = f"{text} {self._pick(pool)}"
    if " and " in text and rnd.random() < 0.02:
      text = text.replace(" and ", " &amp; ", 1)
    if "n't" in text and rnd.random() < 0.02:
      text = text.replace("n't", "n&#39;t", 1)
    if rnd.random() < 0.012:
      text = f"{text} {self._pick(ph.EMOJI_POS if s else ph.EMOJI_NEG)}"
    return self._finish(user, text)

  def _finish(self, user: User, text: str) -> str:
    if user.signature and self.rnd.random() < 0.5:
      text = f"{text} {user.signature}"
    if user.lowercase:
      text = text.lower()
    if self.d.typo_p:
      text = " ".join(self._misspell(w) if self.rnd.random() < self.d.typo_p
                      else w for w in text.split(" "))
    # One line, no field separator of the uir layout.
    return " ".join(text.replace("|", "/").split())

  def _misspell(self, word: str) -> str:
    """A common misspelling of ``word`` or a slip of one letter."""
    head = len(word) - len(word.lstrip(_PUNCT))
    tail = len(word.rstrip(_PUNCT))
    core = word[head:tail]
    if not core.isalpha() or len(core) < 3:
      return word
    known = ph.MISSPELLINGS.get(core.lower())
    if known:
      new = known[0].upper() + known[1:] if core[0].isupper() else known
    else:
      i = 1 + int(self.rnd.random() * (len(core) - 2))  # never the first
      kind = int(self.rnd.random() * 3)
      if kind == 0:  # two letters swapped
        new = core[:i] + core[i + 1] + core[i] + core[i + 2:]
      elif kind == 1:  # a letter dropped
        new = core[:i] + core[i + 1:]
      else:  # a letter doubled
        new = core[:i] + core[i] + core[i:]
    return word[:head] + new + word[tail:]

"""Recovering user-specific ratings from review text (paper §4.1).

The paper classifies reviews with CoreNLP into four types, rewrites or drops
them, and counts positive and negative words around photographic aspect
words to get five preference levels. CoreNLP is not available here; this
module implements the same protocol with VADER (vaderSentiment 3.3.2), a
rule-based sentiment scorer that handles negation ("not sharp", "isn't
great"), intensifiers ("very", "extremely"), dampeners ("a bit",
"slightly"), emoticons and emoji. Everything below is deterministic.

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
   "voted highest", "top marks". Then photographic idioms become single
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
import html
import math
import re
import unicodedata
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from preprocessing import features

# ---------------------------------------------------------------------------
# Constants of the rule (documented in the module docstring)
# ---------------------------------------------------------------------------
MAX_REVIEW_CHARS = 5000
# Levels: score < cut[0] -> 1, < cut[1] -> 2, < cut[2] -> 3, < cut[3] -> 4,
# else 5.
LEVEL_CUTS = (-0.5, -0.05, 0.3, 0.6)
# A type-II feeling needs |compound| >= this, else the review is type IV.
FEELING_BAND = 0.2
# An aspect clause is evaluable when |compound| >= this (VADER's own neutral
# threshold).
ASPECT_MIN_ABS_SCORE = 0.05
SUGGESTION_PENALTY = 0.3
BUT_BEFORE_WEIGHT = 0.5
BUT_AFTER_WEIGHT = 1.5

# Score talk: a dpchallenge vote of n (1..10) becomes the scoring token
# f"{VOTE_TOKEN}{n}" with valence VOTE_VALENCE[n - 1] (5, the middle of the
# scale, says nothing either way).
VOTE_TOKEN = "dpcvote"
# A sarcastic trailing "not" ("What a great idea... not.") becomes this word,
# which marks its sentence as sarcastic (``SARCASM_PATTERNS``).
SARCASM_MARK = "sarcasmnot"
VOTE_VALENCE = (-3.0, -2.6, -2.2, -1.4, 0.0, 1.0, 1.6, 2.2, 2.8, 3.2)
# Words that say "high"/"low" instead of a number ("I scored this low").
_VOTE_WORDS = {"highest": 9, "high": 8, "highly": 8, "higher": 7, "up": 7,
               "low": 3, "lower": 4, "lowest": 2, "down": 3}

# Aspect vocabulary: canonical aspect -> surface forms (lowercase). Multi-word
# forms match with spaces or dashes between words.
ASPECT_WORDS: Dict[str, Tuple[str, ...]] = {
    "shot": ("shot", "shots"),
    "composition": ("composition", "compositions", "compositional",
                    "composed", "compose", "composing", "comp"),
    "focus": ("focus", "focused", "focussed", "focusing", "focal point",
              "unfocused", "in focus"),
    "light": ("light", "lights", "lighting", "lit", "backlight", "backlit",
              "flare", "flares",
              "backlighting", "sidelight", "sidelit", "catchlight",
              "catchlights"),
    "angle": ("angle", "angles"),
    "color": ("color", "colors", "colour", "colours", "colored", "coloured",
              "coloring", "colouring", "colorful", "colourful"),
    "exposure": ("exposure", "exposures", "exposed", "overexposed",
                 "underexposed", "overexposure", "underexposure", "dark",
                 "darker", "darkness", "bright", "brighter", "brightness"),
    "sharpness": ("sharpness", "sharp", "sharper", "sharpest", "sharpening",
                  "sharpened", "oversharpened", "tack-sharp"),
    "contrast": ("contrast", "contrasts", "contrasty"),
    "detail": ("detail", "details", "detailed"),
    "background": ("background", "backgrounds", "bg", "backdrop",
                   "foreground"),
    "crop": ("crop", "crops", "cropped", "cropping"),
    "framing": ("framing", "frame", "framed", "frames", "headroom"),
    "depth of field": ("depth of field", "dof"),
    "bokeh": ("bokeh",),
    "tones": ("tone", "tones", "tonal", "toning", "toned"),
    "saturation": ("saturation", "saturated", "oversaturated",
                   "desaturated", "undersaturated", "desaturation"),
    "highlights": ("highlight", "highlights", "whites"),
    "shadows": ("shadow", "shadows", "blacks"),
    "subject": ("subject", "subjects", "point of interest"),
    "perspective": ("perspective", "perspectives", "viewpoint", "pov",
                    "point of view", "vantage point"),
    "processing": ("processing", "processed", "post-processing",
                   "postprocessing", "overprocessed", "pp", "editing",
                   "edited"),
    "noise": ("noise", "noisy", "grain", "grainy"),
    "white balance": ("white balance", "wb"),
    "texture": ("texture", "textures", "textured"),
    "lines": ("line", "lines", "leading lines", "diagonal", "diagonals"),
    "symmetry": ("symmetry", "symmetrical", "symmetric", "asymmetry"),
    "horizon": ("horizon", "horizons"),
    "blur": ("blur", "blurry", "blurred", "blurring", "motion blur", "motion"),
    "clarity": ("clarity",),
    "vignette": ("vignette", "vignetting", "vignetted"),
    "balance": ("balance", "balanced"),
    "placement": ("placement", "positioning"),
    "negative space": ("negative space",),
    "rule of thirds": ("rule of thirds", "thirds"),
    "dynamic range": ("dynamic range", "hdr"),
    "black and white": ("black and white", "b&w", "bw", "monochrome",
                        "mono"),
    "timing": ("timing",),
    "mood": ("mood", "moody", "atmosphere", "atmospheric"),
    "technique": ("technique", "technical", "technically", "execution",
                  "executed"),
    "reflection": ("reflection", "reflections"),
    "palette": ("palette", "hue", "hues"),
    "pose": ("pose", "posing", "posed"),
}

# VADER lexicon additions/corrections for photo critiques (VADER scale: about
# -4..4 per word).
DOMAIN_LEXICON: Dict[str, float] = {
    # positive craft words
    "sharp": 1.8, "sharper": 1.2, "sharpest": 1.8, "tack-sharp": 2.5,
    "crisp": 1.8, "creamy": 1.2, "pops": 1.5, "pop": 1.2, "punchy": 1.5,
    "balanced": 1.5, "spoton": 2.5, "vivid": 1.8, "dramatic": 1.2,
    "striking": 2.2, "evocative": 1.8, "ethereal": 1.5, "dreamy": 1.5,
    "captivating": 2.5, "sublime": 2.8, "masterful": 2.8, "stellar": 2.5,
    "exquisite": 2.8, "bravo": 2.0, "appealing": 1.8, "poignant": 1.2,
    "nailed": 2.0, "favourite": 2.0, "favourites": 1.8, "faved": 1.9,
    "eye-catching": 2.0, "stunner": 2.5, "works": 1.5, "worked": 1.2,
    "subtle": 1.0, "haunting": 1.5, "moody": 0.8, "grabs": 1.5, "grab": 1.0,
    "decent": 0.8, "appeal": 1.5, "lifeless": -1.8, "magical": 2.0,
    "magic": 1.8, "suits": 1.2, "hot": -1.0, "curious": 0.3,
    # negative craft words
    "blurry": -1.8, "unfocused": -1.8, "blown": -1.8, "washedout": -1.8,
    "washed": -1.0, "overexposed": -1.8, "underexposed": -1.8,
    "overprocessed": -2.0, "overdone": -1.8, "oversaturated": -1.8,
    "oversharpened": -1.8, "overcooked": -1.8, "overedited": -1.8,
    "noisy": -1.5, "noise": -1.0, "grainy": -1.2, "cluttered": -1.8,
    "busy": -1.0, "distracting": -1.8, "distracts": -1.5, "distract": -1.5,
    "tilted": -1.5, "crooked": -1.8, "skewed": -1.2, "muddy": -1.8,
    "flat": -1.2, "cramped": -1.5, "static": -0.8, "mushy": -1.5,
    "uneven": -1.2, "unnatural": -1.5, "lacks": -1.5, "lacking": -1.5,
    "heavyhanded": -1.8, "uninspiring": -1.8, "uninspired": -1.8,
    "halos": -1.0, "halo": -1.0, "artifacts": -1.2, "banding": -1.2,
    "fringing": -1.2, "snapshot": -0.8, "snapshotty": -1.2, "cliche": -1.2,
    "cliché": -1.2, "generic": -1.0, "bland": -1.5, "mediocre": -1.8,
    "awkward": -1.2, "spoil": -1.8, "spoils": -1.8, "spoiled": -1.8,
    "meh": -1.0, "average": -0.6,
    # critique slang a general-purpose lexicon reads the other way or not at
    # all ("killer light", "a cracking shot", "crunchy" over-sharpening)
    "killer": 1.8, "cracking": 2.0, "spectacular": 2.8, "professional": 1.5,
    "crunchy": -1.5, "clipped": -1.5, "clipping": -1.2, "garish": -1.8,
    "radioactive": -1.5, "cartoonish": -1.2, "plasticky": -1.5,
    "plastic": -1.0, "aberration": -1.5, "aberrations": -1.5, "cheesy": -1.2,
    "wonky": -1.5, "offbrief": -1.5, "epic": 2.5, "underwhelming": -1.5,
    "insufficient": -1.2, "shaky": -1.5, "slanted": -1.2, "keeper": 2.0,
    "clutter": -1.5, "unbalanced": -1.5, "issue": -1.0, "issues": -1.0,
    # noncommittal in critiques / context-dependent in photography
    "interesting": 0.5, "ok": 0.3, "okay": 0.3, "soft": 0.0, "lonely": 0.0,
    "gloomy": 0.0, "eerie": 0.5, "dark": 0.0, "negative-space": 0.0,
}
DOMAIN_LEXICON.update({f"{VOTE_TOKEN}{n}": v
                       for n, v in enumerate(VOTE_VALENCE, 1)})

# Common misspellings in critiques: word -> its misspellings, corrected in
# whole words of the scoring copy before the phrase rewrites ("beatiful
# compositon").
_MISSPELLINGS: Dict[str, Tuple[str, ...]] = {
    "beautiful": ("beatiful", "beautifull", "beutiful", "beautful",
                  "beautifal", "butiful"),
    "excellent": ("excellant", "excelent", "exellent"),
    "professional": ("proffesional", "profesional", "proffessional"),
    "composition": ("compositon", "compostion", "composistion",
                    "compisition"),
    "awesome": ("awsome", "awesom"), "gorgeous": ("gorgous", "georgous"),
    "incredible": ("increadible", "incredable"), "focus": ("focuse", "foucs"),
    "background": ("backround", "backgroud"), "bokeh": ("bokah", "boke"),
    "wonderful": ("wonderfull",), "lovely": ("lovley",),
    "brilliant": ("brillant",), "stunning": ("stunnig",),
    "detail": ("detial",), "details": ("detials",), "blurry": ("blury",),
    "blur": ("blurr",), "straight": ("strait",), "lighting": ("lightning",),
    "colour": ("colur",), "colours": ("colurs",), "color": ("collor",),
    "colors": ("collors",), "exposure": ("exposer",),
    "horizon": ("horizion",), "perspective": ("perspecitve",),
    "saturation": ("saturaton",), "sharpness": ("sharpnes",),
    "really": ("realy",), "nicely": ("nicley",),
    "definitely": ("definately",),
}
TYPO_FIXES: Dict[str, str] = {
    wrong: right for right, wrongs in _MISSPELLINGS.items() for wrong in wrongs}

# (pattern, replacement) rewrites applied (case-insensitively, in order) to
# the scoring copy of the text.
PHRASE_REWRITES: Tuple[Tuple[str, str], ...] = (
    (r"\s*(?:\.{2,}|\u2026|\s[-\u2013\u2014]+|,)\s*not\s*(?=[.!]|$)",
     " " + SARCASM_MARK),
    # "like" as a preposition is not a sentiment; discourse markers neither.
    (r"\b(looks?|looking|looked|seems?|seemed|feels?|felt|sounds?|something|"
     r"just|more|much|nothing)\s+like\b", r"\1 as"),
    (r"\b(?:to\s+be\s+honest|honestly|tbh|imho|imo|in\s+my\s+opinion)\b",
     ""),
    (r"\bnot\s+(?:really\s+)?my\s+cup\s+of\s+tea\b", "dislike"),
    (r"\bnot\s+(?:really\s+|quite\s+)?(?:to|for)\s+my\s+(?:taste|liking)\b",
     "dislike"),
    (r"\bnot\s+(?:really\s+|quite\s+)?(?:my\s+thing|for\s+me)\b", "dislike"),
    (r"\b(?:does|did|do)\s*(?:n'?t|\s+not)\s+(?:really\s+|quite\s+|much\s+)?"
     r"(?:work|do\s+(?:much|anything|it|a\s+lot))\s+for\s+me\b", "dislike"),
    (r"\b(?:does|did|do)\s*(?:n'?t|\s+not)\s+(?:really\s+|quite\s+)?"
     r"(?:grab|move|speak\s+to|appeal\s+to|excite|impress|hold)\s+me\b",
     "dislike"),
    (r"\b(?:does|did|do)\s*(?:n'?t|\s+not)\s+(?:really\s+|quite\s+)?"
     r"(?:work|come\s+together|gel|click)\b", "fails"),
    (r"\bno\s+(?:real\s+)?clear\b", "lacking a"),
    (r"\bleaves?\s+me\s+cold\b", "dislike"),
    (r"\bnot\s+(?:really\s+)?feeling\s+(?:it|this|that)\b", "dislike"),
    (r"\b(?:does|did|do)\s*(?:n'?t|\s+not)\s+(?:really\s+)?(?:say|mean)\s+"
     r"(?:much|anything|a\s+lot)\s+to\s+me\b", "dislike"),
    (r"\bjust\s+right\b", "spoton"),
    (r"\bnot\s+(?:one\s+of\s+)?(?:your|his|her|their|the)\s+"
     r"(?:best|strongest|finest)\b", "disappointing"),
    (r"\b(is|are|was|looks?|seems?)\s*(?:n'?t|\s+not)\s+(?:quite\s+|very\s+)?"
     r"(?:level|straight)\b", r"\1 tilted"),
    (r"\bfocus\s+(?:[\w']+\s+){0,6}?rather\s+than\b", "focus wrong"),
    (r"\bnothing\s+(?:is\s+|seems\s+|looks\s+)?(?:really\s+)?in\s+focus\b",
     "everything unfocused"),
    (r"\bnothing\s+(?:is\s+|seems\s+|looks\s+)?(?:really\s+)?sharp\b",
     "everything blurry"),
    (r"\b(is|are|was|were)\s*(?:n'?t|\s+not)\s+(?:quite\s+|really\s+)?"
     r"there\b", r"\1 lacking"),
    (r"\b(?:does|did|do)\s*(?:n'?t|\s+not)\s+(?:really\s+|quite\s+)?"
     r"(?:meet|fit|match|suit)\s+(?:the\s+|this\s+)?(?:challenge|topic|theme|"
     r"brief)(?:\s+topic)?\b", "offbrief"),
    # "to" for "too": "the lighting is to harsh".
    (r"\b(is|are|was|were|looks?|seems?|bit|way|far|tad|little|just|"
     r"slightly)\s+to\s+(?=(?:dark|bright|harsh|soft|busy|much|many|small|"
     r"big|tight|loose|close|flat|saturated|noisy|blurry|heavy|strong|"
     r"centered|centred|low|high|hot|warm|cold|red|blue|green|yellow|"
     r"shallow|contrasty)\b)", r"\1 too "),
    (r"\boff[\s-]+(?:topic|theme|brief)\b", "offbrief"),
    (r"\bnot\s+(?:really\s+)?(?:seeing|see)\s+(?:the\s+)?(?:challenge|topic|"
     r"theme)\b", "offbrief"),
    # praise by predicted result: "ribbon worthy", "should place high"
    (r"\bribbon[\s-]*(?:worthy|material|contender)\b", "superb"),
    (r"\b(?:should|will|deserves?\s+to|could)\s+(?:place|finish|score|do)\s+"
     r"(?:very\s+|really\s+)?(?:high|highly|well|top)\b", "superb"),
    (r"\b(?:hope|think|bet)\s+(?:this|it)\s+(?:ribbons|places)\b", "superb"),
    (r"\b(this|it|that)\s+rocks\b", r"\1 excels"),
    (r"\b(?:bang|dead)[\s-]+on\b", "spoton"),
    (r"\bdead[\s-]+(cent(?:er|re)d?)\b", r"\1"),
    (r"\bcamera\s+shake\b", "shaky blur"),
    (r"\blens\s+(flares?)\b", r"\1"),
    # "why so dark?" complains as "too dark" does
    (r"\bwhy\s+(?:is\s+(?:it|this|everything|the\s+\w+)\s+)?so\s+(?=\w)",
     "too "),
    # "What a shot!": admiration without a sentiment word
    (r"\bwhat\s+an?\s+(shot|capture|image|photo|picture|pic|moment|catch|"
     r"view|scene|composition|light|entry)\s*(?=[!.]|$)", r"great \1"),
    (r"\bhorizon\s+(?:is\s+)?(?:leans|leaning|slopes|sloping|slanting)\b",
     "horizon tilted"),
    (r"\b(?:leaning|sloping|slanted|slanting)\s+horizon\b", "tilted horizon"),
    (r"\bheavy\s+(?=(?:vignett\w*|processing|editing|edit|hdr|sharpening|"
     r"noise\s+reduction|saturation|contrast|filter|toning)\b)", "overdone "),
    (r"\b(?:not\s+enough|too\s+little)\b", "insufficient"),
    (r"\bsnapshot[\s-]?(?:like|ish|ty)\b", "snapshotty"),
    (r"\bsnap[\s-]+shot\b", "snapshot"),
    # "lacks a strong subject": the praise word is what is missing
    (r"\b(?:missing|lacking|lacks|lack)\s+(?:a\s+|an\s+|any\s+|some\s+)?"
     r"(?:(?:real|clear|strong|good|proper|obvious|nice|great)\s+)+",
     "lacks a "),
    # "a top 10 for me", "in my top 5": a vote, not a contest result
    (r"\b(?:a|in\s+my|my)\s+top\s+(?:ten|10|five|5|three|3|twenty|20)"
     r"(?:\s+(?:for\s+me|pick|vote))?\b", "a favourite"),
    (r"\btop\s+(?:ten|10|five|5|three|3|twenty|20)\s+for\s+me\b",
     "a favourite"),
    (r"\b(?:i'?ve\s+|have\s+)?seen\s+(?:it\s+|this\s+)?(?:done\s+)?"
     r"(?:much\s+|a\s+lot\s+|far\s+)?better\b", "mediocre"),
    (r"\bsharp\s+as\s+(?:a\s+)?tacks?\b", "tack-sharp"),
    (r"\btack\s+sharp\b", "tack-sharp"),
    (r"\bout\s+of\s+focus\b", "unfocused"),
    (r"\bsoft\s+focus\b", "unfocused"),
    (r"\bspot[\s-]+on\b", "spoton"),
    (r"\bblown[\s-]+out\b", "blown"),
    (r"\bwashed[\s-]+out\b", "washedout"),
    (r"\b(?:falls?|falling|fell)\s+short\b", "disappointing"),
    (r"\bheavy[\s-]+handed\b", "heavyhanded"),
    (r"\bover[\s-]+(done|processed|saturated|sharpened|exposed|cooked|"
     r"edited)\b", r"over\1"),
    (r"\bwell-(\w)", r"well \1"),
    (r"\bnegative[\s-]+space\b", "negative-space"),
    (r"\b(is|are|was|were|looks?|seems?|feels?|appears?|slightly|bit|little|"
     r"way|somewhat|just|tad|little)\s+off\b", r"\1 wrong"),
    (r"\b(light|lighting|glow)\s+(is|was|looks|seems|feels)\s+(\w+\s+)?soft\b",
     r"\1 \2 \3gentle"),
    (r"\bsoft(?=\s+(?:light|lighting|glow|tones?|colou?rs?|pastels?|palette|"
     r"bokeh|background|feel|mood|look)\b)", "gentle"),
    (r"\b(bit|slightly|little|too|somewhat|tad|rather|quite|very|overall|is|"
     r"are|looks?|seems?|appears?|was)\s+soft\b", r"\1 blurry"),
    (r"\bwould\s*(?:n'?t|\s+not)\s+change\s+(?:a\s+)?(?:thing|anything)\b",
     "perfect"),
    (r"\ba\s+bit\s+much\b", "overdone"),
    (r"\bnot\s+too\s+(?=\w)", "not "),
    (r"\btoo\s+(?:much|many)\b", "overdone"),
)

OFF_TOPIC_PATTERNS: Tuple[str, ...] = (
    # congratulations / results
    r"\bcongrat\w*", r"\bribbons?\b", r"\btop\s+(?:ten|10|five|5|20|twenty)\b",
    r"\bwell\s+deserved\b", r"\bplacing\b",
    # thanks / social
    r"\bthanks?\s+(?:you\s+)?(?:for|so\s+much|a\s+lot)\b", r"\bthank\s+you\b",
    r"\bthx\b", r"\bgood\s+luck\b", r"\bwelcome\s+(?:to|aboard|back)\b",
    r"\bhappy\s+(?:birthday|holidays|new\s+year|anniversary)\b",
    r"\b(?:please\s+)?comment\s+on\s+my\b", r"\bmy\s+entry\b",
    r"\byour\s+other\s+(?:entry|entries|shots?|photos?)\b",
    r"\bon\s+a\s+roll\b", r"\bsee\s+you\b",
    # challenge administration
    r"\brules?\b", r"\bdq\w*\b", r"\bdisqualif\w*", r"\bvalidation\b",
    r"\bbasic\s+editing\b", r"\badvanced\s+editing\b",
    r"\bchallenge\s+(?:topic|description|dates?)\b",
    # personal anecdotes
    r"\bmy\s+(?:grand\w+|mom|mum|mother|dad|father|wife|husband|son|"
    r"daughter|kids?|children|dog|cat|friend|brother|sister|family|aunt|"
    r"uncle|neighbou?r)\b",
    r"\b(?:i|we)\s+(?:was|were|went|lived|grew\s+up|visited|have\s+been|"
    r"used\s+to)\b", r"\bhoneymoon\b", r"\bvacation\b",
    r"\blast\s+(?:year|week|summer|winter|month|spring|fall|autumn)\b",
    r"\bbeen\s+there\b", r"\bi\s+miss\b",
    r"\bhope\s+you\s+(?:had|have|enjoy\w*|are|were|got|get)\b",
    r"\b(?:like|as|than)\s+mine\b",
    r"\breminds?\s+me\s+of\s+(?:my|our|home|when)\b",
    r"\byour\s+(?:portfolio|profile|gallery|next\s+(?:one|entry|shot|"
    r"photo))\b", r"\bcan'?t\s+wait\s+to\s+see\b",
    r"\b(?:we|i)\s+(?:have|had|own|owned)\s+(?:one|some|these|those|"
    r"a\s+similar)\b",
    r"\bin\s+(?:our|my)\s+(?:garden|yard|backyard|house|home|street|town|"
    r"neighbou?rhood)\b",
    r"\blong\s+time\s+no\s+see\b",
)

# Gear, settings and exif: off-topic in a clause that names no aspect or asks
# a question ("What lens did you use?"), but "Shooting at ISO 3200 made it
# very noisy" is still a critique of the noise.
GEAR_PATTERNS: Tuple[str, ...] = (
    r"\b(?:what|which)\s+(?:lens|camera|settings|focal\s+length|f-?stop|"
    r"aperture|iso|shutter|filter|body|gear|software)\b",
    r"\b(?:what|which)\s+(?:program|software|app|plugin|plug-in|preset|"
    r"action)\b",
    r"\blens(?:es)?\b", r"\bcameras?\b", r"\btripod\b", r"\bexif\b",
    r"\bsettings\b", r"\bf-?stop\b", r"\bf/\d", r"\biso\b",
    r"\bshutter\s+speed\b", r"\baperture\b", r"\bfocal\s+length\b",
    r"\b(?:nikon|canon|sony|fuji|fujifilm|olympus|pentax|leica|sigma|"
    r"tamron)\b", r"\b\d+\s?mm\b",
)

HEDGE_PATTERNS: Tuple[str, ...] = (
    r"\bnot\s+(?:quite\s+|really\s+|too\s+|so\s+)?sure\b", r"\bunsure\b",
    r"\b(?:don'?t|do\s+not)\s+know\b",
    r"\bcan'?t\s+(?:decide|tell|make\s+up\s+my\s+mind)\b",
    r"\bcannot\s+(?:decide|tell)\b", r"\bundecided\b",
    r"\bon\s+the\s+fence\b", r"\bmixed\s+feelings\b",
    r"\bback\s+and\s+forth\b", r"\bh+m+\b", r"\bi\s+wonder\b",
    r"\bwhether\b", r"\bnot\s+certain\b",
    r"\b(?:i'?m|i\s+am|am)\s+(?:a\s+bit\s+|really\s+|kind\s+of\s+)?torn\b",
    r"\btorn\s+(?:on|about|between)\b",
    r"\b(?:don'?t|do\s+not)\s+(?:really\s+)?(?:get|understand)\s+(?:it|this)\b",
    r"\bit\s+is\s+what\s+it\s+is\b", r"\bno\s+idea\b",
)

SUGGESTION_PATTERNS: Tuple[str, ...] = (
    r"\b(?:could|would|might)\s+(?:have\s+)?(?:be|been)\s+(?:a\s+bit\s+|"
    r"slightly\s+|even\s+|much\s+|a\s+little\s+)?(?:better|sharper|stronger|"
    r"nicer|improved|brighter|darker|tighter|more|less|cropped)\b",
    r"\bcould\s+(?:use|do\s+with|benefit)\b",
    r"\bwould\s+(?:have\s+)?(?:help|helped|improve|improved|benefit|"
    r"benefited)\b",
    r"\bwould\s+have\s+(?:liked|preferred|loved)\b",
    r"\bneeds?\s+(?!no\b|nothing\b)\w",
    r"\bshould\s+(?:have|be)\b",
    r"\b(?:i'?d|i\s+would)\s+(?:have\s+)?(?:crop|cropped|suggest|try|tried|"
    r"prefer|preferred|like\s+to\s+see|liked|moved|used)\b",
    r"\bif\s+only\b", r"\bi\s+wish\b",
    r"\btry\s+(?:to|a|using|shooting|cropping|moving|getting)\b",
    r"\bmaybe\s+(?:try|a\s+tighter|crop|more|less)\b",
    r"\bconsider\s+(?:cropping|using|a)\b",
    # an imperative at the start of a clause: "crop from the top", "dial
    # back the processing", "fix that"
    r"^\s*(?:crop|clone|remove|lose|fix|straighten|level|dial\s+(?:it\s+)?"
    r"(?:back|down)|tone\s+(?:it\s+)?down|lighten|darken|sharpen|brighten|"
    r"boost|reduce|watch|avoid)\b",
)

# Sarcasm ("Great, another sunset.", "Yet another cat.", "How original.",
# "Such a great idea... not."): every clause of the sentence reads as
# negative, score = -max(|score|, SARCASM_MIN_ABS_SCORE).
SARCASM_PATTERNS: Tuple[str, ...] = (
    r"\byet\s+another\b", r"\bhow\s+original\b",
    r"^\W*(?:oh\s+)?(?:great|wow|yay|joy|fantastic|super|brilliant|lovely|"
    r"perfect|awesome|nice)\W+(?:just\s+)?another\b",
    r"\boh\s+(?:great|joy)\b", r"\b" + SARCASM_MARK + r"\b",
)
SARCASM_MIN_ABS_SCORE = 0.3

# Words that name a person or animal (subject attributes -> type III when the
# photo itself is never mentioned).
SUBJECT_WORDS = frozenset("""
he she him his her hers boy boys girl girls man men woman women lady ladies
guy guys kid kids child children baby babies bride groom dog dogs puppy
puppies cat cats kitten kittens horse horses son daughter fellow gentleman
""".split())
PHOTO_REFERENT_WORDS = frozenset("""
photo photos photograph photographs photography pic pics picture pictures
image images shot shots entry entries capture captured portrait work job it
this it's this's
""".split())

_PRONOUN_STARTS = frozenset(
    ["it", "it's", "its", "this", "that", "that's", "they", "they're", "these",
     "those", "which"])
_LEADING_CONTRAST_RE = re.compile(
    r"^\s*(?:but|however|yet|still|that\s+said|nevertheless|nonetheless|"
    r"on\s+the\s+other\s+hand)\b[\s,]*", re.I)
_LEADING_CONCESSIVE_RE = re.compile(
    r"^\s*(?:although|though|even\s+though|while|whilst)\b\s*", re.I)
_INNER_CONTRAST_RE = re.compile(
    r",\s*(?:however|though)\s*,|,?\s*\bthough\s*$", re.I)
_BUT_RE = re.compile(r"\bbut\b", re.I)
# Sentence terminators; ";" is kept when it is part of an emoticon (";)").
_SENTENCE_RE = re.compile(r"(?:[^.!?;]|;(?=[)(\-DPp]))*(?:[.!?]+|;|$)")
_WORD_RE = re.compile(r"[\w'&-]+")
_TOO_RE = re.compile(r"\btoo\s+([\w-]+)", re.I)
_TOO_KEEP = frozenset(["cute", "funny", "good", "cool", "sweet", "adorable",
                       "lovely", "beautiful", "awesome", "great", "perfect"])


def _form_pattern(form: str) -> str:
  words = [re.escape(w) for w in form.split()]
  return r"[\s-]+".join(words)


def _aspect_regex() -> "re.Pattern[str]":
  forms = sorted({f for fs in ASPECT_WORDS.values() for f in fs},
                 key=len, reverse=True)
  return re.compile(r"(?<![\w-])(?:" + "|".join(_form_pattern(f)
                                                 for f in forms) +
                    r")(?![\w])", re.I)


_ASPECT_RE = _aspect_regex()
_FORM_TO_ASPECT = {re.sub(r"[\s-]+", " ", f): a
                   for a, fs in ASPECT_WORDS.items() for f in fs}
_OFF_TOPIC_RE = re.compile("|".join(OFF_TOPIC_PATTERNS), re.I)
_GEAR_RE = re.compile("|".join(GEAR_PATTERNS), re.I)
_HEDGE_RE = re.compile("|".join(HEDGE_PATTERNS), re.I)
_SUGGESTION_RE = re.compile("|".join(SUGGESTION_PATTERNS), re.I)
_SARCASM_RE = re.compile("|".join(SARCASM_PATTERNS), re.I)
_TYPO_RE = re.compile(r"\b(?:" + "|".join(TYPO_FIXES) + r")\b", re.I)
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
_VOTE_TOKEN_RE = re.compile(r"\b" + VOTE_TOKEN + r"\d+\b")
_VOTE_WORD_RE = re.compile(
    r"\b(?:i\s+)?(?:scored|voted|rated|marked|scoring|voting|rating)\s+"
    r"(?:it|this(?:\s+one)?|you)?\s*(?:quite\s+|very\s+|pretty\s+|"
    r"rather\s+|really\s+|so\s+)?(" + "|".join(_VOTE_WORDS) + r")\b"
    r"|\b(high|highest|low|lowest)\s+(?:score|vote|mark)s?\b"
    r"|\btop\s+(marks)\b", re.I)


def _vote_token(n: int) -> str:
  return f"{VOTE_TOKEN}{n}"


def _rewrite_votes(text: str) -> str:
  """Score talk -> ``VOTE_TOKEN`` words ("gave it a 3" -> "dpcvote3")."""
  for pattern in _VOTE_RES:
    text = pattern.sub(lambda m: " " + _vote_token(int(m.group(1))), text)

  def word_vote(m: "re.Match[str]") -> str:
    word = next(g for g in m.groups() if g).lower()
    return _vote_token(9 if word == "marks" else _VOTE_WORDS[word])

  return _VOTE_WORD_RE.sub(word_vote, text)
_REWRITES = tuple((re.compile(p, re.I), r) for p, r in PHRASE_REWRITES)


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
  """Cleaned review text (see the module docstring, step 1). Idempotent."""
  text = text[:MAX_REVIEW_CHARS * 4]
  for _ in range(16):
    new = _clean_once(text)
    if new == text:
      break
    text = new
  return text


def find_aspects(text: str) -> List[str]:
  """Canonical aspects named in ``text``, in order of first mention."""
  out: List[str] = []
  for m in _ASPECT_RE.finditer(text):
    aspect = _FORM_TO_ASPECT.get(re.sub(r"[\s-]+", " ", m.group(0).lower()))
    if aspect is not None and aspect not in out:
      out.append(aspect)
  return out


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


def _words(text: str) -> List[str]:
  return [w.lower() for w in _WORD_RE.findall(text)]


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
    text = _TYPO_RE.sub(lambda m: TYPO_FIXES[m.group(0).lower()], cleaned)
    text = _rewrite_votes(text)
    for pattern, repl in _REWRITES:
      text = pattern.sub(repl, text)
    lexicon = self.analyzer.lexicon

    def too(m: "re.Match[str]") -> str:
      word = m.group(1)
      low = word.lower()
      if low in _TOO_KEEP:
        return m.group(0)
      if lexicon.get(low, 0.0) > 0:
        # Keep the word for aspect matching, hide its valence from VADER.
        return f"overdone {word}-ish"
      return f"overdone {word}"

    return _TOO_RE.sub(too, text)

  def _clauses(self, text: str) -> List[_Clause]:
    clauses: List[_Clause] = []
    sentences = [m.group(0) for m in _SENTENCE_RE.finditer(text)
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
      sarcasm = bool(_SARCASM_RE.search(body))
      start = len(clauses)
      contrast_prev = False
      concessive = False
      m = _LEADING_CONCESSIVE_RE.match(body)
      if m and "," in body[m.end():]:
        concessive = True
        body = body[m.end():]
      else:
        m = _LEADING_CONTRAST_RE.match(body)
        if m:
          contrast_prev = True
          body = body[m.end():]
      if _INNER_CONTRAST_RE.search(body):
        contrast_prev = True
        body = _INNER_CONTRAST_RE.sub(",", body)
      # "but" inside the sentence.
      parts = _BUT_RE.split(body, maxsplit=1)
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
              _words(frag)[:1] != ["and"]):
            merged[-1] = (f"{last} {frag}", max(lw, w))
            continue
        merged.append((frag, w))
      if merged and bang:
        merged[-1] = (merged[-1][0] + bang, merged[-1][1])
      for frag, w in merged:
        aspects = tuple(find_aspects(frag))
        words = _words(frag)
        if (not aspects and words and words[0] in _PRONOUN_STARTS and
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
      c.off_topic = bool(_OFF_TOPIC_RE.search(c.text)) or bool(
          _GEAR_RE.search(c.text) and (c.question or not c.aspects))
      c.hedge = bool(_HEDGE_RE.search(c.text))
      c.suggestion = bool(_SUGGESTION_RE.search(c.text))
      c.vote = bool(_VOTE_TOKEN_RE.search(c.text))
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
    words = set(_words(cleaned))
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

"""Tests of preprocessing.rating: cleaning, §4.1 labelling, Eq. 7."""
from __future__ import annotations

import math
import pathlib
import pickle
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from preprocessing import features
from preprocessing import rating

I = features.REVIEW_TYPE_RULE
II = features.REVIEW_TYPE_FEELING
III = features.REVIEW_TYPE_OFF_TOPIC
IV = features.REVIEW_TYPE_EQUIVOCAL

# dpchallenge-style critiques: (text, expected type, expected good(1)/bad(0)
# for types I and II, None otherwise). Mixed reviews are labelled by the
# reviewer's overall verdict as a careful reader would judge it (for "X but
# Y" that is usually Y). "Shot" is one of the paper's aspect words, so
# "Great shot!" is a type-I review.
CRITIQUES = [
    # ---- type I, good -----------------------------------------------------
    ("The color is wonderful and the composition is great!", I, 1),
    ("Excellent depth of field, the bokeh is creamy and the subject really "
     "pops.", I, 1),
    ("Tack sharp focus on the eyes and lovely detail in the feathers.", I, 1),
    ("The colors are vibrant and the exposure is spot on.", I, 1),
    ("Nice framing with the arch, good use of leading lines.", I, 1),
    ("The lighting on her face is extremely well done.", I, 1),
    ("Strong composition, the diagonal lines lead the eye right to the "
     "subject.", I, 1),
    ("I really like the angle you chose, it gives a fresh perspective on a "
     "familiar scene.", I, 1),
    ("Subtle processing and beautiful tones throughout.", I, 1),
    ("Wonderful textures in the old wood, very well exposed.", I, 1),
    ("Nice symmetry, and the reflection is perfectly still.", I, 1),
    ("The background is nicely blurred and doesn't distract from the "
     "subject.", I, 1),
    ("Not bad at all, the exposure is pretty good.", I, 1),
    ("The composition isn't bad and the colors are pleasing.", I, 1),
    ("Great shot!", I, 1),
    ("Beautiful soft light, the highlights and shadows are well balanced.",
     I, 1),
    ("Love the contrast between the red door and the white wall.", I, 1),
    ("Great timing and the focus is perfect.", I, 1),
    ("The crop is tight but it works really well here.", I, 1),
    ("The b&amp;w conversion is superb, very nice tonal range.", I, 1),
    ("The colors aren't very strong, but the composition is excellent.", I, 1),
    ("Very well composed, the rule of thirds placement works nicely.", I, 1),
    ("Wow, that light is just gorgeous!", I, 1),
    ("Excellent detail and sharpness, a technically strong image.", I, 1),
    ("Great use of negative space.", I, 1),
    ("The eyes are sharp and the catchlights are lovely.", I, 1),
    ("Nice colors.", I, 1),
    ("Wonderful colors, although the horizon looks slightly tilted.", I, 1),
    ("Not the sharpest, but the mood is fantastic.", I, 1),
    ("Love the colours \U0001F60D", I, 1),
    ("The lighting is really very good.", I, 1),
    ("Lovely image, but I would have cropped out the pole on the right.",
     I, 1),
    ("Although the colors are a bit muted, the composition is really "
     "strong.", I, 1),
    # ---- type I, bad ------------------------------------------------------
    ("Not sharp enough, the focus seems to be on the background rather than "
     "the eyes.", I, 0),
    ("The focus isn't great and the horizon is tilted.", I, 0),
    ("Love the colors but the composition is weak.", I, 0),
    ("The highlights are completely blown out and the sky has no detail.",
     I, 0),
    ("Too much noise in the shadows, it looks like a high ISO shot.", I, 0),
    ("The composition feels cluttered, there's too much going on in the "
     "background.", I, 0),
    ("The horizon is crooked and it bothers me.", I, 0),
    ("Exposure is way off, the whole image is too dark.", I, 0),
    ("The colors look oversaturated and unnatural.", I, 0),
    ("The subject is too small in the frame and gets lost.", I, 0),
    ("The lighting is flat and the image lacks contrast.", I, 0),
    ("Nice idea, but the focus is soft and the crop cuts off his feet.",
     I, 0),
    ("The white balance is off, everything looks too blue.", I, 0),
    ("The processing is heavy handed and the halos are very distracting.",
     I, 0),
    ("Composition is rather static and boring.", I, 0),
    ("I find the angle awkward and the perspective distorted.", I, 0),
    ("Could be sharper, the details are mushy.", I, 0),
    ("The background is way too busy and distracts from the subject.", I, 0),
    ("Poor focus and harsh light ruin what could have been a good shot.",
     I, 0),
    ("The colours are muddy and the exposure is uneven.", I, 0),
    ("A tighter crop would have helped, the subject is lost in all that "
     "empty space.", I, 0),
    ("Sorry, but the image is out of focus.", I, 0),
    ("Colors are a bit washed out and the focus is slightly soft.", I, 0),
    ("The vignette is overdone and distracting.", I, 0),
    ("The sky is blown and the foreground is too dark, would have liked "
     "better exposure.", I, 0),
    ("Nice pov, but the tilted horizon spoils it for me.", I, 0),
    ("I like the concept but the execution falls short; the lighting is "
     "harsh.", I, 0),
    ("The DOF is too shallow, only the nose is in focus.", I, 0),
    ("Too dark for my taste.", I, 0),
    ("The composition is extremely weak.", I, 0),
    ("The focus is off \U0001F615", I, 0),
    ("Nice try, but the composition doesn't work.", I, 0),
    ("I'd have liked to see a bit more of the building on the left.", I, 0),
    # ---- type II, good ----------------------------------------------------
    ("I like this photo!", II, 1),
    ("Beautiful!", II, 1),
    ("Wow, stunning!", II, 1),
    ("Love it, fave!", II, 1),
    ("What a lovely moment.", II, 1),
    ("Very nice, one of my favorites this round.", II, 1),
    ("Gorgeous image, it really grabs my attention.", II, 1),
    ("This makes me smile :)", II, 1),
    ("Fantastic work!!!", II, 1),
    ("Simply breathtaking.", II, 1),
    ("I love this picture so much.", II, 1),
    ("Very cool photo.", II, 1),
    ("Awesome, really impressive!", II, 1),
    ("This is gorgeous, well done!", II, 1),
    ("Wonderful entry, good job.", II, 1),
    ("Beautiful! Where was this taken?", II, 1),
    # ---- type II, bad -----------------------------------------------------
    ("Not my cup of tea.", II, 0),
    ("This just doesn't work for me, sorry.", II, 0),
    ("Boring.", II, 0),
    ("Nothing special here.", II, 0),
    ("I don't like this photo.", II, 0),
    ("Doesn't do much for me.", II, 0),
    ("Sorry, but this photo is rather dull and uninspiring.", II, 0),
    ("A very weak entry, I'm afraid.", II, 0),
    ("Ugly picture, sorry.", II, 0),
    ("I don't get it, and I don't like it either.", II, 0),
    ("Disappointing.", II, 0),
    ("Sorry, it just doesn't grab me.", II, 0),
    ("Meh.", II, 0),
    # ---- type III, off-topic ----------------------------------------------
    ("How handsome the boy is!", III, None),
    ("Congrats on the ribbon!", III, None),
    ("Thanks for the comment on my entry.", III, None),
    ("What lens did you use for this?", III, None),
    ("Good luck in the challenge!", III, None),
    ("My grandmother had a cat just like this one.", III, None),
    ("How cute is that puppy!", III, None),
    ("I was in Paris last year, such a great city.", III, None),
    ("Which camera and settings did you use?", III, None),
    ("Congratulations on your first top ten finish, well deserved!", III,
     None),
    ("She looks so happy, what a sweet girl.", III, None),
    ("Welcome to DPChallenge!", III, None),
    ("Is this within the basic editing rules?", III, None),
    ("Thanks for sharing the setup details in your notes.", III, None),
    ("That dog is adorable!", III, None),
    ("I have the same lens and love it.", III, None),
    ("Happy birthday to your son!", III, None),
    ("Please comment on my entry too if you have time.", III, None),
    ("Saw your other entry too, you're on a roll this week!", III, None),
    ("LOL, my cat would never sit still like that.", III, None),
    # ---- type IV, equivocal -----------------------------------------------
    ("Do you live in the steeple?", IV, None),
    ("Hmm, not sure what to think about this one.", IV, None),
    ("Interesting.", IV, None),
    ("What is it?", IV, None),
    ("Is that a bird in the upper corner?", IV, None),
    ("Did you stage this or was it a lucky moment?", IV, None),
    ("I keep going back and forth on this one.", IV, None),
    ("Not sure how I feel about the colors.", IV, None),
    ("Hmm...", IV, None),
    ("Ok.", IV, None),
    ("Where was this taken?", IV, None),
    ("I can't decide whether I like it or not.", IV, None),
    ("Different.", IV, None),
    ("Not sure about the composition.", IV, None),
    ("It is what it is.", IV, None),
    ("Which one is the real one?", IV, None),
    ("Hmm, I wonder what this would look like in color.", IV, None),
    ("Is it a painting or a photo?", IV, None),
]

# Held-out sets. The rules were written against CRITIQUES; each set below was
# written afterwards, measured once before any rule change (numbers in the
# comment), and only general fixes (lexicon/phrase gaps, e.g. VADER reading
# "looks like" as a positive "like") were made afterwards. HELDOUT_D was
# never tuned on.
# First measurement: type 0.908 (59/65), label on kept 0.952 (40/42).
HELDOUT_B = [
    ("Beautiful colors and a very pleasing composition.", I, 1),
    ("The sunset colors are rich, but the foreground is a black blob.", I, 0),
    ("Good job on the exposure, it's hard to get snow right.", I, 1),
    ("I like how the light falls on the petals.", I, 1),
    ("Horizon isn't level.", I, 0),
    ("The main subject is too centered for me, try using the rule of thirds.",
     I, 0),
    ("Great capture of the motion, the blur adds a lot.", I, 1),
    ("The reflection in the water is a great touch, nice symmetry.", I, 1),
    ("Lighting is harsh and the shadows under her eyes are unflattering.",
     I, 0),
    ("This would be stronger with a bit more contrast.", I, 0),
    ("Very nice detail in the stone.", I, 1),
    ("Focus appears to be on the fence rather than the bird.", I, 0),
    ("The tones are gorgeous and the grain really suits the subject.", I, 1),
    ("Composition is nice, but the image is rather noisy.", I, 0),
    ("Love the bokeh!", I, 1),
    ("Colours are a bit dull and lifeless.", I, 0),
    ("Awesome perspective, really makes the building look massive.", I, 1),
    ("The crop feels awkward, the top of her head is cut off.", I, 0),
    ("The shot is underexposed and the subject is lost in the shadows.", I, 0),
    ("Outstanding clarity and the colors are true to life.", I, 1),
    ("The background is distracting; a wider aperture would have blurred it "
     "out.", I, 0),
    ("Superb lighting!", I, 1),
    ("The sky is nice but the rest of the picture is too dark to see "
     "anything.", I, 0),
    ("Perfect timing, and the framing is excellent.", I, 1),
    ("I really dislike the heavy vignette.", I, 0),
    ("Like the idea, the execution is poor though.", I, 0),
    ("Pretty colors.", I, 1),
    ("Great shot, well composed and well exposed.", I, 1),
    ("The lines draw the eye nicely into the frame.", I, 1),
    ("Too much going on, no clear subject.", I, 0),
    ("Stunning photo, I love it!", II, 1),
    ("This is just amazing.", II, 1),
    ("Cute!", II, 1),
    ("Not very impressive.", II, 0),
    ("Sorry, I don't see the appeal.", II, 0),
    ("Brilliant!", II, 1),
    ("Great entry, one of my top votes.", II, 1),
    ("Lovely.", II, 1),
    ("I just don't care for this one.", II, 0),
    ("Really nice work here.", II, 1),
    ("Not one of your best.", II, 0),
    ("Very creative, well done.", II, 1),
    ("Bland, sorry.", II, 0),
    ("What a beautiful picture!", II, 1),
    ("Too cliché for me.", II, 0),
    ("Great job on your first entry! Welcome aboard.", III, None),
    ("Is that your daughter? She is gorgeous.", III, None),
    ("Thanks for the help with my last entry.", III, None),
    ("What f-stop did you use here?", III, None),
    ("Your kids are adorable.", III, None),
    ("Congrats on the win!", III, None),
    ("I love Venice, we went there on our honeymoon.", III, None),
    ("Did you use a tripod for this?", III, None),
    ("This doesn't meet the challenge rules, in my opinion.", III, None),
    ("Poor little guy looks cold!", III, None),
    ("What is that thing on the left?", IV, None),
    ("Hmm, is it upside down?", IV, None),
    ("How did you do this?", IV, None),
    ("Unusual.", IV, None),
    ("I'm not sure what I'm looking at.", IV, None),
    ("So what is the story here?", IV, None),
    ("Not sure if I like the colors or not.", IV, None),
    ("Where is this?", IV, None),
    ("I'm undecided on this one.", IV, None),
    ("OK, I guess.", IV, None),
]

# First measurement: type 0.846 (44/52), label on kept 0.875 (28/32).
HELDOUT_C = [
    ("nice colours but its a bit soft", I, 0),
    ("Lovely warm light. The composition is a little static though, maybe "
     "try a lower angle next time.", I, 0),
    ("wow the detail in this is incredible", I, 1),
    ("I think the image would benefit from some sharpening, it looks "
     "slightly out of focus at full size.", I, 0),
    ("Strong image. The b&w really suits the subject and the contrast is "
     "just right.", I, 1),
    ("The focus is spot on and the background is beautifully smooth.", I, 1),
    ("Too much empty space at the top, I'd crop that out.", I, 0),
    ("The exposure is good but the colors look a bit flat to me.", I, 0),
    ("gr8 shot m8", I, 1),
    ("Really love the mood in this one, the fog adds so much.", I, 1),
    ("The horizon cuts the image right in half, which makes it feel static.",
     I, 0),
    ("Beautiful capture, the lighting is magical.", I, 1),
    ("The highlights on the forehead are a little hot.", I, 0),
    ("Very clean processing and excellent sharpness.", I, 1),
    ("The angle makes the building look like it's falling over.", I, 0),
    ("Great texture in the bark, the side lighting really brings it out.",
     I, 1),
    ("Color balance is off, skin looks orange.", I, 0),
    ("The composition works well, leading the eye along the river.", I, 1),
    ("The dof is too narrow; only one eye is sharp.", I, 0),
    ("Fantastic silhouette, the colors of the sky are amazing.", I, 1),
    ("Good idea but poorly executed, the lighting is uneven.", I, 0),
    ("The whites are blown.", I, 0),
    ("Very nice shot, well done!", I, 1),
    ("This is lovely, 8 from me.", II, 1),
    ("I don't like it at all.", II, 0),
    ("superb!!", II, 1),
    ("Sorry, just not feeling this one.", II, 0),
    ("This is one of my favourites in the challenge.", II, 1),
    ("So peaceful and calming.", II, 1),
    ("Kind of boring to be honest.", II, 0),
    ("A real winner in my book.", II, 1),
    ("It's nice.", II, 1),
    ("Doesn't really say much to me.", II, 0),
    ("Awful.", II, 0),
    ("A very clever take on the challenge, I love it.", II, 1),
    ("Thanks for the kind words on my shot!", III, None),
    ("Are you using the new 50mm?", III, None),
    ("My son would love this, he is crazy about trains.", III, None),
    ("Congratulations on the blue ribbon, well earned.", III, None),
    ("He looks like a very kind old man.", III, None),
    ("I grew up near this lighthouse!", III, None),
    ("Good luck!", III, None),
    ("What a handsome dog!", III, None),
    ("What program did you use to edit this?", III, None),
    ("Is this HDR?", IV, None),
    ("What am I looking at here?", IV, None),
    ("Hmm, I'm on the fence with this one.", IV, None),
    ("Curious.", IV, None),
    ("Why the title?", IV, None),
    ("I don't know what to make of it.", IV, None),
    ("Is that real or photoshopped?", IV, None),
    ("How long did you wait for this?", IV, None),
]

# Measured once, never tuned on: type 0.979 (47/48), label 1.000 (32/32).
HELDOUT_D = [
    ("The framing is a bit loose, there's a lot of dead space on the right.",
     I, 0),
    ("Colors are gorgeous, really rich and saturated.", I, 1),
    ("Great lighting, though the horizon is not straight.", I, 1),
    ("I love the leading lines and the sense of depth.", I, 1),
    ("Your subject blends into the background too much.", I, 0),
    ("The processing looks overdone to me, the HDR halos are everywhere.",
     I, 0),
    ("Focus is tack sharp, great job.", I, 1),
    ("The crop is awkward and the colors are off.", I, 0),
    ("Nicely exposed, good detail in both the highlights and shadows.", I, 1),
    ("Love the composition, very dynamic.", I, 1),
    ("A bit too much noise for my liking.", I, 0),
    ("The perspective is interesting but the shot is blurry.", I, 0),
    ("Lighting could be better, the face is in shadow.", I, 0),
    ("Awesome colours and superb clarity!", I, 1),
    ("the exposure is way too bright, lost all the detail in the clouds", I, 0),
    ("The symmetry here is just perfect.", I, 1),
    ("The angle is boring, shot from eye level.", I, 0),
    ("Gorgeous tones and lovely soft focus on the background.", I, 1),
    ("Composition is cramped, the subject needs room to breathe.", I, 0),
    ("Very good use of light and shadow.", I, 1),
    ("Such a wonderful photo!", II, 1),
    ("Ugh, not for me.", II, 0),
    ("Absolutely love this!", II, 1),
    ("This one leaves me cold.", II, 0),
    ("Very striking.", II, 1),
    ("Sorry, this looks like a snapshot.", II, 0),
    ("Really impressive work.", II, 1),
    ("Not great.", II, 0),
    ("This is fun!", II, 1),
    ("Dull.", II, 0),
    ("Great job!", II, 1),
    ("I'm not a fan.", II, 0),
    ("Thank you for voting on my photo.", III, None),
    ("Congrats on your first ribbon!", III, None),
    ("Did you shoot this with a macro lens?", III, None),
    ("My dad used to have a car like that.", III, None),
    ("Such a cute baby!", III, None),
    ("Good luck in the voting!", III, None),
    ("Which filter did you use?", III, None),
    ("Is this a composite?", IV, None),
    ("What kind of flower is this?", IV, None),
    ("Hmm.", IV, None),
    ("Not sure.", IV, None),
    ("Is this in Iceland?", IV, None),
    ("I can't tell what the subject is supposed to be.", IV, None),
    ("Okay.", IV, None),
    ("Who is the guy in the back?", IV, None),
    ("Odd one.", IV, None),
]

TYPE_ACCURACY_MIN = 0.85
LABEL_ACCURACY_MIN = 0.90
# Per-set floors (type accuracy, label accuracy on kept): the accuracies
# measured before the issue-10 changes (dev 132/133, 94/95; B 65/65, 44/45;
# C 52/52, 33/35; D 47/48, 32/32), so that no change may lower them.
CLASSIFIER_FLOORS = {"dev": (0.992, 0.989), "heldout_b": (1.0, 0.977),
                     "heldout_c": (1.0, 0.942), "heldout_d": (0.979, 1.0)}
# Sets nobody tunes on: their individual misses are never printed.
NEVER_TUNED = frozenset(["heldout_d", "e_heldout", "f_fresh", "g_heldout"])

# ---------------------------------------------------------------------------
# Outcome sets in tests/data: "<good|bad|III|IV>\t<text>" a line.
# ---------------------------------------------------------------------------
_DATA_DIR = pathlib.Path(__file__).parent / "data"
GOOD, BAD = "good", "bad"
_OUTCOMES = (GOOD, BAD, III, IV)


def _read_outcome_set(name: str):
  """(text, expected outcome) pairs of ``tests/data/<name>``."""
  path = _DATA_DIR / name
  rows = []
  for lineno, line in enumerate(
      path.read_text(encoding="utf-8").splitlines(), 1):
    if not line.strip() or line.startswith("#"):
      continue
    outcome, tab, text = line.partition("\t")
    if not tab or outcome not in _OUTCOMES or not text.strip():
      raise ValueError(f"{path}:{lineno}: expected '<good|bad|III|IV>"
                       f"<tab><critique>', got {line!r}")
    rows.append((text, outcome))
  return rows


def _in_development_half(text: str) -> bool:
  """The fixed split of set E: even CRC-32 of the text -> development."""
  return zlib.crc32(text.encode("utf-8")) % 2 == 0


# Set E (tests/data/critiques_e.tsv): 218 critiques in the idiom issue 10
# names ("a bit soft", "nailed it", "overcooked HDR", sarcasm, typos, "a 3
# from me", ...), written before the labeler was changed for them. The
# rules were then tuned on its development half (and CRITIQUES) only.
# First measurement, good/bad/drop (good vs bad where both kept):
#   development half 0.820 (91/111) (0.919, 57/62),
#   held-out half    0.850 (91/107) (0.922, 71/77).
# After tuning: development 1.000 (111/111), held-out 0.907 (97/107) (0.951,
# 77/81).
SET_E = _read_outcome_set("critiques_e.tsv")
SET_E_DEV = [row for row in SET_E if _in_development_half(row[0])]
SET_E_HELDOUT = [row for row in SET_E if not _in_development_half(row[0])]
# Set F (tests/data/critiques_f.tsv): 66 critiques written after the tuning
# was done, measured once, never tuned on. First (and only) measurement:
# good/bad/drop 0.970 (64/66), good vs bad where both kept 0.978 (44/45),
# III vs IV where both dropped 18/20.
SET_F = _read_outcome_set("critiques_f.tsv")
# Set G (tests/data/critiques_g.tsv): 61 critiques of colloquial praise
# ("insane detail", "this is sick", "no notes", "stopped me in my tracks")
# and the same words in complaints ("the noise is insane", "sick of HDR",
# "the vignette kills it"), written before the labeler was changed for them
# (rating recovery had read about a fifth of the hard demo preset's good
# critiques as bad: such praise). Split like set E. First measurement,
# good/bad/drop (good vs bad where both kept):
#   development half 0.679 (19/28) (18/23),
#   held-out half    0.697 (23/33) (22/31);
# the rules (critique_lexicon.SLANG_REWRITES and the slang words of
# DOMAIN_LEXICON) were then written for the development half's misses and
# the idiom in general. After: development 0.929 (26/28) (25/25), held-out
# 0.970 (32/33) (31/32). The held-out half's misses were printed once, at
# the first measurement, so it is less clean a test than set F.
SET_G = _read_outcome_set("critiques_g.tsv")
SET_G_DEV = [row for row in SET_G if _in_development_half(row[0])]
SET_G_HELDOUT = [row for row in SET_G if not _in_development_half(row[0])]


def _as_outcomes(data):
  """(text, type, label) rows -> (text, good/bad/III/IV) rows."""
  return [(text, t if label is None else (GOOD if label else BAD))
          for text, t, label in data]


def _outcome(got: rating.LabeledReview) -> str:
  if got.kept:
    return GOOD if got.label else BAD
  return got.review_type


def _coarse(outcome: str) -> str:
  """good / bad / drop (types III and IV are both dropped)."""
  return outcome if outcome in (GOOD, BAD) else "drop"


SETS = {"dev": CRITIQUES, "heldout_b": HELDOUT_B, "heldout_c": HELDOUT_C,
        "heldout_d": HELDOUT_D}
OUTCOME_SETS = {name: _as_outcomes(data) for name, data in SETS.items()}
OUTCOME_SETS.update(e_dev=SET_E_DEV, e_heldout=SET_E_HELDOUT, f_fresh=SET_F,
                    g_dev=SET_G_DEV, g_heldout=SET_G_HELDOUT)
# Good/bad/drop accuracy floors: issue 10 asks >= 0.90 on the never-tuned
# sets; the older sets keep their accuracy before the issue-10 changes (dev
# 132/133, B 64/65, C 50/52, D 47/48); set E's development half, tuned on,
# keeps a margin.
OUTCOME_ACCURACY_MIN = {
    "dev": 0.992, "heldout_b": 0.984, "heldout_c": 0.961, "heldout_d": 0.90,
    "e_dev": 0.95, "e_heldout": 0.90, "f_fresh": 0.90,
    "g_dev": 0.90, "g_heldout": 0.90,
}


@pytest.fixture(scope="module")
def labeler() -> rating.ReviewLabeler:
  return rating.ReviewLabeler()


def test_labelled_sets_are_large_and_balanced():
  assert len(CRITIQUES) >= 60
  everything = [item for data in SETS.values() for item in data]
  texts = [text for text, _, _ in everything]
  assert len(set(texts)) == len(texts), "duplicate critique"
  # Sets E and F were written without looking at the older sets: four short
  # remarks of E recur there ("Hmm...", "Where was this taken?", ...).
  new_texts = [text for text, _ in SET_E + SET_F + SET_G]
  assert len(set(new_texts)) == len(new_texts), "duplicate critique"
  assert len(set(new_texts) & set(texts)) <= 4
  assert len(SET_E) >= 200 and len(SET_F) >= 60 and len(SET_G) >= 60
  assert len(SET_E_DEV) + len(SET_E_HELDOUT) == len(SET_E)
  assert min(len(SET_E_DEV), len(SET_E_HELDOUT)) >= 0.4 * len(SET_E)
  types = [t for _, t, _ in CRITIQUES]
  for t in (I, II, III, IV):
    assert types.count(t) >= 10
  for text, t, label in everything:
    assert t in (I, II, III, IV), text
    assert (label is None) == (t in (III, IV)), text


def _accuracy(labeler, data):
  """(type hits, n, label hits on kept, kept with a label, misses)."""
  type_hits = kept = label_hits = 0
  misses = []
  for text, want_type, want_label in data:
    got = labeler.label(text)
    if got.review_type == want_type:
      type_hits += 1
    else:
      misses.append(f"type {got.review_type} != {want_type}: {text}")
    # Label accuracy is measured on reviews that should be kept and were.
    if want_label is not None and got.kept:
      kept += 1
      if got.label == want_label:
        label_hits += 1
      else:
        misses.append(f"label {got.label} != {want_label} "
                      f"(score {got.score:+.3f}): {text}")
  return type_hits, len(data), label_hits, kept, misses


def test_classifier_accuracy(labeler):
  totals = [0, 0, 0, 0]
  print()
  for name, data in SETS.items():
    type_hits, n, label_hits, kept, misses = _accuracy(labeler, data)
    for i, v in enumerate((type_hits, n, label_hits, kept)):
      totals[i] += v
    print(f"[rating] {name:9s} n={n:3d}  type accuracy "
          f"{type_hits / n:.3f} ({type_hits}/{n})  label accuracy on kept "
          f"{label_hits / kept:.3f} ({label_hits}/{kept})")
    if name not in NEVER_TUNED:
      for miss in misses:
        print("    miss:", miss)
    type_min, label_min = CLASSIFIER_FLOORS[name]
    assert type_hits / n >= max(type_min, TYPE_ACCURACY_MIN), name
    assert label_hits / kept >= max(label_min, LABEL_ACCURACY_MIN), name
  type_hits, n, label_hits, kept = totals
  print(f"[rating] all       n={n:3d}  type accuracy {type_hits / n:.3f}  "
        f"label accuracy on kept {label_hits / kept:.3f}")
  assert type_hits / n >= TYPE_ACCURACY_MIN
  assert label_hits / kept >= LABEL_ACCURACY_MIN


def _outcome_accuracy(labeler, rows):
  """(good/bad/drop hits, good-vs-bad hits where both kept, both kept,
  drop-type hits, drops, misses)."""
  hits = gb_hits = gb_n = type_hits = drops = 0
  misses = []
  for text, want in rows:
    got = labeler.label(text)
    have = _outcome(got)
    hits += _coarse(have) == _coarse(want)
    if want in (GOOD, BAD) and have in (GOOD, BAD):
      gb_n += 1
      gb_hits += have == want
    if want in (III, IV) and have in (III, IV):
      drops += 1
      type_hits += have == want
    if have != want:
      misses.append(f"{have} != {want} (score {got.score:+.3f}): {text}")
  return hits, gb_hits, gb_n, type_hits, drops, misses


def test_outcome_accuracy(labeler):
  """Good/bad/drop accuracy per set; held-out misses are never printed."""
  print()
  failed = []
  for name, rows in OUTCOME_SETS.items():
    hits, gb_hits, gb_n, type_hits, drops, misses = _outcome_accuracy(
        labeler, rows)
    n = len(rows)
    acc = hits / n
    print(f"[rating] {name:9s} n={n:3d}  good/bad/drop {acc:.3f} "
          f"({hits}/{n})  good-vs-bad where both kept "
          f"{gb_hits / max(gb_n, 1):.3f} ({gb_hits}/{gb_n})  III-vs-IV "
          f"where both dropped {type_hits}/{drops}  "
          f"(floor {OUTCOME_ACCURACY_MIN[name]:.3f})")
    if name not in NEVER_TUNED:
      for miss in misses:
        print("    miss:", miss)
    if acc < OUTCOME_ACCURACY_MIN[name]:
      failed.append(f"{name}: {acc:.3f} < {OUTCOME_ACCURACY_MIN[name]:.3f}")
  assert not failed, failed


def test_outcomes_are_consistent(labeler):
  # Whatever the type, (type, level, label, score) must be consistent.
  for text, _, _ in (item for data in SETS.values() for item in data):
    got = labeler.label(text)
    if got.kept:
      assert got.level in range(1, features.NUM_PREFERENCE_LEVELS + 1)
      assert got.label == int(got.level >= features.GOOD_MIN_LEVEL)
      assert -1.0 <= got.score <= 1.0
    else:
      assert got.level is None and got.label is None


def test_type_ii_text_is_rewritten(labeler):
  good = labeler.label("I like this photo!")
  bad = labeler.label("Not my cup of tea.")
  assert good.review_type == II and good.text == features.FEELING_REWRITE[1]
  assert bad.review_type == II and bad.text == features.FEELING_REWRITE[0]


def test_type_i_keeps_cleaned_text_and_aspects(labeler):
  got = labeler.label("  The colors &amp; light\n are   wonderful!  ")
  assert got.review_type == I
  assert got.text == "The colors & light are wonderful!"
  assert set(got.aspects) >= {"color", "light"}
  assert got.label == 1 and got.level >= 4


@pytest.mark.parametrize("text,label", [
    ("The focus is sharp.", 1),
    ("The focus is not sharp.", 0),
    ("The focus isn't great.", 0),
    ("The focus is not bad at all.", 1),
    ("The composition is good.", 1),
    ("The composition is very good.", 1),
    ("The composition is not very good.", 0),
])
def test_negation(labeler, text, label):
  got = labeler.label(text)
  assert got.review_type == I, text
  assert got.label == label, (text, got)


def test_intensifiers_move_the_level(labeler):
  plain = labeler.label("The lighting is good.")
  boosted = labeler.label("The lighting is extremely good.")
  damped = labeler.label("The lighting is kind of good.")
  assert boosted.score > plain.score > damped.score
  assert boosted.level >= plain.level >= damped.level


def test_but_shifts_the_verdict(labeler):
  a = labeler.label("Love the colors but the composition is weak.")
  b = labeler.label("The composition is weak but I love the colors.")
  assert a.label == 0 and b.label == 1


@pytest.mark.parametrize("text,want", [
    ("gave it a 7", GOOD), ("I gave this a 6.", GOOD), ("a 3 from me", BAD),
    ("Great shot, 9/10.", GOOD), ("5 from me.", IV),
    ("Nice colours but a 3 from me, the focus is soft.", BAD),
    ("Congrats on the ribbon, 9 from me!", GOOD),  # a vote keeps it
    ("I scored this low because the horizon is tilted.", BAD),
    ("Scored high for the colours.", GOOD),
    ("Exposure of 10 seconds made it too bright.", BAD),  # not a vote
    ("great, another sunset", BAD), ("Such a clever idea... not.", BAD),
    ("Another great shot from you!", GOOD),
    ("great compositon", GOOD), ("focuse is off", BAD),
    ("the lightning is to harsh", BAD),
    ("Killer light!", GOOD), ("Looks crunchy.", BAD), ("clipped whites", BAD),
    ("Why so dark?", BAD),  # no booster on a 0-valence word
    ("Shooting at ISO 3200 made it very noisy.", BAD),
    ("What lens did you use?", III), ("Hi, simply fabulous.", GOOD),
])
def test_critique_idiom(labeler, text, want):
  assert _outcome(labeler.label(text)) == want, text


def test_levels_and_labels():
  assert [rating.level_from_score(s) for s in
          (-1.0, -0.51, -0.5, -0.06, -0.05, 0.0, 0.29, 0.3, 0.59, 0.6, 1.0)
          ] == [1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5]
  assert [rating.label_from_level(lv) for lv in range(1, 6)] == [
      0, 0, 1, 1, 1]
  assert len(rating.LEVEL_CUTS) == features.NUM_PREFERENCE_LEVELS - 1


def test_find_aspects_morphology():
  assert rating.find_aspects("Great Composition, nice colours and DOF") == [
      "composition", "color", "depth of field"]
  assert rating.find_aspects("the depth-of-field and white  balance") == [
      "depth of field", "white balance"]
  assert rating.find_aspects("lovely highlights, deep shadows") == [
      "highlights", "shadows"]
  assert rating.find_aspects("a photograph of my dog") == []


def test_labeler_pickles_without_analyzer(labeler):
  labeler.label("Great light.")  # analyzer created
  clone = pickle.loads(pickle.dumps(labeler))
  assert clone._analyzer is None
  assert clone.label("Great light.") == labeler.label("Great light.")


def test_module_functions(labeler):
  assert rating.classify_review("Congrats on the ribbon!") == III
  assert rating.label_review("Boring.") == labeler.label("Boring.")


# ---------------------------------------------------------------------------
# Cleaning
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("raw,want", [
    ("  a\n\tb  c ", "a b c"),
    ("Tom &amp; Jerry &lt;3", "Tom & Jerry <3"),
    ("&amp;lt;b&amp;gt;", "<b>"),
    ("nul\x00byte\x07bell", "nulbytebell"),
    ("zero\u200bwidth", "zerowidth"),
    ("fam\U0001F468\u200d\U0001F469\u200d\U0001F467 ok",
     "fam\U0001F468\u200d\U0001F469\u200d\U0001F467 ok"),
    ("caf\u0065\u0301", "caf\u00e9"),
    ("line\u2028sep", "line sep"),
])
def test_clean_review_text(raw, want):
  assert rating.clean_review_text(raw) == want


def test_clean_caps_length():
  text = "word " * 5000
  out = rating.clean_review_text(text)
  assert len(out) <= rating.MAX_REVIEW_CHARS
  assert out == out.strip()


# ---------------------------------------------------------------------------
# Eq. 7
# ---------------------------------------------------------------------------
def test_consistency_eq7_hand_computed():
  # image A: b=1, s=[1,1,0] -> 2/3 agree
  # image B: b=0, s=[0,1]   -> 1/2 agree
  # image C: b=1, s=[1]     -> 1/1 agree
  # image D: b=0, s=[]      -> excluded (no recovered rating)
  # C = 2/3 + 1/2 + 1 = 13/6; divided by 3 images -> 13/18 = 0.7222...
  pairs = [(1, [1, 1, 0]), (0, [0, 1]), (1, [1]), (0, [])]
  assert rating.consistency_eq7(pairs) == pytest.approx(13 / 18)


def test_consistency_eq7_edges():
  assert math.isnan(rating.consistency_eq7([]))
  assert math.isnan(rating.consistency_eq7([(1, []), (0, [])]))
  assert rating.consistency_eq7(iter([(0, (0, 0)), (1, (1,))])) == 1.0
  assert rating.consistency_eq7([(0, [1]), (1, [0, 0])]) == 0.0
  with pytest.raises(ValueError):
    rating.consistency_eq7([(2, [1])])
  with pytest.raises(ValueError):
    rating.consistency_eq7([(1, [1, 3])])


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------
_PROPERTY_SETTINGS = settings(max_examples=150, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
_critique_words = st.sampled_from(
    ["the", "focus", "is", "not", "very", "sharp", "but", "colors", "love",
     "too", "dark", ",", ".", "?", "!", "however", "although", "hmm",
     "congrats", "lens", "she", "photo", "it", "would", "have", "helped",
     "&amp;", "\U0001F60D", ":)", ";)", "out", "of", "soft", "light", "off"])


@_PROPERTY_SETTINGS
@given(st.text(max_size=300))
def test_clean_is_idempotent_and_safe(text):
  once = rating.clean_review_text(text)
  assert rating.clean_review_text(once) == once
  assert len(once) <= rating.MAX_REVIEW_CHARS
  once.encode("utf-8")  # no lone surrogates
  assert "\n" not in once and "\x00" not in once


@_PROPERTY_SETTINGS
@given(st.one_of(st.text(max_size=200),
                 st.lists(_critique_words, max_size=30).map(" ".join)))
def test_labeler_never_crashes(text):
  got = _PROPERTY_LABELER.label(text)
  assert got.review_type in (I, II, III, IV)
  assert -1.0 <= got.score <= 1.0
  if got.kept:
    assert got.level in range(1, 6)
    assert got.label == int(got.level >= features.GOOD_MIN_LEVEL)
    if got.review_type == II:
      assert got.text == features.FEELING_REWRITE[got.label]
  else:
    assert got.level is None and got.label is None


_PROPERTY_LABELER = rating.ReviewLabeler()


@pytest.mark.parametrize("text,said", [
    ("Too dark and a bit soft, but the colours really pop.", (-1, -1, 1, 0)),
    ("Nicely centred subject, tack-sharp!", (0, 1, 0, 1)),
    ("Not sharp at all, the eye is out of focus.", (0, -1, 0, 0)),
    ("Blown highlights; try the rule of thirds.", (1, 0, 0, -1)),
    ("Lovely muted tones, shame it is blurry and dark.", (-1, -1, -1, 0)),
    ("Sharp here, soft there.", (0, 0, 0, 0)),  # a tie says nothing
    ("Great shot, well done!", (0, 0, 0, 0)),
    ("The darkness of the sharpener.", (0, 0, 0, 0)),  # whole words only
])
def test_said_states_read_what_a_critique_says_the_photo_looks_like(text,
                                                                    said):
  from preprocessing import critique_text  # pylint: disable=g-import-not-at-top
  assert critique_text.said_states(text) == said
  code = features.encode_said(said)
  assert 0 <= code < 3 ** len(features.SAID_ATTRIBUTES)
  assert tuple(features.decode_said(code, a)
               for a in range(len(features.SAID_ATTRIBUTES))) == said


def test_encode_said_refuses_states_outside_the_contract():
  with pytest.raises(ValueError, match="said states"):
    features.encode_said((2, 0, 0, 0))
  with pytest.raises(ValueError, match="said states"):
    features.encode_said((1, 0))

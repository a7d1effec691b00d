"""Phrase tables of the dpchallenge-style review writer."""
from __future__ import annotations

import re
from typing import Dict, Tuple

INTENS = ("", "", "", "", "really ", "very ", "so ", "extremely ", "quite ",
           "absolutely ", "incredibly ")
STRONG_INTENS = ("really ", "very ", "so ", "extremely ", "absolutely ",
                  "incredibly ")
POS = ("great", "lovely", "wonderful", "beautiful", "excellent", "superb",
        "nice", "gorgeous", "fantastic", "awesome", "brilliant", "amazing",
        "pleasing", "fabulous", "terrific", "perfect", "stunning", "elegant")
NEG = ("distracting", "harsh", "dull", "messy", "weak", "boring",
        "disappointing", "poor", "unpleasant", "flawed", "bad", "annoying")
# Milder words for the minority clause of a mixed review.
POS_MILD = ("nice", "fine", "good", "cool", "solid")
NEG_MILD = ("awkward", "distracting", "odd", "strange", "a little weak")

# (aspect, state, polarity) -> clause templates. Slots: {I} intensifier,
# {P} positive adjective, {N} negative adjective, {S} subject noun phrase.
CLAUSES: Dict[Tuple[str, str, int], Tuple[str, ...]] = {
    ("focus", "sharp", 1): (
        "{S} is {I}tack sharp, {P} detail",
        "the focus is spot on, {P} sharpness",
        "{I}{P} detail on {S}",
        "love how crisp the focus is",
        "the sharpness is {I}{P}",
        "{P} focus, every detail in {S} is crisp",
        "the detail is {I}{P}, sharp as a tack",
        "I love the crisp detail",
        "excellent focus and {P} detail",
        "the focus on {S} is {I}{P}",
    ),
    ("focus", "sharp", 0): (
        "the focus is {I}harsh, it feels cold and clinical",
        "everything is so sharp that it feels {I}{N}",
        "the sharpness is almost {N}, I miss a softer touch",
        "I don't like the crisp, clinical focus here",
        "too much detail, {S} looks {I}{N}",
        "the focus is a bit too hard and {N} for my taste",
        "the detail is {I}{N}, it needs some softness",
    ),
    ("focus", "soft", 1): (
        "love the soft, dreamy focus",
        "the soft focus gives {S} a {I}{P} dreamy feel",
        "the gentle blur is {I}{P}",
        "{P} use of soft focus",
        "the dreamy softness is {I}{P}",
        "I love the shallow focus and the soft feel",
        "the blur works {I}well here, {P} mood",
        "the soft focus on {S} is {I}{P}",
    ),
    ("focus", "soft", 0): (
        "the focus is not sharp enough, which is a pity",
        "sadly the focus is not sharp enough",
        "{S} is {I}blurry, which is a shame",
        "unfortunately the focus is soft on {S}",
        "the focus seems off and {S} looks {I}{N}",
        "I don't like the soft focus here",
        "the lack of sharpness is {I}disappointing",
        "sadly the focus missed {S}",
        "the sharpness is lacking, {S} looks {N}",
        "the focus is {I}{N}, {S} is blurry",
    ),
    ("light", "bright", 1): (
        "{I}{P} bright, airy light",
        "love the light on {S}",
        "the exposure is {I}{P}",
        "the lighting is bright and {P}",
        "{P} high-key exposure",
        "the light is {I}{P}, it really glows",
        "I love how bright and clean the lighting is",
        "the light on {S} is {I}{P}",
    ),
    ("light", "bright", 0): (
        "the highlights are blown out, which is {I}distracting",
        "it looks overexposed and the light is {I}harsh",
        "the lighting is too harsh on {S}",
        "I don't like the exposure, it is overexposed",
        "the exposure is off, {S} is washed out and {N}",
        "the light is {I}harsh and the highlights are lost",
        "the exposure is {I}{N}, the highlights are gone",
    ),
    ("light", "dark", 1): (
        "love the moody low-key lighting",
        "the dark exposure gives it a {I}{P} mood",
        "{P} use of light and shadow",
        "the low-key light on {S} is {I}{P}",
        "the shadows are {I}{P}, very dramatic lighting",
        "I love the dark, rich exposure",
        "the light is {I}{P}, dark and rich",
    ),
    ("light", "dark", 0): (
        "the exposure is too dark and {N}",
        "{S} is lost in the shadows, {N} lighting",
        "I don't like the lighting, it is {I}gloomy",
        "it looks underexposed and {I}dull",
        "the light is {I}dull and flat",
        "the exposure is a problem, {S} is too dark",
        "the lighting is {I}{N}, everything is murky",
    ),
    ("color", "vivid", 1): (
        "the colors {I}pop, {P}",
        "love the {I}vibrant colors",
        "{P} color palette",
        "the colors are {I}{P} and rich",
        "{P} saturation on {S}",
        "the color on {S} is {I}{P}",
        "I love the bold colors",
    ),
    ("color", "vivid", 0): (
        "the colors are oversaturated and {I}{N}",
        "the color feels garish and {N}",
        "too much saturation, {S} looks {I}{N}",
        "I don't like the colors, they are {I}harsh",
        "the color is overdone, a bit of a mess",
        "the saturation is {I}{N}",
    ),
    ("color", "muted", 1): (
        "lovely muted tones",
        "the subtle color palette is {I}{P}",
        "{P} soft pastel colors",
        "love the understated color",
        "the gentle tones of {S} are {I}{P}",
        "the quiet colors are {I}{P}",
    ),
    ("color", "muted", 0): (
        "the colors are {I}dull and flat",
        "the color looks washed out and {N}",
        "I don't like the color here, it is {I}lifeless and {N}",
        "the colors lack punch, {I}{N}",
        "the color of {S} is {I}dull",
        "the colors are {N}, everything looks grey",
    ),
    ("color", "mono", 1): (
        "{P} tonal range in the black and white",
        "the monochrome conversion is {I}{P}",
        "love the tones in this B&W",
        "the black and white treatment is {I}{P}",
        "{P} choice to go monochrome",
    ),
    ("color", "mono", 0): (
        "the black and white conversion is {I}flat and {N}",
        "the tones are muddy and {N}",
        "I don't like the gray tones, they look {N}",
        "the monochrome is {I}dull, it needs more contrast",
        "the B&W treatment is {N}, I miss the color",
    ),
    ("composition", "centred", 1): (
        "{P} composition, the centered subject is {I}strong",
        "love the symmetry with {S} right in the middle",
        "placing {S} right in the center is {I}{P} here",
        "the centered framing is {I}{P}",
        "{P} balance, {S} sits right where it should",
        "the composition is {I}{P}, nice and symmetrical",
    ),
    ("composition", "centred", 0): (
        "the composition is {I}static with {S} dead center, {N}",
        "{S} is dead center, which is {I}boring",
        "I don't like the composition, {S} is stuck in the middle",
        "the centered placement feels {I}{N}",
        "the framing is {N}, try the rule of thirds",
        "the bullseye composition is {I}{N}",
    ),
    ("composition", "thirds", 1): (
        "{P} use of the rule of thirds",
        "the composition is {I}{P}",
        "love the placement of {S}",
        "{P} framing and balance",
        "the crop is {I}{P}, {S} sits on the thirds",
        "the off-center placement of {S} is {I}{P}",
    ),
    ("composition", "thirds", 0): (
        "the composition feels {I}{N}, {S} is pushed to the side",
        "{S} is off to the side and the frame feels {I}empty",
        "I don't like the composition",
        "the framing is {I}{N}, too much empty space",
        "the crop is {N}, {S} is lost at the edge",
        "the placement of {S} is {I}{N}",
    ),
    ("background", "", 1): (
        "the background is {I}clean and {P}",
        "{P} background, it really sets off {S}",
        "love the simple background",
        "the background is {I}{P}",
    ),
    ("background", "", 0): (
        "the background is {I}distracting",
        "the background is busy and {N}",
        "I don't like the cluttered background",
        "the background is {I}{N}, it competes with {S}",
    ),
    ("angle", "", 1): (
        "{P} angle",
        "the angle is {I}{P}",
        "love the low angle on {S}",
        "{P} POV on {S}",
    ),
    ("angle", "", 0): (
        "the angle is {I}awkward and {N}",
        "I don't like the angle",
        "the angle is {N}, try getting lower",
    ),
    ("contrast", "", 1): (
        "the contrast is {I}{P}",
        "{P} contrast",
        "love the contrast on {S}",
    ),
    ("contrast", "", 0): (
        "the contrast is {I}weak",
        "the contrast is flat and {N}",
        "I don't like the contrast",
    ),
    ("shot", "", 1): (
        "{P} shot",
        "what a {I}{P} shot",
        "{I}{P} shot of {S}",
        "{P} capture of {S}",
    ),
    ("shot", "", 0): (
        "the shot is {I}weak overall",
        "a {N} shot, sorry",
        "the shot fails to grab me",
    ),
    ("detail", "", 1): (
        "{P} detail in {S}",
        "the detail is {I}{P}",
    ),
    ("detail", "", 0): (
        "the detail in {S} is {I}{N}",
        "the detail is lost, {N}",
    ),
    ("crop", "", 1): (
        "the crop is {I}{P}",
        "{P} tight crop",
    ),
    ("crop", "", 0): (
        "the crop is {I}{N}",
        "the crop is too tight, {N}",
    ),
}
ATTR_ASPECT = ("light", "focus", "color", "composition")
GENERIC_ASPECTS = ("background", "angle", "contrast", "shot", "detail",
                    "crop")

FEELING_POS = (
    "I love this!", "Wow, just wow.", "Beautiful!", "This is {I}{P}.",
    "Love it!", "Gorgeous, fave!", "This makes me smile.",
    "{P} work, well done!", "{P}! One of my favorites in this challenge.",
    "Just {I}{P}.", "Lovely image, I really enjoy it.",
    "Awesome, great job!", "Very nice entry!", "Now this is {P}!",
    "Simply {P}.", "I really like this one.", "Wow! Love it.",
)
FEELING_NEG = (
    "Sadly, not for me.", "Sorry, I just don't get it.", "Meh.",
    "It doesn't do much for me, sorry.", "I don't like it, sorry.",
    "Boring, sorry.", "Sorry, this one is not for me.",
    "Not my cup of tea, sorry.", "Unfortunately it doesn't grab me.",
    "I really don't like this one.", "Sadly this one leaves me cold.",
    "This is {I}{N}, sorry.", "Disappointing entry.",
    "Not impressed, sorry.", "Sorry, it just looks {N} to me.",
)
OFF_TOPIC = (
    "Congrats on the ribbon!", "What lens did you use?",
    "How handsome the boy is!", "Where was this taken?",
    "Is that your {PET}?", "Thanks for the comment on my entry!",
    "Good luck in the challenge!", "What camera did you use for this?",
    "Did you use a tripod?", "I have been to {PLACE} too, such a fun trip!",
    "Happy birthday to your daughter!", "Welcome to DPC!",
    "Is this the same spot as your last entry?",
    "How long did it take to set this up?",
    "My grandmother had a vase just like that.",
    "Congrats on your first ribbon!", "What a cute {PET}!",
    "Say hi to your {PET} for me.", "Was this taken in RAW?",
    "Did you make that yourself?", "See you at the next meetup!",
    "That must have been a long hike!", "Are you the one in the picture?",
    "Is this near {PLACE}?", "My kids would love this place.",
)
EQUIVOCAL = (
    "Do you live in the steeple?", "Hmm.", "Hmm...", "Interesting.",
    "I see.", "OK.", "Well...", "What is it?", "Not sure.",
    "Hmm, I wonder.", "So this is it?", "Huh.", "Why?", "Okay then.",
    "Is this a {THING}?",
)
PETS = ("dog", "cat", "horse", "parrot", "rabbit", "puppy", "kitten")
PLACES = ("Paris", "Yosemite", "Venice", "the Alps", "Maine", "Kyoto",
           "Cornwall", "Iceland", "Big Sur", "Prague")
THINGS = ("teapot", "bridge", "toy", "mirror", "lamp", "window")
OPEN_POS = ("Nice one!", "Wow!", "Very nice.", "Great entry!",
             "Oh, I like this.", "Beautiful image.")
OPEN_NEUTRAL = ("Hi!", "Hello,", "Hi,", "Hello there.", "Let me see.")
OPEN_NEG = ("Sorry,", "Hmm.", "Sorry to say,")
CLOSE_POS = ("Good luck!", "Well done.", "Great job!", "Fave!",
              "Nice work.", "Keep it up!", "Congrats!")
CLOSE_NEUTRAL = ("Just my 2 cents.", "IMHO.", "JMHO.", "Keep shooting.",
                  "That's how I see it.")
CLOSE_NEG = ("Sorry.", "Sorry, just my opinion.", "Sorry about that.")
EMOJI_POS = ("\U0001F60D", "\U0001F642", "\U0001F44D", "\U0001F60A")
EMOJI_NEG = ("\U0001F615", "\U0001F641")
A_AN = re.compile(r"\b([Aa]) ([aeiouAEIOU])")

# --------------------------------------------------------------------------
# Critique idiom (realistic and hard presets): the sentiment of these is
# plain to a photographer and wrong or absent in a general-purpose lexicon.
# Keyed like CLAUSES; GENERIC_IDIOM serves any aspect.
# --------------------------------------------------------------------------
IDIOM: Dict[Tuple[str, str, int], Tuple[str, ...]] = {
    ("focus", "soft", 0): (
        "{S} is a bit soft", "focus is a tad soft on {S}",
        "the eyes are soft", "looks like camera shake",
        "the focus landed on the background", "{S} is just a hair soft",
        "a bit soft for my taste",
    ),
    ("focus", "sharp", 1): (
        "sharp as a tack", "{S} is tack sharp", "razor sharp on {S}",
        "crisp as can be", "the detail on {S} is insane",
    ),
    ("light", "bright", 0): (
        "blown highlights", "the sky is blown", "the highlights are clipped",
        "a bit hot on the highlights", "the whites are gone",
        "{S} is cooked by the sun",
    ),
    ("light", "dark", 0): (
        "the shadows are blocked up", "it's a touch dark",
        "underexposed by a stop or so", "{S} is sitting in mud",
        "needs a stop more light",
    ),
    ("light", "bright", 1): (
        "killer light", "the light is insane", "that light on {S} is sick",
        "crazy light", "the light is ridiculous",
    ),
    ("light", "dark", 1): (
        "killer low-key light", "the shadows are wicked",
        "that moody light kills",
    ),
    ("color", "vivid", 0): (
        "a tad oversaturated", "the colors are a bit radioactive",
        "the greens look plasticky", "the saturation slider went to 11",
    ),
    ("color", "muted", 0): (
        "the white balance is way off", "the skin tones are orange",
        "the color cast is heavy", "it's a bit muddy",
    ),
    ("color", "vivid", 1): (
        "the colors are insane", "wicked colors", "bonkers color",
        "the colors are dead on",
    ),
    ("composition", "centred", 0): (
        "bullseye framing", "{S} is parked dead center",
        "too much dead space around {S}",
    ),
    ("composition", "thirds", 0): (
        "too much going on", "a tad busy", "the horizon is crooked",
        "{S} is cut off at the edge", "{S} is too small in the frame",
    ),
    ("composition", "centred", 1): (
        "you nailed the symmetry", "dead center and it works",
        "the framing is dead on",
    ),
    ("composition", "thirds", 1): (
        "you nailed the composition", "spot on framing",
        "no wasted space", "{S} sits right on the thirds, nailed it",
    ),
}
GENERIC_IDIOM: Dict[int, Tuple[str, ...]] = {
    0: ("noisy", "lots of noise in the shadows", "a bit noisy",
        "looks overprocessed", "the HDR is overcooked",
        "heavy-handed processing", "the crop feels cramped",
        "a halo around {S}", "too much going on", "a tad busy",
        "the vignette is heavy", "it's a snapshot"),
    1: ("nailed it", "this kills", "wicked shot", "this is sick",
        "stopped me dead", "no notes", "nothing I'd change",
        "a keeper", "killer shot", "insane detail"),
}
# Bad judgements worded as praise.
SARCASM = (
    "Great, another sunset.", "Wow, so original.", "Oh good, more HDR.",
    "Just what the world needs, another shot of {S}.",
    "Love how {S} is completely out of focus. Bold choice.",
    "Nice snapshot. Very brave entry.", "Amazing, I can barely see {S}.",
    "Sure, because the rule of thirds is optional.",
    "Perfect, if you like mud.", "Brilliant. Another tilted horizon.",
    "Lovely, a blurry {S}. Exactly what I hoped for.",
)
# More off-topic and equivocal text of the realistic presets.
OFF_TOPIC_MORE = (
    "Thanks for voting on mine!", "Same camera as mine!",
    "Shot with the 50mm?", "Is this the same lake as last week?",
    "Saw this one on the front page.", "First time commenting here.",
    "Did you shoot this in manual?", "What time of day was this?",
)
EQUIVOCAL_MORE = (
    "I go back and forth on this one.", "Not sure what to make of it.",
    "Has potential.", "Interesting processing.", "Hmm, different.",
    "Could go either way.", "Not sure it fits the challenge.",
    "I keep coming back to it, not sure why.",
)
# Misspellings common in the comments, besides random letter slips.
MISSPELLINGS = {
    "definitely": "definately", "really": "realy", "beautiful": "beautifull",
    "focus": "focous", "exposure": "exposer", "composition": "compostion",
    "separate": "seperate", "too": "to", "its": "it's", "lose": "loose",
    "nice": "nise", "great": "grate", "background": "backround",
    "colors": "colros", "lighting": "lightning", "sharp": "sharpe",
}

"""Critique vocabulary of the §4.1 review rating (``preprocessing.rating``).

Data only: the photographic aspect words, VADER lexicon additions, common
misspellings, phrase rewrites and the regular-expression cue lists
(off-topic, gear, hedge, suggestion, sarcasm) that ``preprocessing.rating``
and ``preprocessing.critique_text`` read. How each table is used is
documented in the ``preprocessing.rating`` module docstring.
"""
from __future__ import annotations

from typing import Dict, Tuple

# Score talk: a dpchallenge vote of n (1..10) becomes the scoring token
# f"{VOTE_TOKEN}{n}" with valence VOTE_VALENCE[n - 1] (5, the middle of the
# scale, says nothing either way).
VOTE_TOKEN = "dpcvote"
# A sarcastic trailing "not" ("What a great idea... not.") becomes this word,
# which marks its sentence as sarcastic (``SARCASM_PATTERNS``).
SARCASM_MARK = "sarcasmnot"
VOTE_VALENCE = (-3.0, -2.6, -2.2, -1.4, 0.0, 1.0, 1.6, 2.2, 2.8, 3.2)
# Words that say "high"/"low" instead of a number ("I scored this low").
VOTE_WORDS = {"highest": 9, "high": 8, "highly": 8, "higher": 7, "up": 7,
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
    # colloquial praise; its complaint uses ("the noise is insane", "sick of
    # HDR") are rewritten first (SLANG_REWRITES, the first of PHRASE_REWRITES)
    "sick": 2.0, "insane": 2.0, "wicked": 1.8, "unreal": 2.0,
    "ridiculous": 1.5, "bonkers": 1.8, "nuts": 1.5, "crazy": 1.2,
    # noncommittal in critiques / context-dependent in photography
    "interesting": 0.5, "ok": 0.3, "okay": 0.3, "soft": 0.0, "lonely": 0.0,
    "gloomy": 0.0, "eerie": 0.5, "dark": 0.0, "negative-space": 0.0,
}
DOMAIN_LEXICON.update({f"{VOTE_TOKEN}{n}": v
                       for n, v in enumerate(VOTE_VALENCE, 1)})

# Common misspellings in critiques: word -> its misspellings, corrected in
# whole words of the scoring copy before the phrase rewrites ("beatiful
# compositon").
MISSPELLINGS: Dict[str, Tuple[str, ...]] = {
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
    wrong: right for right, wrongs in MISSPELLINGS.items() for wrong in wrongs}

# Flaws a critique can call "insane" or "ridiculous" in complaint: the
# slang words are praise (DOMAIN_LEXICON) except next to one of these.
_FLAW = (r"(?:noise|grain|graininess|blur|blurriness|halos?|haloing|"
         r"vignett\w*|hdr|saturation|sharpening|processing|editing|tilt|"
         r"dust(?:\s+spots?)?|spots|aberrations?|fringing|banding|"
         r"artifacts?|artefacts?|distortion|clipping|cast|glare|shake|"
         r"smudges?|clutter|crop|cropping)")
_SLANG = r"(?:insane|ridiculous|crazy|nuts|wicked|bonkers|mental|sick|unreal)"
# Colloquial praise and its complaint uses, rewritten before the rest (the
# complaints first, so that what is left of the slang words is praise).
SLANG_REWRITES: Tuple[Tuple[str, str], ...] = (
    # complaints: "an insane amount of noise", "the noise is insane",
    # "sick of HDR", "makes me sick", "insane noise levels"
    (r"\b(?:an?\s+)?" + _SLANG + r"\s+(?:amount|amounts|levels?)\s+of\b",
     "too much"),
    (r"\b(" + _FLAW + r"(?:\s+(?:in|on|of|around|at|along)\s+(?:the\s+)?"
     r"\w+)?)\s+(?:is|are|was|were|looks?|seems?)\s+(?:just\s+|so\s+|"
     r"pretty\s+|really\s+|a\s+bit\s+)?" + _SLANG + r"\b",
     r"\1 is distracting"),
    (r"\b" + _SLANG + r"\s+(?=" + _FLAW + r"\b)", "overdone "),
    (r"\bsick\s+(?:and\s+tired\s+)?of\b", "tired of"),
    (r"\bmakes?\s+me\s+(?:a\s+(?:bit|little)\s+|slightly\s+|feel\s+)?sick\b",
     "repels me"),
    # "wicked heavy", "crazy good", "insanely sharp": an intensifier
    (r"\b(?:insanely|ridiculously|stupidly|crazy|wicked|mental)\s+(?=(?:good|"
     r"great|sharp|smooth|crisp|clean|detailed|vivid|rich|heavy|strong|dark|"
     r"bright|noisy|soft|blurry|busy|tight|flat|dull|beautiful|nice|well)\b)",
     "very "),
    # "the vignette kills it" stays a complaint (VADER reads "kills" so);
    # "this kills", "your portraits kill", "the expression kills me": praise
    (r"\b(?!(?:" + _FLAW + r")\b)(\w+)\s+(?:really\s+|just\s+)?kills?\s*"
     r"(?:me\s*)?(?=[.!,;]|$)", r"\1 excels"),
    (r"\b(?:you|u)\s+(?:really\s+|totally\s+|absolutely\s+)?killed\s+it\b",
     "you nailed it"),
    (r"^\s*killed\s+it\b", "nailed it"),
    (r"\bno\s+notes\b", "flawless"),
    (r"\bnothing\s+(?:i'?d|i\s+would|i\s+could|to)\s+change\b", "perfect"),
    (r"\bstop(?:s|ped)?\s+me\s+(?:dead|cold|in\s+my\s+tracks)\b",
     "captivates me"),
    (r"\b(this|it|that)(?:\s+is|'s)\s+(?:straight\s+|pure\s+|just\s+)?fire\b",
     r"\1 is superb"),
)

# (pattern, replacement) rewrites applied (case-insensitively, in order) to
# the scoring copy of the text.
PHRASE_REWRITES: Tuple[Tuple[str, str], ...] = SLANG_REWRITES + (
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
# negative, score = -max(|score|, ``rating.SARCASM_MIN_ABS_SCORE``).
SARCASM_PATTERNS: Tuple[str, ...] = (
    r"\byet\s+another\b", r"\bhow\s+original\b",
    r"^\W*(?:oh\s+)?(?:great|wow|yay|joy|fantastic|super|brilliant|lovely|"
    r"perfect|awesome|nice)\W+(?:just\s+)?another\b",
    r"\boh\s+(?:great|joy)\b", r"\b" + SARCASM_MARK + r"\b",
)

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

# A clause opening with one of these words refers back to the aspects of
# the previous clause of its sentence ("The crop is tight but it works").
PRONOUN_STARTS = frozenset(
    ["it", "it's", "its", "this", "that", "that's", "they", "they're", "these",
     "those", "which"])
# "too X" with one of these X is praise ("too cute"), not a complaint.
TOO_KEEP = frozenset(["cute", "funny", "good", "cool", "sweet", "adorable",
                      "lovely", "beautiful", "awesome", "great", "perfect"])

# What a critique says the photo looks like (features.SAID_KEY): for each of
# features.SAID_ATTRIBUTES, the forms that say it is low and those that say it
# is high. Plain photographic vocabulary; a form is matched as whole words
# (spaces or dashes between the words of a multi-word form), the longest form
# at a position first, so "not sharp" and "out of focus" count as low
# sharpness and not as "sharp" or "focus".
SAID_FORMS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "brightness": (
        ("dark", "darker", "too dark", "underexposed", "under exposed",
         "underexposure", "dim", "murky", "gloomy", "muddy", "low key",
         "shadowy"),
        ("bright", "brighter", "overexposed", "over exposed", "overexposure",
         "blown", "blown out", "blown highlights", "airy", "high key",
         "washed out", "luminous")),
    "sharpness": (
        ("soft", "softer", "too soft", "blurry", "blur", "blurred",
         "out of focus", "oof", "fuzzy", "unsharp", "mushy", "not sharp",
         "camera shake", "shaky", "missed focus", "focus is off"),
        ("sharp", "sharper", "crisp", "crisper", "tack sharp", "razor sharp",
         "pin sharp", "in focus", "well focused", "sharply focused")),
    "colourfulness": (
        ("muted", "dull", "desaturated", "undersaturated", "drab", "pastel",
         "faded", "colorless", "colourless", "black and white", "monochrome",
         "mono", "b&w"),
        ("vivid", "vibrant", "saturated", "oversaturated", "over saturated",
         "colorful", "colourful", "pop", "pops", "popping", "punchy",
         "bold colors", "bold colours", "rich colors", "rich colours")),
    "centring": (
        ("thirds", "rule of thirds", "off center", "off centre",
         "to the side", "asymmetric", "asymmetrical", "not centered",
         "not centred"),
        ("centered", "centred", "centering", "centring", "central",
         "in the center", "in the centre", "in the middle", "dead center",
         "dead centre", "symmetric", "symmetrical", "symmetry", "bullseye")),
}

"""Single source of truth for the data contract.

Feature names of the labelled tf.Examples, their transformed (``_xf``) names,
the AVA file layout, the tag protocol and the rating rule constants live here
and are imported by the Beam jobs, ``preprocessing_fn``, the Trainer, the
pipeline, the CLI, the tests and the notebooks.
"""
from __future__ import annotations

# --------------------------------------------------------------------------
# AVA-review directory layout
# --------------------------------------------------------------------------
AVA_FILE = "AVA.txt"
TAGS_FILE = "tags.txt"
CHALLENGES_FILE = "challenges.txt"
IMAGES_DIR = "images"
REVIEWS_FILE = "reviews.txt"  # crawler block layout
UIR_FILE = "uir.txt"  # user_id|image_id|review
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")

AVA_NUM_COLUMNS = 15  # index, image_id, 10 vote counts, tag_1, tag_2, challenge
AVA_NUM_SCORES = 10  # votes for scores 1..10
NO_TAG_ID = 0  # tag id meaning "no tag" in AVA.txt

# --------------------------------------------------------------------------
# Rating protocol (paper §4.1)
# --------------------------------------------------------------------------
# User-agnostic label b_v = 1 iff the mean raw vote is strictly larger than 5.
AGNOSTIC_THRESHOLD = 5.0
# Five preference levels; levels 1-2 -> bad (0), 3-5 -> good (1).
NUM_PREFERENCE_LEVELS = 5
GOOD_MIN_LEVEL = 3
# Review types of paper §4.1.
REVIEW_TYPE_RULE = "I"  # photographic-rule comment -> kept, aspect sentiment
REVIEW_TYPE_FEELING = "II"  # subjective feeling -> rewritten, kept
REVIEW_TYPE_OFF_TOPIC = "III"  # dropped (counted)
REVIEW_TYPE_EQUIVOCAL = "IV"  # dropped (counted)
KEPT_REVIEW_TYPES = (REVIEW_TYPE_RULE, REVIEW_TYPE_FEELING)
FEELING_REWRITE = {1: "The photo is good", 0: "The photo is bad"}

# Kao et al. (2017) major-tag protocol: a tag is "major" if at least 3000 of
# AVA's 255,530 images carry it (tag_1 or tag_2), which keeps 29 tags. The
# default rule is that share of the images, so it scales to any collection
# (``--min-tag-share``); an absolute count is still available
# (``--min-tag-images``). See ``build_examples.major_tag_threshold``.
AVA_MAJOR_TAG_IMAGES = 3000
AVA_NUM_IMAGES = 255530
DEFAULT_MIN_TAG_SHARE = AVA_MAJOR_TAG_IMAGES / AVA_NUM_IMAGES
# Primary tag of an image = tag_1 if it is major, else tag_2 if major, else the
# image has no major tag and is set aside (counted).

# --------------------------------------------------------------------------
# Labelled tf.Example features (output of ``cfan build-examples``)
# --------------------------------------------------------------------------
USER_KEY = "user_id"  # bytes
IMAGE_ID_KEY = "image_id"  # bytes (AVA image id as text)
REVIEW_KEY = "review"  # bytes, cleaned review text (type II rewritten)
IMAGE_KEY = "image"  # bytes, JPEG re-encoded once per image (see BUILD.md)
LABEL_KEY = "rating"  # int64, personal good(1)/bad(0) s_uv
AGNOSTIC_LABEL_KEY = "agnostic_rating"  # int64, b_v
TAG_KEY = "tag"  # bytes, primary major semantic tag name
MEAN_SCORE_KEY = "mean_score"  # float, mean raw vote
VOTES_KEY = "votes"  # int64 x 10, raw vote histogram
PREFERENCE_KEY = "preference_level"  # int64 1..5
REVIEW_TYPE_KEY = "review_type"  # bytes, "I" or "II"
CHALLENGE_KEY = "challenge_id"  # int64
# What a review says the photo looks like, one state per visual attribute of
# SAID_ATTRIBUTES: -1 (low: dark, soft, muted, off-centre), +1 (high: bright,
# sharp, vivid, centred) or 0 (not said), packed into one int64 per review by
# ``encode_said``, 0 when it says none (preprocessing.critique_text.
# said_states reads the text). A
# training-time target only: the Trainer learns which image features these
# attributes are (keras_model.residual); no model reads it as an input.
SAID_KEY = "said_attributes"  # int64 0..3**len(SAID_ATTRIBUTES)-1
SAID_ATTRIBUTES = ("brightness", "sharpness", "colourfulness", "centring")

STRING_FEATURES = (USER_KEY, IMAGE_ID_KEY, REVIEW_KEY, IMAGE_KEY, TAG_KEY,
                   REVIEW_TYPE_KEY)
INT_FEATURES = (LABEL_KEY, AGNOSTIC_LABEL_KEY, PREFERENCE_KEY, CHALLENGE_KEY,
                SAID_KEY)
FLOAT_FEATURES = (MEAN_SCORE_KEY,)
VECTOR_INT_FEATURES = {VOTES_KEY: AVA_NUM_SCORES}

# Labels (and the training-time targets) are never fed to the model as inputs.
LABEL_KEYS = (LABEL_KEY, AGNOSTIC_LABEL_KEY, TAG_KEY, SAID_KEY)

# Image-major layout: a labelled example is one image with some of its
# reviews. The image's own features (id, photo, votes, tag, ...) appear once
# per example; the features of REVIEW_LEVEL_KEYS hold one value per review,
# in the same order (review i = user_id[i], review[i], rating[i], ...).
# Every image is stored once, with all its reviews: an image with a training
# review (warm) in the training split, its held-out eval reviews marked by
# HELD_OUT_KEY; an image without (cold) in the eval split, every review
# held out. Transform's analyzers and the Trainer read the training reviews
# only; TFMA reads both splits and scores the held-out reviews (the
# evaluation signature pads the reviews of each example, weighted by
# REVIEW_WEIGHT_KEY = the held-out mark); the floors are per held-out review
# too. A serving request is an example of the same contract with one review.
REVIEW_LEVEL_KEYS = (USER_KEY, REVIEW_KEY, LABEL_KEY, PREFERENCE_KEY,
                     REVIEW_TYPE_KEY, SAID_KEY)

# The honest evaluation split of ``cfan build-examples``: the examples are
# written as two splits (ImportExampleGen reads one file pattern per split).
TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"
SPLITS = (TRAIN_SPLIT, EVAL_SPLIT)
# Every row says whether its image has a training review: "warm" (it has; on
# every training row and on the eval rows of held-out (user, image) pairs) or
# "cold" (an eval row whose image never appears in training). TFMA slices on
# it and the blessing gate holds on the cold slice too.
SLICE_KEY = "image_slice"  # bytes
SLICE_WARM = "warm"
SLICE_COLD = "cold"
SLICE_VALUES = (SLICE_WARM, SLICE_COLD)
# The user's smoothed good-rate over training rows only (evaluation.metrics
# user_rates semantics; leave-one-out on a training row, so the row's own
# label never leaks into it). It feeds the floors and the report.
USER_TRAIN_RATE_KEY = "user_train_rate"  # float
# 1 on a held-out eval review (its pair is in the eval split: Transform's
# analyzers and the Trainer skip it, TFMA scores it), 0 on a training one.
HELD_OUT_KEY = "held_out"  # int64
EVAL_STRING_FEATURES = (SLICE_KEY,)
EVAL_FLOAT_FEATURES = (USER_TRAIN_RATE_KEY,)
EVAL_INT_FEATURES = (HELD_OUT_KEY,)
# USER_TRAIN_RATE_KEY and HELD_OUT_KEY are per review (SLICE_KEY is the
# image's).
REVIEW_LEVEL_EVAL_KEYS = (USER_TRAIN_RATE_KEY, HELD_OUT_KEY)
# Keys no model ever reads as an input: labels and the evaluation features.
# (``preprocessing_fn`` passes only HELD_OUT_KEY through, for the Trainer's
# and the Evaluator's choice of rows.)
NON_INPUT_KEYS = (LABEL_KEYS + EVAL_STRING_FEATURES + EVAL_FLOAT_FEATURES +
                  EVAL_INT_FEATURES)



def encode_said(states) -> int:
  """States of SAID_ATTRIBUTES (each -1, 0 or +1) -> one SAID_KEY value."""
  states = tuple(int(v) for v in states)
  if len(states) != len(SAID_ATTRIBUTES) or any(v not in (-1, 0, 1)
                                                for v in states):
    raise ValueError(f"said states must be {len(SAID_ATTRIBUTES)} values "
                     f"in -1, 0, 1; got {states}")
  # Digits 0 (not said), 1 (high), 2 (low): 0 says nothing at all.
  return sum((v % 3) * 3 ** j for j, v in enumerate(states))


def decode_said(codes, attribute: int):
  """SAID_KEY values (an int or an integer array) -> the state (-1, 0, +1)
  of attribute number ``attribute`` of SAID_ATTRIBUTES."""
  return ((codes // 3 ** attribute) % 3 + 1) % 3 - 1


# --------------------------------------------------------------------------
# Transformed features (``preprocessing_fn`` outputs)
# --------------------------------------------------------------------------


def transformed_name(key: str) -> str:
  """Name of a feature after Transform, taxi-template style."""
  return key + "_xf"


USER_XF = transformed_name(USER_KEY)  # int64 index, OOV bucket last
IMAGE_ID_XF = transformed_name(IMAGE_ID_KEY)  # int64 index, OOV bucket last
REVIEW_XF = transformed_name(REVIEW_KEY)  # int64 [max_review_len] token ids
REVIEW_LEN_XF = transformed_name("review_len")  # int64 number of real tokens
IMAGE_XF = transformed_name(IMAGE_KEY)  # bytes: resized JPEG (compact)
TAG_XF = transformed_name(TAG_KEY)  # int64 tag index (label of the tag head)
# float32 [AVA_NUM_SCORES]: the image's AVA vote shares (histogram / total);
# all zeros when the image has no votes (a photo that is not in AVA.txt).
VOTES_XF = transformed_name(VOTES_KEY)
# Model-input value of TAG_XF when a request carries no tag (serving_raw):
# the model maps it to its "unknown tag" row.
NO_TAG_INDEX = -1
# Model input: the batch's *distinct* images decoded, float32 [U, S, S, 3] in
# 0..255 (decoded once per distinct IMAGE_XF inside the model's serving and
# training input path), and each row's position in them, int64 [B]: the
# image backbone runs once per distinct image of a batch and its features
# fan out to the image's rows (keras_model.blocks.row_features).
IMAGE_PIXELS_KEY = "image_pixels"
IMAGE_SLOT_KEY = "image_slot"

# Transformed features with one value per review of the example (ragged
# [B, None] / [B, None, max_review_len]); the other transformed features are
# the image's. ``keras_model.inputs`` flattens them into one row per review.
REVIEW_LEVEL_XF = (USER_XF, REVIEW_XF, REVIEW_LEN_XF, LABEL_KEY, SAID_KEY,
                   HELD_OUT_KEY)

# Vocabulary names written by Transform (files under transform_fn/assets).
USER_VOCAB = "user_vocab"
IMAGE_VOCAB = "image_vocab"
TAG_VOCAB = "tag_vocab"
REVIEW_VOCAB = "review_vocab"

# Token ids: 0 is padding; the vocabulary is shifted by one so that index 0
# never names a word; the last index is the OOV bucket.
PAD_TOKEN_ID = 0

# Model output names (shared by the model, signatures, Evaluator, CLI).
PERSONAL_OUTPUT = "p_personal"
AGNOSTIC_OUTPUT = "p_agnostic"
TAG_OUTPUT = "tag_probs"
# The residual variant's predicted AVA vote distribution (10 shares).
VOTE_DIST_OUTPUT = "vote_dist"
ATTENTION_OUTPUT = "attention"

# Serving contract: signature names of the exported SavedModel and the
# outputs/inputs they add (keras_model.signatures builds them; the pipeline's
# Evaluator, the serving clients and the docs refer to them by these names).
SERVING_DEFAULT = "serving_default"  # serialized tf.Examples
SERVING_REVIEW_FREE = "serving_review_free"  # the same, review ignored
SERVING_RAW = "serving_raw"  # plain string tensors
TRANSFORM_FEATURES = "transform_features"  # Transform output (TFMA labels)
# The Evaluator's signature: image-major examples (one image, its reviews)
# scored review-free, the personal probability per review padded to the
# batch's most reviews [B, R]; not a serving signature.
EVALUATE_REVIEW_FREE = "evaluate_review_free"
# transform_features' per-review weight [B, R]: 1.0 on a held-out review,
# 0.0 on a training review and on the padding (TFMA's example weight of the
# personal head); and per image [B]: 1.0 when the image has a held-out review
# (the weight of the image-level heads).
REVIEW_WEIGHT_KEY = "review_weight"
IMAGE_WEIGHT_KEY = "image_weight"
EXAMPLES_INPUT = "examples"  # input of the example signatures
TAG_NAME_OUTPUT = "tag"
KNOWN_USER_OUTPUT = "known_user"
REVIEW_FREE_OUTPUT = "review_free"
RAW_USER_INPUT = "user_id"
RAW_IMAGE_INPUT = "image_bytes"
RAW_REVIEW_INPUT = "review"
RAW_PROFILE_INPUT = "profile"

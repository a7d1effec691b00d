"""The planted generative model: images, users, review pairs and labels.

Everything here is a pure function of a random generator and a
``Difficulty``; nothing touches the file system. See the package docstring
for the model.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, List, Optional, Sequence, Set, Tuple

import numpy as np

from demo_data import images as images_lib
from demo_data import tags as tags_lib
from demo_data.difficulty import Difficulty
from demo_data.tags import USED_TAGS
from preprocessing import config

ATTRIBUTES = ("brightness", "sharpness", "colourfulness", "centredness")
# Mean and spread used to standardise each attribute into z.
ATTR_MEAN = np.array([0.5, 0.6, 0.5, 0.5])
ATTR_SD = np.array([0.19, 0.2, 0.2, 0.34])
_BW_COLOUR_Z = -1.2  # z of colourfulness for Black and White images
QUALITY_WEIGHTS = np.array([0.4, 0.8, 0.35, -0.3])
MEAN_SCORE_BASE = 5.45
MEAN_SCORE_SLOPE = 0.52
TAG_AFFINITY_SD = 0.3
TAG_AFFINITY_STRONG = 1.0
SELECTION_AFFINITY = 0.5  # users review images of tags they like more often
MEAN_REVIEWS_PER_IMAGE = 7.0
MEAN_REVIEWS_PER_USER_AT_SCALE = 40.0
MIN_SCALED_USERS = 30
MIN_SCALED_IMAGES = 20
PNG_FRACTION = 0.03
UNTAGGED_FRACTION = 0.05
TAG2_FRACTION = 0.4

# (name, share of users, taste direction over ATTRIBUTES)
ARCHETYPES: Tuple[Tuple[str, float, Tuple[float, float, float, float]], ...] = (
    ("mainstream", 0.25, (0.0, 0.0, 0.0, 0.0)),
    ("bright", 0.15, (1.6, 0.0, 0.0, 0.0)),
    ("dreamy", 0.15, (0.0, -2.0, 0.0, 0.0)),
    ("colourful", 0.15, (0.0, 0.0, 1.6, 0.0)),
    ("centred", 0.15, (0.0, 0.0, 0.0, 1.7)),
    ("moody", 0.15, (-1.6, 0.0, -1.0, 0.0)),
)

# Mean share of type II (feeling) reviews; it varies per user around it.
_TYPE_II_MEAN = 0.2


@dataclasses.dataclass
class User:
  """A planted reviewer."""
  user_id: str
  archetype: str
  taste: np.ndarray  # over ATTRIBUTES
  threshold: float
  affinity: np.ndarray  # over USED_TAGS
  activity: float
  type_ii_p: float
  verbose: float
  opener_p: float
  closer_p: float
  exclaim: float
  lowercase: bool
  signature: str


@dataclasses.dataclass
class Img:
  """A planted image."""
  index: int
  image_id: str
  tags: Tuple[int, ...]  # indices into USED_TAGS (0, 1 or 2 of them)
  style: str
  grayscale: bool
  attrs: np.ndarray
  z: np.ndarray
  quality: float
  crowd: float  # the crowd's deviation from quality in the AVA votes
  subjects: Tuple[str, ...]
  ext: str
  size: Tuple[int, int]


_CHALLENGE_THEMES = (
    "Free_Study", "Minimalism", "Macro", "Landscape", "Portrait",
    "Rule_of_Thirds", "Black_and_White", "Shallow_Depth_of_Field",
    "Soft_Focus", "Bright_Colors", "Golden_Hour", "Urban_Geometry",
    "Still_Life", "Pets", "Seascape", "Flowers", "Reflections", "Shadows",
    "High_Key", "Low_Key", "Symmetry", "Texture", "Silhouette", "Centered",
    "Monochrome", "Complementary_Colors", "Negative_Space", "Leading_Lines",
    "Window_Light", "Blue")
_ROMAN = ("", "_II", "_III", "_IV", "_V", "_VI", "_VII", "_VIII", "_IX", "_X")


def sizes_for_scale(scale: float) -> Tuple[int, int]:
  """(users, images) whose review count is about scale * REVIEWS_PER_UNIT."""
  if scale <= 0:
    raise ValueError(f"scale must be positive, got {scale}")
  reviews = scale * config.DEMO_SCALE_REVIEWS_PER_UNIT
  images = max(MIN_SCALED_IMAGES, int(round(reviews / MEAN_REVIEWS_PER_IMAGE)))
  users = max(MIN_SCALED_USERS,
              int(round(reviews / MEAN_REVIEWS_PER_USER_AT_SCALE)))
  return users, images


def _beta(rng: np.random.Generator, ab: Tuple[float, float]) -> float:
  return float(rng.beta(ab[0], ab[1]))


_DEFAULT_BETA = ((3.0, 3.0), (3.0, 2.0), (2.5, 2.5), (0.6, 0.6))


def plan_images(rng: np.random.Generator, n: int, image_size: int,
                d: Difficulty, crowd_rng: np.random.Generator
                ) -> Tuple[List[Img], List[Tuple[int, str]], np.ndarray]:
  """Tags, challenges, ids, attributes and quality of every image.

  ``crowd_rng`` draws the crowd's deviation (only when the preset has one,
  so that ``easy`` draws exactly what it always drew).
  """
  weights = np.array([t.weight for t in USED_TAGS])
  # Challenges: about 60 images each, each with a theme tag that half of its
  # images carry as tag_1.
  n_chal = max(1, int(round(n / 60.0)))
  chal_ids = np.sort(rng.choice(np.arange(1, 1500), size=n_chal,
                                replace=False))
  chal_theme = rng.integers(0, len(tags_lib.MAJOR_TAGS), size=n_chal)
  theme_names = rng.permutation(len(_CHALLENGE_THEMES))
  challenges = []
  for k, cid in enumerate(chal_ids):
    theme = _CHALLENGE_THEMES[theme_names[k % len(_CHALLENGE_THEMES)]]
    suffix = _ROMAN[(k // len(_CHALLENGE_THEMES)) % len(_ROMAN)]
    extra = k // (len(_CHALLENGE_THEMES) * len(_ROMAN))
    name = theme + suffix + (f"_{2003 + extra}" if extra else "")
    challenges.append((int(cid), name))
  chal_of = np.sort(rng.integers(0, n_chal, size=n))
  # dpchallenge image ids grow over time: sorted, 6-digit, with gaps.
  gap = max(2, min(120, 850000 // max(n, 1)))
  ids = 100000 + np.cumsum(rng.integers(1, gap, size=n))
  images = []
  for i in range(n):
    theme = int(chal_theme[chal_of[i]])
    if rng.random() < UNTAGGED_FRACTION:
      tags: Tuple[int, ...] = ()
    else:
      p = weights / weights.sum()
      if rng.random() < 0.5:
        t1 = theme
      else:
        t1 = int(rng.choice(len(USED_TAGS), p=p))
      tags = (t1,)
      if rng.random() < TAG2_FRACTION:
        p2 = weights.copy()
        p2[t1] = 0.0
        tags = (t1, int(rng.choice(len(USED_TAGS), p=p2 / p2.sum())))
    names = [USED_TAGS[t].name for t in tags]
    grayscale = tags_lib.BW_TAG in names
    content = [USED_TAGS[t] for t in tags
               if USED_TAGS[t].name != tags_lib.BW_TAG]
    if content:
      spec = content[0]
    else:
      spec = USED_TAGS[int(rng.integers(0, len(USED_TAGS)))]
      while spec.style == "bw":
        spec = USED_TAGS[int(rng.integers(0, len(USED_TAGS)))]
    betas = [spec.attr_beta[j] or _DEFAULT_BETA[j] for j in range(4)]
    attrs = np.array([_beta(rng, ab) for ab in betas])
    if grayscale:
      attrs[2] = 0.0
    z = (attrs - ATTR_MEAN) / ATTR_SD
    if grayscale:
      z[2] = _BW_COLOUR_Z
    offset = float(np.mean([USED_TAGS[t].quality_offset for t in tags])
                   ) if tags else 0.0
    quality = float((QUALITY_WEIGHTS * d.visual_weight) @ z + offset +
                    rng.normal(0, d.latent_quality_sd))
    subjects = spec.subjects
    if grayscale:
      subjects = subjects + tags_lib.BW_SPEC.subjects
    u = rng.random()
    orientation = ("portrait" if u < spec.portrait_p else
                   "landscape" if u < spec.portrait_p + 0.35 else "square")
    ext = ".png" if rng.random() < PNG_FRACTION else ".jpg"
    images.append(Img(index=i, image_id=str(int(ids[i])), tags=tags,
                      style=spec.style, grayscale=grayscale, attrs=attrs,
                      z=z, quality=quality, crowd=0.0, subjects=subjects,
                      ext=ext,
                      size=images_lib.frame_size(image_size, orientation)))
  if d.crowd_bias_sd > 0:
    for im, c in zip(images, crowd_rng.normal(0, d.crowd_bias_sd, size=n)):
      im.crowd = float(c)
  return images, challenges, chal_ids[chal_of]


def draw_votes(rng: np.random.Generator, images: Sequence[Img],
               d: Difficulty) -> np.ndarray:
  """AVA vote histograms (n, 10) around a mean that grows with quality.

  The mean is ``MEAN_SCORE_BASE + MEAN_SCORE_SLOPE * (quality + crowd)``;
  each image gets its own vote count and spread, and 8 % are controversial
  (bimodal).
  """
  n = len(images)
  mu = MEAN_SCORE_BASE + MEAN_SCORE_SLOPE * np.array(
      [im.quality + im.crowd for im in images])
  most = d.votes_max
  n_votes = rng.integers(d.votes_min, most + 1, size=n)
  sd = rng.uniform(1.1, 1.8, size=n)
  draws = rng.normal(mu[:, None], sd[:, None], size=(n, most))
  bimodal = rng.random(n) < 0.08  # controversial images
  draws += bimodal[:, None] * np.where(rng.random((n, most)) < 0.5, -1.6, 1.6)
  scores = np.clip(np.rint(draws), 1, 10).astype(np.int64)
  keep = np.arange(most)[None, :] < n_votes[:, None]
  flat = (np.arange(n)[:, None] * 10 + scores - 1)[keep]
  return np.bincount(flat, minlength=n * 10).reshape(n, 10)


def plan_users(rng: np.random.Generator, n: int, d: Difficulty) -> List[User]:
  """Archetype, taste, tag affinity, leniency and writing habits per user."""
  shares = np.array([a[1] for a in ARCHETYPES])
  ids = rng.choice(np.arange(1000, 250000), size=n, replace=False)
  users = []
  for k in range(n):
    arch = int(rng.choice(len(ARCHETYPES), p=shares / shares.sum()))
    strength = float(rng.lognormal(0.0, 0.3))
    taste = (np.array(ARCHETYPES[arch][2]) * strength +
             rng.normal(0, 0.25, size=len(ATTRIBUTES))) * d.taste_scale
    affinity = rng.normal(0, TAG_AFFINITY_SD, size=len(USED_TAGS))
    liked = rng.choice(len(USED_TAGS), size=int(rng.integers(1, 3)),
                       replace=False)
    affinity[liked] += TAG_AFFINITY_STRONG
    if rng.random() < 0.7:
      affinity[int(rng.integers(0, len(USED_TAGS)))] -= TAG_AFFINITY_STRONG
    affinity = affinity * d.affinity_scale
    signature = ""
    if rng.random() < 0.08:
      signature = str(rng.choice(["~Jo", "-- M.", "~Ann", "/dave", "Ken",
                                  "~Lou"]))
    users.append(User(
        user_id=str(int(ids[k])), archetype=ARCHETYPES[arch][0], taste=taste,
        threshold=float(rng.normal(d.threshold_mean, d.threshold_sd)),
        affinity=affinity, activity=float(rng.lognormal(0.0, d.activity_sigma)),
        type_ii_p=float(
            rng.beta(2.0, 2.0 * (1 - _TYPE_II_MEAN) / _TYPE_II_MEAN)),
        verbose=float(rng.beta(2, 2)),
        opener_p=float(rng.beta(1, 4)), closer_p=float(rng.beta(1, 3)),
        exclaim=float(rng.beta(1, 3)), lowercase=bool(rng.random() < 0.08),
        signature=signature))
  return users


def _image_affinity(user_aff: np.ndarray, tags: Tuple[int, ...]) -> Any:
  """Affinity of users (rows of user_aff) for an image with these tags."""
  if not tags:
    return user_aff[..., 0] * 0.0
  out = user_aff[..., tags[0]]
  if len(tags) > 1:
    out = out + 0.5 * user_aff[..., tags[1]]
  return out


def _selection_logits(users: List[User], images: List[Img]) -> np.ndarray:
  """(images, users) log-weight of each user reviewing each image.

  The weight is the user's activity times their liking of the image's tags.
  """
  activity = np.array([u.activity for u in users])
  aff = np.stack([u.affinity for u in users])
  return np.stack([
      np.log(activity * np.exp(SELECTION_AFFINITY *
                               _image_affinity(aff, img.tags)))
      for img in images])


def _sample_users(rng: np.random.Generator, logits: np.ndarray,
                  k: int) -> np.ndarray:
  """k distinct users drawn with weights exp(logits) (-inf: never).

  Gumbel top-k == sampling without replacement; returned in draw order.
  """
  keys = logits + rng.gumbel(size=len(logits))
  chosen = np.argpartition(-keys, k - 1)[:k]
  return chosen[np.argsort(-keys[chosen])]


def plan_pairs(rng: np.random.Generator, users: List[User],
               images: List[Img], d: Difficulty,
               reviewable: Optional[np.ndarray] = None
               ) -> List[Tuple[int, int]]:
  """(user index, image index) pairs, at most one per pair.

  Better photos draw more reviewers; a user is drawn in proportion to their
  activity and liking of the image's tags. Every user gets at least two
  pairs on ``reviewable`` images (all by default) where possible.
  """
  n_users = len(users)
  q = np.array([img.quality for img in images])
  qz = q / 1.15  # roughly standardised quality: better photos draw more
  raw = np.exp(rng.normal(np.log(4.6 * d.pairs_scale) + 0.25 * qz, 0.8))
  counts = np.clip(1 + np.floor(raw).astype(np.int64), 1, n_users)
  if reviewable is None:
    reviewable = np.ones(len(images), bool)
  pairs: List[Tuple[int, int]] = []
  per_user = np.zeros(n_users, np.int64)
  reviewed: List[Set[int]] = [set() for _ in range(n_users)]
  logits = _selection_logits(users, images)
  for img, k in zip(images, counts):
    for u in _sample_users(rng, logits[img.index], k):
      pairs.append((int(u), img.index))
      if reviewable[img.index]:
        per_user[u] += 1
      reviewed[u].add(img.index)
  need = min(2, int(reviewable.sum()))
  for u in range(n_users):
    while per_user[u] < need:
      v = int(rng.integers(0, len(images)))
      if v not in reviewed[u] and reviewable[v]:
        pairs.append((u, v))
        per_user[u] += 1
        reviewed[u].add(v)
  return pairs


def plan_extra_pairs(rng: np.random.Generator, users: List[User],
                     images: List[Img], pairs: Sequence[Tuple[int, int]],
                     fraction: float) -> List[Tuple[int, int]]:
  """Further pairs drawn like ``pairs``, none of them already in ``pairs``.

  Image ``v`` gets Binomial(its pairs, ``fraction``) new users, drawn by the
  same activity and tag-liking weights.
  """
  taken: List[Set[int]] = [set() for _ in images]
  for u, v in pairs:
    taken[v].add(u)
  extra: List[Tuple[int, int]] = []
  all_logits = _selection_logits(users, images)
  for img in images:
    k = int(rng.binomial(len(taken[img.index]), fraction))
    free = len(users) - len(taken[img.index])
    k = min(k, free)
    if k <= 0:
      continue
    logits = all_logits[img.index].copy()
    logits[list(taken[img.index])] = -np.inf
    extra.extend((int(u), img.index) for u in _sample_users(rng, logits, k))
  return extra


def p_good(margin: np.ndarray, noise_sd: float, flip_rate: float
           ) -> np.ndarray:
  """P(s_uv = 1) given ``margin`` = personal - threshold.

  The judgement's probability Phi(margin / noise_sd), mixed with its
  opposite by the flip rate.
  """
  phi = 0.5 * np.vectorize(math.erfc)(-np.asarray(margin, np.float64) /
                                      (noise_sd * math.sqrt(2.0)))
  return (1.0 - flip_rate) * phi + flip_rate * (1.0 - phi)


@dataclasses.dataclass(frozen=True)
class Labels:
  """The planted labels of a set of pairs (arrays aligned with the pairs)."""
  u_idx: np.ndarray  # user index per pair
  v_idx: np.ndarray  # image index per pair
  personal: np.ndarray  # quality + taste . z + tag affinity (before noise)
  threshold: np.ndarray  # the pair's user threshold
  judgement: np.ndarray  # 0/1: personal + noise > threshold
  s_uv: np.ndarray  # 0/1 label the review expresses (judgement or flipped)
  p_true: np.ndarray  # P(s_uv = 1) under the model
  oracle: np.ndarray  # 1 iff personal > threshold (the noise-free label)

  def subset(self, mask: np.ndarray) -> "Labels":
    return Labels(**{f.name: getattr(self, f.name)[mask]
                     for f in dataclasses.fields(self)})


def personal_scores(users: List[User], images: List[Img], u_idx: np.ndarray,
                    v_idx: np.ndarray) -> np.ndarray:
  """quality_v + taste_u . z_v + affinity_u[tag_1] + 0.5 affinity_u[tag_2]."""
  taste = np.stack([u.taste for u in users])
  aff = np.stack([u.affinity for u in users])
  z = np.stack([im.z for im in images])
  q = np.array([im.quality for im in images])
  # Affinity 0 for a missing tag.
  aff0 = np.concatenate([aff, np.zeros((len(users), 1))], axis=1)
  none = len(USED_TAGS)
  tag1 = np.array([im.tags[0] if im.tags else none for im in images])
  tag2 = np.array([im.tags[1] if len(im.tags) > 1 else none
                   for im in images])
  tag_aff = (aff0[u_idx, tag1[v_idx]] + 0.5 * aff0[u_idx, tag2[v_idx]])
  return q[v_idx] + np.einsum("ij,ij->i", taste[u_idx], z[v_idx]) + tag_aff


def plan_labels(rng: np.random.Generator, flip_rng: np.random.Generator,
                users: List[User], images: List[Img],
                pairs: Sequence[Tuple[int, int]], d: Difficulty) -> Labels:
  """Judgements and labels of ``pairs``.

  j_uv = 1 iff personal + N(0, d.personal_noise_sd) > threshold_u; s_uv is
  j_uv flipped with probability ``d.flip_rate`` (``flip_rng`` is not drawn
  from when it is 0).
  """
  u_idx = np.array([p[0] for p in pairs], np.int64).reshape(-1)
  v_idx = np.array([p[1] for p in pairs], np.int64).reshape(-1)
  personal = personal_scores(users, images, u_idx, v_idx)
  noise = rng.normal(0, d.personal_noise_sd, size=len(u_idx))
  threshold = np.array([u.threshold for u in users])[u_idx]
  judgement = (personal + noise > threshold).astype(np.int64)
  s_uv = judgement
  if d.flip_rate > 0:
    s_uv = np.where(flip_rng.random(len(u_idx)) < d.flip_rate,
                    1 - judgement, judgement)
  return Labels(
      u_idx=u_idx, v_idx=v_idx, personal=personal, threshold=threshold,
      judgement=judgement, s_uv=s_uv,
      p_true=p_good(personal - threshold, d.personal_noise_sd, d.flip_rate),
      oracle=(personal > threshold).astype(np.int64))

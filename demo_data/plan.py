"""The plan step: draws every random quantity of a demo directory.

``make_plan`` is pure (no files): images, votes, users, review pairs, labels,
review texts and the held-out pairs, all a deterministic function of the
seed and the difficulty preset. ``writing`` turns a ``Plan`` into files.
"""
from __future__ import annotations

import dataclasses
import random
from typing import Callable, List, Optional, Tuple

import numpy as np

from demo_data import planting
from demo_data import reviews as reviews_lib
from demo_data.difficulty import Difficulty
from preprocessing import features

ProgressFn = Callable[[str, int, int], None]


@dataclasses.dataclass(frozen=True)
class Plan:
  """Everything a demo directory holds, before it is written."""
  seed: int
  difficulty: Difficulty
  image_size: int
  images: List[planting.Img]
  challenges: List[Tuple[int, str]]  # (challenge id, name)
  challenge_of: np.ndarray  # challenge id per image
  votes: np.ndarray  # (images, 10) AVA vote histograms
  users: List[planting.User]
  labels: planting.Labels  # one row per review pair
  vote_only: np.ndarray  # per image: in AVA.txt but never reviewed
  heldout: planting.Labels  # pairs with no review, for evaluation
  types: List[str]  # review type per pair
  texts: List[str]  # review text per pair
  review_order: List[int]  # pair indices grouped by image, in file order

  @property
  def mean_score(self) -> np.ndarray:
    return self.votes @ np.arange(1, 11) / self.votes.sum(axis=1)

  @property
  def agnostic(self) -> np.ndarray:
    """b_v = 1 iff the AVA mean vote exceeds the agnostic threshold."""
    return (self.mean_score > features.AGNOSTIC_THRESHOLD).astype(np.int64)


def report(progress: Optional[ProgressFn], stage: str, done: int,
           total: int) -> None:
  if progress is not None:
    progress(stage, done, total)


def make_plan(seed: int, n_users: int, n_images: int, image_size: int,
              d: Difficulty, progress: Optional[ProgressFn] = None) -> Plan:
  """Draws a complete demo data set (no files are written).

  Args:
    seed: everything is a deterministic function of the seed.
    n_users: number of reviewers.
    n_images: number of images.
    image_size: longer side of the images in pixels.
    d: the difficulty preset.
    progress: optional ``callable(stage, done, total)``.

  Returns:
    The ``Plan``.
  """
  seq = np.random.SeedSequence(seed)
  # The first six streams are the original demo's; the later ones are drawn
  # from only by the presets that use them, so ``easy`` is unchanged.
  (img_seq, vote_seq, user_seq, pair_seq, label_seq,
   text_seq) = seq.spawn(6)
  crowd_rng, flip_rng, cover_rng, held_rng, held_label_rng, held_flip_rng = (
      np.random.default_rng(s) for s in seq.spawn(6))
  images, challenges, challenge_of = planting.plan_images(
      np.random.default_rng(img_seq), n_images, image_size, d, crowd_rng)
  votes = planting.draw_votes(np.random.default_rng(vote_seq), images, d)
  users = planting.plan_users(np.random.default_rng(user_seq), n_users, d)
  vote_only = _vote_only_images(cover_rng, n_images, d.vote_only_fraction)
  pairs = planting.plan_pairs(np.random.default_rng(pair_seq), users, images,
                              d, reviewable=~vote_only)
  review_pairs = [p for p in pairs if not vote_only[p[1]]]
  labels = planting.plan_labels(np.random.default_rng(label_seq), flip_rng,
                                users, images, review_pairs, d)
  # Held out: further pairs of reviewed images drawn like the reviews, and
  # every pair drawn for an image nobody reviewed.
  heldout_pairs = planting.plan_extra_pairs(
      held_rng, users, images, review_pairs, d.heldout_fraction)
  heldout_pairs += [p for p in pairs if vote_only[p[1]]]
  heldout_pairs.sort(key=lambda p: (p[1], p[0]))
  heldout = planting.plan_labels(held_label_rng, held_flip_rng, users,
                                 images, heldout_pairs, d)
  types, texts = _write_reviews(
      random.Random(int(text_seq.generate_state(1)[0])), users, images,
      labels, d, progress)
  by_image: List[List[int]] = [[] for _ in images]
  for k, v in enumerate(labels.v_idx):
    by_image[v].append(k)
  return Plan(seed=seed, difficulty=d, image_size=image_size, images=images,
              challenges=challenges, challenge_of=challenge_of, votes=votes,
              users=users, labels=labels, vote_only=vote_only,
              heldout=heldout, types=types, texts=texts,
              review_order=[k for ks in by_image for k in ks])


def _vote_only_images(rng: np.random.Generator, n: int,
                      fraction: float) -> np.ndarray:
  """Mask of the images that get votes but no review (at most n - 1)."""
  mask = np.zeros(n, bool)
  k = min(n - 1, int(round(fraction * n)))
  if k > 0:
    mask[rng.choice(n, size=k, replace=False)] = True
  return mask


def _write_reviews(rnd: random.Random, users: List[planting.User],
                   images: List[planting.Img], labels: planting.Labels,
                   d: Difficulty, progress: Optional[ProgressFn]
                   ) -> Tuple[List[str], List[str]]:
  """(types, texts) of every review pair, in pair order."""
  writer = reviews_lib.ReviewWriter(rnd, d)
  types: List[str] = []
  texts: List[str] = []
  total = len(labels.s_uv)
  step = max(1, total // 20)
  for k in range(total):
    rtype, text = writer.write(users[labels.u_idx[k]],
                               images[labels.v_idx[k]], int(labels.s_uv[k]))
    types.append(rtype)
    texts.append(text)
    if (k + 1) % step == 0 or k + 1 == total:
      report(progress, "reviews", k + 1, total)
  return types, texts

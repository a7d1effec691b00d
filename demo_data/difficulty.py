"""Difficulty presets of the demo data: every knob in one place.

``easy`` is the original demo (its files are byte-identical to what the
generator wrote before presets existed): the review text states the planted
judgement plainly, the image quality is mostly drawn in the pixels and every
image is reviewed. ``realistic`` matches what an AVA-review directory looks
like (design notes, last section): ~80 % good labels, lenient and strict
users, heavy-tailed activity, critique idiom a general-purpose lexicon
misreads, sarcasm, typos, a few % of reviews whose sentiment disagrees with
the judgement, a part of the quality that only the votes know, noisy votes
and ~5 % of images with votes but no review. On 2,000 images and 300 users
its held-out Bayes-optimal AUC is ~0.88 against ~0.78 for the mean vote.
``hard`` is noisier on every axis (Bayes ~0.80).
"""
from __future__ import annotations

import dataclasses
from typing import Dict


@dataclasses.dataclass(frozen=True)
class Difficulty:
  """Named parameters of one preset (see ``planting`` for the model)."""
  name: str
  # Image quality q_v = visual_weight * (w . z_v) + tag offset + latent, with
  # latent ~ N(0, latent_quality_sd) drawn nowhere in the pixels.
  visual_weight: float
  latent_quality_sd: float
  # AVA votes: mean = base + slope * (q_v + crowd_v), crowd_v ~ N(0, sd): the
  # crowd's own view, which no single user shares.
  crowd_bias_sd: float
  votes_min: int
  votes_max: int
  # Users: taste_u and tag affinities are scaled by these; threshold_u ~
  # N(threshold_mean, threshold_sd) is the user's leniency; activity ~
  # lognormal(0, activity_sigma).
  taste_scale: float
  affinity_scale: float
  threshold_mean: float
  threshold_sd: float
  activity_sigma: float
  # Review pairs per image (multiplies the median count).
  pairs_scale: float
  # Judgement j_uv = 1 iff personal + N(0, personal_noise_sd) > threshold_u;
  # the review expresses 1 - j_uv with probability flip_rate (s_uv).
  personal_noise_sd: float
  flip_rate: float
  # Review text: type III/IV shares, share of aspect clauses written in
  # critique idiom, of bad reviews written as sarcasm, per-word typo rate.
  off_topic_p: float
  equivocal_p: float
  idiom_p: float
  sarcasm_p: float
  typo_p: float
  # Coverage: share of images with votes but no review; extra held-out
  # pairs of reviewed images (a share of their review count).
  vote_only_fraction: float
  heldout_fraction: float


EASY = Difficulty(
    name="easy", visual_weight=1.0, latent_quality_sd=0.55,
    crowd_bias_sd=0.0, votes_min=100, votes_max=250, taste_scale=1.0,
    affinity_scale=1.0, threshold_mean=-1.1, threshold_sd=0.55,
    activity_sigma=1.3, pairs_scale=1.0, personal_noise_sd=0.6,
    flip_rate=0.0, off_topic_p=0.08, equivocal_p=0.04, idiom_p=0.0,
    sarcasm_p=0.0, typo_p=0.0, vote_only_fraction=0.0,
    heldout_fraction=0.1)

REALISTIC = Difficulty(
    name="realistic", visual_weight=1.0, latent_quality_sd=0.85,
    crowd_bias_sd=0.25, votes_min=80, votes_max=250, taste_scale=0.45,
    affinity_scale=0.6, threshold_mean=-1.0, threshold_sd=0.6,
    activity_sigma=1.3, pairs_scale=1.14, personal_noise_sd=0.7,
    flip_rate=0.04, off_topic_p=0.1, equivocal_p=0.06, idiom_p=0.3,
    sarcasm_p=0.06, typo_p=0.012, vote_only_fraction=0.05,
    heldout_fraction=0.06)

HARD = Difficulty(
    name="hard", visual_weight=0.8, latent_quality_sd=0.9,
    crowd_bias_sd=0.4, votes_min=80, votes_max=250, taste_scale=0.4,
    affinity_scale=0.5, threshold_mean=-1.3, threshold_sd=0.55,
    activity_sigma=1.6, pairs_scale=0.8, personal_noise_sd=0.9,
    flip_rate=0.07, off_topic_p=0.12, equivocal_p=0.08, idiom_p=0.5,
    sarcasm_p=0.1, typo_p=0.025, vote_only_fraction=0.08,
    heldout_fraction=0.06)

PRESETS: Dict[str, Difficulty] = {d.name: d for d in (EASY, REALISTIC, HARD)}
DIFFICULTIES = tuple(PRESETS)


def preset(name: str) -> Difficulty:
  if name not in PRESETS:
    raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {name!r}")
  return PRESETS[name]

"""Synthetic AVA-review directory with planted personal tastes (demo data).

``generate`` writes a complete AVA-review directory in AVA's real formats
(``AVA.txt``, ``tags.txt``, ``challenges.txt``, ``images/``) plus the reviews
in the dpchallenge crawler block layout (``reviews.txt``) or the flat
``user_id|image_id|review`` layout (``uir.txt``), so that every stage of the
system can be run and tested without the real (large, licensed) data.

The data are not noise: they are drawn from a small generative model whose
parameters are written to ``demo_truth.json`` (never read by the pipeline) so
that tests and notebooks can check what a model recovers.

Planted model
-------------
Every image ``v`` has four latent visual attributes in [0, 1] that are drawn
into its pixels: ``brightness`` (exposure/gamma), ``sharpness`` (Gaussian blur
radius), ``colourfulness`` (saturation; 0 for Black and White) and
``centredness`` (subject at a rule-of-thirds point (0) or in the centre (1)).
With ``z_v`` the standardised attributes and the numbers of a
``difficulty.Difficulty`` preset (``easy`` shown),

* global quality ``q_v = k w . z_v + tag_offset + N(0, 0.55)`` with
  ``w = (brightness 0.4, sharpness 0.8, colourfulness 0.35, centredness -0.3)``
  and ``k = visual_weight`` (sharp, bright, colourful, rule-of-thirds photos
  score higher; the noise term is quality the pixels do not show);
* the AVA vote histogram (100-250 votes) is drawn around the mean score
  ``5.45 + 0.52 (q_v + c_v)``, ``c_v`` the crowd's own bias (0 in ``easy``),
  so ``b_v = mean > 5`` holds for ~3/4 of the images;
* every user ``u`` has an archetype (mainstream, bright, dreamy, colourful,
  centred, moody) giving a taste vector ``t_u`` over the same attributes, a
  per-tag affinity ``a_u``, a threshold ``theta_u`` (leniency) and a
  lognormal activity; the judgement is
  ``j_uv = 1  iff  q_v + t_u . z_v + a_u[tags of v] + N(0, 0.6) > theta_u``
  and the label ``s_uv`` is ``j_uv``, flipped with the preset's flip rate
  (0 in ``easy``); ``P(s_uv = 1)`` is known for every pair;
* the review text expresses ``s_uv`` (types I/II) and talks mostly about the
  aspects the user cares about (light for bright lovers, focus for dreamy
  ones, colour, composition); types III/IV say nothing about it.

Presets (``difficulty``): ``easy`` is the original demo and the default;
``realistic`` and ``hard`` add critique idiom, sarcasm, typos, label noise,
latent quality, noisy votes and images with votes but no review. Besides the
AVA-review files every preset writes ``heldout_pairs.csv`` (pairs drawn like
the reviews, with no review: ``user_id,image_id,label,p_true``) and, in
``demo_truth.json``, each image's subject box and a ``summary`` of the
held-out Bayes-optimal AUC beside the ``evaluation.metrics`` floors;
``oracle_auc`` scores any other rows.

Package layout
--------------
``tags`` (AVA's tag list, the drawn tags), ``images`` (drawing),
``phrases`` and ``reviews`` (the review writer), ``difficulty`` (the
presets), ``planting`` (the latent model), ``plan`` (draws everything: a
``Plan``), ``writing`` (a ``Plan`` becomes files), ``truth`` (held-out
summary, ``oracle_auc``), ``generate`` (plan + write + summary).

Usage::

  python -m demo_data --out /tmp/ava_demo --scale 10 --difficulty realistic
"""
from __future__ import annotations

from demo_data.difficulty import DIFFICULTIES, PRESETS, Difficulty
from demo_data.generate import generate
from demo_data.images import draw_image, encode_image, render_image
from demo_data.planting import (ATTRIBUTES, MEAN_REVIEWS_PER_IMAGE,
                                sizes_for_scale)
from demo_data.tags import AVA_TAGS
from demo_data.truth import (HELDOUT_FILE, TRUTH_FILE, load_truth,
                             oracle_auc, p_true, read_heldout)
from demo_data.writing import LAYOUTS

__all__ = [
    "ATTRIBUTES", "AVA_TAGS", "DIFFICULTIES", "Difficulty", "HELDOUT_FILE",
    "LAYOUTS", "MEAN_REVIEWS_PER_IMAGE", "PRESETS", "TRUTH_FILE",
    "draw_image", "encode_image", "generate", "load_truth", "oracle_auc",
    "p_true", "read_heldout", "render_image", "sizes_for_scale",
]

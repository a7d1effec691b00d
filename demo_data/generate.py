"""``generate``: plan a demo data set, write it, and summarise it."""
from __future__ import annotations

import os
import time
from typing import Any, Dict, Optional

import numpy as np

from demo_data import difficulty as difficulty_lib
from demo_data import planting
from demo_data import truth as truth_lib
from demo_data import writing
from demo_data.plan import Plan, ProgressFn, make_plan
from demo_data.tags import USED_TAGS
from evaluation import metrics
from preprocessing import config
from preprocessing import features


def generate(out_dir: str,
             *,
             users: int = config.DEMO_DEFAULT_USERS,
             images: int = config.DEMO_DEFAULT_IMAGES,
             seed: int = 0,
             scale: Optional[float] = None,
             layout: str = "reviews",
             image_size: int = config.DEMO_IMAGE_SIZE,
             difficulty: str = "easy",
             progress: Optional[ProgressFn] = None) -> Dict[str, Any]:
  """Writes a synthetic AVA-review directory with planted personal tastes.

  Args:
    out_dir: directory to write (created). Files of the same names are
      overwritten; the files of an earlier demo generation there (known from
      its demo_truth.json) are removed first; nothing else is touched.
    users: number of reviewers (ignored when ``scale`` is given).
    images: number of images (ignored when ``scale`` is given).
    seed: everything is a deterministic function of the seed.
    scale: when given, sizes the data set for about
      ``scale * config.DEMO_SCALE_REVIEWS_PER_UNIT`` reviews.
    layout: "reviews" (crawler block layout, ``features.REVIEWS_FILE``) or
      "uir" (``user_id|image_id|review`` lines, ``features.UIR_FILE``).
    image_size: longer side of the images in pixels.
    difficulty: a ``difficulty.PRESETS`` name: "easy" (the original demo,
      the default), "realistic" or "hard".
    progress: optional ``callable(stage, done, total)``.

  Returns:
    A summary dict: counts, label rates and the planted parameters' names.
  """
  d = difficulty_lib.preset(difficulty)
  if layout not in writing.LAYOUTS:
    raise ValueError(
        f"layout must be one of {writing.LAYOUTS}, got {layout!r}")
  if scale is not None:
    users, images = planting.sizes_for_scale(scale)
  if users < 1 or images < 1:
    raise ValueError("users and images must be positive")
  if image_size < 16:
    raise ValueError("image_size must be at least 16")
  start = time.time()
  plan = make_plan(seed, users, images, image_size, d, progress)
  reviews_path = writing.write_plan(out_dir, plan, layout, progress)
  summary: Dict[str, Any] = {
      "out_dir": out_dir,
      "layout": layout,
      "reviews_file": os.path.basename(reviews_path),
  }
  summary.update(summarise(plan))
  summary["seconds"] = round(time.time() - start, 2)
  return summary


def summarise(plan: Plan) -> Dict[str, Any]:
  """Counts, label rates and agreement figures of a plan."""
  lab = plan.labels
  n_users, n_images = len(plan.users), len(plan.images)
  tag_counts = {t.name: 0 for t in USED_TAGS}
  for im in plan.images:
    for t in im.tags:
      tag_counts[USED_TAGS[t].name] += 1
  per_user = np.bincount(lab.u_idx, minlength=n_users)
  per_image = np.bincount(lab.v_idx, minlength=n_images)
  agnostic, mean_score = plan.agnostic, plan.mean_score
  held = truth_lib.heldout_summary(plan)
  return {
      "seed": plan.seed,
      "users": n_users,
      "images": n_images,
      "reviews": len(lab.s_uv),
      "review_types": {t: plan.types.count(t) for t in (
          features.REVIEW_TYPE_RULE, features.REVIEW_TYPE_FEELING,
          features.REVIEW_TYPE_OFF_TOPIC, features.REVIEW_TYPE_EQUIVOCAL)},
      "png_images": sum(im.ext == ".png" for im in plan.images),
      "untagged_images": sum(not im.tags for im in plan.images),
      "tag2_images": sum(len(im.tags) == 2 for im in plan.images),
      "tag_image_counts": tag_counts,
      "major_tags": [n for n, c in tag_counts.items()
                     if c >= config.DEMO_MIN_TAG_IMAGES],
      "challenges": len(plan.challenges),
      "reviews_per_image_mean": float(per_image.mean()),
      "reviews_per_image_max": int(per_image.max()),
      "reviews_per_user_median": float(np.median(per_user)),
      "reviews_per_user_max": int(per_user.max()),
      "agnostic_positive_rate": float(agnostic.mean()),
      "personal_positive_rate": float(lab.s_uv.mean()),
      "agnostic_agreement": float((agnostic[lab.v_idx] == lab.s_uv).mean()),
      "oracle_agreement": float((lab.oracle == lab.s_uv).mean()),
      "agnostic_auc": metrics.auc(lab.s_uv, mean_score[lab.v_idx]),
      "oracle_auc": metrics.auc(lab.s_uv, lab.personal - lab.threshold),
      "archetypes": {a[0]: sum(u.archetype == a[0] for u in plan.users)
                     for a in planting.ARCHETYPES},
      "difficulty": plan.difficulty.name,
      "vote_only_images": int(plan.vote_only.sum()),
      "flipped_reviews": int((lab.s_uv != lab.judgement).sum()),
      "heldout_pairs": len(plan.heldout.s_uv),
      "heldout": held,
      "heldout_bayes_auc": held["bayes_auc"]["overall"],
      **{f"heldout_auc_{name}": held["floor_auc"][name]["overall"]
         for name in truth_lib.SUMMARY_FLOORS},
  }

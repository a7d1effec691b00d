"""The write step: a ``Plan`` becomes an AVA-review directory on disk."""
from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from demo_data import images as images_lib
from demo_data import planting
from demo_data import tags as tags_lib
from demo_data import truth as truth_lib
from demo_data.plan import Plan, ProgressFn, report
from demo_data.tags import USED_TAGS
from demo_data.truth import HELDOUT_FILE, TRUTH_FILE
from preprocessing import features

LAYOUTS = ("reviews", "uir")


def _write_text(path: str, lines: Sequence[str]) -> None:
  with open(path, "w", encoding="utf-8", newline="\n") as f:
    for line in lines:
      f.write(line)
      f.write("\n")


def remove_previous_demo(out_dir: str) -> None:
  """Deletes the files a previous ``generate`` wrote into ``out_dir``.

  Only acts when ``out_dir`` holds a demo_truth.json, i.e. was written by this
  package; its listed images and both review layouts are removed so that a
  re-generation with another seed, size or layout leaves no stale files.
  """
  truth_path = os.path.join(out_dir, TRUTH_FILE)
  if not os.path.isfile(truth_path):
    return
  try:
    with open(truth_path, encoding="utf-8") as f:
      old = json.load(f)
  except (OSError, ValueError):
    return
  paths = [os.path.join(out_dir, features.IMAGES_DIR, info["file"])
           for info in old.get("images", {}).values() if "file" in info]
  paths += [os.path.join(out_dir, name) for name in (
      features.REVIEWS_FILE, features.UIR_FILE, HELDOUT_FILE)] + [truth_path]
  for path in paths:
    if os.path.isfile(path):
      os.remove(path)


def write_ava_files(out_dir: str, plan: Plan) -> None:
  """AVA.txt, tags.txt and challenges.txt."""
  tag_ids = [tags_lib.TAG_ID[t.name] for t in USED_TAGS]
  ava_lines = []
  for i, im in enumerate(plan.images):
    t1 = tag_ids[im.tags[0]] if im.tags else features.NO_TAG_ID
    t2 = tag_ids[im.tags[1]] if len(im.tags) > 1 else features.NO_TAG_ID
    counts = " ".join(str(int(c)) for c in plan.votes[i])
    ava_lines.append(f"{i + 1} {im.image_id} {counts} {t1} {t2} "
                     f"{int(plan.challenge_of[i])}")
  _write_text(os.path.join(out_dir, features.AVA_FILE), ava_lines)
  _write_text(os.path.join(out_dir, features.TAGS_FILE),
              [f"{tid} {name}" for tid, name in tags_lib.AVA_TAGS])
  _write_text(os.path.join(out_dir, features.CHALLENGES_FILE),
              [f"{cid} {name}" for cid, name in plan.challenges])


def write_reviews(out_dir: str, plan: Plan, layout: str) -> str:
  """The reviews in ``layout``; returns the path written."""
  lab = plan.labels
  user_id = [plan.users[u].user_id for u in lab.u_idx]
  image_id = [plan.images[v].image_id for v in lab.v_idx]
  if layout == "reviews":
    lines: List[str] = []
    # One block per reviewed image (review_order is grouped by image).
    for _, group in itertools.groupby(plan.review_order,
                                      key=lambda k: lab.v_idx[k]):
      ks = list(group)
      lines.append(image_id[ks[0]])
      lines.append(str(len(ks)))
      for k in ks:
        lines.append(user_id[k])
        lines.append(plan.texts[k])
    path = os.path.join(out_dir, features.REVIEWS_FILE)
  else:
    lines = [f"{user_id[k]}|{image_id[k]}|{plan.texts[k]}"
             for k in plan.review_order]
    path = os.path.join(out_dir, features.UIR_FILE)
  _write_text(path, lines)
  return path


def write_images(out_dir: str, plan: Plan,
                 progress: Optional[ProgressFn] = None
                 ) -> List[Tuple[float, float, float, float]]:
  """Renders and encodes every image into ``images/``.

  Returns:
    Per image, its subject's bounding box (x0, y0, x1, y1) as fractions.
  """
  n = len(plan.images)
  step = max(1, n // 20)
  boxes = []
  for i, im in enumerate(plan.images):
    pil, box = images_lib.draw_image(im.style, im.attrs, im.grayscale,
                                     im.size, (plan.seed, 7919, i))
    boxes.append(box)
    data = images_lib.encode_image(pil, "png" if im.ext == ".png" else "jpeg")
    with open(os.path.join(out_dir, features.IMAGES_DIR,
                           im.image_id + im.ext), "wb") as f:
      f.write(data)
    if (i + 1) % step == 0 or i + 1 == n:
      report(progress, "images", i + 1, n)
  return boxes


def truth_json(plan: Plan, boxes: Sequence[Sequence[float]]) -> Dict[str, Any]:
  """The planted parameters (for tests and notebooks, never the pipeline).

  Args:
    plan: the plan written.
    boxes: per image, the drawn subject's (x0, y0, x1, y1) as fractions.
  """
  mean_score, agnostic, lab = plan.mean_score, plan.agnostic, plan.labels
  d = plan.difficulty
  return {
      "difficulty": dataclasses.asdict(d),
      "summary": truth_lib.heldout_summary(plan),
      "model": {
          "attributes": list(planting.ATTRIBUTES),
          "attribute_mean": planting.ATTR_MEAN.tolist(),
          "attribute_sd": planting.ATTR_SD.tolist(),
          "quality_weights": (planting.QUALITY_WEIGHTS *
                              d.visual_weight).tolist(),
          "quality_noise_sd": d.latent_quality_sd,
          "mean_score": (f"{planting.MEAN_SCORE_BASE} + "
                         f"{planting.MEAN_SCORE_SLOPE} * (quality + crowd)"),
          "personal_noise_sd": d.personal_noise_sd,
          "flip_rate": d.flip_rate,
          "rule": ("j_uv = 1 iff quality_v + taste_u . z_v + affinity_u[tag_1]"
                   " + 0.5 * affinity_u[tag_2] + N(0, personal_noise_sd) > "
                   "threshold_u; s_uv = 1 - j_uv with probability flip_rate, "
                   "else j_uv; p_true = P(s_uv = 1)"),
          "archetypes": {a[0]: list(a[2]) for a in planting.ARCHETYPES},
          "tags": [t.name for t in USED_TAGS],
      },
      "users": {
          u.user_id: {
              "archetype": u.archetype,
              "taste": [round(float(x), 4) for x in u.taste],
              "threshold": round(u.threshold, 4),
              "tag_affinity": {t.name: round(float(a), 4)
                               for t, a in zip(USED_TAGS, u.affinity)},
              "activity": round(u.activity, 4),
          } for u in plan.users
      },
      "images": {
          im.image_id: {
              "file": im.image_id + im.ext,
              "tags": [USED_TAGS[t].name for t in im.tags],
              "style": im.style,
              "attributes": [round(float(x), 4) for x in im.attrs],
              "z": [round(float(x), 4) for x in im.z],
              "quality": round(im.quality, 4),
              "crowd": round(im.crowd, 4),
              "mean_score": round(float(mean_score[im.index]), 4),
              "b_v": int(agnostic[im.index]),
              "vote_only": bool(plan.vote_only[im.index]),
              "subject_box": [round(float(x), 4) for x in boxes[im.index]],
          } for im in plan.images
      },
      "reviews": [{
          "user_id": plan.users[lab.u_idx[k]].user_id,
          "image_id": plan.images[lab.v_idx[k]].image_id,
          "s_uv": int(lab.s_uv[k]),
          "flipped": int(lab.s_uv[k] != lab.judgement[k]),
          "p_true": round(float(lab.p_true[k]), 6),
          "type": plan.types[k],
      } for k in plan.review_order],
  }


def write_heldout(out_dir: str, plan: Plan) -> None:
  """heldout_pairs.csv: pairs drawn like the reviews, with no review."""
  held = plan.heldout
  with open(os.path.join(out_dir, HELDOUT_FILE), "w", encoding="utf-8",
            newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(truth_lib.HELDOUT_COLUMNS)
    for u, v, y, p in zip(held.u_idx, held.v_idx, held.s_uv, held.p_true):
      w.writerow((plan.users[u].user_id, plan.images[v].image_id, int(y),
                  f"{p:.6f}"))


def write_truth(out_dir: str, truth: Dict[str, Any]) -> None:
  with open(os.path.join(out_dir, TRUTH_FILE), "w", encoding="utf-8",
            newline="\n") as f:
    json.dump(truth, f, ensure_ascii=False, separators=(",", ":"))


def write_plan(out_dir: str, plan: Plan, layout: str,
               progress: Optional[ProgressFn] = None) -> str:
  """Writes every file of ``plan``; returns the reviews file's path."""
  remove_previous_demo(out_dir)
  os.makedirs(os.path.join(out_dir, features.IMAGES_DIR), exist_ok=True)
  write_ava_files(out_dir, plan)
  reviews_path = write_reviews(out_dir, plan, layout)
  boxes = write_images(out_dir, plan, progress)
  write_heldout(out_dir, plan)
  write_truth(out_dir, truth_json(plan, boxes))
  return reviews_path

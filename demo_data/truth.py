"""What the generator knows and the evaluators need.

``heldout_summary`` scores the held-out pairs of a plan (Bayes-optimal AUC
from the true probabilities beside the floors of ``evaluation.metrics``);
``load_truth``, ``read_heldout`` and ``oracle_auc`` serve an evaluator that
only has the written directory: ``oracle_auc`` recomputes P(s_uv = 1) from
the planted parameters in demo_truth.json for *any* (user, image) rows.
"""
from __future__ import annotations

import csv
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from demo_data import planting
from demo_data.plan import Plan
from evaluation import metrics

TRUTH_FILE = "demo_truth.json"
HELDOUT_FILE = "heldout_pairs.csv"
HELDOUT_COLUMNS = ("user_id", "image_id", "label", "p_true")
SUMMARY_FLOORS = ("mean_vote", "user_rate", "vote_plus_user")


def heldout_summary(plan: Plan) -> Dict[str, Any]:
  """Bayes-optimal and floor AUCs of the plan's held-out pairs.

  The floors are ``metrics.floor_scores`` with the reviewed pairs and their
  planted labels as training rows. Slices: overall, warm (images with
  reviews) and cold (images with votes but no review).
  """
  lab, held = plan.labels, plan.heldout
  floors = metrics.floor_scores(lab.u_idx, lab.s_uv, held.u_idx,
                                plan.mean_score[held.v_idx])
  cold = plan.vote_only[held.v_idx]
  slices = {"overall": np.ones(len(cold), bool), "warm": ~cold, "cold": cold}

  def aucs(scores: np.ndarray) -> Dict[str, Optional[float]]:
    return {name: _rounded(metrics.auc(held.s_uv[m], scores[m]))
            for name, m in slices.items()}

  return {
      "pairs": {name: int(m.sum()) for name, m in slices.items()},
      "positive_rate": _rounded(float(held.s_uv.mean())
                                if len(held.s_uv) else float("nan")),
      "bayes_auc": aucs(held.p_true),
      "floor_auc": {name: aucs(floors[name]) for name in SUMMARY_FLOORS},
  }


def _rounded(x: float) -> Optional[float]:
  """x to 4 decimals; None (JSON null) for NaN (e.g. one class only)."""
  return None if x != x else round(x, 4)


def load_truth(data_dir: str) -> Dict[str, Any]:
  with open(os.path.join(data_dir, TRUTH_FILE), encoding="utf-8") as f:
    return json.load(f)


def read_heldout(data_dir: str) -> List[Tuple[str, str, int, float]]:
  """(user_id, image_id, label, p_true) rows of heldout_pairs.csv."""
  path = os.path.join(data_dir, HELDOUT_FILE)
  with open(path, encoding="utf-8", newline="") as f:
    reader = csv.reader(f)
    header = next(reader)
    if tuple(header) != HELDOUT_COLUMNS:
      raise ValueError(f"{path}:1: header {header}, expected "
                       f"{list(HELDOUT_COLUMNS)}")
    return [(u, v, int(y), float(p)) for u, v, y, p in reader]


def p_true(truth: Dict[str, Any], users: Sequence[str],
           images: Sequence[str]) -> np.ndarray:
  """P(s_uv = 1) of each (user, image) row from the planted parameters.

  Raises:
    KeyError: a user or image the truth does not know.
  """
  tags = truth["model"]["tags"]
  d = truth["difficulty"]
  personal, threshold = [], []
  for u, v in zip(users, images):
    user, img = truth["users"][str(u)], truth["images"][str(v)]
    aff = [user["tag_affinity"][t] for t in img["tags"] if t in tags]
    weights = (1.0, 0.5)[:len(aff)]
    personal.append(img["quality"] + float(np.dot(user["taste"], img["z"])) +
                    float(np.dot(weights, aff)))
    threshold.append(user["threshold"])
  return planting.p_good(np.array(personal) - np.array(threshold),
                         d["personal_noise_sd"], d["flip_rate"])


def oracle_auc(truth: Dict[str, Any], users: Sequence[str],
               images: Sequence[str], labels: Sequence[int]) -> float:
  """Bayes-optimal AUC of any rows: the AUC of their true probabilities."""
  return metrics.auc(labels, p_true(truth, users, images))


def label_recovery(plan: Plan) -> Dict[str, Any]:
  """How well rating recovery reads the labels the generator wrote.

  Every review text of ``plan`` goes through ``preprocessing.rating`` (the
  §4.1 protocol build-examples runs); the kept ones are compared with the
  label s_uv the text was written to express.

  Returns:
    {"reviews", "kept", "agree" (kept reviews whose recovered label is
    s_uv), "agreement" (agree / kept), "good_read_bad", "bad_read_good"}.
  """
  from preprocessing import rating  # pylint: disable=g-import-not-at-top
  kept = agree = good_bad = bad_good = 0
  for text, want in zip(plan.texts, plan.labels.s_uv.tolist()):
    got = rating.label_review(text)
    if not got.kept:
      continue
    kept += 1
    agree += int(got.label == want)
    good_bad += int(want == 1 and got.label == 0)
    bad_good += int(want == 0 and got.label == 1)
  return {"reviews": len(plan.texts), "kept": kept, "agree": agree,
          "agreement": _rounded(agree / kept if kept else float("nan")),
          "good_read_bad": good_bad, "bad_read_good": bad_good}

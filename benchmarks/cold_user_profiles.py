"""Personalization without retraining: request profiles for unseen users.

Question: a user the model never saw sends a few of their own reviews as the
``profile`` input of ``serving_raw``. Is p_personal then better than the
user-agnostic fallback, and how far is it from a model retrained with them?

Protocol (demo data, ``cpu`` config):

1. Generate a demo AVA-review directory (``uir`` layout) and run the Beam
   job once to know which reviews survive rating recovery and their labels.
2. Hold out ~15 % of the users (seeded draw among users with at least
   4 kept reviews). Each held-out user's kept reviews are split: the first
   half (at most ``profile_max_reviews``, in a seeded order) is their
   *profile*, the rest their *test* rows.
3. Model A: the whole pipeline (``local_runner.run``) on a copy of the data
   without any review of the held-out users: they are unknown to it.
   Model B: the pipeline on the data without only the held-out users' test
   reviews: B was trained with their profile reviews ("retrained").
4. Scores on the test rows (photos neither model saw with that user), all
   review-free: A with the profile text (p_personal), A's agnostic fallback
   (p_agnostic), A with the profile but the OOV user row as initialised (a
   fresh draw from the embedding initialiser instead of the exported
   average-user row), and B with its stored profile. AUC and accuracy over
   the pooled test rows, with paired bootstrap intervals of the differences.

Usage::

  .venv/bin/python benchmarks/cold_user_profiles.py --out bench_out/cold
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import sys
import time
from typing import Any, Dict, List, Sequence

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)

from preprocessing import keras_env as _keras_env  # noqa: E402,F401
import numpy as np  # noqa: E402

from preprocessing import config as cfg_lib  # noqa: E402
from preprocessing import features as F  # noqa: E402

RESULT_FILE = "cold_user_profiles.json"


def read_labelled(examples_dir: str) -> List[Dict[str, Any]]:
  """Kept reviews of a build-examples run: user, image, review, label, bytes."""
  from preprocessing import labelled  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import prepare  # pylint: disable=g-import-not-at-top
  rows = []
  for s in prepare.read_tfrecords(os.path.join(examples_dir, "*")):
    for r in labelled.review_rows(s):
      rows.append({
          "user": r[F.USER_KEY].decode(),
          "image_id": r[F.IMAGE_ID_KEY].decode(),
          "review": r[F.REVIEW_KEY].decode(),
          "label": int(r[F.LABEL_KEY]),
          "mean_score": float(r[F.MEAN_SCORE_KEY]),
          "image": r[F.IMAGE_KEY],
      })
  return rows


def split_users(rows: Sequence[Dict[str, Any]], fraction: float,
                max_profile: int, seed: int):
  """(held-out users, {user: profile rows}, {user: test rows})."""
  by_user: Dict[str, List[Dict[str, Any]]] = collections.defaultdict(list)
  for r in rows:
    by_user[r["user"]].append(r)
  rng = random.Random(seed)
  users = sorted(by_user)
  eligible = [u for u in users if len(by_user[u]) >= 4]
  n = max(1, round(fraction * len(users)))
  held = sorted(rng.sample(eligible, min(n, len(eligible))))
  profile, test = {}, {}
  for u in held:
    rs = sorted(by_user[u], key=lambda r: r["image_id"])
    rng.shuffle(rs)
    k = min(max_profile, len(rs) // 2)
    profile[u], test[u] = rs[:k], rs[k:]
  return held, profile, test


def filtered_copy(src: str, dst: str, drop) -> int:
  """Copies an AVA-review dir (uir layout) without the reviews ``drop`` names.

  Images are linked, not copied. Returns the number of dropped lines.
  """
  if os.path.isdir(dst):
    shutil.rmtree(dst)
  os.makedirs(dst)
  for name in (F.AVA_FILE, F.TAGS_FILE, F.CHALLENGES_FILE):
    if os.path.exists(os.path.join(src, name)):
      shutil.copy(os.path.join(src, name), os.path.join(dst, name))
  os.symlink(os.path.abspath(os.path.join(src, F.IMAGES_DIR)),
             os.path.join(dst, F.IMAGES_DIR))
  dropped = 0
  with open(os.path.join(src, F.UIR_FILE), encoding="utf-8") as fin, \
      open(os.path.join(dst, F.UIR_FILE), "w", encoding="utf-8") as fout:
    for line in fin:
      user, image_id = line.split("|", 2)[:2]
      if drop(user.strip(), image_id.strip()):
        dropped += 1
        continue
      fout.write(line)
  return dropped


def bootstrap_diff(y, a, b, reps: int = 1000, seed: int = 0):
  """95 % interval of AUC(a) - AUC(b) over paired resamples of the rows."""
  from evaluation import metrics as metrics_lib  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  y, a, b = np.asarray(y), np.asarray(a), np.asarray(b)
  diffs = []
  for _ in range(reps):
    idx = rng.integers(0, len(y), len(y))
    if y[idx].min() == y[idx].max():
      continue
    diffs.append(metrics_lib.auc(y[idx], a[idx]) -
                 metrics_lib.auc(y[idx], b[idx]))
  return [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]


def score(model_dir: str, rows: Sequence[Dict[str, Any]],
          profiles: Sequence[str], randomise_oov: bool = False,
          seed: int = 0) -> Dict[str, np.ndarray]:
  """serving_raw, review-free, on rows (own process state: a fresh load)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from keras_model import blocks  # pylint: disable=g-import-not-at-top
  from keras_model import signatures  # pylint: disable=g-import-not-at-top
  model = signatures.load_serving_model(model_dir)
  fn = model.signatures[signatures.SERVING_RAW]
  if randomise_oov:
    table = [v for v in fn.variables
             if v.name.startswith(signatures.USER_EMBEDDING_LAYER + "/")][0]
    values = table.numpy()
    with open(os.path.join(model_dir, "assets", F.USER_VOCAB), "rb") as fh:
      known = len(fh.read().splitlines())
    rng = np.random.default_rng(seed)
    values[known:] = rng.normal(0.0, blocks.ID_EMBEDDING_STDDEV,
                                values[known:].shape)
    table.assign(values)
  out = collections.defaultdict(list)
  for start in range(0, len(rows), 64):
    chunk = rows[start:start + 64]
    r = fn(user_id=tf.constant([x["user"] for x in chunk]),
           image_bytes=tf.constant([x["image"] for x in chunk]),
           review=tf.constant([""] * len(chunk)),
           profile=tf.constant(list(profiles[start:start + 64])))
    for k in (F.PERSONAL_OUTPUT, F.AGNOSTIC_OUTPUT, "known_user"):
      out[k].append(r[k].numpy())
  return {k: np.concatenate(v) for k, v in out.items()}


def metrics(y, p, users) -> Dict[str, float]:
  """Pooled AUC/accuracy/ECE and the mean of per-user AUCs (ranking a
  user's own photos, what score-folder does)."""
  from evaluation import metrics as metrics_lib  # pylint: disable=g-import-not-at-top
  y, p, users = np.asarray(y), np.asarray(p), np.asarray(users)
  per_user = [metrics_lib.auc(y[users == u], p[users == u])
              for u in sorted(set(users.tolist()))]
  per_user = [a for a in per_user if not np.isnan(a)]
  return {"auc": metrics_lib.auc(y, p),
          "accuracy": metrics_lib.accuracy(y, p),
          "ece": metrics_lib.expected_calibration_error(y, p),
          "per_user_auc": float(np.mean(per_user)),
          "per_user_auc_users": len(per_user)}


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--out", required=True, help="output dir (JSON, runs)")
  ap.add_argument("--users", type=int, default=100)
  ap.add_argument("--images", type=int, default=600)
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--holdout", type=float, default=0.15)
  ap.add_argument("--train-steps", type=int, default=600)
  ap.add_argument("--min-tag-images", type=int, default=25)
  ap.add_argument("--reuse", action="store_true",
                  help="reuse the data and both runs of an earlier call "
                  "with the same --out (scores again only)")
  args = ap.parse_args(argv)

  # pylint: disable=g-import-not-at-top
  from preprocessing import build_examples
  import demo_data
  from tfx_pipeline import local_runner
  # pylint: enable=g-import-not-at-top
  t0 = time.time()
  out = os.path.abspath(args.out)
  os.makedirs(out, exist_ok=True)
  cfg = cfg_lib.get_config("cpu")
  full = os.path.join(out, "data_full")
  runs_file = os.path.join(out, "runs.json")
  reuse = args.reuse and os.path.exists(runs_file)
  if not reuse:
    demo_data.generate(full, users=args.users, images=args.images,
                       seed=args.seed, layout="uir")
    build_examples.run(full, os.path.join(out, "examples_full"),
                       min_tag_images=args.min_tag_images)
  rows = read_labelled(os.path.join(out, "examples_full",
                                    build_examples.EXAMPLES_SUBDIR))
  held, profile_rows, test_rows = split_users(
      rows, args.holdout, cfg.profile_max_reviews, args.seed)
  held_set = set(held)
  test_pairs = {(r["user"], r["image_id"]) for u in held for r in test_rows[u]}
  if reuse:
    dropped_a = dropped_b = "(reused)"
  else:
    dropped_a = filtered_copy(full, os.path.join(out, "data_a"),
                              lambda u, i: u in held_set)
    dropped_b = filtered_copy(full, os.path.join(out, "data_b"),
                              lambda u, i: (u, i) in test_pairs)
  print(f"{len(rows)} kept reviews, {len(set(r['user'] for r in rows))} "
        f"users; held out {len(held)} users: "
        f"{sum(len(v) for v in profile_rows.values())} profile + "
        f"{len(test_pairs)} test reviews; A drops {dropped_a} review lines, "
        f"B drops {dropped_b}", flush=True)

  runs = {}
  if reuse:
    with open(runs_file) as fh:
      runs = json.load(fh)
  for name, data in (("A", "data_a"), ("B", "data_b")):
    if name in runs:
      continue
    t = time.time()
    res = local_runner.run(os.path.join(out, data),
                           os.path.join(out, f"work_{name}"),
                           config_name="cpu", train_steps=args.train_steps,
                           min_auc=0.0, min_tag_images=args.min_tag_images,
                           floor_gate=False, log=lambda *a: None)
    if not res.pushed_model:
      raise RuntimeError(f"model {name} was not pushed")
    runs[name] = {"model": res.pushed_model, "minutes": (time.time() - t) / 60,
                  "eval_review_free_auc": res.metrics["overall"][
                      "review_free"]["personal"]["auc"]}
    print(f"model {name}: {res.pushed_model} in {runs[name]['minutes']:.1f} "
          "min", flush=True)
    with open(runs_file, "w") as fh:
      json.dump(runs, fh, indent=2)

  tests = [r for u in held for r in test_rows[u]]
  text = {u: cfg_lib.PROFILE_LINE_SEPARATOR.join(
      r["review"] for r in profile_rows[u]) for u in held}
  profiles = [text[r["user"]] for r in tests]
  y = np.array([r["label"] for r in tests])
  a = score(runs["A"]["model"], tests, profiles)
  a_rand = score(runs["A"]["model"], tests, profiles, randomise_oov=True,
                 seed=args.seed)
  b = score(runs["B"]["model"], tests, [""] * len(tests))
  if a["known_user"].any():
    raise RuntimeError("a held-out user is known to model A")
  variants = {
      "A_profile_personal": a[F.PERSONAL_OUTPUT],
      "A_agnostic_fallback": a[F.AGNOSTIC_OUTPUT],
      "A_profile_random_oov_row": a_rand[F.PERSONAL_OUTPUT],
      "B_retrained_stored_profile": b[F.PERSONAL_OUTPUT],
      "floor_mean_vote": np.array([r["mean_score"] for r in tests]),
  }
  test_users = [r["user"] for r in tests]
  table = {k: metrics(y, v, test_users) for k, v in variants.items()}
  table["floor_mean_vote"].pop("ece")  # not a probability
  table["floor_mean_vote"]["accuracy"] = float(np.mean(
      (variants["floor_mean_vote"] > F.AGNOSTIC_THRESHOLD) == y))
  result = {
      "config": "cpu", "users": args.users, "images": args.images,
      "seed": args.seed, "train_steps": args.train_steps,
      "held_out_users": len(held), "test_rows": len(tests),
      "positive_rate": float(y.mean()),
      "profile_reviews_per_user": float(np.mean(
          [len(profile_rows[u]) for u in held])),
      "known_user_in_B": float(np.mean(b["known_user"])),
      "metrics": table,
      "auc_diff_ci95": {
          "A_profile_minus_agnostic": bootstrap_diff(
              y, variants["A_profile_personal"],
              variants["A_agnostic_fallback"]),
          "B_minus_A_profile": bootstrap_diff(
              y, variants["B_retrained_stored_profile"],
              variants["A_profile_personal"]),
      },
      "runs": runs,
      "minutes": (time.time() - t0) / 60,
  }
  with open(os.path.join(out, RESULT_FILE), "w") as fh:
    json.dump(result, fh, indent=2)
  print(f"\nheld-out users: {len(held)}, test rows: {len(tests)} "
        f"(positive {100 * y.mean():.1f} %), profile reviews per user "
        f"{result['profile_reviews_per_user']:.1f}")
  print(f"{'scorer (review-free, test rows)':<36s} {'AUC':>6s} {'acc':>6s} "
        f"{'ECE':>6s} {'user AUC':>9s}")
  for k, m in table.items():
    ece = f"{m['ece']:.3f}" if "ece" in m else "   -  "
    print(f"{k:<36s} {m['auc']:6.3f} {m['accuracy']:6.3f} {ece:>6s} "
          f"{m['per_user_auc']:9.3f}")
  for k, ci in result["auc_diff_ci95"].items():
    print(f"AUC {k}: 95 % bootstrap interval [{ci[0]:+.3f}, {ci[1]:+.3f}]")
  print(f"wrote {os.path.join(out, RESULT_FILE)} in "
        f"{result['minutes']:.1f} min")
  return 0


if __name__ == "__main__":
  rc = main()
  sys.stdout.flush()
  os._exit(rc)  # pylint: disable=protected-access

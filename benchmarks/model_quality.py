"""Model quality on held-out pairs: the default model vs the floors and peers.

For every demo setting (difficulty x seed) it generates the demo data
(``demo_data.generate``), runs build-examples (the pipeline's honest split:
cold images held out entirely, held-out (user, image) pairs of warm images)
and the pipeline's Transform once (``experiments.data.prepare``), then trains
on the train split, with the one training core (``keras_model.training``):

* the pipeline's default, ``get_config("cpu")`` (its ``variant``);
* VBPR and BPR, the same config with ``variant=`` (``--peer-steps``, default
  the cpu config's ``train_steps``).

Every model scores the eval rows review-free (the user's profile stands in
for the review); no temperature scaling (the Trainer's calibration is not
part of this comparison). Beside them: the floors of
``evaluation.metrics`` (from the training rows) and the Bayes-optimal AUC of
the same rows from the generator's true probabilities
(``demo_data.truth.oracle_auc``). AUC overall / warm / cold, accuracy, ECE and
model/oracle go to ``docs/model_quality.md`` and ``docs/model_quality.json``
(rewritten after every setting, so a partial run leaves what it measured).
For the default it also exports the model and reports where ``cfan
explain``'s map of ``SUBJECT_IMAGES`` eval photos puts its mass: the share
inside the subject box the generator drew, beside the box's share of the
photo (chance) (``subject_mass``).

  python -m benchmarks.model_quality            # 3 difficulties x 2 seeds
  python -m benchmarks.model_quality --quick    # tiny smoke run, no doc
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from benchmarks import common
from evaluation import metrics
from preprocessing import config as cfg_lib
from preprocessing import features as F

DOC = os.path.join(common.ROOT, "docs", "model_quality.md")
JSON = os.path.join(common.ROOT, "docs", "model_quality.json")
# Run order, seed by seed: if time runs short, every difficulty of seed 0
# has run, the ones that matter most first.
DIFFICULTIES = ("realistic", "hard", "easy")
SEEDS = (0, 1)
# The size of issue 10's own directory. At 150 users x 1,000 images the
# ~1,100 eval rows of a `hard` setting give a margin's bootstrap spread of
# 0.011-0.019, wider than the margins there (five seeds pooled: +0.006
# overall): a slice's sign was a coin flip. Twice the eval rows halve the
# variance (spreads 0.005-0.010 in docs/model_quality.md).
USERS, IMAGES = 300, 2000
QUICK = {"users": 30, "images": 200, "steps": 40, "peer_steps": 40}
PEERS = ("vbpr", "bpr")
# --models name of the pipeline's default (whatever its variant is).
DEFAULT_MODEL = "default"
OVERALL = "overall"
SLICES = (OVERALL, F.SLICE_WARM, F.SLICE_COLD)
# The long-term target of issue 10: review-free AUC >= TARGET x oracle.
TARGET_OF_ORACLE = 0.95
# Eval photos whose ``cfan explain`` map is checked against the subject box.
SUBJECT_IMAGES = 50
# Bootstrap resamples of the default-minus-best-floor AUC margin.
MARGIN_RESAMPLES = 1000
Log = Callable[[str], None]


def _sliced(grouped: Dict[str, Any]) -> Dict[str, Dict[str, float]]:
  """{overall, warm, cold: metrics} of a ``results.grouped_metrics`` dict
  whose "tags" were the rows' image slice."""
  out = {OVERALL: grouped["overall"]}
  for s in SLICES[1:]:
    out[s] = grouped["per_tag"].get(s, {"auc": float("nan"), "count": 0})
  return out


def _data_dir(out_root: str, difficulty: str, seed: int, users: int,
              images: int, log: Log) -> str:
  """The demo directory of one setting (generated once, then reused)."""
  import demo_data  # pylint: disable=g-import-not-at-top
  path = os.path.join(out_root, f"mq_{difficulty}_seed{seed}_u{users}_"
                      f"i{images}", "data")
  if not os.path.exists(os.path.join(path, demo_data.TRUTH_FILE)):
    log(f"[mq] generating {difficulty} seed {seed}: {users} users, "
        f"{images} images")
    demo_data.generate(path, users=users, images=images, seed=seed,
                       difficulty=difficulty)
  return path


def _label_recovery(difficulty: str, seed: int, users: int,
                    images: int) -> Dict[str, Any]:
  """``demo_data.truth.label_recovery`` of one setting's reviews."""
  # pylint: disable=g-import-not-at-top
  from demo_data import difficulty as difficulty_lib
  from demo_data import plan as plan_lib
  from demo_data import truth as truth_lib
  # pylint: enable=g-import-not-at-top
  plan = plan_lib.make_plan(seed, users, images, cfg_lib.DEMO_IMAGE_SIZE,
                            difficulty_lib.preset(difficulty))
  return truth_lib.label_recovery(plan)


def _recovery_line(rec: Mapping[str, Any]) -> str:
  return (f"Rating recovery on this setting's {rec['reviews']:,d} reviews "
          f"(`demo_data.truth.label_recovery`): {rec['kept']:,d} kept; "
          f"{rec['agreement']:.3f} of them ({rec['agree']:,d}) carry the "
          f"label the generator wrote ({rec['good_read_bad']:,d} good read "
          f"as bad, {rec['bad_read_good']:,d} bad read as good). Models, "
          "floors and the oracle are all scored against the recovered "
          "labels.")


def _margins(floors: Mapping[str, Any], train, test, slices: np.ndarray,
             predicted: Mapping[str, np.ndarray]) -> Dict[str, Any]:
  """The default's AUC minus the best floor's per slice, with the paired
  bootstrap spread of that difference (``metrics.paired_auc_difference``):
  how far a win or a loss is from the noise of the eval rows."""
  y = test[F.LABEL_KEY].astype(np.int64).reshape(-1)
  model = np.asarray(predicted[F.PERSONAL_OUTPUT], np.float64).reshape(-1)
  floor_rows = metrics.floor_scores(train[F.USER_XF], train[F.LABEL_KEY],
                                    test[F.USER_XF], test[F.MEAN_SCORE_KEY])
  out = {}
  for s in SLICES:
    m = np.ones(len(y), bool) if s == OVERALL else slices == s
    best = metrics.best_floor({k: v[s] for k, v in floors.items()})
    out[s] = {"floor": best, **metrics.paired_auc_difference(
        y[m], model[m], floor_rows[best][m], resamples=MARGIN_RESAMPLES)}
  return out


def _verdict(res: Dict[str, Any]) -> Dict[str, Any]:
  """Whether the default beats the best floor and VBPR on each slice."""
  default = res["default"]
  out: Dict[str, Any] = {}
  if default not in res["models"]:
    return out
  for s in SLICES:
    floors = {k: v[s] for k, v in res["floors"].items()}
    best = metrics.best_floor(floors)
    auc = res["models"][default][s]["auc"]
    oracle = res["oracle_auc"][s]
    vbpr = res["models"].get("vbpr", {}).get(s, {}).get("auc", float("nan"))
    out[s] = {"best_floor": best, "best_floor_auc": floors[best]["auc"],
              "beats_best_floor": bool(auc > floors[best]["auc"]),
              # None: VBPR not trained in this setting (--models).
              "beats_vbpr": None if vbpr != vbpr else bool(auc > vbpr),
              "of_oracle": auc / oracle if oracle else float("nan"),
              "reaches_target": bool(auc >= TARGET_OF_ORACLE * oracle)}
  return out


def subject_mass(trained, tft_output, vocab, data_dir: str,
                 image_ids: Sequence[str], users: Sequence[str],
                 truth: Dict[str, Any], export_dir: str,
                 images: int = SUBJECT_IMAGES) -> Dict[str, Any]:
  """Share of ``cfan explain``'s map on the subject the generator drew.

  Exports ``trained`` (no temperature scaling), then for ``images`` distinct
  eval photos (evenly spaced in image-id order) computes the map ``cfan
  explain`` draws for the photo and its eval row's user, review-free
  (``tfx_pipeline.explain.image_maps``: attention for CFAN variants,
  occlusion saliency of p_personal otherwise) and the share of its mass
  inside the photo's ``subject_box`` in demo_truth.json.

  Args:
    trained: ``keras_model.training.train``'s result.
    tft_output: the Transform output the model was trained on.
    vocab: its vocabulary sizes.
    data_dir: the demo directory (its images/ and demo_truth.json).
    image_ids, users: raw ids of the eval rows, row-aligned.
    truth: ``demo_data.truth.load_truth(data_dir)``.
    export_dir: where the serving model is written.
    images: how many photos.

  Returns:
    ``keras_model.saliency.subject_mass``'s dict plus "map" (the kind) and
    "seconds".
  """
  from keras_model import training  # pylint: disable=g-import-not-at-top
  t0 = time.time()
  unit = {"temperature": 1.0}
  training.export(trained, tft_output, vocab,
                  {"review_given": unit, "review_free": unit}, export_dir)
  res = subject_mass_of_export(export_dir, data_dir, image_ids, users, truth,
                               images)
  return {**res, "seconds": time.time() - t0}


def subject_mass_of_export(model_dir: str, data_dir: str,
                           image_ids: Sequence[str], users: Sequence[str],
                           truth: Dict[str, Any],
                           images: int = SUBJECT_IMAGES) -> Dict[str, Any]:
  """``subject_mass`` of a model already exported to ``model_dir``."""
  # pylint: disable=g-import-not-at-top
  from keras_model import saliency
  from preprocessing import ava
  from tfx_pipeline import explain
  from tfx_pipeline import predict
  # pylint: enable=g-import-not-at-top
  scorer = predict.Scorer(model_dir)
  first_user: Dict[str, str] = {}
  for v, u in zip(image_ids, users):
    first_user.setdefault(str(v), str(u))
  ids = sorted(first_user)
  ids = [ids[i] for i in np.unique(np.linspace(
      0, len(ids) - 1, min(images, len(ids))).astype(int))]
  maps, boxes, kinds = [], [], set()
  for v in ids:
    data, err = predict.load_image(
        ava.find_image(os.path.join(data_dir, F.IMAGES_DIR), v))
    if data is None:
      raise ValueError(f"{data_dir}: eval image {v}: {err}")
    r = explain.image_maps(scorer, data, [explain.Panel(first_user[v])])[0]
    maps.append(r["map"])
    kinds.add(r["map_kind"])
    boxes.append(truth["images"][v]["subject_box"])
  return {**saliency.subject_mass(maps, boxes), "map": "/".join(sorted(kinds))}


def measure(data_dir: str, work_dir: str, *, seed: int, steps: int,
            peer_steps: int, log: Log = print,
            models: Optional[Sequence[str]] = None,
            earlier: Optional[Dict[str, Any]] = None,
            overrides: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
  """One setting: Transform once, train the default and the peers, score.

  Args:
    data_dir: a demo directory (with demo_truth.json).
    work_dir: where build-examples, Transform and their ML Metadata go.
    seed: seed of every model.
    steps: training steps of the default model.
    peer_steps: training steps of VBPR and BPR.
    log: where progress lines go.
    models: which to train: DEFAULT_MODEL (the cpu config's variant) and/or
      PEERS; all by default.
    earlier: this setting's result from an earlier run (same data, sizes
      and steps): the models not trained now keep their earlier figures,
      each with the date and commit it was measured at.
    overrides: ModelConfig fields changed from the cpu config (``--set``:
      trying a choice on a tuning seed).

  Returns:
    {"rows", "default", "models": {variant: {slice: metrics}},
    "floors": {floor: {slice: metrics}}, "oracle_auc": {slice: AUC},
    "verdict", "seconds"}.
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft
  from demo_data import truth as truth_lib
  from experiments import data
  from experiments import results as results_lib
  from keras_model import inputs
  from keras_model import training
  # pylint: enable=g-import-not-at-top
  t0 = time.time()
  cfg = cfg_lib.get_config("cpu", seed=seed, **dict(overrides or {}))
  uris = data.prepare(data_dir, work_dir, cfg,
                      min_tag_images=common.min_tag_images_for(data_dir),
                      log=log)
  tft_output = tft.TFTransformOutput(uris["transform_graph"])
  vocab = inputs.Vocab(tft_output, cfg)
  train, test = data.load_splits(uris, tft_output, cfg)
  ids = data.eval_row_ids(uris, tft_output, cfg, test)
  slices = ids[F.SLICE_KEY]
  y = test[F.LABEL_KEY].astype(np.int64)
  truth = truth_lib.load_truth(data_dir)
  oracle = {}
  for s in SLICES:
    m = np.ones(len(y), bool) if s == OVERALL else slices == s
    oracle[s] = (truth_lib.oracle_auc(truth, ids[F.USER_KEY][m],
                                      ids[F.IMAGE_ID_KEY][m], y[m])
                 if m.any() else float("nan"))
  res: Dict[str, Any] = {
      "rows": {"train": data.num_rows(train), "eval": data.num_rows(test),
               **{s: int((slices == s).sum()) for s in SLICES[1:]}},
      "eval_positive_rate": float(y.mean()),
      "default": cfg.variant, "models": {}, "train": {},
      "floors": {k: _sliced(v) for k, v in
                 results_lib.floors(train, test, slices).items()},
      "oracle_auc": oracle,
  }
  log(f"[mq] {res['rows']} rows; oracle AUC "
      + " / ".join(f"{oracle[s]:.3f}" for s in SLICES))
  if earlier:
    for key in ("models", "train"):
      res[key].update({k: v for k, v in earlier.get(key, {}).items()
                       if k in PEERS or k == cfg.variant})
    if earlier.get("default") == cfg.variant:
      for key in ("subject_mass", "margins"):
        if key in earlier:
          res[key] = earlier[key]
  wanted = set(models or (DEFAULT_MODEL,) + PEERS)
  rows = inputs.Rows.from_columns(
      train, vote_only=data.vote_only_images(uris, tft_output))
  for name, n in [(cfg.variant, steps)] + [(p, peer_steps) for p in PEERS]:
    if (DEFAULT_MODEL if name == cfg.variant else name) not in wanted:
      continue
    mcfg = cfg.replace(variant=name, train_steps=n)
    trained = training.train(rows, vocab, mcfg, training.FitOptions(steps=n))
    scored = results_lib.evaluate(trained, test, slices, ("free",),
                                  vocab.num_tags)
    res["models"][name] = _sliced(scored["free"])
    res["train"][name] = {"steps": trained.steps,
                          "seconds": trained.seconds,
                          "measured": common.stamp(),
                          **_selection(trained.history)}
    log(f"[mq] {name:<10s} {trained.steps} steps {trained.seconds:.0f} s; "
        "review-free AUC " + " / ".join(
            f"{res['models'][name][s]['auc']:.3f}" for s in SLICES))
    if name == cfg.variant:
      res["margins"] = _margins(res["floors"], train, test, slices,
                                training.predict(trained, inputs.Rows
                                                 .from_columns(test), "free",
                                                 vocab.num_tags))
      res["subject_mass"] = subject_mass(
          trained, tft_output, vocab, data_dir, ids[F.IMAGE_ID_KEY],
          ids[F.USER_KEY], truth, os.path.join(work_dir, "subject_export"))
      log("[mq] " + _subject_line(res["subject_mass"]))
  res["verdict"] = _verdict(res)
  res["seconds"] = time.time() - t0 + float((earlier or {}).get("seconds", 0))
  return res


def _selection(history: Mapping[str, Any]) -> Dict[str, Any]:
  """A staged model's stage-2 choices (user, taste and, where it has one,
  tag-affinity L2) and the cross-validation they came from."""
  if "cv" not in history:
    return {}
  return {"user_l2": history.get("user_l2"),
          "taste_l2": history.get("taste_l2"),
          **{k: history[k] for k in ("affinity_l2", "image_l2")
             if k in history},
          "cv": [{k: (None if v is None else float(v))
                  for k, v in row.items()} for row in history["cv"]]}


def _f(x: Optional[float]) -> str:
  return "—" if x is None or x != x else f"{x:.3f}"


def _setting_table(res: Dict[str, Any]) -> List[str]:
  head = ("| scorer | AUC overall | AUC warm | AUC cold | accuracy | ECE | "
          "/oracle overall | /oracle warm | /oracle cold |")
  lines = [head, "|" + "---|" * 9]
  oracle = res["oracle_auc"]

  def row(name: str, block: Dict[str, Dict[str, float]]) -> str:
    ratios = [block[s]["auc"] / oracle[s] if oracle[s] else float("nan")
              for s in SLICES]
    return ("| " + " | ".join(
        [name] + [_f(block[s]["auc"]) for s in SLICES]
        + [_f(block[OVERALL]["accuracy"]), _f(block[OVERALL].get("ece"))]
        + [_f(r) for r in ratios]) + " |")

  # The JSON is written with sorted keys: the default first, then the peers.
  for name in sorted(res["models"], key=lambda n: n != res["default"]):
    block = res["models"][name]
    label = f"**{name}** (default)" if name == res["default"] else name
    lines.append(row(label, block))
  for name, block in res["floors"].items():
    lines.append(row(f"floor: {name}", block))
  lines.append("| Bayes-optimal (oracle) | " + " | ".join(
      _f(oracle[s]) for s in SLICES) + " | | | 1 | 1 | 1 |")
  return lines


def _subject_line(m: Dict[str, Any]) -> str:
  return (f"`cfan explain` map ({m['map']}) of the default on {m['images']} "
          f"eval photos, review-free: {m['mass_in_box']:.3f} of its mass on "
          f"the subject box the generator drew, which covers "
          f"{m['box_area']:.3f} of the photo (chance); lift "
          f"{m['lift']:.2f}; the maps' average, the same for every photo "
          "(a fixed spatial bias), would put "
          f"{m.get('mean_map_mass', float('nan')):.3f} there.")


def _of_oracle(x: Dict[str, Any]) -> str:
  """AUC / oracle AUC, with a fourth decimal where three would round a
  miss of the target up to it (0.9497 is not 0.950)."""
  v = x["of_oracle"]
  if (v is not None and not x["reaches_target"] and
      round(v, 3) >= TARGET_OF_ORACLE):
    return f"{v:.4f}"
  return _f(v)


def _vbpr_word(beats: Optional[bool]) -> str:
  return {True: "beats", False: "does NOT beat"}.get(beats, "has no figure of")


def _verdict_line(res: Dict[str, Any]) -> str:
  v = res["verdict"]
  if not v:
    return f"Default ({res['default']}): not measured in this setting yet."
  parts = []
  margins = res.get("margins", {})
  for s in SLICES:
    x = v[s]
    m = margins.get(s)
    margin = (f" (margin {m['diff']:+.3f} ± {m['se']:.3f}, z "
              f"{m['z']:+.1f})" if m and m["floor"] == x["best_floor"]
              else "")
    parts.append(
        f"{s}: {'beats' if x['beats_best_floor'] else 'does NOT beat'} the "
        f"best floor ({x['best_floor']} {_f(x['best_floor_auc'])}){margin}, "
        f"{_vbpr_word(x['beats_vbpr'])} VBPR, "
        f"{_of_oracle(x)} of oracle"
        f"{'' if x['reaches_target'] else f' (< {TARGET_OF_ORACLE})'}")
  return f"Default ({res['default']}): " + "; ".join(parts) + "."


def pooled_margins(doc: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
  """Each difficulty's margins pooled over its seeds, per slice.

  The margin of a seed is against that seed's best floor on the slice; the
  pooled margin is their mean, its spread sqrt(sum of the seeds' bootstrap
  variances) / seeds (the seeds' eval rows are independent), z = margin /
  spread, and ``wins``: in how many seeds the default beat the best floor.
  Only difficulties with two or more measured seeds.
  """
  out: Dict[str, Dict[str, Any]] = {}
  for d in DIFFICULTIES:
    runs = [r["result"]["margins"] for r in doc["settings"]
            if r["difficulty"] == d and r["result"].get("margins")]
    if len(runs) < 2:
      continue
    out[d] = {}
    for s in SLICES:
      diffs = np.array([m[s]["diff"] for m in runs])
      se = math.sqrt(sum(m[s]["se"] ** 2 for m in runs)) / len(runs)
      out[d][s] = {"seeds": len(runs), "diff": float(diffs.mean()),
                   "se": se, "z": float(diffs.mean() / se) if se else 0.0,
                   "wins": int((diffs > 0).sum())}
  return out


def _pooled_lines(doc: Dict[str, Any]) -> List[str]:
  pooled = pooled_margins(doc)
  if not pooled:
    return []
  lines = ["## Margins pooled over seeds", "",
           "The default's margin over the best floor, averaged over the "
           "seeds of each setting (each seed against its own best floor), ± "
           "the spread of that mean (the seeds' bootstrap spreads combined: "
           "their eval rows are independent); wins: seeds where the margin "
           "is above zero.", "",
           "| setting | seeds | " + " | ".join(f"margin {s}" for s in SLICES)
           + " |", "|---|---|" + "---|" * len(SLICES)]
  for d, row in pooled.items():
    cells = [f"{row[s]['diff']:+.3f} ± {row[s]['se']:.3f} (z "
             f"{row[s]['z']:+.1f}; {row[s]['wins']} of {row[s]['seeds']})"
             for s in SLICES]
    lines.append(f"| {d} | {row[SLICES[0]]['seeds']} | " + " | ".join(cells)
                 + " |")
  return lines + [""]


def settings_line(doc: Dict[str, Any]) -> str:
  """Which demo settings a document over them asked for and which ran."""
  a = doc["args"]
  ran = [f"{r['difficulty']}/seed {r['seed']}" for r in doc["settings"]]
  return (f"Settings requested: {', '.join(a['difficulties'])} x seeds "
          f"{', '.join(str(s) for s in a['seeds'])}; {a['users']} users, "
          f"{a['images']} images each. **Ran: {', '.join(ran) or 'none'}.**")


def render(doc: Dict[str, Any]) -> str:
  """docs/model_quality.md from the JSON document."""
  a = doc["args"]
  lines = [
      "# Model quality on held-out pairs",
      "",
      common.produced_by(doc),
      "",
      settings_line(doc)
      + (f" Not run: {', '.join(doc['not_run'])}." if doc["not_run"] else ""),
      "",
      "Protocol: `demo_data.generate(difficulty=...)`, build-examples' "
      "honest split (cold images held out entirely, held-out pairs of warm "
      "images), the pipeline's Transform once, every model trained on the "
      "train split by `keras_model.training` (the default: the `cpu` config"
      + "".join(f", {k}={v}" for k, v in a.get("overrides", {}).items())
      + f", {a['steps'] or 'its'} steps; VBPR and BPR: the same config with "
      f"`variant=`, {a['peer_steps'] or 'the cpu config'} steps) and scored "
      "review-free on the eval rows, uncalibrated. Floors "
      "(`evaluation.metrics`) from the training rows; the mean vote is a "
      "score, so it has no ECE. Oracle: Bayes-optimal AUC of the same rows "
      "from the generator's true probabilities; /oracle = AUC / oracle AUC. "
      "Accuracy and ECE are overall. Margin: the default's AUC minus the "
      "best floor's on the slice, ± the standard deviation of that "
      "difference over paired bootstrap resamples of the eval rows "
      f"(`metrics.paired_auc_difference`, {MARGIN_RESAMPLES}), and z = "
      "margin / spread: how far a win or a loss is from the eval rows' "
      "noise.",
      "",
      *_pooled_lines(doc),
  ]
  for r in sorted(doc["settings"], key=lambda r: (
      r["seed"], DIFFICULTIES.index(r["difficulty"]))):
    res = r["result"]
    lines += [
        f"## {r['difficulty']}, seed {r['seed']}",
        "",
        f"{res['rows']['train']:,d} train rows; {res['rows']['eval']:,d} eval "
        f"rows ({res['rows'][F.SLICE_WARM]:,d} warm, "
        f"{res['rows'][F.SLICE_COLD]:,d} cold), positive rate "
        f"{res['eval_positive_rate']:.2f}; {res['seconds'] / 60:.1f} min.",
        "",
        *_setting_table(res),
        "",
        *([_recovery_line(res["label_recovery"]), ""]
          if "label_recovery" in res else []),
        _verdict_line(res),
        "",
    ]
    when = {k: v["measured"] for k, v in res.get("train", {}).items()
            if v.get("measured")}
    if when:
      lines += ["Measured: " + "; ".join(f"{k} {v}" for k, v in
                                         sorted(when.items())) + ".", ""]
    choice = res.get("train", {}).get(res.get("default"), {})
    if "cv" in choice:
      lines += [_selection_line(choice), ""]
    if "subject_mass" in res:
      lines += [_subject_line(res["subject_mass"]), ""]
  return "\n".join(lines)


def _selection_line(choice: Mapping[str, Any]) -> str:
  def l2(name, x):
    return f"no {name}" if x is None else f"{name} L2 {x:g}"

  def terms(r):
    return ", ".join(
        ([l2("user", r["user_l2"])] if r.get("user_l2") is not None else []) +
        [l2("taste", r["taste_l2"])] +
        ([l2("affinity", r["affinity_l2"])] if "affinity_l2" in r else []) +
        ([l2("image offset", r["image_l2"])] if "image_l2" in r else []))

  def candidate(r):
    # Round 1 (no optional term) is scored against nothing: no z.
    optional = (r["taste_l2"] is not None or
                r.get("affinity_l2") is not None or
                r.get("image_l2") is not None)
    z = f", z {r['z']:+.1f}" if optional else ""
    return (f"{terms(r)}: log loss {r['oof_log_loss']:.4f}, AUC "
            f"{r['oof_auc']:.3f}{z}")

  chosen = terms(choice)
  return (f"Default's stage 2 chose **{chosen}** by cross-validation on the "
          f"training pairs (out of fold: "
          f"{'; '.join(candidate(r) for r in choice['cv'])}).")


def main(argv: Optional[Sequence[str]] = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--out", default=common.DEFAULT_OUT)
  ap.add_argument("--difficulties", nargs="+", default=list(DIFFICULTIES),
                  choices=DIFFICULTIES)
  ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
  ap.add_argument("--users", type=int, default=USERS)
  ap.add_argument("--images", type=int, default=IMAGES)
  ap.add_argument("--steps", type=int, default=None,
                  help="steps of the default (default: the cpu config's)")
  ap.add_argument("--peer-steps", type=int, default=None,
                  help="steps of VBPR and BPR (default: the cpu config's)")
  ap.add_argument("--quick", action="store_true",
                  help="tiny sizes and steps, realistic seed 0, no doc")
  ap.add_argument("--json", default=JSON)
  ap.add_argument("--doc", default=DOC)
  ap.add_argument("--no-doc", action="store_true")
  ap.add_argument("--resume", action="store_true",
                  help="keep the settings the JSON already holds for the "
                  "same sizes and steps; run only the others (with "
                  "--models: run those models in every requested setting "
                  "and keep the JSON's figures of the others)")
  ap.add_argument("--set", action="append", default=[],
                  metavar="FIELD=VALUE",
                  help="change a field of the cpu config for every model "
                  "(repeatable; tuples comma-separated), e.g. --set "
                  "affinity_l2_grid=3e-2,1e-2: how a choice is tried on a "
                  "tuning seed before it becomes the default")
  ap.add_argument("--models", nargs="+", default=None,
                  choices=(DEFAULT_MODEL,) + PEERS,
                  help="train only these (default: the pipeline's default "
                  "and every peer); each figure records when and at which "
                  "commit it was measured")
  args = ap.parse_args(argv)
  given = list(sys.argv[1:] if argv is None else argv)
  try:
    overrides = dict(cfg_lib.parse_override(t, cfg_lib.get_config("cpu"))
                     for t in args.set)
  except ValueError as e:
    ap.error(str(e))
  if args.quick:
    args.users, args.images = QUICK["users"], QUICK["images"]
    args.steps, args.peer_steps = QUICK["steps"], QUICK["peer_steps"]
    if "--difficulties" not in given:
      args.difficulties = ["realistic"]
    if "--seeds" not in given:
      args.seeds = [0]
    args.no_doc = True
  json_path = (os.path.join(args.out, "model_quality.json") if args.no_doc
               else args.json)
  cpu_steps = cfg_lib.get_config("cpu").train_steps
  t0 = time.time()
  grid = [(d, s) for s in args.seeds for d in args.difficulties]
  doc: Dict[str, Any] = {
      **common.doc_header("benchmarks.model_quality", given, json_path),
      "args": {"difficulties": args.difficulties, "seeds": args.seeds,
               "users": args.users, "images": args.images,
               "steps": args.steps, "peer_steps": args.peer_steps,
               **({"overrides": {k: list(v) if isinstance(v, tuple) else v
                                 for k, v in overrides.items()}}
                  if overrides else {})},
      "settings": [], "not_run": [f"{d}/seed {s}" for d, s in grid],
      "seconds": 0.0,
  }
  earlier = 0.0
  if args.resume and os.path.exists(json_path):
    with open(json_path) as fh:
      old = json.load(fh)
    if all(old["args"].get(k) == doc["args"].get(k)
           for k in ("users", "images", "steps", "peer_steps", "overrides")):
      # Every setting the JSON holds stays in it (the document grows).
      doc["settings"] = list(old["settings"])
      for key in ("difficulties", "seeds"):
        doc["args"][key] = sorted(
            set(old["args"][key]) | set(doc["args"][key]),
            key=(DIFFICULTIES.index if key == "difficulties" else int))
      doc["not_run"] = [x for x in old.get("not_run", [])
                        if x not in doc["not_run"]] + doc["not_run"]
      doc["command"] = f"{old['command'].strip()}, resumed by {doc['command']}"
      earlier = doc["seconds"] = float(old["seconds"])
  kept = {(r["difficulty"], r["seed"]): r["result"] for r in doc["settings"]}
  for d, s in kept:
    if f"{d}/seed {s}" in doc["not_run"]:
      doc["not_run"].remove(f"{d}/seed {s}")
  for difficulty, seed in grid:
    earlier_res = kept.get((difficulty, seed))
    if earlier_res is not None and not args.models:
      continue
    print(f"== {difficulty} seed {seed}", flush=True)
    data_dir = _data_dir(args.out, difficulty, seed, args.users, args.images,
                         print)
    res = measure(data_dir, os.path.join(os.path.dirname(data_dir), "work"),
                  seed=seed, steps=args.steps or cpu_steps,
                  peer_steps=args.peer_steps or cpu_steps,
                  log=lambda m: print(m, flush=True), models=args.models,
                  earlier=earlier_res, overrides=overrides)
    res["label_recovery"] = _label_recovery(difficulty, seed, args.users,
                                            args.images)
    print(_recovery_line(res["label_recovery"]), flush=True)
    print(_verdict_line(res), flush=True)
    entry = {"difficulty": difficulty, "seed": seed, "result": res}
    if earlier_res is None:
      doc["settings"].append(entry)
      doc["not_run"].remove(f"{difficulty}/seed {seed}")
    else:
      doc["settings"] = [entry if (r["difficulty"], r["seed"]) ==
                         (difficulty, seed) else r for r in doc["settings"]]
    doc["seconds"] = earlier + time.time() - t0
    if not args.no_doc:
      common.write_doc(doc, json_path, args.doc, render)
  print(render(doc))
  if args.no_doc:
    common.write_json(json_path, doc)
  else:  # also when nothing ran: --resume re-renders the document
    common.write_doc(doc, json_path, args.doc, render)
    print(f"wrote {args.doc} and {args.json}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

"""How much per-user taste over perfect image features adds over the floors.

The question (issue 10): the pipeline's default model beats the floors on the
``realistic`` and ``easy`` demo settings but not on ``hard``. Is there room on
``hard`` at this data size at all? This benchmark fits, on the training rows
of exactly the data ``benchmarks.model_quality`` uses (same directories, the
pipeline's split and Transform through ``experiments.data``), logistic
regressions whose image features are the generator's TRUE visual attributes
(``demo_truth.json``: each image's standardised ``z`` = brightness,
sharpness, colourfulness, centredness), on a sparse design:

* ``leniency``: crowd + leniency: [centred mean vote, one-hot user];
* ``slope``: + vote slope: leniency + one-hot user x centred mean vote;
* ``attributes``: + true attributes: slope + true z, shared by every user
  (the visual part of the image's quality, beside its noisy crowd vote);
* ``taste``: + true taste: attributes + one-hot user x true z (4 per user);
* ``tags``: + tag taste: taste + the image's true tags (one indicator per
  tag of the generator's tag list), shared and x one-hot user (the
  generator's other per-user term);
* ``known``: + known taste: tags + the planted taste_u . z_v as one column
  (a diagnostic, not a ceiling of any model: what the taste would add if it
  did not have to be estimated from ~20-30 reviews per user).

Each model's L2 strength C and a scale of its per-user interaction blocks
(a scale s multiplies their penalty by 1/s^2) are chosen by 3-fold
cross-validation on the training pairs (out-of-fold log loss); the eval rows
are scored once with the chosen fit. Also reported, labelled optimistic: the
best eval AUC over the whole grid (chosen on the eval rows themselves).
Beside them the project's floors (``experiments.results.floors``) and the
Bayes-optimal AUC of the same rows (``demo_data.truth.oracle_auc``). If even
``taste`` does not beat the best floor, no model of the images can.

  python -m benchmarks.taste_ceiling      # 3 difficulties x 2 seeds
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from benchmarks import common
from benchmarks import model_quality as mq
from evaluation import metrics
from preprocessing import config as cfg_lib
from preprocessing import features as F

DOC = os.path.join(common.ROOT, "docs", "taste_ceiling.md")
JSON = os.path.join(common.ROOT, "docs", "taste_ceiling.json")
# (key, label), each model adding one block to the one before it.
MODELS = (("leniency", "(a) crowd + leniency"),
          ("slope", "(b) + vote slope"),
          ("attributes", "(c) + true attributes (z)"),
          ("taste", "(d) + true taste (user x z)"),
          ("tags", "(e) + tag taste"),
          ("known", "(f) + known taste (diagnostic)"))
MODEL_KEYS = tuple(k for k, _ in MODELS)
LABELS = dict(MODELS)
# The model whose figure answers the question.
TASTE = "taste"
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
SCALE_GRID = (0.25, 0.5, 1.0, 2.0)
FOLDS = 3
# Row columns of the pure fitting function.
USER, VOTE, Z, TAGS, KNOWN, LABEL, SLICE = (
    "user", "vote", "z", "tags", "known_taste", "label", "slice")
Rows = Dict[str, np.ndarray]


# ----------------------------------------------------------------------------
# The fits (numpy in, numbers out)
# ----------------------------------------------------------------------------
def _per_user(users: np.ndarray, x: np.ndarray, num_users: int):
  """Sparse [n, num_users * k]: row i holds x[i] in user i's k columns."""
  from scipy import sparse  # pylint: disable=g-import-not-at-top
  x = np.asarray(x, np.float64).reshape(len(users), -1)
  n, k = x.shape
  cols = users.astype(np.int64)[:, None] * k + np.arange(k)[None, :]
  return sparse.csr_matrix(
      (x.ravel(), (np.repeat(np.arange(n), k), cols.ravel())),
      shape=(n, num_users * k))


def design(rows: Rows, num_users: int, model: str, scale: float = 1.0):
  """The sparse design matrix of ``model`` (one of MODEL_KEYS).

  Args:
    rows: {USER: index in [0, num_users), VOTE: centred mean vote, Z: [n, 4]
      true attributes, TAGS: [n, T] tag indicators, KNOWN: the planted
      taste . z} (Z, TAGS and KNOWN only for the models that use them).
    num_users: the number of user indices.
    model: which columns (each model adds a block to the previous one).
    scale: multiplies the per-user interaction blocks (slope, taste, tags;
      not the shared columns).

  Returns:
    A scipy.sparse CSR matrix, one row per row of ``rows``.
  """
  from scipy import sparse  # pylint: disable=g-import-not-at-top
  if model not in MODEL_KEYS:
    raise ValueError(f"unknown model {model!r}; one of {MODEL_KEYS}")
  users = np.asarray(rows[USER], np.int64)
  if len(users) and (users.min() < 0 or users.max() >= num_users):
    raise ValueError(f"user indices outside [0, {num_users})")
  vote = np.asarray(rows[VOTE], np.float64).reshape(-1, 1)
  ones = np.ones(len(users))
  blocks = [sparse.csr_matrix(vote), _per_user(users, ones, num_users)]
  upto = MODEL_KEYS.index(model)
  # (level, columns shared by every user or None, per-user columns or None)
  extra = [(1, None, vote), (2, rows.get(Z), None), (3, None, rows.get(Z)),
           (4, rows.get(TAGS), rows.get(TAGS)), (5, rows.get(KNOWN), None)]
  for level, shared, per_user in extra:
    if upto < level:
      break
    if shared is not None:
      blocks.append(sparse.csr_matrix(
          np.asarray(shared, np.float64).reshape(len(users), -1)))
    if per_user is not None:
      blocks.append(scale * _per_user(users, per_user, num_users))
  return sparse.hstack(blocks, format="csr")


def _fit(x, y: np.ndarray, c: float, seed: int):
  from sklearn import linear_model  # pylint: disable=g-import-not-at-top
  return linear_model.LogisticRegression(
      C=c, solver="lbfgs", max_iter=2000, random_state=seed).fit(x, y)


def _slice_aucs(labels: np.ndarray, scores: np.ndarray, slices: np.ndarray
                ) -> Dict[str, float]:
  out = {mq.OVERALL: metrics.auc(labels, scores)}
  for s in mq.SLICES[1:]:
    m = slices == s
    out[s] = metrics.auc(labels[m], scores[m]) if m.any() else float("nan")
  return out


def fit_models(train: Rows, test: Rows, num_users: int, *, seed: int = 0,
               models: Sequence[str] = MODEL_KEYS,
               c_grid: Sequence[float] = C_GRID,
               scale_grid: Sequence[float] = SCALE_GRID,
               folds: int = FOLDS) -> Dict[str, Dict[str, Any]]:
  """Fits every model on ``train`` (C and scale by CV) and scores ``test``.

  Args:
    train: ``design``'s rows plus LABEL (0/1).
    test: the same plus SLICE (``F.SLICE_WARM``/``F.SLICE_COLD`` per row).
    num_users: the number of user indices.
    seed: the fold assignment's seed.
    models: which of MODEL_KEYS.
    c_grid: L2 strengths tried.
    scale_grid: interaction-block scales tried (only 1 for ``leniency``,
      which has no per-user interaction block).
    folds: cross-validation folds (stratified, shuffled).

  Returns:
    {model: {"C", "scale", "cv_log_loss": of the chosen point, "auc":
    {overall, warm, cold} of the chosen fit on ``test``, "optimistic":
    {"auc", "C", "scale"}: the best overall ``test`` AUC over the grid
    (chosen on the test rows: an upper bound, not a result)}}.
  """
  # pylint: disable=g-import-not-at-top
  from sklearn import metrics as sk_metrics
  from sklearn import model_selection
  # pylint: enable=g-import-not-at-top
  y = np.asarray(train[LABEL], np.int64)
  y_test = np.asarray(test[LABEL], np.int64)
  slices = np.asarray(test[SLICE]).astype(str)
  splits = list(model_selection.StratifiedKFold(
      folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
  out: Dict[str, Dict[str, Any]] = {}
  for model in models:
    best: Optional[Dict[str, Any]] = None
    optimistic: Optional[Dict[str, Any]] = None
    for scale in (scale_grid if model != MODEL_KEYS[0] else (1.0,)):
      x = design(train, num_users, model, scale)
      x_test = design(test, num_users, model, scale)
      for c in c_grid:
        oof = np.zeros(len(y))
        for fit_idx, held_idx in splits:
          oof[held_idx] = _fit(x[fit_idx], y[fit_idx], c, seed
                               ).predict_proba(x[held_idx])[:, 1]
        loss = float(sk_metrics.log_loss(y, oof, labels=[0, 1]))
        scores = _fit(x, y, c, seed).predict_proba(x_test)[:, 1]
        point = {"C": c, "scale": scale, "cv_log_loss": loss,
                 "auc": _slice_aucs(y_test, scores, slices)}
        if best is None or loss < best["cv_log_loss"]:
          best = point
        if (optimistic is None
            or point["auc"][mq.OVERALL] > optimistic["auc"]):
          optimistic = {"auc": point["auc"][mq.OVERALL], "C": c,
                        "scale": scale}
    out[model] = {**best, "optimistic": optimistic}
  return out


# ----------------------------------------------------------------------------
# One setting of the demo data
# ----------------------------------------------------------------------------
def _true_features(truth: Mapping[str, Any], users: Sequence[str],
                   image_ids: Sequence[str], data_dir: str
                   ) -> Dict[str, np.ndarray]:
  """{Z: [n, 4] true attributes, TAGS: [n, T] tag indicators, KNOWN: the
  planted taste . z} of (user, image) rows."""
  from demo_data import truth as truth_lib  # pylint: disable=g-import-not-at-top
  tags = list(truth["model"]["tags"])
  z, t = [], np.zeros((len(image_ids), len(tags)))
  for i, v in enumerate(image_ids):
    img = truth["images"].get(str(v))
    if img is None or "z" not in img:
      raise ValueError(f"{os.path.join(data_dir, truth_lib.TRUTH_FILE)}: "
                       f"image {v} has no true attributes (z)")
    z.append(img["z"])
    for tag in img["tags"]:
      if tag in tags:
        t[i, tags.index(tag)] = 1.0
  taste = np.asarray([truth["users"][str(u)]["taste"] for u in users],
                     np.float64)
  z = np.asarray(z, np.float64)
  return {Z: z, TAGS: t, KNOWN: (taste * z).sum(axis=1)}


def _train_ids(tft_output, train: Mapping[str, np.ndarray], column: str,
               vocab_name: str) -> List[str]:
  """Raw id of every training row's ``column``, through Transform's
  vocabulary ``vocab_name``."""
  vocab = tft_output.vocabulary_by_name(vocab_name)
  idx = np.asarray(train[column], np.int64)
  if len(idx) and idx.max() >= len(vocab):
    raise ValueError(f"{int((idx >= len(vocab)).sum())} training rows have "
                     f"a {column} outside Transform's {vocab_name}")
  return [(v.decode("utf-8") if isinstance(v, bytes) else str(v))
          for v in np.asarray(vocab, dtype=object)[idx]]


def measure(data_dir: str, work_dir: str, *, seed: int,
            log: mq.Log = print) -> Dict[str, Any]:
  """One setting: the pipeline's split and Transform, the fits, the floors.

  Returns:
    {"rows", "eval_positive_rate", "models": ``fit_models``' dict, "floors":
    {floor: {slice: metrics}}, "best_floor": {slice: {"name", "auc"}},
    "oracle_auc": {slice: AUC}, "seconds"}.
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft
  from demo_data import truth as truth_lib
  from experiments import data
  from experiments import results as results_lib
  # pylint: enable=g-import-not-at-top
  t0 = time.time()
  cfg = cfg_lib.get_config("cpu", seed=seed)
  uris = data.prepare(data_dir, work_dir, cfg,
                      min_tag_images=common.min_tag_images_for(data_dir),
                      log=log)
  tft_output = tft.TFTransformOutput(uris["transform_graph"])
  train, test = data.load_splits(uris, tft_output, cfg)
  ids = data.eval_row_ids(uris, tft_output, cfg, test)
  slices = ids[F.SLICE_KEY]
  y = test[F.LABEL_KEY].astype(np.int64)
  truth = truth_lib.load_truth(data_dir)
  num_users = len(tft_output.vocabulary_by_name(F.USER_VOCAB)) + 1  # + OOV
  rows = []
  named = ((train, _train_ids(tft_output, train, F.USER_XF, F.USER_VOCAB),
            _train_ids(tft_output, train, F.IMAGE_ID_XF, F.IMAGE_VOCAB)),
           (test, ids[F.USER_KEY], ids[F.IMAGE_ID_KEY]))
  for cols, users, images in named:
    rows.append({USER: np.minimum(cols[F.USER_XF].astype(np.int64),
                                  num_users - 1),
                 VOTE: cols[F.MEAN_SCORE_KEY] - metrics.VOTE_CENTRE,
                 LABEL: cols[F.LABEL_KEY].astype(np.int64),
                 **_true_features(truth, users, images, data_dir)})
  rows[1][SLICE] = slices
  fits = fit_models(rows[0], rows[1], num_users, seed=seed)
  floors = {k: mq._sliced(v)  # pylint: disable=protected-access
            for k, v in results_lib.floors(train, test, slices).items()}
  best = {}
  for s in mq.SLICES:
    name = metrics.best_floor({k: v[s] for k, v in floors.items()})
    best[s] = {"name": name, "auc": floors[name][s]["auc"]}
  oracle = {}
  for s in mq.SLICES:
    m = np.ones(len(y), bool) if s == mq.OVERALL else slices == s
    oracle[s] = (truth_lib.oracle_auc(truth, ids[F.USER_KEY][m],
                                      ids[F.IMAGE_ID_KEY][m], y[m])
                 if m.any() else float("nan"))
  res = {"rows": {"train": data.num_rows(train), "eval": data.num_rows(test),
                  **{s: int((slices == s).sum()) for s in mq.SLICES[1:]}},
         "users": num_users - 1,
         "eval_positive_rate": float(y.mean()),
         "models": fits, "floors": floors, "best_floor": best,
         "oracle_auc": oracle, "seconds": time.time() - t0,
         "measured": common.stamp()}
  for k in MODEL_KEYS:
    log(f"[tc] {LABELS[k]:<22s} AUC " + " / ".join(
        f"{fits[k]['auc'][s]:.3f}" for s in mq.SLICES)
        + f" (C {fits[k]['C']}, scale {fits[k]['scale']})")
  log("[tc] best floor " + " / ".join(
      f"{best[s]['name']} {best[s]['auc']:.3f}" for s in mq.SLICES)
      + "; oracle " + " / ".join(f"{oracle[s]:.3f}" for s in mq.SLICES))
  return res


# ----------------------------------------------------------------------------
# The document
# ----------------------------------------------------------------------------
def _f(x: Optional[float]) -> str:
  return "—" if x is None or x != x else f"{x:.3f}"


def _signed(x: float) -> str:
  return "—" if x != x else f"{x:+.3f}"


def _setting_table(res: Dict[str, Any]) -> List[str]:
  lines = ["| scorer | C | scale | CV log loss | AUC overall | AUC warm | "
           "AUC cold | optimistic overall (C, scale) |", "|" + "---|" * 8]
  for k in MODEL_KEYS:
    m = res["models"].get(k)
    if m is None:
      continue
    o = m["optimistic"]
    lines.append(
        f"| {LABELS[k]} | {m['C']:g} | {m['scale']:g} | "
        f"{m['cv_log_loss']:.4f} | "
        + " | ".join(_f(m["auc"][s]) for s in mq.SLICES)
        + f" | {_f(o['auc'])} ({o['C']:g}, {o['scale']:g}) |")
  for name, block in res["floors"].items():
    lines.append(f"| floor: {name} | | | | " + " | ".join(
        _f(block[s]["auc"]) for s in mq.SLICES) + " | |")
  lines.append("| Bayes-optimal (oracle) | | | | " + " | ".join(
      _f(res["oracle_auc"][s]) for s in mq.SLICES) + " | |")
  return lines


def _verdict_line(res: Dict[str, Any]) -> str:
  """Whether the true-taste model beats the best floor, slice by slice."""
  m = res["models"][TASTE]["auc"]
  parts = []
  for s in mq.SLICES:
    b = res["best_floor"][s]
    gap = m[s] - b["auc"]
    parts.append(f"{s} {_f(m[s])} vs {b['name']} {_f(b['auc'])} "
                 f"({_signed(gap)}, "
                 f"{'beats' if gap > 0 else 'does NOT beat'} it)")
  gain = m[mq.OVERALL] - res["models"]["leniency"]["auc"][mq.OVERALL]
  return (f"{LABELS[TASTE]} vs the best floor: " + "; ".join(parts)
          + f". Gain of {LABELS[TASTE]} over {LABELS['leniency']} overall: "
          f"{_signed(gain)}.")


def _reading(doc: Dict[str, Any]) -> List[str]:
  """One sentence per difficulty from the figures (means over seeds)."""
  lines = []
  for d in mq.DIFFICULTIES:
    runs = [r["result"] for r in doc["settings"] if r["difficulty"] == d]
    if not runs:
      continue

    def mean(get) -> float:
      return float(np.mean([get(r) for r in runs]))

    o = mq.OVERALL
    taste = mean(lambda r: r["models"][TASTE]["auc"][o])
    floor = mean(lambda r: r["best_floor"][o]["auc"])
    slope = mean(lambda r: r["models"]["slope"]["auc"][o])
    attributes = mean(lambda r: r["models"]["attributes"]["auc"][o])
    tags = mean(lambda r: r["models"]["tags"]["auc"][o])
    known = mean(lambda r: r["models"]["known"]["auc"][o])
    oracle = mean(lambda r: r["oracle_auc"][o])
    wins = {s: sum(r["models"][TASTE]["auc"][s] > r["best_floor"][s]["auc"]
                   for r in runs) for s in mq.SLICES}
    lines.append(
        f"- **{d}** ({len(runs)} seed{'s' if len(runs) > 1 else ''}, mean "
        f"overall AUC): {LABELS[TASTE]} {taste:.3f} vs best floor "
        f"{floor:.3f} ({_signed(taste - floor)}); it beats the best floor "
        + ", ".join(f"{s} in {wins[s]}/{len(runs)}" for s in mq.SLICES)
        + f". Over {LABELS['slope']} ({slope:.3f}) the shared true "
        f"attributes add {_signed(attributes - slope)}, the per-user taste "
        f"over them {_signed(taste - attributes)} more, tag taste "
        f"{_signed(tags - taste)} more ({tags:.3f}). With the taste known "
        f"instead of estimated: {known:.3f}; the oracle is {oracle:.3f}, "
        f"{_signed(oracle - taste)} above {LABELS[TASTE]}.")
  return lines


def render(doc: Dict[str, Any]) -> str:
  """docs/taste_ceiling.md from the JSON document."""
  a = doc["args"]
  lines = [
      "# Taste ceiling: per-user taste over the TRUE image features",
      "",
      common.produced_by(doc) + " " + mq.settings_line(doc),
      "",
      "The question: how much can a per-user taste over *perfect* image "
      "features add over the floors at this data size? The same data, "
      "split and Transform as [model_quality.md](model_quality.md) "
      "(`bench_runs/mq_<difficulty>_seed<s>_u<users>_i<images>`). Logistic "
      "regressions (scikit-learn, L2, sparse design) fitted on the training "
      "rows only: (a) centred AVA mean vote + one-hot user (leniency); (b) "
      "+ user x mean vote (a per-user vote slope); (c) + the generator's "
      "true visual attributes z (brightness, sharpness, colourfulness, "
      "centredness), shared by every user, the features no model of the "
      "pixels can beat; (d) + user x z (a true taste: 4 per user); (e) + "
      "the image's true tags, shared and x user; (f), a diagnostic beyond "
      "any model: + the planted taste_u . z_v as one column (the taste "
      "known, not estimated). C "
      f"({', '.join(f'{c:g}' for c in a['c_grid'])}) and a scale of the "
      "per-user blocks "
      f"({', '.join(f'{s:g}' for s in a['scale_grid'])}; penalty / "
      f"scale^2) by {a['folds']}-fold cross-validation on the training "
      "pairs (out-of-fold log loss); the eval rows are scored once. "
      "*Optimistic*: the best eval AUC over the grid, chosen on the eval "
      "rows (an upper bound, not a result). Floors "
      "(`evaluation.metrics`, from the training rows) and the Bayes-optimal "
      "AUC (`demo_data.truth.oracle_auc`) on the same eval rows.",
      "",
      "## Reading",
      "",
      *_reading(doc),
      "",
  ]
  for r in sorted(doc["settings"], key=lambda r: (
      r["seed"], mq.DIFFICULTIES.index(r["difficulty"]))):
    res = r["result"]
    lines += [
        f"## {r['difficulty']}, seed {r['seed']}",
        "",
        f"{res['rows']['train']:,d} train rows ({res['users']} users); "
        f"{res['rows']['eval']:,d} eval rows ({res['rows'][F.SLICE_WARM]:,d} "
        f"warm, {res['rows'][F.SLICE_COLD]:,d} cold), positive rate "
        f"{res['eval_positive_rate']:.2f}; {res['seconds'] / 60:.1f} min; "
        f"measured {res['measured']}.",
        "",
        *_setting_table(res),
        "",
        _verdict_line(res),
        "",
    ]
  return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--out", default=common.DEFAULT_OUT)
  ap.add_argument("--difficulties", nargs="+", default=list(mq.DIFFICULTIES),
                  choices=mq.DIFFICULTIES)
  ap.add_argument("--seeds", type=int, nargs="+", default=list(mq.SEEDS))
  ap.add_argument("--users", type=int, default=mq.USERS)
  ap.add_argument("--images", type=int, default=mq.IMAGES)
  ap.add_argument("--json", default=JSON)
  ap.add_argument("--doc", default=DOC)
  ap.add_argument("--no-doc", action="store_true",
                  help="write the JSON under --out, no doc")
  args = ap.parse_args(argv)
  given = list(sys.argv[1:] if argv is None else argv)
  json_path = (os.path.join(args.out, "taste_ceiling.json") if args.no_doc
               else args.json)
  t0 = time.time()
  doc: Dict[str, Any] = {
      **common.doc_header("benchmarks.taste_ceiling", given, json_path),
      "args": {"difficulties": args.difficulties, "seeds": args.seeds,
               "users": args.users, "images": args.images,
               "c_grid": list(C_GRID), "scale_grid": list(SCALE_GRID),
               "folds": FOLDS},
      "settings": [], "seconds": 0.0,
  }
  for seed in args.seeds:
    for difficulty in args.difficulties:
      print(f"== {difficulty} seed {seed}", flush=True)
      data_dir = mq._data_dir(  # pylint: disable=protected-access
          args.out, difficulty, seed, args.users, args.images, print)
      res = measure(data_dir, os.path.join(os.path.dirname(data_dir), "work"),
                    seed=seed, log=lambda m: print(m, flush=True))
      print(_verdict_line(res), flush=True)
      doc["settings"].append({"difficulty": difficulty, "seed": seed,
                              "result": res})
      doc["seconds"] = time.time() - t0
      if args.no_doc:
        common.write_json(json_path, doc)
      else:
        common.write_doc(doc, json_path, args.doc, render)
  print(render(doc))
  print(f"wrote {json_path}" + ("" if args.no_doc else f" and {args.doc}"))
  return 0


if __name__ == "__main__":
  sys.exit(main())

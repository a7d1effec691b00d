"""``cfan experiment``: the protocols, their splits, one model per variant.

``run_experiment`` = ``make_plan`` (names checked before any data work) ->
``data.prepare`` (one Transform) -> ``compare`` (every protocol: split the
rows, train each variant with the shared training core
``keras_model.training``, score it, floors beside it) -> ``report.write``.
"""
from __future__ import annotations

import dataclasses
import os
import resource
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from experiments import DEFAULT_TRAIN_STEPS
from experiments import DEFAULT_VARIANTS
from experiments import FIG9_LEVELS
from experiments import FIG9_VARIANTS
from experiments import PROTOCOLS
from experiments import data
from experiments import report
from experiments import results as results_lib
from preprocessing import config as cfg_lib
from preprocessing import features as F

Log = Callable[[str], None]
PerVariant = Dict[str, Dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Plan:
  """What one experiment trains and reports.

  Attributes:
    variants: the variants of the paper/review-free/cold-image protocols.
    protocols: the protocols (``experiments.PROTOCOLS``) to run.
    steps: training steps per model.
    seed: seed of every model, shuffle and subsample.
    fig9_levels: the reviews-per-image caps of Fig. 9.
    fig9_variants: the variants of Fig. 9.
    cfg: the model configuration (Transform and training).
  """
  variants: List[str]
  protocols: List[str]
  steps: int
  seed: int
  fig9_levels: List[int]
  fig9_variants: List[str]
  cfg: Any


def make_plan(variants: Optional[Sequence[str]] = None,
              protocols: Optional[Sequence[str]] = None,
              train_steps: Optional[int] = None,
              config_name: str = cfg_lib.DEFAULT_CONFIG,
              fig9_levels: Sequence[int] = FIG9_LEVELS,
              fig9_variants: Sequence[str] = FIG9_VARIANTS,
              seed: int = 0) -> Plan:
  """The plan, with every variant and protocol name checked.

  Raises:
    ValueError: an unknown variant or protocol name.
  """
  # pylint: disable=g-import-not-at-top
  from keras_model import variants as variants_lib
  # pylint: enable=g-import-not-at-top
  names = list(variants or DEFAULT_VARIANTS)
  for name in names + list(fig9_variants):
    variants_lib.get_variant(name)  # ValueError on a bad name
  protocols = list(protocols or PROTOCOLS)
  bad = set(protocols) - set(PROTOCOLS)
  if bad:
    raise ValueError(f"Unknown protocol(s) {sorted(bad)}; choose from "
                     f"{list(PROTOCOLS)}")
  return Plan(variants=names, protocols=protocols,
              steps=int(train_steps or DEFAULT_TRAIN_STEPS), seed=seed,
              fig9_levels=[int(k) for k in fig9_levels],
              fig9_variants=list(fig9_variants),
              cfg=cfg_lib.get_config(config_name))


def _cpu_seconds() -> float:
  me = resource.getrusage(resource.RUSAGE_SELF)
  kids = resource.getrusage(resource.RUSAGE_CHILDREN)
  return me.ru_utime + kids.ru_utime


class _Trainer:
  """Trains and scores the variants of one plan; keeps their timings."""

  def __init__(self, plan: Plan, vocab, log: Log, t_start: float,
               vote_only: Optional[data.Columns] = None):
    self.plan = plan
    self.vocab = vocab
    # Training images with votes and no review (data.vote_only_images).
    self.vote_only = vote_only
    self.timings: List[Dict[str, Any]] = []
    self._log = log
    self._t_start = t_start

  def tags(self, test: data.Columns) -> np.ndarray:
    return results_lib.tag_names_of(test, self.vocab.tag_names)

  def _one(self, name: str, train: data.Columns, test: data.Columns,
           modes: Sequence[str]) -> Dict[str, Any]:
    # pylint: disable=g-import-not-at-top
    from keras_model import inputs
    from keras_model import training
    # pylint: enable=g-import-not-at-top
    plan = self.plan
    cfg = plan.cfg.replace(variant=name, train_steps=plan.steps,
                           seed=plan.seed)
    trained = training.train(
        inputs.Rows.from_columns(train, vote_only=self.vote_only),
        self.vocab, cfg, training.FitOptions(steps=plan.steps))
    res = results_lib.evaluate(trained, test, self.tags(test), modes,
                               self.vocab.num_tags)
    res["train_seconds"] = trained.seconds
    res["steps"] = trained.steps
    if trained.threshold is not None:
      res["bpr_threshold"] = trained.threshold
    return res

  def run_split(self, split_name: str, train: data.Columns,
                test: data.Columns, names: Sequence[str],
                modes: Sequence[str]) -> PerVariant:
    """{variant: metrics} of every variant trained on ``train``."""
    per_variant = {}
    for i, name in enumerate(names):
      t = time.time()
      res = self._one(name, train, test, modes)
      per_variant[name] = res
      total = time.time() - t
      self.timings.append({"split": split_name, "variant": name,
                           "train_seconds": res["train_seconds"],
                           "total_seconds": total})
      summary = "  ".join(
          f"{m}: acc {res[m]['overall']['accuracy']:.3f} "
          f"AUC {res[m]['overall']['auc']:.3f}" for m in modes)
      self._log(
          f"[exp] {split_name:<18s} {i + 1}/{len(names)} {name:<15s} "
          f"train {res['train_seconds']:5.1f} s, total {total:5.1f} s | "
          f"{summary} | elapsed {(time.time() - self._t_start) / 60:.1f} min")
    return per_variant


def _split_protocols(runner: _Trainer, train: data.Columns,
                     test: data.Columns) -> Dict[str, Any]:
  """paper and review-free: the pipeline's split, the same models."""
  plan = runner.plan
  res = runner.run_split("pipeline split", train, test, plan.variants,
                         ("given", "free"))
  return {proto: results_lib.protocol_block(
      "the pipeline's train/eval split (build-examples, ExampleGen)", review,
      train, test, runner.tags(test), res)
          for proto, review in (("paper", "given"), ("review-free", "free"))
          if proto in plan.protocols}


def _cold_image_protocol(runner: _Trainer, train: data.Columns,
                         test: data.Columns, log: Log) -> Dict[str, Any]:
  """cold-image: every row re-split by image; test images unseen."""
  cold_train, cold_test = data.cold_image_split(data.concat(train, test),
                                                runner.vocab.num_images)
  log(f"[exp] cold-image split: {data.num_rows(cold_train):,d} train / "
      f"{data.num_rows(cold_test):,d} test rows, "
      f"{data.num_images(cold_test)} unseen test images")
  res = runner.run_split("cold-image split", cold_train, cold_test,
                         runner.plan.variants, ("free",))
  return results_lib.protocol_block(
      "by image (md5 of the image index), test images unseen", "free",
      cold_train, cold_test, runner.tags(cold_test), res)


def _reviews_per_image(runner: _Trainer, train: data.Columns,
                       test: data.Columns) -> Dict[str, Any]:
  """Fig. 9: the training rows capped at k reviews per image, per k."""
  plan = runner.plan
  tags = runner.tags(test)
  points = []
  for k in plan.fig9_levels:
    sub = data.subsample_per_image(train, k, plan.seed)
    res = runner.run_split(f"<= {k} reviews/image", sub, test,
                           plan.fig9_variants, ("given", "free"))
    points.append({
        "max_reviews": k, "train_rows": data.num_rows(sub),
        "mean_reviews_per_image": data.mean_reviews_per_image(sub),
        "floors": results_lib.floors(sub, test, tags),
        "variants": {n: {"given": r["given"]["overall"],
                         "free": r["free"]["overall"],
                         "given_tag_mean": r["given"]["tag_mean"],
                         "free_tag_mean": r["free"]["tag_mean"]}
                     for n, r in res.items()},
    })
  return {"variants": plan.fig9_variants, "test_rows": data.num_rows(test),
          "points": points}


def compare(plan: Plan, uris: Dict[str, Any], *, data_dir: str,
            log: Log = print, t_start: Optional[float] = None
            ) -> Dict[str, Any]:
  """Every protocol of ``plan`` on the Transform output ``uris``.

  Args:
    plan: what to train and report.
    uris: ``data.prepare``'s result (Transform and ExampleGen outputs).
    data_dir: the data directory (recorded in the results).
    log: where progress lines go.
    t_start: start time of the whole run (for the elapsed time in the log).

  Returns:
    The results dict (results.json without timing and files).
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft
  from keras_model import inputs
  from keras_model import variants as variants_lib
  # pylint: enable=g-import-not-at-top
  t0 = time.time()
  tft_output = tft.TFTransformOutput(uris["transform_graph"])
  vocab = inputs.Vocab(tft_output, plan.cfg)
  train, test = data.load_splits(uris, tft_output, plan.cfg)
  load_seconds = time.time() - t0
  log(f"[exp] data loaded in {load_seconds:.0f} s: "
      f"{data.num_rows(train):,d} train / {data.num_rows(test):,d} test rows "
      f"(pipeline split), {vocab.num_users - 1} users, "
      f"{vocab.num_images - 1} images, {len(vocab.tag_names)} tags; "
      f"{plan.steps} steps per model")
  results: Dict[str, Any] = {
      "data": os.path.abspath(data_dir), "config": plan.cfg.to_dict(),
      "train_steps": plan.steps, "seed": plan.seed,
      "variants": plan.variants, "protocols": {},
      "transform": {k: v for k, v in uris.items()
                    if k != "examples_summary"},
      "examples_summary": uris.get("examples_summary"),
      "labels": {n: variants_lib.get_variant(n).label
                 for n in set(plan.variants) | set(plan.fig9_variants)},
      "tags": list(vocab.tag_names),
  }
  runner = _Trainer(plan, vocab, log, t_start or t0,
                    vote_only=data.vote_only_images(uris, tft_output))
  if {"paper", "review-free"} & set(plan.protocols):
    results["protocols"].update(_split_protocols(runner, train, test))
  if "cold-image" in plan.protocols:
    results["protocols"]["cold-image"] = _cold_image_protocol(
        runner, train, test, log)
  if "reviews-per-image" in plan.protocols:
    results["reviews_per_image"] = _reviews_per_image(runner, train, test)
  results["timing"] = {"models": runner.timings, "load_seconds": load_seconds}
  return results


def run_experiment(data_dir: str, out_dir: str, *,
                   variants: Optional[Sequence[str]] = None,
                   protocols: Optional[Sequence[str]] = None,
                   train_steps: Optional[int] = None,
                   config_name: str = cfg_lib.DEFAULT_CONFIG,
                   min_tag_images: Optional[int] = None,
                   min_tag_share: float = F.DEFAULT_MIN_TAG_SHARE,
                   fig9_levels: Sequence[int] = FIG9_LEVELS,
                   fig9_variants: Sequence[str] = FIG9_VARIANTS,
                   beam_args: Sequence[str] = (), seed: int = 0,
                   log: Log = print) -> Dict[str, Any]:
  """Runs the comparison; writes results.json, results.md and the figures.

  Args:
    data_dir: the AVA-review directory.
    out_dir: the results directory (``work/`` inside holds the data run).
    variants, protocols, train_steps, config_name, fig9_levels,
      fig9_variants, seed: see ``make_plan``.
    min_tag_images, min_tag_share: the major-tag rule of build-examples
      (an absolute count; None: the share of the images).
    beam_args: Beam flags of build-examples and Transform.
    log: where progress lines go.

  Returns:
    The results (as in results.json) with "files": {kind: path}.
  """
  plan = make_plan(variants, protocols, train_steps, config_name,
                   fig9_levels, fig9_variants, seed)
  t_start, cpu_start = time.time(), _cpu_seconds()
  out_dir = os.path.abspath(out_dir)
  uris = data.prepare(data_dir, os.path.join(out_dir, "work"), plan.cfg,
                      min_tag_images=min_tag_images,
                      min_tag_share=min_tag_share, beam_args=beam_args,
                      log=log)
  prepare_seconds = time.time() - t_start
  results = compare(plan, uris, data_dir=data_dir, log=log, t_start=t_start)
  timing = results["timing"]
  timing.update({
      "wall_seconds": time.time() - t_start,
      "cpu_user_seconds": _cpu_seconds() - cpu_start,
      # The data preparation: the data run and loading the rows.
      "prepare_seconds": prepare_seconds + timing["load_seconds"],
      "cpu_count": os.cpu_count(),
  })
  paths = report.write(results, out_dir)
  results["files"] = paths
  log(f"[exp] done in {results['timing']['wall_seconds'] / 60:.1f} min wall, "
      f"{results['timing']['cpu_user_seconds'] / 60:.1f} min user CPU; "
      f"wrote {', '.join(os.path.basename(p) for p in paths.values())} in "
      f"{out_dir}")
  return results

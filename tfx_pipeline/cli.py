"""The ``cfan`` command line.

Subcommands are discoverable with ``cfan --help`` and ``cfan CMD --help``.
Heavy imports (TensorFlow, Beam, TFX) happen inside each command so that
``--help`` answers at once.

Beam flags reach every Beam-based stage unchanged: repeat ``--beam-arg`` or
put them after ``--``, e.g. ``cfan build-examples --data D --out E --
--runner=DataflowRunner --project=P --region=R --temp_location=gs://...``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import List, Optional, Sequence

from preprocessing import keras_env as _keras_env  # noqa: F401
from preprocessing import config as cfg_lib
from preprocessing import features as F
from preprocessing import progress as progress_lib
from tfx_pipeline import beam_presets
from tfx_pipeline import console

BEAM_PRESETS = sorted(beam_presets.PRESETS)


def _split_beam_args(argv: Sequence[str]):
  argv = list(argv)
  if "--" in argv:
    i = argv.index("--")
    return argv[:i], argv[i + 1:]
  return argv, []


def _demo_data_progress():
  """demo_data's ``progress(stage, done, total)``: one progress bar per
  stage (drawn by ``tfx_pipeline.console``)."""
  reporters = {}

  def progress(stage: str, done: int, total: int) -> None:
    if stage not in reporters:
      reporters[stage] = progress_lib.Reporter(
          "demo data", total, unit=stage.rstrip("s"))
    reporters[stage].update(done)

  return progress


# ----------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------
def cmd_demo_data(args: argparse.Namespace, beam_args: List[str]) -> int:
  del beam_args
  import demo_data  # pylint: disable=g-import-not-at-top
  t0 = time.time()
  summary = demo_data.generate(
      args.out, users=args.users, images=args.images, seed=args.seed,
      scale=args.scale, layout=args.layout, difficulty=args.difficulty,
      progress=None if args.quiet else _demo_data_progress())
  print(f"wrote AVA-review directory {args.out} in {time.time() - t0:.1f} s")
  print(json.dumps({k: v for k, v in summary.items()
                    if isinstance(v, (int, float, str))}, indent=2))
  return 0


def cmd_build_examples(args: argparse.Namespace, beam_args: List[str]) -> int:
  # pylint: disable=g-import-not-at-top
  from preprocessing import build_examples
  from preprocessing import examples_summary
  # pylint: enable=g-import-not-at-top
  t0 = time.time()
  print(f"build-examples: {args.data} -> {args.out} "
        f"(Beam args: {' '.join(beam_args) or 'DirectRunner defaults'})",
        file=sys.stderr)
  summary = build_examples.run(
      args.data, args.out, min_tag_images=args.min_tag_images,
      min_tag_share=args.min_tag_share,
      max_side=args.image_max_side, beam_args=beam_args,
      cold_image_share=args.cold_image_share,
      warm_pair_share=args.warm_pair_share)
  print(examples_summary.format_summary(summary))
  print(f"examples: {os.path.join(args.out, build_examples.EXAMPLES_SUBDIR)}")
  print(f"rejects:  {os.path.join(args.out, build_examples.REJECTS_SUBDIR)}")
  print(f"summary:  {os.path.join(args.out, build_examples.SUMMARY_FILE)}")
  print(f"done in {time.time() - t0:.1f} s")
  build_examples.check_kept(summary, args.data, args.out)
  return 0


def cmd_run(args: argparse.Namespace, beam_args: List[str]) -> int:
  from tfx_pipeline import local_runner  # pylint: disable=g-import-not-at-top
  res = local_runner.run(
      args.data, args.workdir, config_name=args.config, beam_args=beam_args,
      train_steps=args.train_steps, min_auc=args.min_auc,
      min_tag_images=args.min_tag_images, min_tag_share=args.min_tag_share,
      schema_path=args.schema,
      log=console.stage)
  print(local_runner.format_result(res, components=False))
  return 0


def cmd_demo(args: argparse.Namespace, beam_args: List[str]) -> int:
  """Demo data -> examples -> full pipeline -> pushed model -> report."""
  import demo_data  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import local_runner  # pylint: disable=g-import-not-at-top
  t0 = time.time()
  data_dir = os.path.join(args.workdir, "data")
  if not os.path.exists(os.path.join(data_dir, F.AVA_FILE)):
    console.stage(f"demo: generating demo data in {data_dir}")
    demo_data.generate(data_dir, users=args.users, images=args.images,
                       seed=args.seed, progress=_demo_data_progress())
  else:
    console.stage(f"demo: reusing demo data in {data_dir}")
  res = local_runner.run(
      data_dir, args.workdir, config_name=args.config, beam_args=beam_args,
      train_steps=args.train_steps, min_auc=args.min_auc,
      min_tag_images=cfg_lib.DEMO_MIN_TAG_IMAGES, log=console.stage)
  print(local_runner.format_result(res, components=False))
  print(f"total:        {(time.time() - t0) / 60:.1f} min")
  return 0


def cmd_predict(args: argparse.Namespace, beam_args: List[str]) -> int:
  del beam_args
  from tfx_pipeline import predict  # pylint: disable=g-import-not-at-top
  rows = predict.read_pairs(args.pairs)
  scorer = predict.Scorer(args.model)
  print(f"predict: model {scorer.model_dir}, {len(rows):,d} pairs",
        file=sys.stderr)
  profile = predict.read_profile(args.profile)
  out = predict.predict_rows(
      scorer, rows, args.images, batch_size=args.batch_size,
      progress=predict.tqdm_progress(len(rows), "scoring"), profile=profile)
  predict.write_rows(args.out, out)
  errors = sum(1 for r in out if r["error"])
  cold = sum(1 for r in out if r["known_user"] == 0)
  rule = ("personal head read through the given profile" if profile and
          cfg_lib.COLD_USER_PROFILE_PERSONAL else "p_personal = p_agnostic")
  print(f"wrote {args.out}: {len(out):,d} rows = {len(out) - errors:,d} "
        f"scored + {errors:,d} with an error; {cold:,d} scored for users the "
        f"model never saw (cold start: {rule})")
  return 0


def cmd_compile(args: argparse.Namespace, beam_args: List[str]) -> int:
  from tfx_pipeline import kubeflow_runner  # pylint: disable=g-import-not-at-top
  root = args.pipeline_root.rstrip("/")
  floors = None
  if args.floors_from:
    from preprocessing import build_examples  # pylint: disable=g-import-not-at-top
    from preprocessing import eval_split  # pylint: disable=g-import-not-at-top
    floors = eval_split.best_floors(
        build_examples.load_summary(args.floors_from))
  job = kubeflow_runner.compile_kubeflow(
      image=args.image, out_path=args.out, pipeline_root=root,
      examples_dir=args.examples or f"{root}/examples/examples",
      serving_model_dir=args.serving_dir or f"{root}/serving",
      config_name=args.config, pipeline_name=args.pipeline_name,
      beam_args=beam_args, min_auc=args.min_auc, floors=floors)
  order = kubeflow_runner.task_order(job)
  print(f"wrote {args.out}: {len(order)} tasks ({' -> '.join(order)}); "
        f"runtime parameters: {', '.join(kubeflow_runner.runtime_parameters(job))}")
  return 0


def cmd_score_folder(args: argparse.Namespace, beam_args: List[str]) -> int:
  """Ranks a folder of photos for one user (tfx_pipeline/score_folder.py)."""
  del beam_args
  from tfx_pipeline import predict  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import score_folder  # pylint: disable=g-import-not-at-top
  names = score_folder.list_images(args.images)
  profile = predict.read_profile(args.profile)
  scorer = predict.Scorer(args.model)
  print(f"score-folder: model {scorer.model_dir}, {len(names):,d} photos in "
        f"{args.images}", file=sys.stderr)
  result = score_folder.score_folder(
      scorer, args.user, args.images, profile=profile,
      batch_size=args.batch_size, top=args.top,
      progress=score_folder.tqdm_bar(len(names)) if names else None)
  score_folder.write_rows(args.out, result.rows)
  print(score_folder.summary(result, args.user, args.images, args.out,
                             args.top))
  return 0


def cmd_explain(args: argparse.Namespace, beam_args: List[str]) -> int:
  """Attention overlay of one photo for one or two users (Fig. 4 style)."""
  del beam_args
  from tfx_pipeline import explain  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import predict  # pylint: disable=g-import-not-at-top
  if args.user2 is None and (args.review2 or args.profile2):
    raise ValueError("--review2/--profile2 need --user2")
  panels = [explain.Panel(args.user, args.review or "",
                          predict.read_profile(args.profile))]
  if args.user2 is not None:
    panels.append(explain.Panel(args.user2, args.review2 or "",
                                predict.read_profile(args.profile2)))
  scorer = predict.Scorer(args.model)
  results = explain.explain(scorer, args.image, panels, args.out)
  print(explain.summary(results, args.out))
  return 0


def cmd_experiment(args: argparse.Namespace, beam_args: List[str]) -> int:
  """Paper comparison: one Transform, every variant x protocol."""
  from experiments import run as experiment  # pylint: disable=g-import-not-at-top
  res = experiment.run_experiment(
      args.data, args.out, variants=args.variants,
      protocols=args.protocols, train_steps=args.train_steps,
      config_name=args.config, min_tag_images=args.min_tag_images,
      min_tag_share=args.min_tag_share, fig9_levels=args.fig9_levels, fig9_variants=args.fig9_variants,
      beam_args=beam_args, seed=args.seed)
  for key, path in res["files"].items():
    print(f"{key:<9s} {path}")
  return 0


def cmd_configs(args: argparse.Namespace, beam_args: List[str]) -> int:
  del beam_args
  names = [args.name] if args.name else sorted(cfg_lib.CONFIGS)
  print(json.dumps({n: cfg_lib.get_config(n).to_dict() for n in names},
                   indent=2))
  return 0


# ----------------------------------------------------------------------------
# Parser
# ----------------------------------------------------------------------------
def _add_tag_rule_args(p: argparse.ArgumentParser) -> None:
  """The major-tag rule (Kao et al.): a share of the images, or a count."""
  rule = p.add_mutually_exclusive_group()
  rule.add_argument(
      "--min-tag-share", type=float, default=F.DEFAULT_MIN_TAG_SHARE,
      metavar="F", help="a tag is major when at least this share of the "
      "images in AVA.txt carry it (default %(default).6g = "
      f"{F.AVA_MAJOR_TAG_IMAGES:,d}/{F.AVA_NUM_IMAGES:,d}: AVA's 29 major "
      "tags on full AVA, and a proportional threshold on any size); reviews "
      "of images without a major tag are set aside (no_major_tag)")
  rule.add_argument(
      "--min-tag-images", type=int, default=None, metavar="N",
      help="instead of --min-tag-share: a tag is major when at least N "
      f"images carry it (Kao et al. use {F.AVA_MAJOR_TAG_IMAGES:,d} on AVA; "
      f"`cfan demo` uses {cfg_lib.DEMO_MIN_TAG_IMAGES})")


def _add_demo_size_args(p: argparse.ArgumentParser) -> None:
  """Size and seed of the generated demo data (demo-data and demo)."""
  p.add_argument("--users", type=int, default=cfg_lib.DEMO_DEFAULT_USERS,
                 help="number of reviewers (default %(default)s)")
  p.add_argument("--images", type=int, default=cfg_lib.DEMO_DEFAULT_IMAGES,
                 help="number of images (default %(default)s)")
  p.add_argument("--seed", type=int, default=0,
                 help="random seed: the same seed writes the same data")


def _add_config_arg(p: argparse.ArgumentParser, default: str) -> None:
  p.add_argument("--config", choices=sorted(cfg_lib.CONFIGS), default=default,
                 help="model config (see `cfan configs`; default "
                 "%(default)s): paper = the paper's VGG-16 CFAN, needs the "
                 "ImageNet weights; cpu = a small CNN that trains on a CPU")


def _add_demo_data_parser(sub) -> None:
  """``cfan demo-data``."""
  p = sub.add_parser("demo-data", help="write a synthetic AVA-review "
                     "directory with planted personal tastes")
  p.add_argument("out", help="output directory")
  _add_demo_size_args(p)
  p.add_argument("--scale", type=float, default=None,
                 help=f"about SCALE x {cfg_lib.DEMO_SCALE_REVIEWS_PER_UNIT} "
                 "reviews (overrides --users/--images); 100 for benchmarks")
  p.add_argument("--layout", choices=("reviews", "uir"), default="reviews",
                 help=f"{F.REVIEWS_FILE} (crawler blocks) or {F.UIR_FILE}")
  from demo_data import difficulty as demo_difficulty  # pylint: disable=g-import-not-at-top
  p.add_argument("--difficulty", choices=demo_difficulty.DIFFICULTIES,
                 default=demo_difficulty.EASY.name,
                 help="easy: the review states the planted judgement plainly "
                 "(the default demo); realistic: ~80%% good labels, lenient "
                 "and strict users, critique idiom, sarcasm, typos, label "
                 "noise, quality the pixels do not show, ~5%% of images "
                 "with votes but no review (held-out Bayes AUC ~0.88 at "
                 "2,000 images / 300 users); hard: noisier on every axis "
                 "(Bayes ~0.80). Each writes heldout_pairs.csv and the "
                 "oracle and floor AUCs into demo_truth.json")
  p.add_argument("--quiet", action="store_true",
                 help="no progress bars, only the closing summary")
  p.set_defaults(func=cmd_demo_data)


def _add_build_examples_parser(sub) -> None:
  """``cfan build-examples``."""
  p = sub.add_parser("build-examples", help="Beam job: recover personal "
                     "ratings from reviews (paper §4.1) and write tf.Examples")
  p.add_argument("--data", required=True, help="AVA-review directory")
  p.add_argument("--out", required=True, help="output directory")
  _add_tag_rule_args(p)
  p.add_argument("--image-max-side", type=int,
                 default=cfg_lib.STORED_IMAGE_MAX_SIDE,
                 help="longest side of the stored JPEG copy of each image")
  p.add_argument("--cold-image-share", type=float,
                 default=cfg_lib.EVAL_COLD_IMAGE_SHARE,
                 help="share of images held out entirely: all their reviews "
                 "go to the eval split (cold images, never seen in "
                 "training); by a stable hash of the image id")
  p.add_argument("--warm-pair-share", type=float,
                 default=cfg_lib.EVAL_WARM_PAIR_SHARE,
                 help="share of the other images' (user, image) pairs that "
                 "go to the eval split (warm images); an image left without "
                 "a training review counts as cold")
  p.add_argument("--beam-arg", action="append", default=[],
                 help="a Beam pipeline flag (repeatable)")
  p.add_argument("--beam-preset", choices=BEAM_PRESETS, default=None,
                 help="start from a runner preset (see BUILD.md)")
  p.set_defaults(func=cmd_build_examples)


def _add_run_args(p: argparse.ArgumentParser, data: bool) -> None:
  """Options shared by ``cfan run`` and ``cfan demo``."""
  if data:
    p.add_argument("--data", required=True, help="AVA-review directory")
  p.add_argument("--workdir", required=True if data else False,
                 default=None if data else "demo_run",
                 help="run directory (examples, TFX artifacts, ML "
                 "Metadata SQLite, serving/, reports/)")
  _add_config_arg(p, cfg_lib.DEFAULT_CONFIG)
  p.add_argument("--train-steps", type=int, default=None,
                 help="override the config's training steps")
  p.add_argument("--min-auc", type=float, default=cfg_lib.MIN_PERSONAL_AUC,
                 help="Evaluator gate: review-free personal AUC needed to "
                 "push (and never worse than the blessed baseline)")
  p.add_argument("--beam-arg", action="append", default=[],
                 help="a Beam pipeline flag for every Beam stage "
                 "(repeatable)")
  p.add_argument("--beam-preset", choices=BEAM_PRESETS, default=None,
                 help="start from a runner preset (see BUILD.md)")


def _add_run_parser(sub) -> None:
  """``cfan run``."""
  p = sub.add_parser("run", help="run the whole TFX pipeline on an "
                     "AVA-review directory")
  _add_run_args(p, data=True)
  _add_tag_rule_args(p)
  p.add_argument("--schema", default=None, metavar="SCHEMA_PBTXT",
                 help="curated schema to validate the examples against "
                 "(default: inferred by SchemaGen); any anomaly stops the "
                 "run before training and is listed")
  p.set_defaults(func=cmd_run)


def _add_demo_parser(sub) -> None:
  """``cfan demo``."""
  p = sub.add_parser("demo", help="demo data -> full pipeline -> pushed "
                     "model -> report (what `make demo` runs)")
  _add_run_args(p, data=False)
  _add_demo_size_args(p)
  p.set_defaults(func=cmd_demo)


def _add_predict_parser(sub) -> None:
  """``cfan predict``."""
  p = sub.add_parser("predict", help="score user,image pairs with an "
                     "exported model")
  p.add_argument("--model", required=True,
                 help="serving dir (highest version used) or a SavedModel")
  p.add_argument("--pairs", required=True,
                 help="CSV with user_id,image_id[,review]")
  p.add_argument("--images", required=True, help="directory of <id>.jpg|png")
  p.add_argument("--out", required=True, help="output CSV")
  p.add_argument("--batch-size", type=int, default=64,
                 help="pairs scored per model call (default %(default)s)")
  p.add_argument("--profile", default=None, metavar="FILE",
                 help="a few of the user's reviews, one per line: read "
                 "instead of the stored profile when a row has no review")
  p.set_defaults(func=cmd_predict)


def _add_compile_parser(sub) -> None:
  """``cfan compile``."""
  p = sub.add_parser("compile", help="compile the pipeline for Kubeflow "
                     "Pipelines / Vertex AI (KFP v2 JSON)")
  p.add_argument("--target", choices=("kubeflow",), default="kubeflow",
                 help="orchestrator to compile for (Kubeflow Pipelines v2, "
                 "which Vertex AI Pipelines runs)")
  p.add_argument("--image", required=True, help="pipeline container image")
  p.add_argument("--out", required=True, help="output JSON path")
  p.add_argument("--pipeline-root", default="gs://YOUR_BUCKET/cfan",
                 help="artifact root on shared storage")
  p.add_argument("--examples", default=None, help="labelled examples dir "
                 "(output of build-examples; default ROOT/examples/examples)")
  p.add_argument("--serving-dir", default=None,
                 help="Pusher destination (default ROOT/serving)")
  _add_config_arg(p, "paper")
  p.add_argument("--pipeline-name", default="cfan-aesthetics",
                 help="pipeline name in the compiled job")
  p.add_argument("--min-auc", type=float, default=cfg_lib.MIN_PERSONAL_AUC,
                 help="Evaluator gate: review-free personal AUC needed to "
                 "push (default %(default)s)")
  p.add_argument("--floors-from", default=None, metavar="EXAMPLES_OUT",
                 help="build-examples output directory (local or gs://) "
                 "whose summary.json floors the Evaluator gates on (beat "
                 "the best floor overall and on cold images); without it "
                 "the compiled gate is --min-auc and the blessed baseline "
                 "only")
  p.add_argument("--beam-arg", action="append", default=[],
                 help="a Beam flag for every Beam component (repeatable)")
  p.add_argument("--beam-preset", choices=BEAM_PRESETS, default=None,
                 help="start from a runner preset (see BUILD.md)")
  p.set_defaults(func=cmd_compile)


def _add_score_folder_parser(sub) -> None:
  """``cfan score-folder``."""
  p = sub.add_parser("score-folder", help="rank a folder of photos for "
                     "one user (best first; unreadable photos listed last)")
  p.add_argument("--model", required=True,
                 help="serving dir (highest version used) or a SavedModel")
  p.add_argument("--user", required=True, help="user id")
  p.add_argument("--images", required=True,
                 help="folder of .jpg/.jpeg/.png photos (not recursive)")
  p.add_argument("--out", required=True, help="output CSV (rank, file, "
                 "p_personal, p_agnostic, tag, known_user, error)")
  p.add_argument("--top", type=int, default=None, metavar="K",
                 help="keep the K best photos (errors are always listed)")
  p.add_argument("--profile", default=None, metavar="FILE",
                 help="a few of the user's reviews, one per line (read "
                 "instead of the stored profile; personalises unknown users)")
  p.add_argument("--batch-size", type=int,
                 default=cfg_lib.SCORE_FOLDER_BATCH_SIZE,
                 help="photos scored per model call (default %(default)s)")
  p.set_defaults(func=cmd_score_folder)


def _add_explain_parser(sub) -> None:
  """``cfan explain``."""
  p = sub.add_parser("explain", help="draw the attention map (Eq. 5; an "
                     "occlusion map for a model without attention) "
                     "over a photo for one user, or two side by side")
  p.add_argument("--model", required=True,
                 help="serving dir (highest version used) or a SavedModel")
  p.add_argument("--user", required=True, help="user id")
  p.add_argument("--image", required=True, help="a .jpg/.jpeg/.png photo")
  p.add_argument("--review", default="", help="the user's review of it")
  p.add_argument("--profile", default=None, metavar="FILE",
                 help="a few of the user's reviews, one per line")
  p.add_argument("--user2", default=None, help="a second user, drawn beside")
  p.add_argument("--review2", default="",
                 help="the second user's review of it")
  p.add_argument("--profile2", default=None, metavar="FILE",
                 help="a few of the second user's reviews, one per line")
  p.add_argument("--out", required=True, help="output PNG")
  p.set_defaults(func=cmd_explain)


def _add_experiment_parser(sub) -> None:
  """``cfan experiment``."""
  p = sub.add_parser("experiment", help="the paper's comparison (Fig. 7, "
                     "8, 9): every model variant on one Transform output, "
                     "several protocols")
  p.add_argument("--data", required=True, help="AVA-review directory")
  p.add_argument("--out", required=True, help="results directory (results."
                 "json, results.md, fig7/8/9 PNGs, work/ with the Transform "
                 "run and its ML Metadata)")
  p.add_argument("--variants", nargs="+", default=None, metavar="NAME",
                 help="model variants (default: all: bpr vbpr cfn-pure-2task "
                 "cfn-1task cfan-1task cfan-2task cfan-3task mtrl-cnn)")
  p.add_argument("--protocols", nargs="+", default=None, metavar="NAME",
                 help="paper review-free cold-image reviews-per-image "
                 "(default: all)")
  p.add_argument("--train-steps", type=int, default=None,
                 help="training steps per model (default 500)")
  p.add_argument("--fig9-levels", type=int, nargs="+", default=[1, 2, 4, 8],
                 metavar="K", help="reviews-per-image protocol: keep at most "
                 "K reviews per image in training")
  p.add_argument("--fig9-variants", nargs="+",
                 default=["cfn-1task", "cfan-1task"], metavar="NAME",
                 help="variants of the reviews-per-image protocol (Fig. 9)")
  _add_config_arg(p, cfg_lib.DEFAULT_CONFIG)
  _add_tag_rule_args(p)
  p.add_argument("--seed", type=int, default=0,
                 help="random seed of the models and the protocols' splits")
  p.add_argument("--beam-arg", action="append", default=[],
                 help="a Beam pipeline flag (repeatable)")
  p.set_defaults(func=cmd_experiment)


def _add_configs_parser(sub) -> None:
  """``cfan configs``."""
  p = sub.add_parser("configs", help="print the named model configs")
  p.add_argument("name", nargs="?", choices=sorted(cfg_lib.CONFIGS),
                 help="one config (default: all)")
  p.set_defaults(func=cmd_configs)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="cfan",
      description="Personalized image aesthetics (CFAN, IJCAI 2018) as a TFX "
                  "pipeline. Beam flags go after '--' or via --beam-arg.")
  sub = parser.add_subparsers(dest="command", metavar="COMMAND")
  sub.required = True

  _add_demo_data_parser(sub)
  _add_build_examples_parser(sub)
  _add_run_parser(sub)
  _add_demo_parser(sub)
  _add_predict_parser(sub)
  _add_compile_parser(sub)
  _add_score_folder_parser(sub)
  _add_explain_parser(sub)
  _add_experiment_parser(sub)
  _add_configs_parser(sub)
  for p in sub.choices.values():
    p.add_argument("--verbose", action="store_true",
                   help="show everything on the terminal as it happens "
                   "(TensorFlow, absl, Beam and TFX logs, warnings); by "
                   "default it goes to the command's log file only "
                   f"(WORKDIR/{console.LOGS_DIR}/COMMAND-TIME.log)")
  return parser


# Where each command's log goes: its work or output directory's logs/
# (demo-data's OUT is the data directory, whose files are fingerprinted, and
# the others write no directory: console.FALLBACK_LOG_ROOT).
_LOG_ROOT_ARG = {"run": "workdir", "demo": "workdir",
                 "build-examples": "out", "experiment": "out"}


def main(argv: Optional[Sequence[str]] = None) -> int:
  argv = sys.argv[1:] if argv is None else list(argv)
  own, beam_args = _split_beam_args(argv)
  parser = build_parser()
  args = parser.parse_args(own)
  beam_args = list(getattr(args, "beam_arg", []) or []) + beam_args
  try:
    beam_args = beam_presets.beam_args_for(getattr(args, "beam_preset", None),
                                           beam_args)
  except ValueError as e:
    parser.error(str(e))
  log_root = getattr(args, _LOG_ROOT_ARG.get(args.command, ""), None)
  with console.session(args.command, log_root, args.verbose):
    try:
      return args.func(args, beam_args)
    except (FileNotFoundError, ValueError) as e:
      logging.getLogger(__name__).info("cfan %s failed", args.command,
                                       exc_info=True)
      print(f"cfan {args.command}: error: {e}", file=sys.stderr)
      return 2
    except Exception as e:  # pylint: disable=broad-except
      logging.getLogger(__name__).error("cfan %s failed", args.command,
                                        exc_info=True)
      print(f"cfan {args.command}: failed: {type(e).__name__}: {e} "
            "(traceback in the log)", file=sys.stderr)
      return 1


def entry_point() -> None:
  """Console-script entry: exits without running TF's finalizers.

  TensorFlow 2.16 raises ignored exceptions from ``AtomicFunction.__del__``
  while the interpreter tears down after a pipeline run; the results are on
  disk by then, so flush and leave.
  """
  rc = main()
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(rc)  # pylint: disable=protected-access


if __name__ == "__main__":
  entry_point()

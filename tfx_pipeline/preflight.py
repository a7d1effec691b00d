"""Checks before ``cfan run`` starts any Beam stage: fail in seconds, with the fix.

A run converts the whole data directory (build-examples), then runs
ExampleGen, StatisticsGen and Transform over it before the Trainer starts;
whatever only a later stage would trip over is checked here first:

* the model config's ImageNet VGG-16 weights (``paper``: nothing is ever
  downloaded; ``ModelConfig.resolve_vgg16_weights`` is where they are looked
  for);
* a writable work directory;
* free disk in it for the projected size of the run's data: the number of
  reviews times the stored JPEG of a sampled image times the copies the run
  writes (``DATA_COPIES``);
* Python and the TFX stack at the versions ``uv.lock`` pins.

``check`` runs them all and raises one ``PreflightError`` (a ValueError, so
``cfan`` prints it and exits 2) listing every problem with its fix.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import random
import re
import shutil
import sys
import uuid
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from preprocessing import config as cfg_lib
from preprocessing import features as F

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCK_FILE = os.path.join(REPO_ROOT, "uv.lock")
# Installed packages checked against uv.lock: the stack whose versions must
# agree (BUILD.md, "Why the stack is pinned").
LOCKED_PACKAGES = ("tensorflow", "keras", "tfx", "tensorflow-transform",
                   "tensorflow-data-validation", "tensorflow-model-analysis",
                   "tfx-bsl", "apache-beam")
# Copies of each review's stored image a run writes under WORKDIR: the
# build-examples examples, ExampleGen's copy, Transform's transformed
# examples, plus room for the Evaluator's and the model's outputs. Since the
# image-major layout (one example per image, holding the photo once and all
# its reviews) a photo is stored once per image, not once per review. Measured on `make demo` (config cpu,
# commit 8bd5b3a, when eval examples still held one review each, ~2.1
# photos per image): WORKDIR minus the data held 20.0 MB = 1.18 x reviews
# (7,365) x mean stored JPEG (2.29 kB), the model and reports included (3.0
# x before the layout changed); the demo's synthetic images shrink under
# ExampleGen's gzip, photos do not, hence 2, an upper bound now.
DATA_COPIES = 2
SAMPLED_IMAGES = 20  # images re-encoded to estimate the stored JPEG size
_LOCK_LINE = re.compile(r'^(requires-python|name|version) = "([^"]*)"\s*$')


class PreflightError(ValueError):
  """Something a later stage of the run needs is missing."""


@dataclasses.dataclass
class Problem:
  """One failed check: what is wrong, and how to fix it."""
  check: str
  message: str
  fix: str

  def __str__(self) -> str:
    return f"{self.check}: {self.message}\n    fix: {self.fix}"


# ----------------------------------------------------------------------------
# Checks: each returns (problem or None, one-line note of what it found)
# ----------------------------------------------------------------------------
def check_weights(cfg: cfg_lib.ModelConfig
                  ) -> Tuple[Optional[Problem], str]:
  """The ImageNet VGG-16 weights a ``vgg16`` backbone loads."""
  if cfg.backbone != "vgg16":
    return None, f"config {cfg.name}: {cfg.backbone} backbone, no weights"
  found = cfg.resolve_vgg16_weights()
  if found:
    return None, f"config {cfg.name}: VGG-16 weights {found}"
  env = os.environ.get(cfg_lib.VGG16_WEIGHTS_ENV)
  looked = ([f"ModelConfig.vgg16_weights={cfg.vgg16_weights!r}"]
            if cfg.vgg16_weights else []) + [
                f"${cfg_lib.VGG16_WEIGHTS_ENV}="
                + (repr(env) if env else "(not set)"),
                cfg_lib.keras_cache_weights_path()]
  return Problem(
      "ImageNet weights",
      f"config '{cfg.name}' trains a VGG-16 backbone from ImageNet weights "
      f"and none were found (looked at: {'; '.join(looked)}); nothing is "
      "downloaded during a run, so the Trainer would fail after every Beam "
      "stage had run",
      f"on a machine with network, `python -c \"import keras; "
      "keras.applications.VGG16(include_top=False, weights='imagenet')\"` "
      f"writes {cfg_lib.VGG16_WEIGHTS_FILE} under ~/.keras/models/; copy it "
      f"to {cfg_lib.keras_cache_weights_path()} or anywhere and set "
      f"{cfg_lib.VGG16_WEIGHTS_ENV}=/path/to/{cfg_lib.VGG16_WEIGHTS_FILE}; "
      "or run with --config cpu"), "no weights"


def check_workdir(workdir: str) -> Tuple[Optional[Problem], str]:
  """The work directory exists (or can be made) and takes a file."""
  probe = os.path.join(workdir, f".preflight-{uuid.uuid4().hex}")
  try:
    os.makedirs(workdir, exist_ok=True)
    with open(probe, "w") as fh:
      fh.write("ok")
    os.remove(probe)
  except OSError as e:
    return Problem(
        "work directory",
        f"{workdir} is not writable ({type(e).__name__}: {e.strerror or e})",
        "choose another --workdir, or make this one writable"), ""
  return None, f"workdir {workdir} writable"


def _count_reviews(data_dir: str) -> int:
  """Reviews in the data directory, from its line count (no parsing)."""
  from preprocessing import build_examples  # pylint: disable=g-import-not-at-top
  path = build_examples.find_reviews_file(data_dir)
  with open(path, "rb") as fh:
    lines = sum(1 for line in fh if line.strip())
  # uir.txt: one review a line; reviews.txt: a user line and a text line a
  # review (block headers make this an over-estimate).
  return lines if path.endswith(F.UIR_FILE) else lines // 2


def _stored_image_bytes(data_dir: str, sample: int = SAMPLED_IMAGES,
                        seed: int = 0) -> float:
  """Mean bytes of the stored JPEG of up to ``sample`` images, re-encoded
  as build-examples stores them (0 when none decodes)."""
  from preprocessing import images  # pylint: disable=g-import-not-at-top
  folder = os.path.join(data_dir, F.IMAGES_DIR)
  names = sorted(n for n in os.listdir(folder)
                 if n.lower().endswith(F.IMAGE_EXTENSIONS)) if os.path.isdir(
                     folder) else []
  sizes = []
  for name in random.Random(seed).sample(names, min(sample, len(names))):
    with open(os.path.join(folder, name), "rb") as fh:
      try:
        sizes.append(len(images.reencode_image(fh.read())))
      except ValueError:
        continue  # build-examples rejects it: it takes no space
  return sum(sizes) / len(sizes) if sizes else 0.0


def projected_bytes(data_dir: str) -> Tuple[int, str]:
  """Bytes a run of ``data_dir`` writes under WORKDIR, and how."""
  reviews = _count_reviews(data_dir)
  per_image = _stored_image_bytes(data_dir)
  need = int(reviews * per_image * DATA_COPIES)
  return need, (f"{reviews:,d} reviews x {per_image / 1e3:.1f} kB stored "
                f"image x {DATA_COPIES} copies")


def check_disk(data_dir: str, workdir: str,
               disk_usage: Callable[[str], Tuple[int, int, int]] =
               shutil.disk_usage) -> Tuple[Optional[Problem], str]:
  """Free space in ``workdir`` against the projected size of the run."""
  need, how = projected_bytes(data_dir)
  free = disk_usage(workdir)[2]
  found = f"~{need / 1e9:.2f} GB needed ({how}), {free / 1e9:.1f} GB free"
  if free < need:
    return Problem(
        "disk space",
        f"{workdir} has {free / 1e9:.2f} GB free; the run will write about "
        f"{need / 1e9:.2f} GB ({how})",
        "free space there, or choose a --workdir on a larger disk"), found
  return None, found


def _locked_versions(lock_file: str) -> Tuple[Optional[str], Dict[str, str]]:
  """(requires-python, {package: version}) of a uv.lock.

  Read line by line (uv writes ``name = "..."`` then ``version = "..."`` at
  the top of each ``[[package]]`` table), so no TOML reader is needed at run
  time (``tomllib`` is Python 3.11+).
  """
  python, versions, name = None, {}, None
  with open(lock_file, encoding="utf-8") as fh:
    for line in fh:
      m = _LOCK_LINE.match(line)
      if not m:
        continue
      key, value = m.groups()
      if key == "requires-python" and python is None and not versions:
        python = value
      elif key == "name":
        name = value
      elif key == "version" and name is not None:
        versions.setdefault(name, value)
        name = None
  return python, versions


def check_versions(lock_file: str = LOCK_FILE,
                   packages: Sequence[str] = LOCKED_PACKAGES,
                   python_version: Optional[str] = None
                   ) -> Tuple[Optional[Problem], str]:
  """Python and the TFX stack at the versions of ``lock_file``."""
  from packaging.specifiers import SpecifierSet  # pylint: disable=g-import-not-at-top
  if not os.path.exists(lock_file):
    return None, f"versions not checked (no {lock_file})"
  python = python_version or ".".join(map(str, sys.version_info[:3]))
  wants_python, locked = _locked_versions(lock_file)
  wrong = []
  if wants_python and not SpecifierSet(wants_python).contains(python):
    wrong.append(f"Python {python} (lock: {wants_python})")
  for name in packages:
    if name not in locked:
      continue
    try:
      have = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      have = "not installed"
    if have != locked[name]:
      wrong.append(f"{name} {have} (lock: {locked[name]})")
  tf = locked.get("tensorflow", "?")
  if wrong:
    return Problem(
        "versions", "not the versions uv.lock pins: " + ", ".join(wrong),
        f"`uv sync --frozen --extra dev` in {os.path.dirname(lock_file)} "
        "(or use the project's Docker image); see BUILD.md"), ""
  return None, f"Python {python}, TensorFlow {tf} as {os.path.basename(lock_file)}"


# ----------------------------------------------------------------------------
# All of them
# ----------------------------------------------------------------------------
def check(data_dir: str, workdir: str, cfg: cfg_lib.ModelConfig, *,
          lock_file: str = LOCK_FILE,
          disk_usage: Callable[[str], Tuple[int, int, int]] =
          shutil.disk_usage,
          log: Callable[..., None] = print) -> List[str]:
  """Runs every check; raises ``PreflightError`` listing each problem.

  Args:
    data_dir: the AVA-review directory (its layout is build-examples'
      concern; a missing reviews file fails there, with its own message).
    workdir: the run directory (created if absent).
    cfg: the model config the run trains.
    lock_file: the uv.lock whose versions are expected.
    disk_usage: ``shutil.disk_usage`` (tests pass a fake).
    log: where the one-line result goes.

  Returns:
    One note per check (what it found).

  Raises:
    PreflightError: a check failed; the message lists each with its fix.
  """
  from preprocessing import build_examples  # pylint: disable=g-import-not-at-top
  results = [check_weights(cfg), check_workdir(workdir)]
  if results[-1][0] is None:  # no disk to measure in an unusable workdir
    try:
      build_examples.find_reviews_file(data_dir)
    except FileNotFoundError:
      pass  # build-examples reports the layout; nothing to project
    else:
      results.append(check_disk(data_dir, workdir, disk_usage))
  results.append(check_versions(lock_file))
  problems = [p for p, _ in results if p is not None]
  if problems:
    raise PreflightError(
        f"preflight: {len(problems)} problem(s) found before any data was "
        "processed:\n  " + "\n  ".join(str(p) for p in problems))
  notes = [note for _, note in results]
  log("preflight: ok (" + "; ".join(notes) + ")")
  return notes

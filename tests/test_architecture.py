"""Imports run one way, modules stay readable, serving stays Beam-free.

Layers, bottom up: ``evaluation`` (numpy-only metrics) and
``preprocessing/features.py``; then ``preprocessing`` and ``keras_model``;
then ``tfx_pipeline``, ``experiments``, ``demo_data`` and the CLI. Every
``import``/``from ... import`` of a lower module counts, at any depth
(function-local imports included), read from the source with ``ast``.
"""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from typing import Iterator, List, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT_PACKAGES = ("preprocessing", "keras_model", "evaluation",
                    "tfx_pipeline", "experiments", "demo_data")
# Packages that only lower layers may import: never these.
UPPER = ("tfx_pipeline", "experiments", "demo_data")
LOWER = ("preprocessing", "keras_model", "evaluation")
# What evaluation/ may import of the project besides itself.
EVALUATION_ALLOWED = ("evaluation", "preprocessing.features")
MAX_MODULE_LINES = 800
SERVING_MODULES = ("tfx_pipeline.predict", "tfx_pipeline.score_folder",
                   "tfx_pipeline.explain", "tfx_pipeline.serving_contract",
                   "keras_model.signatures")


def _modules(package: str) -> Iterator[Tuple[str, str]]:
  """(dotted module name, path) of every .py file under a package."""
  root = os.path.join(REPO, package)
  for dirpath, dirs, files in os.walk(root):
    dirs[:] = sorted(d for d in dirs if d != "__pycache__")
    for name in sorted(files):
      if name.endswith(".py"):
        path = os.path.join(dirpath, name)
        rel = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
        yield (rel[:-len(".__init__")] if rel.endswith(".__init__")
               else rel), path


def imports_of(module: str, path: str) -> List[Tuple[int, str]]:
  """(line, imported module) of every import in the file, at any depth.

  ``from a import b`` yields ``a.b`` (b may be a module or a name in a;
  both readings are checked against the rules by prefix); relative imports
  are resolved against ``module``.
  """
  with open(path, encoding="utf-8") as fh:
    tree = ast.parse(fh.read(), path)
  is_package = path.endswith("__init__.py")
  out = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      out += [(node.lineno, a.name) for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        parts = module.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join(parts[:keep] + ([base] if base else []))
      out += [(node.lineno, f"{base}.{a.name}" if a.name != "*" else base)
              for a in node.names]
  return out


def _within(name: str, prefix: str) -> bool:
  return name == prefix or name.startswith(prefix + ".")


def _forbidden(module: str, target: str) -> bool:
  """Whether ``module`` (a lower layer) must not import ``target``."""
  if any(_within(target, p) for p in UPPER):
    return True
  if _within(module, "evaluation"):
    project = any(_within(target, p) for p in PROJECT_PACKAGES)
    return project and not any(_within(target, a)
                               for a in EVALUATION_ALLOWED)
  return False


def test_every_installed_package_is_checked():
  """A package added to pyproject.toml falls under the checks below."""
  with open(os.path.join(REPO, "pyproject.toml")) as fh:
    include = re.search(r"^include = \[(.*)\]$", fh.read(), re.M).group(1)
  installed = {p.strip().strip('"').rstrip("*") for p in include.split(",")}
  assert installed <= set(PROJECT_PACKAGES), installed - set(PROJECT_PACKAGES)


def test_lower_layers_never_import_upward():
  arrows = []
  for package in LOWER:
    for module, path in _modules(package):
      for line, target in imports_of(module, path):
        if _forbidden(module, target):
          arrows.append(f"{os.path.relpath(path, REPO)}:{line}: {module} -> "
                        f"{target}")
  assert not arrows, "imports against the layering:\n  " + "\n  ".join(arrows)


def test_the_rules_catch_each_kind_of_arrow(tmp_path):
  """The walker sees nested, relative and aliased imports."""
  src = tmp_path / "m.py"
  src.write_text("import os\n"
                 "def f():\n"
                 "  from tfx_pipeline import report as r\n"
                 "  import demo_data.images\n"
                 "from . import features\n"
                 "from ..keras_model import cfan\n")
  found = [t for _, t in imports_of("preprocessing.sub.m", str(src))]
  assert sorted(found) == sorted([
      "os", "tfx_pipeline.report", "demo_data.images",
      "preprocessing.sub.features", "preprocessing.keras_model.cfan"])
  assert _forbidden("keras_model.cfan", "tfx_pipeline.report")
  assert _forbidden("preprocessing.rating", "experiments")
  assert _forbidden("evaluation.metrics", "preprocessing.config")
  assert _forbidden("evaluation.metrics", "keras_model")
  assert not _forbidden("evaluation.metrics", "preprocessing.features")
  assert not _forbidden("evaluation.metrics", "evaluation.metrics.auc")
  assert not _forbidden("evaluation.metrics", "numpy")
  assert not _forbidden("keras_model.cfan", "preprocessing.config")


def test_pipeline_imports_no_model_code():
  """TFX loads the model code by dotted name (tfx_pipeline/configs.py)."""
  path = os.path.join(REPO, "tfx_pipeline", "pipeline.py")
  model = [f"line {line}: {t}" for line, t in
           imports_of("tfx_pipeline.pipeline", path)
           if _within(t, "keras_model")]
  assert not model, model


def test_no_module_is_longer_than_the_limit():
  long = []
  for package in PROJECT_PACKAGES:
    for _, path in _modules(package):
      with open(path, encoding="utf-8") as fh:
        n = sum(1 for _ in fh)
      if n > MAX_MODULE_LINES:
        long.append(f"{os.path.relpath(path, REPO)}: {n} lines")
  assert not long, (f"modules over {MAX_MODULE_LINES} lines:\n  " +
                    "\n  ".join(long))


def test_serving_code_does_not_load_beam():
  """``cfan predict`` / ``score-folder`` / ``explain`` and the serving
  contract import no Apache Beam (a fresh interpreter)."""
  code = ("import sys\n" +
          "".join(f"import {m}\n" for m in SERVING_MODULES) +
          "beam = sorted(m for m in sys.modules if m.split('.')[0] == "
          "'apache_beam')\n"
          "assert not beam, beam[:5]\n")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_beam_check_can_fail():
  """The Beam job's module is seen importing Beam by the same test."""
  code = ("import sys\nimport preprocessing.build_examples\n"
          "assert 'apache_beam' in sys.modules\n")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]

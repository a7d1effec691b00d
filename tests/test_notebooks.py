"""The notebooks execute headlessly (nbclient) so they cannot rot.

``pipeline_run.ipynb`` opens the session's tiny pipeline run
(``tiny_pipeline_run``); ``experiment_results.ipynb`` the tiny ``cfan
experiment`` output (``tiny_experiment_run``). Both are slow. A fast check
makes sure the notebooks take names from ``preprocessing.features``.
"""
from __future__ import annotations

import os
import re

import nbformat
import pytest

from preprocessing import features as F

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(_ROOT, "notebooks")
PIPELINE_NB = os.path.join(NOTEBOOKS, "pipeline_run.ipynb")
EXPERIMENT_NB = os.path.join(NOTEBOOKS, "experiment_results.ipynb")
TIMEOUT_S = 600


def _execute(path: str) -> nbformat.NotebookNode:
  from nbclient import NotebookClient  # pylint: disable=g-import-not-at-top
  nb = nbformat.read(path, as_version=4)
  # Raises CellExecutionError (with the cell's traceback) on any error.
  NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3",
                 resources={"metadata": {"path": NOTEBOOKS}}).execute()
  return nb


def _outputs(nb: nbformat.NotebookNode):
  for cell in nb.cells:
    if cell.cell_type == "code":
      yield from cell.get("outputs", [])


def _text(nb: nbformat.NotebookNode) -> str:
  parts = []
  for out in _outputs(nb):
    if out.get("name") == "stdout":
      parts.append(out["text"])
    data = out.get("data", {})
    parts.append(data.get("text/html", ""))
    parts.append(data.get("text/plain", ""))
  return "\n".join(parts)


def _images(nb: nbformat.NotebookNode) -> int:
  return sum("image/png" in out.get("data", {}) for out in _outputs(nb))


def test_notebooks_take_feature_names_from_the_data_contract():
  names = (F.USER_KEY, F.TAG_KEY, F.LABEL_KEY, F.AGNOSTIC_LABEL_KEY,
           F.PERSONAL_OUTPUT, F.AGNOSTIC_OUTPUT, F.TAG_OUTPUT)
  for path in (PIPELINE_NB, EXPERIMENT_NB):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "from preprocessing import features as F" in code, path
    for name in names:
      assert not re.search(rf"[\"']{re.escape(name)}[\"']", code), (
          f"{os.path.basename(path)} hard-codes {name!r}")
    # Executed headlessly by the tests: stored without outputs.
    assert not any(c.get("outputs") for c in nb.cells
                   if c.cell_type == "code"), path


@pytest.mark.slow
def test_pipeline_run_notebook_executes(tiny_pipeline_run, monkeypatch):
  _, workdir, _ = tiny_pipeline_run
  monkeypatch.setenv("CFAN_RUN_DIR", workdir)
  nb = _execute(PIPELINE_NB)
  text = _text(nb)
  assert f"run:        {workdir}" in text
  # The pandas table of the TFMA result, per tag and overall.
  assert f"{F.PERSONAL_OUTPUT}/auc" in text
  assert "overall" in text
  # The matplotlib per-tag chart and the report's Fig. 7 PNG.
  assert _images(nb) >= 2


@pytest.mark.slow
def test_experiment_notebook_executes(tiny_experiment_run, monkeypatch):
  _, out, rc = tiny_experiment_run
  assert rc == 0
  monkeypatch.setenv("CFAN_EXPERIMENT_DIR", out)
  nb = _execute(EXPERIMENT_NB)
  text = _text(nb)
  assert "review-free auc:" in text
  assert "floor: user_rate" in text  # experiments.FIGURE_FLOOR
  assert "mean reviews/image" in text
  assert _images(nb) >= 3  # Fig. 8, Fig. 7, Fig. 9

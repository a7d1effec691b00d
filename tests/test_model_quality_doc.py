"""The model-quality benchmark's record of the default's stage-2 choice.

The benchmark itself (``python -m benchmarks.model_quality``) trains models
on the prepared demo settings and is not run here; ``tests/
test_model_quality.py`` (slow) is its learning test.
"""
# pylint: disable=protected-access
from __future__ import annotations

import json

from benchmarks import common
from benchmarks import model_quality as mq


def _history(chosen):
  return {"loss": [0.6, 0.5], "user_l2": 0.03, "taste_l2": chosen, "cv": [
      {"user_l2": 1e-3, "taste_l2": None, "oof_auc": 0.69,
       "oof_log_loss": 0.56, "z": 0.0},
      {"user_l2": 0.03, "taste_l2": None, "oof_auc": 0.70,
       "oof_log_loss": 0.55, "z": 0.0},
      {"user_l2": 0.03, "taste_l2": 0.01, "oof_auc": 0.72,
       "oof_log_loss": 0.54, "z": 2.5}]}


def test_selection_keeps_the_choice_and_every_candidate():
  sel = mq._selection(_history(0.01))
  assert sel["taste_l2"] == 0.01 and sel["user_l2"] == 0.03
  assert [r["taste_l2"] for r in sel["cv"]] == [None, None, 0.01]
  json.dumps(sel)  # lands in the benchmark's JSON as it is
  # A single-stage model (no cross-validation) records nothing extra.
  assert mq._selection({"loss": [0.5]}) == {}


def test_selection_line_names_the_choice_and_the_evidence():
  line = mq._selection_line(
      mq._selection(_history(None)))
  assert "chose **user L2 0.03, no taste**" in line
  assert ("user L2 0.03, taste L2 0.01: log loss 0.5400, AUC 0.720, z +2.5"
          in line)
  # Round 1 (no taste) has no z.
  assert "user L2 0.001, no taste: log loss 0.5600, AUC 0.690;" in line


def test_doc_header_names_the_command_and_the_json_inside_the_repo(tmp_path):
  head = common.doc_header("benchmarks.model_quality", ["--seeds", "1"],
                           mq.JSON)
  assert head["command"] == "python -m benchmarks.model_quality --seeds 1"
  assert head["json"] == "docs/model_quality.json"
  outside = str(tmp_path / "mq.json")
  assert common.doc_header("m", [], outside)["json"] == outside
  line = common.produced_by({**head, "seconds": 90.0})
  assert "`python -m benchmarks.model_quality --seeds 1`" in line
  assert "1.5 min wall" in line and "JSON: `docs/model_quality.json`" in line

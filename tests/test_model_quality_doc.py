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


def test_selection_line_names_the_tag_affinity_round():
  history = _history(0.01)
  history["affinity_l2"] = None
  history["cv"] = [{**r, "affinity_l2": None} for r in history["cv"]] + [
      {"user_l2": 0.03, "taste_l2": 0.01, "affinity_l2": 0.003,
       "oof_auc": 0.721, "oof_log_loss": 0.539, "z": 0.4}]
  sel = mq._selection(history)
  assert sel["affinity_l2"] is None and len(sel["cv"]) == 4
  line = mq._selection_line(sel)
  assert "chose **user L2 0.03, taste L2 0.01, no affinity**" in line
  assert ("user L2 0.03, taste L2 0.01, affinity L2 0.003: log loss "
          "0.5390, AUC 0.721, z +0.4" in line)
  assert "user L2 0.001, no taste, no affinity: log loss 0.5600" in line


def test_selection_line_names_the_image_offset_round():
  history = _history(0.01)
  history["image_l2"] = 0.003
  history["cv"] = [{**r, "image_l2": None} for r in history["cv"]] + [
      {"user_l2": 0.03, "taste_l2": 0.01, "image_l2": 0.003,
       "oof_auc": 0.725, "oof_log_loss": 0.535, "z": 2.4}]
  sel = mq._selection(history)
  assert sel["image_l2"] == 0.003 and len(sel["cv"]) == 4
  line = mq._selection_line(sel)
  assert "chose **user L2 0.03, taste L2 0.01, image offset L2 0.003**" in line
  assert ("user L2 0.03, taste L2 0.01, image offset L2 0.003: log loss "
          "0.5350, AUC 0.725, z +2.4" in line)


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


def _rows(n, seed):
  import numpy as np  # pylint: disable=g-import-not-at-top
  from preprocessing import features as F  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  vote = rng.normal(5.4, 0.6, n)
  users = rng.integers(0, 20, n)
  y = (vote - 5.4 + 0.3 * (users % 3) + rng.normal(0, 0.8, n) > -0.5)
  return {F.USER_XF: users, F.LABEL_KEY: y.astype(int),
          F.MEAN_SCORE_KEY: vote}


def test_margins_are_the_default_minus_the_best_floor_per_slice():
  import numpy as np  # pylint: disable=g-import-not-at-top
  from evaluation import metrics  # pylint: disable=g-import-not-at-top
  from preprocessing import features as F  # pylint: disable=g-import-not-at-top
  train, test = _rows(600, 0), _rows(400, 1)
  slices = np.where(np.arange(400) % 2 == 0, F.SLICE_WARM, F.SLICE_COLD)
  y = test[F.LABEL_KEY]
  rows = metrics.floor_scores(train[F.USER_XF], train[F.LABEL_KEY],
                              test[F.USER_XF], test[F.MEAN_SCORE_KEY])
  masks = {mq.OVERALL: np.ones(400, bool), F.SLICE_WARM: slices ==
           F.SLICE_WARM, F.SLICE_COLD: slices == F.SLICE_COLD}
  floors = {k: {s: {"auc": metrics.auc(y[m], v[m])} for s, m in
                masks.items()} for k, v in rows.items()}
  model = test[F.MEAN_SCORE_KEY] + 0.3 * (test[F.USER_XF] % 3)
  got = mq._margins(floors, train, test, slices,
                    {F.PERSONAL_OUTPUT: model})
  for s, m in masks.items():
    best = metrics.best_floor({k: v[s] for k, v in floors.items()})
    assert got[s]["floor"] == best
    assert got[s]["diff"] == metrics.auc(y[m], model[m]) - floors[best][s][
        "auc"]
    assert 0 < got[s]["se"] < 0.1
  res = {"default": "residual", "margins": got, "verdict": {
      s: {"best_floor": got[s]["floor"], "best_floor_auc": 0.7,
          "beats_best_floor": got[s]["diff"] > 0, "beats_vbpr": True,
          "of_oracle": 0.9, "reaches_target": False} for s in masks}}
  line = mq._verdict_line(res)
  assert f"(margin {got[mq.OVERALL]['diff']:+.3f} ± " in line
  # A verdict without margins (an older JSON) renders as before.
  assert "margin" not in mq._verdict_line({**res, "margins": {}})
  # A miss of the oracle target is never rounded up to it.
  near = {**res, "verdict": {s: {**v, "of_oracle": 0.94968}
                             for s, v in res["verdict"].items()}}
  assert "0.9497 of oracle (< 0.95)" in mq._verdict_line(near)
  assert "0.900 of oracle (< 0.95)" in line
  assert "beats VBPR" in line
  # VBPR not trained in the setting (--models default): no verdict on it.
  alone = {**res, "verdict": {s: {**v, "beats_vbpr": None}
                              for s, v in res["verdict"].items()}}
  assert "has no figure of VBPR" in mq._verdict_line(alone)
  assert "NOT beat VBPR" not in mq._verdict_line(alone)


def test_recovery_line_reports_agreement_and_both_errors():
  line = mq._recovery_line({"reviews": 5492, "kept": 4278, "agree": 4134,
                            "agreement": 0.9663, "good_read_bad": 53,
                            "bad_read_good": 91})
  assert "5,492 reviews" in line and "4,278 kept" in line
  assert "0.966 of them (4,134)" in line
  assert "53 good read as bad, 91 bad read as good" in line


def test_pooled_margins_average_the_seeds_and_combine_their_spread():
  def setting(d, seed, diff, se):
    return {"difficulty": d, "seed": seed, "result": {"margins": {
        s: {"floor": "vote_plus_user", "diff": diff, "se": se, "z": diff / se}
        for s in mq.SLICES}}}
  doc = {"settings": [setting("hard", 0, 0.006, 0.03),
                      setting("hard", 1, -0.002, 0.04),
                      setting("easy", 0, 0.1, 0.01)]}
  pooled = mq.pooled_margins(doc)
  assert list(pooled) == ["hard"]  # one seed of easy: nothing to pool
  cold = pooled["hard"]["cold"]
  assert cold["seeds"] == 2 and cold["wins"] == 1
  assert abs(cold["diff"] - 0.002) < 1e-12
  assert abs(cold["se"] - 0.025) < 1e-12  # sqrt(0.03^2 + 0.04^2) / 2
  assert abs(cold["z"] - 0.08) < 1e-9
  lines = "\n".join(mq._pooled_lines(doc))
  assert "| hard | 2 | +0.002 ± 0.025 (z +0.1; 1 of 2) |" in lines
  assert mq._pooled_lines({"settings": doc["settings"][2:]}) == []


def test_set_overrides_are_typed_like_the_config_fields():
  import pytest  # pylint: disable=g-import-not-at-top
  from preprocessing import config as cfg_lib  # pylint: disable=g-import-not-at-top
  base = cfg_lib.get_config("cpu")
  parse = lambda t: cfg_lib.parse_override(t, base)  # noqa: E731
  assert parse("affinity_l2_grid=3e-2, 1e-2") == ("affinity_l2_grid",
                                                  (0.03, 0.01))
  assert parse("affinity_l2_grid=") == ("affinity_l2_grid", ())
  assert parse("cv_folds=5") == ("cv_folds", 5)
  assert parse("taste_space=descriptors") == ("taste_space", "descriptors")
  assert parse("learning_rate=0.5") == ("learning_rate", 0.5)
  cfg = base.replace(**dict([parse("user_l2_grid=1e-4,1e-3")]))
  assert cfg.user_l2_grid == (1e-4, 1e-3)
  for bad in ("learning_rate", "no_such_field=1", "cv_folds=three"):
    with pytest.raises(ValueError):
      parse(bad)


def test_set_is_recorded_and_refused_when_unknown(capsys):
  import pytest  # pylint: disable=g-import-not-at-top
  with pytest.raises(SystemExit):
    mq.main(["--set", "no_such_field=1", "--no-doc"])
  assert "FIELD=VALUE" in capsys.readouterr().err
  doc = {"args": {"steps": None, "peer_steps": None,
                  "overrides": {"affinity_l2_grid": [0.01]}}}
  line = mq.render({**doc, "command": "x", "date": "d", "machine": {
                        "cpus": 2, "python": "3.10", "platform": "p"},
                    "json": "j", "seconds": 1.0, "settings": [],
                    "not_run": [], "args": {**doc["args"],
                                            "difficulties": ["hard"],
                                            "seeds": [2], "users": 150,
                                            "images": 1000}})
  assert "the `cpu` config, affinity_l2_grid=[0.01], its steps" in line

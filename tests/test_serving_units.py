"""Fast tests of the serving pieces that need no trained model.

ECE and temperature scaling, the TF Serving REST contract (body building,
TF Serving-style decoding, the documented examples), folder listing, the
attention upsampling and the new CLI parsers.
"""
from __future__ import annotations

import base64
import json
import os
import re

import numpy as np
import pytest

from evaluation import metrics
from keras_model import calibration
from preprocessing import features as F
from tfx_pipeline import cli
from tfx_pipeline import explain
from tfx_pipeline import predict
from tfx_pipeline import score_folder
from tfx_pipeline import serving_contract as sc

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RAW_SIG = {"serving_raw": list(sc.RAW_INPUTS),
           "serving_default": [sc.EXAMPLES_INPUT]}


# ----------------------------------------------------------------------------
# Calibration
# ----------------------------------------------------------------------------
def test_ece_of_known_values():
  # Bin [0.8, 0.867): p 0.8 twice, one positive -> gap 0.3; bin of 0.1: gap
  # 0.1 (label 0); weights 2/3 and 1/3.
  y = [1, 0, 0]
  p = [0.8, 0.8, 0.1]
  assert metrics.expected_calibration_error(y, p) == pytest.approx(
      2 / 3 * 0.3 + 1 / 3 * 0.1)


def test_ece_is_zero_when_frequencies_match_and_one_is_in_last_bin():
  y = [1, 1, 1, 0] * 5
  assert metrics.expected_calibration_error(y, [0.75] * 20) == pytest.approx(0)
  # p = 1.0 falls into the last bin (not out of range).
  assert metrics.expected_calibration_error([1, 0], [1.0, 1.0]) == \
      pytest.approx(0.5)
  assert np.isnan(metrics.expected_calibration_error([], []))


def _overconfident(n=4000, t=3.0, seed=0):
  rng = np.random.default_rng(seed)
  z = rng.normal(0, 1.5, n)
  y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
  return y, 1 / (1 + np.exp(-t * z))  # logits t times too large


def test_fit_temperature_recovers_the_overconfidence():
  y, p = _overconfident(t=3.0)
  assert calibration.fit_temperature(y, p) == pytest.approx(3.0, rel=0.1)


def test_decide_applies_only_when_ece_drops_on_check_rows():
  y, p = _overconfident(t=3.0, seed=1)
  rec = calibration.decide(y[:2000], p[:2000], y[2000:], p[2000:])
  assert rec["applied"] and rec["temperature"] == rec["fitted_temperature"]
  assert rec["check_ece_after"] < rec["check_ece_before"]
  # Already calibrated check rows: the fitted T cannot lower their ECE much;
  # whatever happens the decision follows the check rows.
  yc, pc = _overconfident(t=1.0, seed=2)
  rec = calibration.decide(y[:2000], p[:2000], yc, pc)
  assert rec["applied"] == (rec["check_ece_after"] < rec["check_ece_before"])
  assert not rec["applied"]  # T ~ 3 flattens calibrated scores: worse
  assert rec["temperature"] == 1.0


def test_decide_refuses_too_few_rows():
  y, p = _overconfident(n=30)
  rec = calibration.decide(y[:10], p[:10], y[10:], p[10:])
  assert rec["applied"] is False and rec["temperature"] == 1.0
  assert "fewer than" in rec["reason"]


def test_calibration_rows_are_a_deterministic_tenth():
  users = np.repeat(np.arange(200), 50)
  images = np.tile(np.arange(50), 200)
  part = calibration.row_part(users, images, 50).numpy()
  again = calibration.row_part(users, images, 50).numpy()
  assert (part == again).all()
  share = np.bincount(part, minlength=3) / len(part)
  assert share[1] == pytest.approx(0.05, abs=0.01)
  assert share[2] == pytest.approx(0.05, abs=0.01)


# ----------------------------------------------------------------------------
# REST contract
# ----------------------------------------------------------------------------
def test_raw_body_row_and_columnar_decode_to_the_same_tensors():
  img = b"\x89PNG\r\n\x1a\n\x00binary\xff"
  for fmt in sc.FORMATS:
    body = json.loads(json.dumps(sc.raw_body(
        ["u1", "u2"], [img, b"\xff\xd8"], ["", "nice"], ["a\nb", ""], fmt)))
    name, cols, got_fmt = sc.decode_request(body, RAW_SIG)
    assert (name, got_fmt) == ("serving_raw", fmt)
    assert cols == {"user_id": [b"u1", b"u2"],
                    "image_bytes": [img, b"\xff\xd8"],
                    "review": [b"", b"nice"], "profile": [b"a\nb", b""]}


def test_default_body_forms_decode_to_serialized_examples():
  ex = [b"\x0a\x00", b"\x0a\x02\x08\x01"]
  for fmt in sc.FORMATS:
    name, cols, _ = sc.decode_request(sc.default_body(ex, fmt), RAW_SIG)
    assert name == "serving_default" and cols == {"examples": ex}
  # The named row form is accepted as well.
  body = {"instances": [{"examples": sc.b64(e)} for e in ex]}
  assert sc.decode_request(body, RAW_SIG)[1] == {"examples": ex}


@pytest.mark.parametrize("body, message", [
    ({"signature_name": "serving_raw", "instances": [
        {"user_id": "u", "image_bytes": {"b64": "AA=="}, "review": ""}]},
     "Missing but required: ['profile']"),
    ({"signature_name": "serving_raw", "inputs": {
        "user_id": ["u"], "image_bytes": [{"b64": "AA=="}], "review": [""],
        "profile": [""], "image_id": ["1"]}}, "Sent extra: ['image_id']"),
    ({"instances": [{"b64": "AA=="}], "inputs": [{"b64": "AA=="}]},
     "exactly one"),
    ({"signature_name": "nope", "instances": ["x"]}, "not found"),
    ({"instances": [{"b64": "not base64!"}]}, "invalid base64"),
    ({"signature_name": "serving_raw", "instances": ["x"]},
     "multi-input signature"),
    ({"signature_name": "serving_raw", "inputs": {
        "user_id": ["u", "v"], "image_bytes": [{"b64": "AA=="}],
        "review": [""], "profile": [""]}}, "differ in batch size"),
])
def test_bodies_tf_serving_would_reject(body, message):
  with pytest.raises(sc.ContractError, match=re.escape(message)):
    sc.decode_request(body, RAW_SIG)


def test_encode_response_row_and_columnar():
  outputs = {"p_personal": np.array([0.25, 0.5], np.float32),
             "tag": np.array([b"Macro", b"Sky"], object),
             "known_user": np.array([True, False]),
             "attention": np.full((2, 2, 2), 0.25, np.float32),
             "thumb_bytes": np.array([b"\xff", b"\x00"], object)}
  rows = sc.encode_response(outputs, "instances")["predictions"]
  assert rows[0]["p_personal"] == 0.25 and rows[1]["tag"] == "Sky"
  assert rows[1]["known_user"] is False
  assert rows[0]["attention"] == [[0.25, 0.25], [0.25, 0.25]]
  assert rows[0]["thumb_bytes"] == {"b64": base64.b64encode(b"\xff").decode()}
  cols = sc.encode_response(outputs, "inputs")["outputs"]
  assert cols["tag"] == ["Macro", "Sky"] and cols["known_user"] == [True,
                                                                    False]


def test_predict_url():
  assert sc.predict_url() == "http://localhost:8501/v1/models/cfan:predict"
  assert sc.predict_url("h", 1, "m", 7) == \
      "http://h:1/v1/models/m/versions/7:predict"


def _doc_json_blocks():
  with open(os.path.join(REPO, "docs", "serving.md"), encoding="utf-8") as fh:
    text = fh.read()
  blocks = re.findall(r"<!-- body: (\w+) -->\s*```json\n(.*?)```", text,
                      re.S)
  return {name: json.loads(body) for name, body in blocks}


def test_documented_bodies_are_the_ones_the_module_builds():
  docs = _doc_json_blocks()
  built = sc.doc_examples()
  assert set(docs) == set(built)
  for name, body in built.items():
    assert docs[name] == json.loads(json.dumps(body)), name


# ----------------------------------------------------------------------------
# Folder listing, overlay helpers, CLI
# ----------------------------------------------------------------------------
def test_list_images_filters_extensions_and_does_not_recurse(tmp_path):
  for name in ("b.JPG", "a.jpeg", "c.png", "d.gif", "notes.txt", "e.Png"):
    (tmp_path / name).write_bytes(b"x")
  (tmp_path / "sub").mkdir()
  (tmp_path / "sub" / "f.jpg").write_bytes(b"x")
  (tmp_path / "dir.jpg").mkdir()
  assert score_folder.list_images(str(tmp_path)) == ["a.jpeg", "b.JPG",
                                                      "c.png", "e.Png"]
  empty = tmp_path / "empty"
  empty.mkdir()
  assert score_folder.list_images(str(empty)) == []
  with pytest.raises(FileNotFoundError):
    score_folder.list_images(str(tmp_path / "missing"))


def test_upsample_is_bilinear_and_keeps_constants():
  flat = explain.upsample(np.full((4, 4), 0.0625), 37, 21)
  assert flat.shape == (21, 37) and np.allclose(flat, 0.0625)
  ramp = explain.upsample(np.array([[0.0, 1.0]]), 8, 2)
  row = ramp[0]
  assert row[0] == pytest.approx(0.0) and row[-1] == pytest.approx(1.0)
  assert np.all(np.diff(row) >= 0) and 0.0 < row[3] < 1.0  # interpolated


def test_attention_driver_names_the_text_that_was_read():
  assert "review" in explain.attention_driver(
      explain.Panel("u", review="great", profile="x"), True)
  assert "given profile" in explain.attention_driver(
      explain.Panel("u", profile="x"), False)
  assert "stored profile" in explain.attention_driver(explain.Panel("u"),
                                                      True)
  assert "empty" in explain.attention_driver(explain.Panel("u"), False)


def test_read_profile(tmp_path):
  assert predict.read_profile(None) == ""
  f = tmp_path / "p.txt"
  f.write_text("one\ntwo\n", encoding="utf-8")
  assert predict.read_profile(str(f)) == "one\ntwo\n"
  f.write_text("  \n", encoding="utf-8")
  with pytest.raises(ValueError, match="empty"):
    predict.read_profile(str(f))


def test_new_commands_parse():
  parser = cli.build_parser()
  a = parser.parse_args(["score-folder", "--model", "m", "--user", "u",
                         "--images", "d", "--out", "o.csv", "--top", "3",
                         "--profile", "p.txt"])
  assert (a.top, a.profile, a.func) == (3, "p.txt", cli.cmd_score_folder)
  a = parser.parse_args(["explain", "--model", "m", "--user", "u", "--image",
                         "x.jpg", "--user2", "v", "--review2", "r", "--out",
                         "o.png"])
  assert (a.user2, a.review2, a.func) == ("v", "r", cli.cmd_explain)
  a = parser.parse_args(["predict", "--model", "m", "--pairs", "p", "--images",
                         "d", "--out", "o", "--profile", "f"])
  assert a.profile == "f"


def test_explain_options_need_user2(capsys):
  rc = cli.main(["explain", "--model", "m", "--user", "u", "--image", "x",
                 "--review2", "r", "--out", "o.png"])
  assert rc == 2
  assert "--user2" in capsys.readouterr().err

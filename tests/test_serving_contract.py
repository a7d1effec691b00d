"""The TF Serving contract of the pushed model (docs/serving.md), slow suite.

Request bodies are built by ``tfx_pipeline.serving_contract`` (the module the
docs use), decoded the way TF Serving's REST layer does (row ``instances``
and columnar ``inputs``; ``{"b64": ...}`` -> bytes) and answered by the
pushed SavedModel loaded in a fresh process. When a ``tensorflow_model_server``
binary is on PATH the same bodies are also POSTed to a real server.
"""
from __future__ import annotations

import collections
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

import demo_data
from preprocessing import config as cfg_lib
from preprocessing import features as F
from preprocessing.images import reencode_image
from tfx_pipeline import serving_contract as sc

pytestmark = pytest.mark.slow

PROFILE = ("The composition is great and the light is lovely.\n"
           "Too dark, the focus is soft.\n"
           "Beautiful colours, sharp detail.")


def _known_user(data_dir):
  truth = json.load(open(os.path.join(data_dir, demo_data.TRUTH_FILE)))
  return collections.Counter(
      r["user_id"] for r in truth["reviews"]).most_common(1)[0][0]


def _image(data_dir, k=0):
  names = sorted(n for n in os.listdir(os.path.join(data_dir, "images"))
                 if n.endswith(".jpg"))
  with open(os.path.join(data_dir, "images", names[k]), "rb") as fh:
    return reencode_image(fh.read())


@pytest.fixture(scope="module")
def contract(tiny_pipeline_run, tmp_path_factory):
  """Bodies, and the responses the pushed model gives in a fresh process."""
  data, _, res = tiny_pipeline_run
  user = _known_user(data)
  img0, img1 = _image(data, 0), _image(data, 1)
  users = [user, "never-seen-user", "never-seen-user", user]
  images = [img0, img0, img1, img1]
  reviews = ["", "", "", "the light is beautiful but the focus is soft"]
  profiles = ["", "", PROFILE, ""]
  examples = [sc.make_example(user, img0), sc.make_example(user, img1,
                                                           reviews[3])]
  bodies = {}
  for fmt in sc.FORMATS:
    bodies[f"raw_{fmt}"] = sc.raw_body(users, images, reviews, profiles, fmt)
    bodies[f"default_{fmt}"] = sc.default_body(examples, fmt)
  tmp = tmp_path_factory.mktemp("contract")
  body_file = tmp / "bodies.json"
  body_file.write_text(json.dumps(bodies))
  tag_vocab = os.path.join(res.pushed_model, "assets", F.TAG_VOCAB)
  script = textwrap.dedent(f"""
      import json
      import preprocessing  # pins Keras 3 before TF
      from keras_model import signatures
      from tfx_pipeline import serving_contract as sc
      model = signatures.load_serving_model({res.pushed_model!r})
      bodies = json.load(open({str(body_file)!r}))
      out = {{name: sc.call_rest(model, body) for name, body in bodies.items()}}
      out["tag_names"] = open({tag_vocab!r}, encoding="utf-8").read(
          ).splitlines()
      print("RESULT" + json.dumps(out))
  """)
  proc = subprocess.run([sys.executable, "-c", script], capture_output=True,
                        text=True, timeout=300, cwd=str(tmp))
  assert proc.returncode == 0, proc.stderr[-3000:]
  responses = json.loads(proc.stdout.split("RESULT", 1)[1])
  return {"bodies": bodies, "responses": responses, "res": res}


def _rows(response):
  """Row-format and columnar responses as one list of per-row dicts."""
  if "predictions" in response:
    return response["predictions"]
  cols = response["outputs"]
  n = len(cols[F.PERSONAL_OUTPUT])
  return [{k: v[i] for k, v in cols.items()} for i in range(n)]


def _check_row(row, tag_names):
  assert set(row) == set(sc.OUTPUT_FIELDS)
  for key in (F.PERSONAL_OUTPUT, F.AGNOSTIC_OUTPUT):
    assert 0.0 <= row[key] <= 1.0
  assert len(row[F.TAG_OUTPUT]) == len(tag_names) + 1  # + OOV bucket
  assert math.isclose(sum(row[F.TAG_OUTPUT]), 1.0, abs_tol=1e-4)
  assert row["tag"] in tag_names + ["<unknown>"]
  att = row[F.ATTENTION_OUTPUT]
  assert len(att) >= 1 and all(len(r) == len(att[0]) for r in att)
  assert math.isclose(sum(map(sum, att)), 1.0, abs_tol=1e-4)  # Eq. 5 softmax
  assert isinstance(row["known_user"], bool)
  assert isinstance(row["review_free"], bool)


def test_every_response_has_the_documented_fields(contract):
  tag_names = contract["responses"]["tag_names"]
  for name in contract["bodies"]:
    resp = contract["responses"][name]
    key = "predictions" if name.endswith("instances") else "outputs"
    assert list(resp) == [key]
    for row in _rows(resp):
      _check_row(row, tag_names)


def test_row_and_columnar_answers_agree(contract):
  r = contract["responses"]
  for sig in ("raw", "default"):
    assert _rows(r[f"{sig}_instances"]) == _rows(r[f"{sig}_inputs"])


def test_serving_raw_semantics(contract):
  known, cold, cold_profile, reviewed = _rows(
      contract["responses"]["raw_instances"])
  assert known["known_user"] and reviewed["known_user"]
  assert not cold["known_user"] and not cold_profile["known_user"]
  assert known["review_free"] and cold_profile["review_free"]
  assert not reviewed["review_free"]
  # Unknown user, no profile: the agnostic fallback.
  assert cold[F.PERSONAL_OUTPUT] == cold[F.AGNOSTIC_OUTPUT]
  # Unknown user with a profile: the personal head, read through it.
  assert cfg_lib.COLD_USER_PROFILE_PERSONAL
  assert cold_profile[F.PERSONAL_OUTPUT] != cold_profile[F.AGNOSTIC_OUTPUT]
  # The agnostic head depends on the image only.
  assert known[F.AGNOSTIC_OUTPUT] == pytest.approx(cold[F.AGNOSTIC_OUTPUT],
                                                   abs=1e-6)


def test_both_signatures_score_the_same_request_alike(contract):
  raw = _rows(contract["responses"]["raw_instances"])
  default = _rows(contract["responses"]["default_instances"])
  # (known user, img0, no review) and (known user, img1, review) in both.
  for d, r in ((default[0], raw[0]), (default[1], raw[3])):
    for key in (F.PERSONAL_OUTPUT, F.AGNOSTIC_OUTPUT):
      assert d[key] == pytest.approx(r[key], abs=1e-5)
    assert d["review_free"] == r["review_free"]
    assert d["known_user"] == r["known_user"]
    np.testing.assert_allclose(d[F.ATTENTION_OUTPUT], r[F.ATTENTION_OUTPUT],
                               atol=1e-5)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _get(url, timeout=5):
  with urllib.request.urlopen(url, timeout=timeout) as r:
    return json.loads(r.read().decode())


def test_real_model_server_answers_the_same(contract, tmp_path):
  binary = shutil.which("tensorflow_model_server")
  if binary is None:
    pytest.skip("tensorflow_model_server is not on PATH (it is not "
                "installable in this environment); the REST decoding is "
                "checked against the SavedModel by the tests above")
  base = tmp_path / "models" / sc.MODEL_NAME
  shutil.copytree(contract["res"].pushed_model,
                  base / os.path.basename(contract["res"].pushed_model))
  rest, grpc = _free_port(), _free_port()
  server = subprocess.Popen(
      # The server has no bind-address flag for REST; it is only ever
      # addressed on 127.0.0.1 here, on ports nothing else holds.
      [binary, f"--port={grpc}", f"--rest_api_port={rest}",
       f"--model_name={sc.MODEL_NAME}", f"--model_base_path={base}"],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
  try:
    status_url = f"http://127.0.0.1:{rest}/v1/models/{sc.MODEL_NAME}"
    deadline = time.time() + 180
    while True:
      try:
        states = [v["state"] for v in _get(status_url)[
            "model_version_status"]]
        if "AVAILABLE" in states:
          break
      except (urllib.error.URLError, ConnectionError, KeyError):
        pass
      assert server.poll() is None, server.stdout.read().decode()[-3000:]
      assert time.time() < deadline, "model server did not load the model"
      time.sleep(1)
    url = sc.predict_url("127.0.0.1", rest)
    for name, body in contract["bodies"].items():
      req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                   headers={"Content-Type":
                                            "application/json"})
      with urllib.request.urlopen(req, timeout=60) as r:
        served = json.loads(r.read().decode())
      expected = contract["responses"][name]
      for got, want in zip(_rows(served), _rows(expected)):
        assert set(got) == set(want)
        for key in (F.PERSONAL_OUTPUT, F.AGNOSTIC_OUTPUT, F.TAG_OUTPUT,
                    F.ATTENTION_OUTPUT):
          np.testing.assert_allclose(got[key], want[key], atol=1e-4,
                                     err_msg=f"{name} {key}")
        for key in ("tag", "known_user", "review_free"):
          assert got[key] == want[key], (name, key)
  finally:
    server.terminate()
    server.wait(timeout=30)

"""Bad-input catalogue, serving side (issue 7; table in docs/bad_inputs.md).

Unknown users, garbage image bytes and empty batches, through the exported
SavedModel's signatures and through ``tfx_pipeline.predict`` / ``cfan
predict``, on the model of the session fixture ``tiny_pipeline_run``.

Contract checked here:

* unknown user: scored, ``known_user`` false and (with no request profile)
  ``p_personal == p_agnostic``: the cold-start answer;
* garbage image bytes: the signature fails the request with TensorFlow's
  decode error (one bad image, one failed request; nothing else changes),
  while ``predict`` checks each image first and reports the row with an
  ``error``, scoring every other row exactly as it would alone;
* empty batch: every signature answers with empty outputs; ``predict`` and
  ``cfan predict`` write a header-only CSV.

(tests/test_pipeline_e2e.py already covers a corrupt and a missing image in
``cfan predict`` and the cold-start rule on ``serving_raw``.)
"""
from __future__ import annotations

import collections
import csv
import glob
import io
import os
from typing import Dict, List

import numpy as np
import pytest
from PIL import Image

from preprocessing import features as F
from tfx_pipeline import predict

pytestmark = pytest.mark.slow

SCORING_SIGNATURES = ("serving_default", "serving_review_free", "serving_raw")
UNKNOWN_USER = "nobody-ever-reviewed-anything"


class Served:
  """The fixture's pushed model, loaded once, with a few helpers."""

  def __init__(self, data: str, workdir: str, model_dir: str):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from keras_model import signatures  # pylint: disable=g-import-not-at-top
    self.tf = tf
    self.data = data
    self.model_dir = model_dir
    self.model = signatures.load_serving_model(model_dir)
    self.raw_fn = self.model.signatures[signatures.SERVING_RAW]
    self.raw_inputs = sorted(self.raw_fn.structured_input_signature[1])
    images = sorted(glob.glob(os.path.join(data, "images", "*.jpg")))
    self.image_ids = [os.path.splitext(os.path.basename(p))[0]
                      for p in images[:3]]
    self.images = []
    for p in images[:3]:
      with open(p, "rb") as fh:
        self.images.append(fh.read())
    files = glob.glob(os.path.join(workdir, "examples", "examples",
                                   "*.tfrecord"))
    users = collections.Counter(
        tf.train.Example.FromString(r.numpy()).features.feature[
            F.USER_KEY].bytes_list.value[0].decode()
        for r in tf.data.TFRecordDataset(files))
    self.known_user = users.most_common(1)[0][0]

  def raw(self, **columns: List) -> Dict[str, np.ndarray]:
    """serving_raw; inputs it has and the call omits are "" per row."""
    n = len(columns["user_id"])
    for name in self.raw_inputs:
      columns.setdefault(name, [""] * n)
    out = self.raw_fn(**{k: self.tf.constant(v, self.tf.string)
                         for k, v in columns.items()})
    return {k: v.numpy() for k, v in out.items()}

  def examples(self, signature: str, rows: List[Dict[str, bytes]]):
    tf = self.tf
    serialized = []
    for row in rows:
      feats = {k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))
               for k, v in row.items()}
      serialized.append(tf.train.Example(features=tf.train.Features(
          feature=feats)).SerializeToString())
    out = self.model.signatures[signature](
        examples=tf.constant(serialized, tf.string))
    return {k: v.numpy() for k, v in out.items()}


@pytest.fixture(scope="module")
def served(tiny_pipeline_run) -> Served:
  data, workdir, res = tiny_pipeline_run
  assert res.pushed_model, "the fixture run pushed no model"
  return Served(data, workdir, res.pushed_model)


def _probabilities(values) -> bool:
  return all(0.0 <= float(v) <= 1.0 for v in values)


# --------------------------------------------------------------------------
# Unknown user
# --------------------------------------------------------------------------
def test_unknown_user_serving_raw_is_cold_start(served):
  out = served.raw(user_id=[UNKNOWN_USER, served.known_user],
                   image_bytes=[served.images[0]] * 2, review=["", ""])
  assert out["known_user"].tolist() == [False, True]
  assert _probabilities(out[F.PERSONAL_OUTPUT])
  assert _probabilities(out[F.AGNOSTIC_OUTPUT])
  assert out[F.PERSONAL_OUTPUT][0] == out[F.AGNOSTIC_OUTPUT][0]


@pytest.mark.parametrize("signature", ["serving_default",
                                       "serving_review_free"])
def test_unknown_user_example_signatures_are_cold_start(served, signature):
  out = served.examples(signature, [
      {F.USER_KEY: UNKNOWN_USER.encode(), F.IMAGE_KEY: served.images[1]},
      {F.USER_KEY: UNKNOWN_USER.encode(), F.IMAGE_KEY: served.images[1],
       F.REVIEW_KEY: b"great light and sharp focus",
       F.IMAGE_ID_KEY: b"not-an-id-the-model-knows"},
  ])
  assert out["known_user"].tolist() == [False, False]
  np.testing.assert_array_equal(out[F.PERSONAL_OUTPUT],
                                out[F.AGNOSTIC_OUTPUT])
  assert _probabilities(out[F.PERSONAL_OUTPUT])


def test_unknown_user_via_predict(served, tmp_path):
  images = tmp_path / "images"
  images.mkdir()
  (images / f"{served.image_ids[0]}.jpg").write_bytes(served.images[0])
  rows = [{"user_id": UNKNOWN_USER, "image_id": served.image_ids[0]},
          {"user_id": served.known_user, "image_id": served.image_ids[0]}]
  out = predict.predict_rows(predict.Scorer(served.model_dir), rows,
                             str(images))
  assert [r["error"] for r in out] == ["", ""]
  assert [r["known_user"] for r in out] == [0, 1]
  assert out[0][F.PERSONAL_OUTPUT] == out[0][F.AGNOSTIC_OUTPUT]


# --------------------------------------------------------------------------
# Garbage image bytes
# --------------------------------------------------------------------------
def _truncated_jpeg() -> bytes:
  arr = np.random.default_rng(0).integers(0, 256, (120, 160, 3), np.uint8)
  buf = io.BytesIO()
  Image.fromarray(arr).save(buf, format="JPEG", quality=95)
  return buf.getvalue()[:600]


@pytest.mark.parametrize("bad,message", [
    (b"definitely not an image" * 4, "Unknown image file format"),
    (b"", "Input is empty"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, ""),
], ids=["text", "empty", "png-magic-only"])
def test_garbage_bytes_fail_the_request_with_a_decode_error(served, bad,
                                                            message):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  before = served.raw(user_id=[served.known_user],
                      image_bytes=[served.images[0]], review=[""])
  with pytest.raises(tf.errors.InvalidArgumentError, match=message):
    served.raw(user_id=[served.known_user] * 2,
               image_bytes=[served.images[0], bad], review=["", ""])
  with pytest.raises(tf.errors.InvalidArgumentError, match=message):
    served.examples("serving_default", [
        {F.USER_KEY: served.known_user.encode(), F.IMAGE_KEY: bad}])
  # The model is unharmed: the same good request gives the same answer.
  after = served.raw(user_id=[served.known_user],
                     image_bytes=[served.images[0]], review=[""])
  np.testing.assert_array_equal(before[F.PERSONAL_OUTPUT],
                                after[F.PERSONAL_OUTPUT])


def test_predict_reports_bad_images_per_row_and_scores_the_rest(served,
                                                                tmp_path):
  images = tmp_path / "images"
  images.mkdir()
  good_a, good_b = served.image_ids[:2]
  (images / f"{good_a}.jpg").write_bytes(served.images[0])
  (images / f"{good_b}.jpg").write_bytes(served.images[1])
  (images / "900001.jpg").write_bytes(b"\x00garbage\xff" * 30)
  (images / "900002.jpg").write_bytes(b"")
  (images / "900003.jpg").write_bytes(_truncated_jpeg())
  user = served.known_user
  rows = [{"user_id": user, "image_id": i} for i in (
      good_a, "900001", "900002", "900003", "900004", good_b)]
  rows.append({"user_id": "", "image_id": good_a})
  scorer = predict.Scorer(served.model_dir)
  out = predict.predict_rows(scorer, rows, str(images), batch_size=64)
  assert [r["image_id"] for r in out] == [r["image_id"] for r in rows]
  errors = [r["error"] for r in out]
  assert errors[0] == errors[5] == ""
  assert errors[1].startswith("corrupt image")
  assert errors[2] == "empty image file"
  assert errors[3].startswith("corrupt image")
  assert errors[4] == "image not found"
  assert errors[6] == "empty user_id or image_id"
  for r in out[1:5] + out[6:]:
    assert r[F.PERSONAL_OUTPUT] == "" and r[F.AGNOSTIC_OUTPUT] == ""
  # Bad rows do not change the good rows' scores.
  alone = predict.predict_rows(scorer, [rows[0], rows[5]], str(images))
  assert [out[0][F.PERSONAL_OUTPUT], out[5][F.PERSONAL_OUTPUT]] == [
      a[F.PERSONAL_OUTPUT] for a in alone]


# --------------------------------------------------------------------------
# Empty batch
# --------------------------------------------------------------------------
@pytest.mark.parametrize("signature", SCORING_SIGNATURES)
def test_empty_batch_gives_empty_outputs(served, signature):
  """Used to fail: "Tried to stack elements of an empty list with
  non-fully-defined element_shape" (decode_image_xf's dynamic shape)."""
  if signature == "serving_raw":
    out = served.raw(user_id=[], image_bytes=[], review=[])
  else:
    out = served.examples(signature, [])
  assert out, signature
  for name, value in out.items():
    assert value.shape[0] == 0, (signature, name, value.shape)


def test_empty_batch_via_predict_and_cli(served, tmp_path):
  from tfx_pipeline import cli  # pylint: disable=g-import-not-at-top
  assert predict.predict_rows(predict.Scorer(served.model_dir), [],
                              str(tmp_path)) == []
  pairs = tmp_path / "pairs.csv"
  pairs.write_text("user_id,image_id,review\n")
  out = tmp_path / "scores.csv"
  rc = cli.main(["predict", "--model", os.path.dirname(served.model_dir),
                 "--pairs", str(pairs), "--images", str(tmp_path),
                 "--out", str(out)])
  assert rc == 0
  with open(out, newline="") as fh:
    reader = csv.reader(fh)
    assert next(reader) == list(predict.OUTPUT_COLUMNS)
    assert list(reader) == []


def test_headerless_pairs_file_is_a_clear_error(served, tmp_path, capsys):
  from tfx_pipeline import cli  # pylint: disable=g-import-not-at-top
  pairs = tmp_path / "pairs.csv"
  pairs.write_text("")
  rc = cli.main(["predict", "--model", served.model_dir, "--pairs",
                 str(pairs), "--images", str(tmp_path), "--out",
                 str(tmp_path / "o.csv")])
  assert rc == 2
  err = capsys.readouterr().err
  assert f"{pairs}:1: header lacks column(s)" in err
  assert not (tmp_path / "o.csv").exists()

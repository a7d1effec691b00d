"""The pushed SavedModel is hermetic, and its serving_raw semantics (slow).

Hermetic: a copy of the run's workdir loses its Transform output and the
pushed model, copied elsewhere, still scores in a fresh process; the
vocabularies, profiles and tag names travel inside the SavedModel, and no
file of it names the run's directories.

serving_raw: the request profile (one review per line, read like a stored
profile), the cold-user rule and the exported temperature.
"""
from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import demo_data
from preprocessing import config as cfg_lib
from preprocessing import features as F
from preprocessing.images import reencode_image

pytestmark = pytest.mark.slow


def _users(data_dir, n=2):
  truth = json.load(open(os.path.join(data_dir, demo_data.TRUTH_FILE)))
  return [u for u, _ in collections.Counter(
      r["user_id"] for r in truth["reviews"]).most_common(n)]


def _first_image(data_dir):
  name = sorted(n for n in os.listdir(os.path.join(data_dir, "images"))
                if n.endswith(".jpg"))[0]
  return os.path.join(data_dir, "images", name)


def test_pushed_model_scores_without_the_run(tiny_pipeline_run, tmp_path):
  data, workdir, res = tiny_pipeline_run
  copy = tmp_path / "work_copy"
  shutil.copytree(workdir, copy, symlinks=True)
  rel = os.path.relpath(res.pushed_model, workdir)
  moved = tmp_path / "elsewhere" / "cfan" / "7"
  shutil.copytree(copy / rel, moved)
  shutil.rmtree(copy / "tfx" / "Transform")
  shutil.rmtree(copy / "serving")
  assert not (copy / "tfx" / "Transform").exists()
  # Vocabularies are assets of the SavedModel itself ...
  assets = set(os.listdir(moved / "assets"))
  for vocab in (F.USER_VOCAB, F.IMAGE_VOCAB, F.TAG_VOCAB, F.REVIEW_VOCAB):
    assert vocab in assets, assets
  # ... and nothing in it reads the run's directories. The run's paths
  # survive only inside the *names* TF gives the vocabulary hash tables
  # ("hash_table_tf.Tensor(b'<path of a temporary vocab file>'..."), paths
  # that no longer exist even in the original run; the tables are filled
  # from the SavedModel's assets.
  pattern = re.compile(re.escape(workdir.encode()) + rb"[^'\"\x00\s]*")
  for root, _, files in os.walk(moved):
    for name in files:
      with open(os.path.join(root, name), "rb") as fh:
        blob = fh.read()
      for match in pattern.finditer(blob):
        assert b"hash_table_" in blob[max(0, match.start() - 40):
                                      match.start()], (name, match.group())
        assert not os.path.exists(match.group().decode()), match.group()
  image = reencode_image(open(_first_image(data), "rb").read())
  image_file = tmp_path / "img.jpg"
  image_file.write_bytes(image)
  user = _users(data, 1)[0]
  script = textwrap.dedent(f"""
      import json
      import preprocessing  # pins Keras 3 before TF
      import tensorflow as tf
      from keras_model import signatures
      m = signatures.load_serving_model({str(moved)!r})
      img = open({str(image_file)!r}, "rb").read()
      r = m.signatures["serving_raw"](
          user_id=tf.constant([{user!r}, "stranger"]),
          image_bytes=tf.constant([img, img]),
          review=tf.constant(["", ""]), profile=tf.constant(["", ""]))
      print("RESULT" + json.dumps({{
          "known": r["known_user"].numpy().tolist(),
          "p": r["p_personal"].numpy().tolist(),
          "tag": [t.decode() for t in r["tag"].numpy()],
          "profile_rows": int(m.profile_tokens.shape[0]),
          "profile_tokens": int(tf.math.count_nonzero(m.profile_tokens))}}))
  """)
  proc = subprocess.run([sys.executable, "-c", script], capture_output=True,
                        text=True, timeout=300, cwd=str(tmp_path))
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = json.loads(proc.stdout.split("RESULT", 1)[1])
  assert out["known"] == [True, False]  # user vocabulary inside
  assert all(0.0 <= p <= 1.0 for p in out["p"])
  with open(moved / "assets" / F.TAG_VOCAB, encoding="utf-8") as fh:
    tag_names = fh.read().splitlines()
  assert out["tag"][0] in tag_names  # tag names inside
  with open(moved / "assets" / F.USER_VOCAB, encoding="utf-8") as fh:
    known_users = len(fh.read().splitlines())
  assert out["profile_rows"] == known_users + cfg_lib.get_config(
      "cpu").num_oov_buckets
  assert out["profile_tokens"] > 0  # stored profiles inside


@pytest.fixture(scope="module")
def loaded(tiny_pipeline_run):
  from keras_model import signatures  # pylint: disable=g-import-not-at-top
  data, _, res = tiny_pipeline_run
  model = signatures.load_serving_model(res.pushed_model)
  image = reencode_image(open(_first_image(data), "rb").read())
  return model, image, _users(data, 2)


def _raw(model, users, image, reviews=None, profiles=None):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  n = len(users)
  out = model.signatures["serving_raw"](
      user_id=tf.constant(users), image_bytes=tf.constant([image] * n),
      review=tf.constant(reviews or [""] * n),
      profile=tf.constant(profiles or [""] * n))
  return {k: v.numpy() for k, v in out.items()}


LINES = ["The composition is great.", "Too dark and the focus is soft.",
         "Lovely colours in the sky.", "Sharp detail, good exposure.",
         "The light is flat.", "Beautiful shot!", "Not my taste at all.",
         "Nice framing of the subject.", "Harsh shadows on the face.",
         "Wonderful depth of field."]


def _reads_reviews() -> bool:
  """Whether the tiny run's model (the cpu config's variant) reads text."""
  from keras_model import variants  # pylint: disable=g-import-not-at-top
  from preprocessing import config as cfg_lib  # pylint: disable=g-import-not-at-top
  return variants.get_variant(cfg_lib.get_config("cpu").variant).uses_review


def test_request_profile_drives_an_unknown_users_personal_head(loaded):
  model, image, _ = loaded
  out = _raw(model, ["stranger"] * 3, image,
             profiles=["", "\n".join(LINES[:3]), "\n".join(LINES[3:6])])
  assert not out["known_user"].any()
  assert out["review_free"].all()
  p, a = out[F.PERSONAL_OUTPUT], out[F.AGNOSTIC_OUTPUT]
  assert p[0] == a[0]  # no profile: agnostic fallback
  if not _reads_reviews():
    # The residual variant reads no text: a profile switches an unknown
    # user to the personal head (the crowd's prediction for a new user),
    # and which profile it is changes nothing.
    assert p[1] == pytest.approx(p[2], abs=1e-7)
    return
  assert p[1] != a[1] and p[2] != a[2]  # profile: personal head
  assert p[1] != p[2]  # ... which reads the profile text
  assert not np.allclose(out[F.ATTENTION_OUTPUT][1],
                         out[F.ATTENTION_OUTPUT][2])


def test_request_profile_replaces_the_stored_one_only_without_review(loaded):
  model, image, users = loaded
  u = users[0]
  text = "\n".join(LINES[6:9])
  out = _raw(model, [u, u, u, u], image,
             reviews=["", "", "great light", "great light"],
             profiles=["", text, "", text])
  p = out[F.PERSONAL_OUTPUT]
  assert out["known_user"].all()
  assert list(out["review_free"]) == [True, True, False, False]
  if not _reads_reviews():  # residual: no text changes the score (each
    # protocol keeps its own calibration temperature)
    assert p[0] == pytest.approx(p[1], abs=1e-7)
    assert p[2] == pytest.approx(p[3], abs=1e-7)
    return
  assert p[0] != p[1]  # the profile replaced the stored profile
  assert p[2] == pytest.approx(p[3], abs=1e-7)  # a review wins over it
  assert list(out["review_free"]) == [True, True, False, False]


def test_profile_is_read_like_a_stored_profile(loaded):
  """Blank lines and whitespace are ignored; lines past the cap are unread."""
  model, image, _ = loaded
  cap = cfg_lib.get_config("cpu").profile_max_reviews
  assert len(LINES) > cap
  base = "\n".join(LINES[:cap])
  variants = [base, "\n\n  " + base.replace("\n", "\n \n") + "\n\n",
              base + "\n" + "\n".join(LINES[cap:]), "   \n  "]
  out = _raw(model, ["stranger"] * 4, image, profiles=variants)
  p, a = out[F.PERSONAL_OUTPUT], out[F.AGNOSTIC_OUTPUT]
  assert p[1] == pytest.approx(p[0], abs=1e-7)
  assert p[2] == pytest.approx(p[0], abs=1e-7)
  assert p[3] == a[3]  # whitespace only = no profile


def test_exported_temperature_scales_the_personal_logit(loaded):
  model, image, users = loaded
  temps = model.personal_temperature
  before = temps.numpy().copy()
  try:
    temps.assign([1.0, 1.0])
    base = _raw(model, users + ["stranger"], image,
                reviews=["great light", "", ""])
    temps.assign([2.0, 4.0])
    scaled = _raw(model, users + ["stranger"], image,
                  reviews=["great light", "", ""])
  finally:
    temps.assign(before)

  def expect(p, t):
    z = np.log(p) - np.log1p(-p)
    return 1 / (1 + np.exp(-z / t))

  p0, p1 = base[F.PERSONAL_OUTPUT], scaled[F.PERSONAL_OUTPUT]
  assert p1[0] == pytest.approx(expect(p0[0], 2.0), abs=1e-5)  # review given
  assert p1[1] == pytest.approx(expect(p0[1], 4.0), abs=1e-5)  # review-free
  assert p1[2] == p0[2] == base[F.AGNOSTIC_OUTPUT][2]  # fallback untouched


def test_tfma_scores_each_review_of_image_major_eval_examples(
    tiny_pipeline_run):
  """An example is one image with all its reviews, the held-out ones marked
  (warm images in the training split, cold ones in eval): the Evaluator's
  signature scores each review as ``serving_review_free`` scores it alone,
  and TFMA's personal-head figures (weighted by the held-out mark) are
  those of the held-out reviews, overall and per warm/cold slice."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from evaluation import metrics
  from keras_model import signatures
  from preprocessing import labelled
  from tfx_pipeline import metadata
  from tfx_pipeline import prepare
  # pylint: enable=g-import-not-at-top
  _, workdir, res = tiny_pipeline_run
  with open(os.path.join(workdir, "reports", "metrics.json")) as fh:
    m = json.load(fh)
  examples = metadata.latest_outputs(workdir, "ImportExampleGen",
                                     ["examples"])["examples"]
  raw = prepare.read_tfrecords(os.path.join(examples, "Split-*", "*"))
  rows = [labelled.review_rows(ex) for ex in raw]
  per_image = np.array([len(r) for r in rows])
  assert per_image.max() > 1
  assert len({r[0][F.IMAGE_ID_KEY] for r in rows if r}) == (per_image > 0).sum()
  rows = [r for image in rows for r in image]
  held = np.array([r[F.HELD_OUT_KEY] for r in rows]) == 1
  assert 0 < held.sum() < len(rows)
  model = signatures.load_serving_model(res.pushed_model)
  padded = model.signatures[F.EVALUATE_REVIEW_FREE](
      examples=tf.constant(raw))[F.PERSONAL_OUTPUT].numpy()
  xf = model.signatures[signatures.TRANSFORM_FEATURES](
      examples=tf.constant(raw))
  weight = xf[F.REVIEW_WEIGHT_KEY].numpy()
  assert padded.shape == weight.shape == (len(raw), per_image.max())
  valid = np.arange(per_image.max())[None, :] < per_image[:, None]
  np.testing.assert_array_equal(weight[valid], held)
  assert np.all(weight[~valid] == 0) and np.all(padded[~valid] == 0)
  np.testing.assert_array_equal(xf[F.IMAGE_WEIGHT_KEY].numpy(),
                                (weight.max(axis=1, initial=0) > 0))
  alone = model.signatures[signatures.SERVING_REVIEW_FREE](
      examples=tf.constant([one for ex in raw
                            for one in labelled.one_review_examples(ex)])
  )[F.PERSONAL_OUTPUT].numpy()
  np.testing.assert_allclose(padded[valid], alone, atol=1e-5)
  labels = np.array([r[F.LABEL_KEY] for r in rows])
  np.testing.assert_array_equal(xf[F.LABEL_KEY].numpy()[valid], labels)
  # TFMA scores the held-out reviews only.
  alone, labels, rows = alone[held], labels[held], [
      r for r, h in zip(rows, held) if h]
  slices = np.array([r[F.SLICE_KEY].decode() for r in rows])
  blocks = [("overall", m["overall"])] + list(
      m["slices"][F.SLICE_KEY].items())
  assert {name for name, _ in blocks} == {"overall", *F.SLICE_VALUES}
  for name, block in blocks:
    mask = np.ones(len(rows), bool) if name == "overall" else slices == name
    personal = block["review_free"]["personal"]
    assert personal["count"] == mask.sum(), name
    # TFMA's AUC is a histogram approximation (10,000 thresholds).
    assert personal["auc"] == pytest.approx(
        metrics.auc(labels[mask], alone[mask]), abs=2e-3), name
    assert personal["accuracy"] == pytest.approx(
        metrics.accuracy(labels[mask], alone[mask]), abs=1e-6), name


def test_report_and_trainer_record_calibration(tiny_pipeline_run):
  """The report's eval ECE is TFMA's (the exported, temperature-scaled
  model, review-free); the temperature decision is the Trainer's."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from evaluation import metrics
  from keras_model import signatures
  from tfx_pipeline import metadata
  from preprocessing import labelled
  from tfx_pipeline import prepare
  # pylint: enable=g-import-not-at-top
  _, workdir, res = tiny_pipeline_run
  with open(os.path.join(workdir, "reports", "metrics.json")) as fh:
    m = json.load(fh)
  personal = m["overall"]["review_free"]["personal"]
  # TFMA's calibration histogram gives the same ECE as scoring the eval
  # split directly with the pushed model.
  examples = metadata.latest_outputs(workdir, "ImportExampleGen",
                                     ["examples"])["examples"]
  # Every held-out review (in both splits), one serving request each.
  raw = [one for ex in prepare.read_tfrecords(
      os.path.join(examples, "Split-*", "*"))
         for one in labelled.one_review_examples(ex, held_out_only=True)]
  model = signatures.load_serving_model(res.pushed_model)
  out = model.signatures[signatures.SERVING_REVIEW_FREE](
      examples=tf.constant(raw))
  labels = [tf.train.Example.FromString(r).features.feature[
      F.LABEL_KEY].int64_list.value[0] for r in raw]
  assert len(raw) == m["rows"] == personal["count"]
  assert personal["ece"] == pytest.approx(metrics.expected_calibration_error(
      labels, out[F.PERSONAL_OUTPUT].numpy()), abs=1e-4)
  for block in m["per_tag"].values():
    assert 0.0 <= block["review_free"]["personal"]["ece"] <= 1.0
  # The temperature was fitted and checked by the Trainer on held-out
  # training rows; the report passes that block on, labelled.
  assert m["calibration"] == m["trainer"]["calibration"]
  assert "held out of training" in m["sources"]["calibration"]
  for proto in ("review_given", "review_free"):
    cal = m["calibration"][proto]
    assert cal["fit_rows"] + cal["check_rows"] == \
        m["trainer"]["calibration_examples"] > 0

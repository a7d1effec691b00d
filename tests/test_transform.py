"""Tests of preprocessing/transform.py (``preprocessing_fn`` and helpers).

``preprocessing_fn`` runs through tf.Transform's Beam implementation on a few
in-memory instances (analyze + transform), then the resulting transform_fn is
applied to new data to check the OOV paths.
"""
from __future__ import annotations

import functools
import io
import os
from typing import Any, Dict, List

import numpy as np
import pytest
from PIL import Image

from preprocessing import config as cfg_lib
from preprocessing import features as F
from preprocessing import transform

import tensorflow as tf  # noqa: E402  (after preprocessing pins Keras)
import tensorflow_transform.beam as tft_beam  # noqa: E402
from tensorflow_transform.tf_metadata import dataset_metadata  # noqa: E402
from tensorflow_transform.tf_metadata import schema_utils  # noqa: E402

CFG = cfg_lib.get_config("cpu")
SIZE = CFG.image_size
MAX_LEN = CFG.max_review_len

RED = (220, 20, 30)


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------
def _encode(img: Image.Image, fmt: str) -> bytes:
  buf = io.BytesIO()
  img.save(buf, format=fmt)
  return buf.getvalue()


RGB_JPEG = _encode(Image.new("RGB", (80, 50), RED), "JPEG")
GRAY_PNG = _encode(Image.new("L", (30, 45), 128), "PNG")
CMYK_JPEG = _encode(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG")

LONG_REVIEW = " ".join(["sharp"] * (MAX_LEN + 8))


def _feature_spec():
  """The labelled-example spec: the one in preprocessing.transform."""
  from preprocessing import transform  # pylint: disable=g-import-not-at-top
  return transform.raw_feature_spec()


def _instance(user: str, image_id: str, review: str, image: bytes,
              rating: int, agnostic: int, tag: str) -> Dict[str, Any]:
  """An image-major labelled instance with one review."""
  return {
      F.USER_KEY: [user.encode()], F.IMAGE_ID_KEY: image_id.encode(),
      F.REVIEW_KEY: [review.encode()], F.IMAGE_KEY: image,
      F.TAG_KEY: tag.encode(), F.REVIEW_TYPE_KEY: [b"I"],
      F.LABEL_KEY: [rating], F.AGNOSTIC_LABEL_KEY: agnostic,
      F.PREFERENCE_KEY: [4 if rating else 2], F.CHALLENGE_KEY: 7,
      F.SAID_KEY: [F.encode_said((0, 1 if rating else -1, 0, 0))],
      F.MEAN_SCORE_KEY: 5.5, F.VOTES_KEY: list(range(1, 11)),
      F.HELD_OUT_KEY: [0],
  }


def _merged(*instances: Dict[str, Any]) -> Dict[str, Any]:
  """One image-major instance holding the reviews of ``instances`` (which
  share their image)."""
  out = dict(instances[0])
  for k in F.REVIEW_LEVEL_KEYS + (F.HELD_OUT_KEY,):
    out[k] = [v for inst in instances for v in inst[k]]
  return out


def _row(out: Dict[str, Any]) -> Dict[str, Any]:
  """A transformed instance with its ragged review-level outputs by name:
  one review's values (as the per-review rows had them) or, for several
  reviews, one entry per review."""
  row = {}
  for key, value in out.items():
    name, _, part = key.partition("$")
    if not part:
      row[name] = value
      continue
    value = np.asarray(value)
    if name == F.REVIEW_XF:
      value = value.reshape(-1, MAX_LEN)
    row[name] = value[0] if len(value) == 1 else value
  return row


TRAIN = [
    _instance("u1", "101", "Sharp and sharp colors!", RGB_JPEG, 1, 0,
              "Floral"),
    _instance("u2", "102", "SHARP focus, isn't it?", GRAY_PNG, 0, 1,
              "Landscape"),
    _instance("u1", "103", "nice colors \U0001F600", CMYK_JPEG, 1, 1,
              "Floral"),
    _instance("u3", "101", LONG_REVIEW, RGB_JPEG, 0, 0, "Macro"),
]
NEW = [
    _instance("stranger", "999", "Zebra sharp", RGB_JPEG, 1, 0, "Floral"),
    _instance("u2", "103", "colors", GRAY_PNG, 0, 1, "Unheard"),
]


# Image-major: the reviews of TRAIN[0] and TRAIN[3] (image 101) in one
# instance, and NEW[0] alone.
MAJOR = [_merged(TRAIN[0], TRAIN[3]), NEW[0]]


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
  """(train outputs, new-data outputs, review vocabulary list)."""
  tmp = str(tmp_path_factory.mktemp("tft"))
  meta = dataset_metadata.DatasetMetadata(
      schema_utils.schema_from_feature_spec(_feature_spec()))
  fn = functools.partial(transform.preprocessing_fn,
                         custom_config=CFG.transform.to_dict())
  with tft_beam.Context(temp_dir=tmp, force_tf_compat_v1=False):
    (train_out, _), transform_fn = (
        (TRAIN, meta) | "Analyze" >> tft_beam.AnalyzeAndTransformDataset(fn))
    new_out, _ = (((NEW, meta), transform_fn)
                  | "Transform" >> tft_beam.TransformDataset())
    major_out, _ = (((MAJOR, meta), transform_fn)
                    | "TransformMajor" >> tft_beam.TransformDataset())
  fn_dir = transform_fn[0][0]
  vocabs = {}
  for name in (F.REVIEW_VOCAB, F.USER_VOCAB, F.IMAGE_VOCAB, F.TAG_VOCAB):
    with open(os.path.join(fn_dir, "assets", name), encoding="utf-8") as f:
      vocabs[name] = [line.rstrip("\n") for line in f]
  return ([_row(r) for r in train_out], [_row(r) for r in new_out], vocabs,
          [_row(r) for r in major_out])


def _ids(vocab: List[str], words: List[str]) -> List[int]:
  return [vocab.index(w) + 1 for w in words]  # +1: 0 is padding


# --------------------------------------------------------------------------
# preprocessing_fn through tf.Transform
# --------------------------------------------------------------------------
def test_output_keys(transformed):
  train, new, _, _ = transformed
  expected = {F.USER_XF, F.IMAGE_ID_XF, F.REVIEW_XF, F.REVIEW_LEN_XF,
              F.IMAGE_XF, F.TAG_XF, F.VOTES_XF, F.LABEL_KEY, F.SAID_KEY,
              F.AGNOSTIC_LABEL_KEY, F.HELD_OUT_KEY}
  for row in train + new:
    assert set(row) == expected


def test_votes_become_shares(transformed):
  train, new, _, _ = transformed
  want = np.arange(1, 11) / 55.0  # the fixture's histogram 1..10
  for row in train + new:
    np.testing.assert_allclose(row[F.VOTES_XF], want, rtol=1e-6)


def test_review_ids_padding_and_case_folding(transformed):
  train, _, vocabs, _ = transformed
  vocab = vocabs[F.REVIEW_VOCAB]
  assert set(vocab) == {"sharp", "and", "colors", "!", "focus", ",",
                        "isn't", "it", "?", "nice", "\U0001F600"}
  oov = len(vocab) + 1
  for row in train:
    ids = np.asarray(row[F.REVIEW_XF])
    assert ids.shape == (MAX_LEN,)
    n = int(row[F.REVIEW_LEN_XF])
    assert np.all(ids[:n] >= 1) and np.all(ids[:n] < oov)
    assert np.all(ids[n:] == F.PAD_TOKEN_ID)
  r0 = np.asarray(train[0][F.REVIEW_XF])
  assert list(r0[:5]) == _ids(vocab, ["sharp", "and", "sharp", "colors", "!"])
  assert r0[0] == r0[2]  # same word, same id
  r1 = np.asarray(train[1][F.REVIEW_XF])
  assert r1[0] == r0[0]  # "SHARP" folds to "sharp"
  assert list(r1[:6]) == _ids(vocab,
                              ["sharp", "focus", ",", "isn't", "it", "?"])
  assert [int(r[F.REVIEW_LEN_XF]) for r in train] == [5, 6, 3, MAX_LEN]
  # Truncation: the long review fills every slot with "sharp".
  assert list(np.asarray(train[3][F.REVIEW_XF])) == [r0[0]] * MAX_LEN


def test_unknown_word_of_new_data_maps_to_oov(transformed):
  train, new, vocabs, _ = transformed
  oov = len(vocabs[F.REVIEW_VOCAB]) + 1  # shifted OOV bucket
  ids = np.asarray(new[0][F.REVIEW_XF])
  assert ids[0] == oov  # "zebra"
  assert ids[1] == np.asarray(train[0][F.REVIEW_XF])[0]  # "sharp"
  assert int(new[0][F.REVIEW_LEN_XF]) == 2
  assert np.all(ids[2:] == F.PAD_TOKEN_ID)


def test_user_image_tag_indices(transformed):
  train, new, vocabs, _ = transformed
  for key, vocab_name in ((F.USER_XF, F.USER_VOCAB),
                          (F.IMAGE_ID_XF, F.IMAGE_VOCAB),
                          (F.TAG_XF, F.TAG_VOCAB)):
    size = len(vocabs[vocab_name])
    for row in train + new:
      assert 0 <= int(row[key]) < size + CFG.num_oov_buckets, key
    for row in train:
      assert int(row[key]) < size, key  # training values are in vocabulary
  assert sorted(vocabs[F.USER_VOCAB]) == ["u1", "u2", "u3"]
  assert sorted(vocabs[F.IMAGE_VOCAB]) == ["101", "102", "103"]
  assert int(train[0][F.USER_XF]) == int(train[2][F.USER_XF])  # both u1
  assert int(train[0][F.IMAGE_ID_XF]) == int(train[3][F.IMAGE_ID_XF])
  # Unseen user, image and tag -> the OOV bucket (last index).
  assert int(new[0][F.USER_XF]) == 3
  assert int(new[0][F.IMAGE_ID_XF]) == 3
  assert int(new[1][F.TAG_XF]) == len(vocabs[F.TAG_VOCAB])
  assert int(new[1][F.USER_XF]) == int(train[1][F.USER_XF])


def test_labels_pass_through(transformed):
  train, new, _, _ = transformed
  for raw, row in zip(TRAIN + NEW, train + new):
    assert [int(row[F.LABEL_KEY])] == raw[F.LABEL_KEY]
    assert [int(row[F.SAID_KEY])] == raw[F.SAID_KEY]
    assert int(row[F.AGNOSTIC_LABEL_KEY]) == raw[F.AGNOSTIC_LABEL_KEY]


def test_image_major_rows_give_each_review_its_own_values(transformed):
  """An instance with two reviews of one image gives, review by review, the
  values of the one-review instances, and its image's features once."""
  train, new, _, major = transformed
  two, one = major
  assert len(two[F.USER_XF]) == 2 and two[F.REVIEW_XF].shape == (2, MAX_LEN)
  for i, alone in enumerate((train[0], train[3])):
    for key in (F.USER_XF, F.REVIEW_LEN_XF, F.LABEL_KEY):
      assert int(two[key][i]) == int(alone[key]), key
    np.testing.assert_array_equal(two[F.REVIEW_XF][i], alone[F.REVIEW_XF])
  for key in (F.IMAGE_ID_XF, F.TAG_XF, F.AGNOSTIC_LABEL_KEY, F.IMAGE_XF):
    assert two[key] == train[0][key], key
  for key in (F.USER_XF, F.REVIEW_LEN_XF, F.IMAGE_XF):
    assert one[key] == new[0][key], key


def test_flatten_reviews_gives_one_row_per_review():
  batch = {
      F.USER_XF: tf.ragged.constant([[3, 4], [], [5]], dtype=tf.int64),
      F.REVIEW_XF: tf.RaggedTensor.from_row_lengths(
          tf.constant([[1, 0], [2, 2], [7, 0]], tf.int64), [2, 0, 1]),
      F.IMAGE_XF: tf.constant([b"a", b"b", b"c"]),
  }
  rows = transform.flatten_reviews(batch, tf.constant([2, 0, 1], tf.int64))
  assert rows[F.USER_XF].numpy().tolist() == [3, 4, 5]
  assert rows[F.REVIEW_XF].numpy().tolist() == [[1, 0], [2, 2], [7, 0]]
  assert rows[F.IMAGE_XF].numpy().tolist() == [b"a", b"a", b"c"]


@pytest.mark.parametrize("index,colour", [
    (0, RED),  # RGB JPEG, 80x50
    (1, (128, 128, 128)),  # grayscale PNG, 30x45
    (2, (255, 0, 0)),  # CMYK JPEG (C=0, M=Y=255, K=0): TF decodes CMYK
], ids=["rgb-jpeg", "gray-png", "cmyk-jpeg"])
def test_image_xf_is_a_resized_rgb_jpeg(transformed, index, colour):
  train, _, _, _ = transformed
  data = train[index][F.IMAGE_XF]
  assert data[:2] == b"\xff\xd8"  # JPEG SOI
  pixels = tf.io.decode_jpeg(data).numpy()
  assert pixels.shape == (SIZE, SIZE, 3)
  centre = pixels[SIZE // 2, SIZE // 2].astype(int)
  assert np.all(np.abs(centre - np.array(colour)) <= 20), centre


# --------------------------------------------------------------------------
# Helpers, eagerly
# --------------------------------------------------------------------------
def _tokens(texts: List[str]) -> List[List[str]]:
  out = transform.tokenize_reviews(tf.constant(texts)).to_list()
  return [[t.decode("utf-8") for t in row] for row in out]


def test_tokenize_reviews():
  got = _tokens(["Isn't it GREAT!\U0001F600", "Sharp, sharp...  focus",
                 "", "   "])
  assert got[0] == ["isn't", "it", "great", "!", "\U0001F600"]
  assert got[1] == ["sharp", ",", "sharp", ".", ".", ".", "focus"]
  assert got[2] == [] and got[3] == []


def test_tokenize_reviews_keeps_unicode_words_whole():
  # RE2's \w is ASCII-only: accented letters must not split words.
  got = _tokens(["Très belle photo, CAFÉ naïve", "東京 f/2.8"])
  assert got[0] == ["très", "belle", "photo", ",", "café", "naïve"]
  assert got[1] == ["東京", "f", "/", "2", ".", "8"]


def test_decode_and_resize_any_format():
  imgs = transform.decode_and_resize(
      tf.constant([RGB_JPEG, GRAY_PNG, CMYK_JPEG]), 16)
  assert imgs.dtype == tf.uint8
  assert imgs.shape == (3, 16, 16, 3)
  px = imgs.numpy()[:, 8, 8].astype(int)
  assert np.all(np.abs(px - np.array([RED, (128,) * 3, (255, 0, 0)])) <= 20)


def test_resized_jpegs_decode_each_distinct_photo_once(monkeypatch):
  """A batch of 4 reviews of 2 photos: 2 decodes, each photo's result on
  every one of its rows, the same bytes as decoding row by row."""
  decode = transform.decode_and_resize
  rows_decoded = []

  def counting_decode(image_bytes, size):
    rows_decoded.append(int(image_bytes.shape[0]))
    return decode(image_bytes, size)

  monkeypatch.setattr(transform, "decode_and_resize", counting_decode)
  out = transform.resized_jpegs(
      tf.constant([RGB_JPEG, GRAY_PNG, RGB_JPEG, RGB_JPEG]), 16,
      CFG.jpeg_quality).numpy()
  assert rows_decoded == [2]
  assert out[0] == out[2] == out[3] != out[1]
  per_row = transform.encode_images(
      decode(tf.constant([RGB_JPEG, GRAY_PNG]), 16), CFG.jpeg_quality).numpy()
  assert out[0] == per_row[0] and out[1] == per_row[1]


def test_decode_image_xf_round_trip():
  rng = np.random.default_rng(0)
  base = rng.integers(0, 256, (2, 4, 4, 3)).astype(np.uint8)
  # Blocky, smooth images survive JPEG almost exactly.
  pixels = np.repeat(np.repeat(base, 8, axis=1), 8, axis=2)
  jpegs = transform.encode_images(tf.constant(pixels), CFG.jpeg_quality)
  assert jpegs.shape == (2,) and jpegs.dtype == tf.string
  out = transform.decode_image_xf(jpegs, 32)
  assert out.dtype == tf.float32
  assert out.shape == (2, 32, 32, 3)
  arr = out.numpy()
  assert arr.min() >= 0.0 and arr.max() <= 255.0
  centres = arr[:, 4::8, 4::8, :]
  assert np.abs(centres - base.astype(np.float32)).mean() < 12.0


# --------------------------------------------------------------------------
# run_transform: the Beam entry point the benchmarks time
# --------------------------------------------------------------------------
def _example(instance: Dict[str, Any]) -> bytes:
  feats = {}
  for key, value in instance.items():
    values = value if isinstance(value, list) else [value]
    if isinstance(values[0], bytes):
      feats[key] = tf.train.Feature(bytes_list=tf.train.BytesList(
          value=values))
    elif isinstance(values[0], float):
      feats[key] = tf.train.Feature(float_list=tf.train.FloatList(
          value=values))
    else:
      feats[key] = tf.train.Feature(int64_list=tf.train.Int64List(
          value=values))
  return tf.train.Example(features=tf.train.Features(
      feature=feats)).SerializeToString()


def test_run_transform_writes_what_preprocessing_fn_gives(tmp_path,
                                                          transformed):
  """Every labelled row comes out once, encoded from Arrow batches, with the
  values the in-process tf.Transform run gives for the same rows."""
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  with tf.io.TFRecordWriter(str(tmp_path / "in.tfrecord")) as w:
    for inst in TRAIN:
      w.write(_example(inst))
  args = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
  out = transform.run_transform(str(tmp_path / "in.tfrecord"),
                                str(tmp_path / "out"), CFG, args)
  # A rerun into the same directory replaces the first run's output.
  out = transform.run_transform(str(tmp_path / "in.tfrecord"), out, CFG,
                                args)
  tft_output = tft.TFTransformOutput(os.path.join(out, "transform_fn"))
  spec = tft_output.transformed_feature_spec()
  files = tf.io.gfile.glob(os.path.join(out, "transformed", "*"))
  rows = [tf.io.parse_single_example(r, spec) for r in
          tf.data.TFRecordDataset(files, compression_type="GZIP")]
  assert len(rows) == len(TRAIN)
  want, _, _, _ = transformed

  def key(row):
    return (int(np.asarray(row[F.REVIEW_LEN_XF]).reshape(-1)[0]),
            np.asarray(row[F.REVIEW_XF]).tolist())

  def dense(v):
    return np.asarray(v.to_tensor() if isinstance(v, tf.RaggedTensor) else v)

  got = sorted(({k: dense(v) for k, v in r.items()} for r in rows), key=key)
  for g, w in zip(got, sorted(want, key=key)):
    assert set(g) == set(w)
    for k in (F.REVIEW_XF, F.REVIEW_LEN_XF, F.VOTES_XF, F.LABEL_KEY,
              F.AGNOSTIC_LABEL_KEY):
      np.testing.assert_allclose(g[k], np.asarray(w[k]).reshape(g[k].shape))
    assert (tf.io.decode_jpeg(g[F.IMAGE_XF].item()).shape ==
            (SIZE, SIZE, 3))

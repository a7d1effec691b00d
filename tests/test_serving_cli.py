"""``cfan score-folder``, ``cfan explain`` and ``predict --profile`` (slow).

Run against the session's pushed model, in-process through ``cli.main``:
unreadable photos (zero bytes, garbage, truncated JPEG) become error rows
at the end, a PNG with alpha and a large photo are scored, an empty folder
gives a header-only CSV, an unknown user falls back to the agnostic head
unless a profile is given, and the overlay PNG has one panel per user, with
the model's attention map or, for a model without attention (the residual
default), its occlusion saliency, named as such.
"""
from __future__ import annotations

import collections
import csv
import json
import os
import shutil

import numpy as np
import pytest

import demo_data
from preprocessing import features as F
from tfx_pipeline import cli
from tfx_pipeline import score_folder

pytestmark = pytest.mark.slow

BAD = {"zero.jpg": "empty image file", "garbage.png": "corrupt image",
       "truncated.JPG": "corrupt image"}
PROFILE_TEXT = ("The composition is great and the light is lovely.\n"
                "Too dark, the focus is soft.\n")


@pytest.fixture(scope="module")
def run(tiny_pipeline_run):
  return tiny_pipeline_run


@pytest.fixture(scope="module")
def known_user(run):
  data, _, _ = run
  truth = json.load(open(os.path.join(data, demo_data.TRUTH_FILE)))
  return collections.Counter(
      r["user_id"] for r in truth["reviews"]).most_common(1)[0][0]


@pytest.fixture(scope="module")
def folder(run, tmp_path_factory):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  data, _, _ = run
  d = tmp_path_factory.mktemp("photos")
  src = sorted(n for n in os.listdir(os.path.join(data, "images"))
               if n.endswith(".jpg"))[:3]
  for name in src:
    shutil.copy(os.path.join(data, "images", name), d / name)
  rgba = np.zeros((90, 140, 4), np.uint8)
  rgba[..., 1] = 200
  rgba[:, 70:, 3] = 255  # left half fully transparent
  Image.fromarray(rgba, "RGBA").save(d / "alpha.png")
  yy, xx = np.mgrid[0:3000, 0:4000]
  big = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8)
  Image.fromarray(big).save(d / "large.jpeg", quality=85)
  (d / "zero.jpg").write_bytes(b"")
  (d / "garbage.png").write_bytes(b"this is not a picture at all")
  with open(d / src[0], "rb") as fh:
    jpeg = fh.read()
  (d / "truncated.JPG").write_bytes(jpeg[:len(jpeg) // 3])
  (d / "notes.txt").write_text("ignored")
  (d / "nested").mkdir()
  shutil.copy(d / src[0], d / "nested" / "ignored.jpg")
  return str(d), src


def _score_folder(res, user, images, out, *extra):
  rc = cli.main(["score-folder", "--model", res.serving_dir, "--user", user,
                 "--images", images, "--out", str(out), *extra])
  with open(out, newline="") as fh:
    return rc, list(csv.DictReader(fh))


def _check_ranked(rows, n_scored):
  ranked, errors = rows[:n_scored], rows[n_scored:]
  assert [r["rank"] for r in ranked] == [str(i) for i in
                                         range(1, n_scored + 1)]
  p = [float(r[F.PERSONAL_OUTPUT]) for r in ranked]
  assert p == sorted(p, reverse=True)
  assert all(0.0 <= x <= 1.0 for x in p)
  assert all(r["error"] == "" and r["tag"] for r in ranked)
  return ranked, errors


def test_known_user_ranking_with_bad_photos_last(run, folder, known_user,
                                                 tmp_path, capsys):
  _, _, res = run
  images, src = folder
  rc, rows = _score_folder(res, known_user, images, tmp_path / "r.csv")
  assert rc == 0
  with open(tmp_path / "r.csv") as fh:
    assert fh.readline().strip() == ",".join(score_folder.FOLDER_COLUMNS)
  ranked, errors = _check_ranked(rows, len(src) + 2)
  assert {r["file"] for r in ranked} == set(src) | {"alpha.png",
                                                     "large.jpeg"}
  assert all(r["known_user"] == "1" for r in ranked)
  assert sorted(r["file"] for r in errors) == sorted(BAD)
  for r in errors:
    assert r["error"].startswith(BAD[r["file"]]), r
    assert r["rank"] == r[F.PERSONAL_OUTPUT] == ""
  out = capsys.readouterr()
  assert "is known to the model" in out.out
  assert "3 unreadable" in out.out
  assert "scoring" in out.err  # tqdm progress on stderr


def test_unknown_user_falls_back_to_the_agnostic_head(run, folder, tmp_path,
                                                      capsys):
  _, _, res = run
  images, src = folder
  rc, rows = _score_folder(res, "nobody-we-know", images, tmp_path / "u.csv")
  assert rc == 0
  ranked, _ = _check_ranked(rows, len(src) + 2)
  assert all(r["known_user"] == "0" for r in ranked)
  assert all(r[F.PERSONAL_OUTPUT] == r[F.AGNOSTIC_OUTPUT] for r in ranked)
  assert "falling back to the user-agnostic head" in capsys.readouterr().out


def test_unknown_user_with_profile_and_top(run, folder, tmp_path, capsys):
  _, _, res = run
  images, _ = folder
  profile = tmp_path / "profile.txt"
  profile.write_text(PROFILE_TEXT, encoding="utf-8")
  rc, rows = _score_folder(res, "nobody-we-know", images, tmp_path / "t.csv",
                           "--top", "2", "--profile", str(profile))
  assert rc == 0
  ranked, errors = _check_ranked(rows, 2)
  assert len(errors) == len(BAD)  # errors are listed whatever --top says
  assert all(r["known_user"] == "0" for r in ranked)
  assert any(r[F.PERSONAL_OUTPUT] != r[F.AGNOSTIC_OUTPUT] for r in ranked)
  out = capsys.readouterr().out
  assert "through the given profile" in out and "(top 2)" in out


def test_empty_and_missing_folders(run, tmp_path, capsys):
  _, _, res = run
  empty = tmp_path / "empty"
  empty.mkdir()
  (empty / "readme.txt").write_text("no photos here")
  rc, rows = _score_folder(res, "u", str(empty), tmp_path / "e.csv")
  assert rc == 0 and rows == []
  assert "no photos" in capsys.readouterr().out
  rc = cli.main(["score-folder", "--model", res.serving_dir, "--user", "u",
                 "--images", str(tmp_path / "missing"), "--out",
                 str(tmp_path / "m.csv")])
  assert rc == 2
  assert "no such directory" in capsys.readouterr().err


def _png_size(path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with Image.open(path) as im:
    assert im.format == "PNG"
    return im.size


def _has_attention() -> bool:
  """Whether the tiny run's model (the cpu config's variant) has Eq. 5's
  attention: the variants that read reviews are the CFAN ones."""
  from keras_model import variants  # pylint: disable=g-import-not-at-top
  from preprocessing import config as cfg_lib  # pylint: disable=g-import-not-at-top
  return variants.get_variant(cfg_lib.get_config("cpu").variant).uses_review


def test_explain_one_and_two_users(run, folder, known_user, tmp_path,
                                   capsys):
  _, _, res = run
  images, src = folder
  photo = os.path.join(images, src[0])
  one = tmp_path / "one.png"
  rc = cli.main(["explain", "--model", res.serving_dir, "--user", known_user,
                 "--image", photo, "--out", str(one)])
  assert rc == 0
  out = capsys.readouterr().out
  assert f"user {known_user} (known)" in out
  attention = _has_attention()
  assert ("attention from the stored profile" in out if attention else
          "map: occlusion saliency of p_personal" in out and "covering it"
          in out)
  profile = tmp_path / "profile.txt"
  profile.write_text(PROFILE_TEXT, encoding="utf-8")
  two = tmp_path / "two.png"
  rc = cli.main(["explain", "--model", res.serving_dir, "--user", known_user,
                 "--review", "the light is beautiful", "--image", photo,
                 "--user2", "stranger", "--profile2", str(profile),
                 "--out", str(two)])
  assert rc == 0
  out = capsys.readouterr().out
  assert "user stranger (unknown to the model)" in out
  if attention:
    assert "attention from the review" in out
    assert "attention from the given profile" in out
  else:
    assert out.count("map: occlusion saliency of p_personal") == 2
  w1, h1 = _png_size(one)
  w2, h2 = _png_size(two)
  assert w2 > w1 * 1.3 and abs(h2 - h1) < 0.3 * h1  # one more panel
  assert os.path.getsize(two) > 10_000


def test_explain_png_with_alpha_and_bad_photo(run, folder, known_user,
                                              tmp_path, capsys):
  _, _, res = run
  images, _ = folder
  rc = cli.main(["explain", "--model", res.serving_dir, "--user", known_user,
                 "--image", os.path.join(images, "alpha.png"), "--out",
                 str(tmp_path / "a.png")])
  assert rc == 0 and _png_size(tmp_path / "a.png")[0] > 300
  capsys.readouterr()
  for bad in BAD:
    rc = cli.main(["explain", "--model", res.serving_dir, "--user",
                   known_user, "--image", os.path.join(images, bad), "--out",
                   str(tmp_path / "b.png")])
    assert rc == 2
    assert BAD[bad] in capsys.readouterr().err
  assert not (tmp_path / "b.png").exists()


def test_predict_profile_personalises_unknown_users(run, folder, tmp_path,
                                                    capsys):
  _, _, res = run
  images, src = folder
  ids = [os.path.splitext(s)[0] for s in src]
  pairs = tmp_path / "pairs.csv"
  pairs.write_text("user_id,image_id\n" +
                   "".join(f"stranger,{i}\n" for i in ids))
  profile = tmp_path / "profile.txt"
  profile.write_text(PROFILE_TEXT, encoding="utf-8")
  for extra, personal in (([], False), (["--profile", str(profile)], True)):
    out = tmp_path / "scores.csv"
    rc = cli.main(["predict", "--model", res.serving_dir, "--pairs",
                   str(pairs), "--images", images, "--out", str(out),
                   *extra])
    assert rc == 0
    rows = list(csv.DictReader(open(out)))
    assert [r["image_id"] for r in rows] == ids
    assert all(r["known_user"] == "0" and r["error"] == "" for r in rows)
    differs = [r[F.PERSONAL_OUTPUT] != r[F.AGNOSTIC_OUTPUT] for r in rows]
    assert all(differs) if personal else not any(differs)
  assert "through the given profile" in capsys.readouterr().out

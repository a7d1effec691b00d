"""The run's page (tfx_pipeline/report_html.py), rendered in headless Chromium.

The page is built from a fixture of its inputs, not a pipeline run: the
report of ``report.build_report`` over TFMA-shaped slices (with the
calibration bins ``report.read_tfma`` keeps), its chart
(``report.write_report``), a summary from ``examples_summary.summarize`` and
overlays that ``explain.explain`` draws for a scorer whose attention is
known. Chromium (Debian's ``chromium``) screenshots the page and dumps its
DOM; the test skips, saying so, where Chromium is not installed. One slow
test checks the page ``cfan run`` writes with a real model.
"""
from __future__ import annotations

import base64
import html
import io
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from evaluation import metrics
from preprocessing import examples_summary
from preprocessing import features as F
from tfx_pipeline import report
from tfx_pipeline import report_html

TAGS = ("Landscape", "Portraiture")
GATE = ("pushed: review-free AUC 0.801 on all eval rows > best floor "
        "vote_plus_user 0.700")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = ("headless Chromium not installed: apt-get install chromium "
               "(scripts/setup.sh installs it where apt-get is usable)")
PAGE_TABLES = ("overall", "slices", "temperature", "table1", "table1-stats",
               "table1-tags", "rejects")


def _bins(seed: int, rows: int):
  """TFMA-shaped calibration totals of ``rows`` random rows."""
  rng = np.random.default_rng(seed)
  p = rng.random(rows)
  y = (rng.random(rows) < p).astype(float)
  idx = np.clip((p * metrics.ECE_BINS).astype(int), 0, metrics.ECE_BINS - 1)
  return {"label_sums": np.bincount(idx, y, metrics.ECE_BINS).tolist(),
          "prob_sums": np.bincount(idx, p, metrics.ECE_BINS).tolist(),
          "counts": np.bincount(idx, minlength=metrics.ECE_BINS).tolist()}


def _slice(seed: int, rows: int, auc: float):
  bins = _bins(seed, rows)
  return {
      F.PERSONAL_OUTPUT: {
          "example_count": float(rows), "mean_label": 0.6,
          "binary_accuracy": 0.7 + seed / 100, "auc": auc,
          "ece": metrics.binned_calibration_error(*bins.values()),
          "reliability": bins},
      F.AGNOSTIC_OUTPUT: {"binary_accuracy": 0.65, "auc": 0.61},
      F.TAG_OUTPUT: {"sparse_categorical_accuracy": 0.4},
  }


def _floors(auc: float):
  return {"floors": {
      "majority": {"accuracy": 0.6, "auc": 0.5},
      "mean_vote": {"accuracy": 0.66, "auc": auc - 0.02},
      "user_rate": {"accuracy": 0.62, "auc": 0.58},
      "vote_plus_user": {"accuracy": 0.68, "auc": auc}}}


def _metrics():
  slices = {(): _slice(0, 300, 0.801),
            ((F.SLICE_KEY, F.SLICE_WARM),): _slice(1, 200, 0.833),
            ((F.SLICE_KEY, F.SLICE_COLD),): _slice(2, 100, 0.654)}
  for i, tag in enumerate(TAGS):
    slices[((F.TAG_KEY, tag),)] = _slice(3 + i, 150, 0.7 + i / 10)
  trainer = {"eval": {"review_given": {"p_personal_accuracy": 0.75,
                                       "p_personal_auc": 0.82}},
             "calibration": {"review_free": {
                 "temperature": 1.3, "applied": True, "check_ece_before": 0.09,
                 "check_ece_after": 0.05, "check_rows": 40,
                 "reason": "lowers ECE on the check rows"}}}
  floors = {"overall": _floors(0.7), F.SLICE_WARM: _floors(0.72),
            F.SLICE_COLD: _floors(0.7)}
  return report.build_report(slices, trainer=trainer, floors=floors, extra={
      "blessed": True, "validation": {"ok": True, "failures": []}})


def _summary():
  stats = [{"reviewed": True, "labels": [1, 1, 0], "agnostic_label": 1,
            "num_reviews": 3, "tag": TAGS[0], "stored_bytes": 900},
           {"reviewed": True, "labels": [0, 0], "agnostic_label": 0,
            "num_reviews": 2, "tag": TAGS[1], "stored_bytes": 700},
           {"reviewed": True, "no_major_tag": True},
           {"reviewed": False}]
  return examples_summary.summarize(
      stats, {"u1": 3, "u2": 2}, {"no_major_tag": 4, "equivocal_review": 2},
      {"reviews_in": 11, "ava_in": 5, "ava_kept": 4}, {1: TAGS[0], 2: TAGS[1]})


# ----------------------------------------------------------------------------
# Overlays with a scorer whose attention is known
# ----------------------------------------------------------------------------
class _BrightScorer:
  """Attention on the brightest cells of a 4x4 grid; p from the user."""

  def score(self, users, images, reviews, profiles=None):
    from PIL import Image  # pylint: disable=g-import-not-at-top
    del reviews, profiles
    maps = []
    for data in images:
      grey = np.asarray(Image.open(io.BytesIO(data)).convert("L").resize(
          (4, 4)), np.float64)
      maps.append(np.exp(grey / 32) / np.exp(grey / 32).sum())
    p = [0.2 + 0.1 * len(u) for u in users]
    return {F.PERSONAL_OUTPUT: p, F.AGNOSTIC_OUTPUT: [0.5] * len(users),
            "known_user": [True] * len(users),
            F.ATTENTION_OUTPUT: np.stack(maps),
            "review_free": [True] * len(users)}


def _jpeg(bright_corner: int) -> bytes:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  img = np.full((64, 96, 3), 40, np.uint8)
  r, c = divmod(bright_corner, 2)
  img[r * 32:(r + 1) * 32, c * 48:(c + 1) * 48] = 230
  buf = io.BytesIO()
  Image.fromarray(img).save(buf, format="JPEG")
  return buf.getvalue()


def _eval_examples(path: str, rows):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def b(x):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[x]))
  with tf.io.TFRecordWriter(path) as w:
    for user, image, slice_value, label in rows:
      w.write(tf.train.Example(features=tf.train.Features(feature={
          F.USER_KEY: b(user.encode()), F.IMAGE_ID_KEY: b(image.encode()),
          F.SLICE_KEY: b(slice_value.encode()),
          F.IMAGE_KEY: b(_jpeg(int(image) % 4)),
          F.LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(
              value=[label]))})).SerializeToString())


EVAL_ROWS = [("ann", "10", F.SLICE_COLD, 1), ("ann", "11", F.SLICE_WARM, 0),
             ("ann", "12", F.SLICE_WARM, 1), ("bob", "10", F.SLICE_COLD, 0),
             ("bob", "13", F.SLICE_WARM, 1), ("cy", "11", F.SLICE_WARM, 1)]


@pytest.fixture(scope="module")
def overlays(tmp_path_factory):
  d = tmp_path_factory.mktemp("examples")
  _eval_examples(str(d / "examples-eval-00000-of-00001.tfrecord"), EVAL_ROWS)
  return report_html.draw_overlays("unused", str(d), scorer=_BrightScorer())


@pytest.fixture(scope="module")
def page_dir(tmp_path_factory, overlays):
  d = str(tmp_path_factory.mktemp("report"))
  report.write_report(_metrics(), d)
  with open(os.path.join(d, report.FIG7_FILE), "rb") as fh:
    chart = fh.read()
  shown, note = overlays
  report_html.write_page(d, report_html.render_page(
      report.load_metrics(d), _summary(), gate_line=GATE, chart_png=chart,
      overlays=shown, overlay_note=note))
  return d


def _page(page_dir):
  with open(os.path.join(page_dir, report_html.PAGE_FILE)) as fh:
    return fh.read()


def test_overlay_users_and_images():
  rows = [{F.USER_KEY: u, F.IMAGE_ID_KEY: i, F.SLICE_KEY: s, F.LABEL_KEY: y}
          for u, i, s, y in EVAL_ROWS]
  a, b, chosen = report_html.pick_overlay_requests(rows, images=3)
  assert (a, b) == ("ann", "bob")  # most rows; bob beats cy on rows
  # warm first, then cold, then warm again; each image once
  assert [(c["image_id"], c["slice"], c["rating"]) for c in chosen] == [
      ("11", F.SLICE_WARM, 0), ("10", F.SLICE_COLD, 1),
      ("12", F.SLICE_WARM, 1)]
  assert report_html.pick_overlay_requests(rows[:3]) is None  # one user


def test_overlays_come_from_explain(overlays):
  shown, note = overlays
  assert len(shown) == report_html.OVERLAY_IMAGES
  assert "ann and bob" in note and "occlusion" not in note
  assert "flat" not in note
  first = shown[0]["caption"]
  assert first[0].startswith("image 11 (warm image")
  assert "rated it bad" in first[0]
  # explain's own summary lines: both users, the attention map, its peak
  # on the bright quarter of image 11 (11 % 4 = 3: bottom right).
  assert any(line.startswith("user ann") for line in first)
  assert any(line.startswith("user bob") for line in first)
  assert all("attention (Eq. 5)" in line for line in first[1:])
  assert all("peak cell (3, 3)" in line or "peak cell (2, 3)" in line or
             "peak cell (3, 2)" in line or "peak cell (2, 2)" in line
             for line in first[1:])
  assert shown[0]["png"].startswith(b"\x89PNG")


def test_page_is_self_contained(page_dir):
  page = _page(page_dir)
  assert not re.search(r"https?://|<script|<link|@import|url\(", page)
  srcs = re.findall(r'<img[^>]* src="([^"]+)"', page)
  assert len(srcs) == 2 + report_html.OVERLAY_IMAGES  # chart, reliability
  for src in srcs:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    assert base64.b64decode(src[len(prefix):]).startswith(b"\x89PNG")


def test_page_shows_the_inputs_figures(page_dir):
  page = _page(page_dir)
  m = report.load_metrics(page_dir)
  assert html.escape(GATE) in page
  o = m["overall"]["review_free"]
  for table_id in PAGE_TABLES:
    assert f'<table id="{table_id}">' in page
  slices = page[page.index('<table id="slices">'):]
  slices = slices[:slices.index("</table>")]
  # a row per slice: overall, cold, warm, then each tag, with both heads
  names = re.findall(r"<tr><td>([^<]+)</td>", slices)
  assert names == ["overall", f"{F.SLICE_KEY}={F.SLICE_COLD}",
                   f"{F.SLICE_KEY}={F.SLICE_WARM}", *TAGS]
  assert f"{o['personal']['auc']:.3f}" in slices
  assert f"{o['agnostic']['auc']:.3f}" in slices
  for tag in TAGS:
    assert f"{m['per_tag'][tag]['review_free']['personal']['auc']:.3f}" in (
        slices)
  for name in metrics.FLOOR_NAMES:
    assert f"{name} acc / AUC" in slices
  # the cold slice's AUC 0.654 is below its best floor (0.700): red
  assert '<td class="below">0.654</td>' in slices
  assert '<td class="above">0.833</td>' in slices
  s = _summary()
  assert f"{s['eq7_consistency']:.3f}" in page
  assert f"2 major tags: {', '.join(TAGS)}" in page
  rejects = page[page.index('<table id="rejects">'):]
  assert "<td>11</td>" in rejects and '<td class="above">holds</td>' in (
      rejects)
  assert "rejected: no_major_tag</td><td>4</td>" in rejects
  assert "0.820" in page  # the Trainer's review-given personal AUC


def test_page_says_what_is_missing(tmp_path):
  m = _metrics()
  for block in [m["overall"]] + [b for per in m["slices"].values()
                                 for b in per.values()]:
    block["review_free"]["personal"].pop("reliability")
  s = _summary()
  s["reviews"]["kept"] += 1  # in != kept + rejected
  page = report_html.render_page(m, s)
  assert "no gate line" in page
  assert "no reliability diagram" in page
  assert "does NOT hold" in page
  assert "no per-slice chart" in page and "no overlays drawn" in page
  assert "<img" not in page


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_chromium_renders_the_page(page_dir, tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  url = "file://" + os.path.join(page_dir, report_html.PAGE_FILE)
  flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--hide-scrollbars", "--window-size=1280,4000"]
  shot = str(tmp_path / "page.png")
  subprocess.run(flags + [f"--screenshot={shot}", url], check=True,
                 capture_output=True, timeout=120)
  dom = subprocess.run(flags + ["--dump-dom", url], check=True,
                       capture_output=True, text=True, timeout=120).stdout
  for table_id in PAGE_TABLES:
    assert f'<table id="{table_id}">' in dom
  assert dom.count("<figure>") == report_html.OVERLAY_IMAGES
  grey = np.asarray(Image.open(shot).convert("L"), np.float64)
  assert grey.shape == (4000, 1280)
  # not blank: text, tables and images make the page vary
  assert grey.std() > 20
  assert (grey < 128).mean() > 0.02
  # the images decoded: their area is not the background colour
  assert (grey[:2000] < 250).mean() > 0.05


@pytest.mark.slow
def test_cfan_run_writes_the_page(tiny_pipeline_run):
  _, workdir, res = tiny_pipeline_run
  path = os.path.join(workdir, "reports", report_html.PAGE_FILE)
  with open(path) as fh:
    page = fh.read()
  # Other slow tests rerun the pipeline in this workdir (e.g. with an
  # unmeetable min_auc) and the page is rewritten with that run's line: the
  # page holds the gate line of the latest run, whichever it was.
  assert res.gate
  assert re.search(r"(not )?pushed: review-free AUC [0-9.]+ on all eval rows "
                   r"(&gt;|&lt;=)", page), page[:3000]
  for table_id in PAGE_TABLES:
    assert f'<table id="{table_id}">' in page
  assert page.count("<figure>") == report_html.OVERLAY_IMAGES
  assert "no overlays" not in page

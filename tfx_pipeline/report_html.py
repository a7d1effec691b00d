"""The run's one page: ``WORKDIR/reports/index.html``.

Built from what the run already wrote; nothing is re-scored here:

* the report's ``metrics.json`` (``tfx_pipeline.report``: TFMA's slices with
  both heads' accuracy and AUC, the personal head's ECE and reliability
  bins, the Trainer's review-given protocol and temperature scaling, the
  floors of ``evaluation.metrics`` beside the slices they were scored on)
  and its per-slice chart;
* the data build's ``summary.json`` (``cfan build-examples``): Table 1,
  Eq. 7 and the rejects (records in = kept + rejected);
* the gate's one line (``tfx_pipeline.gate``);
* per-image maps drawn by ``tfx_pipeline.explain`` with the run's model for
  the two users with the most eval rows: attention (Eq. 5) for models that
  have it, occlusion saliency (labelled so) for those that do not.

The page is self-contained: images are inline PNGs (base64), no script, no
stylesheet or font from the network.
"""
from __future__ import annotations

import base64
import collections
import glob
import html
import io
import math
import os
import tempfile
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Tuple)

from evaluation import metrics as metrics_lib
from keras_model import saliency
from preprocessing import features as F
from preprocessing import labelled
from tfx_pipeline import report as report_lib

PAGE_FILE = "index.html"
# How many eval rows are read to choose the overlays' users and images.
OVERLAY_MAX_ROWS = 20000
OVERLAY_IMAGES = 2
# The Trainer's Model artifact keeps its SavedModel here.
_SERVING_SUBDIR = "Format-Serving"
_DASH = "\u2013"
_CSS = """
body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px;
 color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid
 #ccc}table{border-collapse:collapse;margin:8px 0 4px;font-size:13px}
th,td{border:1px solid #bbb;padding:3px 7px;text-align:right}
td{white-space:nowrap}
th{background:#eee}td:first-child,th:first-child{text-align:left}
td.below{background:#fbe3e3}td.above{background:#e3f4e3}
caption{text-align:left;font-weight:bold;padding:4px 0}
p.note{font-size:12px;color:#555;margin:2px 0 10px}
.verdict{font-family:DejaVu Sans Mono,monospace;padding:8px;
 background:#f4f4f4;border-left:4px solid #888}
.ok{border-left-color:#3a3}.fail{border-left-color:#c33}
img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:12px;color:#444}
"""

Cell = Any  # a value, or (value, css class)


# ----------------------------------------------------------------------------
# HTML pieces
# ----------------------------------------------------------------------------
def _fmt(x: Any, digits: int = 3) -> str:
  """A table value: '-' for missing/NaN, thousands for ints."""
  if x is None or (isinstance(x, float) and not math.isfinite(x)):
    return _DASH
  if isinstance(x, bool):
    return "yes" if x else "no"
  if isinstance(x, int):
    return f"{x:,d}"
  if isinstance(x, float):
    return f"{x:.{digits}f}"
  return str(x)


def _table(table_id: str, caption: str, header: Sequence[str],
           rows: Iterable[Sequence[Cell]], note: str = "") -> str:
  """An HTML table; a cell is a value or (value, css class)."""
  out = [f'<table id="{table_id}"><caption>{html.escape(caption)}</caption>',
         "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) +
         "</tr>"]
  for row in rows:
    cells = []
    for c in row:
      value, css = c if isinstance(c, tuple) else (c, "")
      cls = f' class="{css}"' if css else ""
      cells.append(f"<td{cls}>{html.escape(_fmt(value))}</td>")
    out.append("<tr>" + "".join(cells) + "</tr>")
  out.append("</table>")
  if note:
    out.append(f'<p class="note">{html.escape(note)}</p>')
  return "\n".join(out)


def _img(png: bytes, alt: str, img_id: str = "") -> str:
  data = base64.b64encode(png).decode("ascii")
  ident = f' id="{img_id}"' if img_id else ""
  return (f'<img{ident} alt="{html.escape(alt)}" '
          f'src="data:image/png;base64,{data}">')


def _para(text: str, css: str = "note") -> str:
  return f'<p class="{css}">{html.escape(text)}</p>'


def _figure_png(fig) -> bytes:
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
  plt.close(fig)
  return buf.getvalue()


# ----------------------------------------------------------------------------
# Sections from metrics.json
# ----------------------------------------------------------------------------
def _verdict_section(metrics: Mapping[str, Any],
                     gate_line: Optional[str]) -> str:
  blessed = metrics.get("blessed")
  css = "verdict " + ("ok" if blessed else "fail")
  parts = ["<h2>Gate</h2>",
           _para(gate_line or "no gate line: the Evaluator did not run in "
                 "this run", css),
           _para(f"blessed by the Evaluator: {_fmt(blessed)}")]
  failures = (metrics.get("validation") or {}).get("failures") or []
  if failures:
    parts.append("<ul>" + "".join(f"<li>{html.escape(f)}</li>"
                                  for f in failures) + "</ul>")
  return "\n".join(parts)


def _head(block: Mapping[str, Any], protocol: str, head: str
          ) -> Mapping[str, Any]:
  return block.get(protocol, {}).get(head, {})


def _overall_section(metrics: Mapping[str, Any]) -> str:
  """Both heads under both protocols, the tag head, the floors below."""
  o = metrics["overall"]
  rows: List[List[Cell]] = []
  labels = {report_lib.REVIEW_FREE: "review-free",
            report_lib.REVIEW_GIVEN: "review given"}
  for protocol, label in labels.items():
    source = o.get(protocol, {}).get("source", "")
    for head in ("personal", "agnostic"):
      h = _head(o, protocol, head)
      if h:
        rows.append([f"{head} head, {label}", h.get("accuracy"),
                     h.get("auc"), h.get("ece"), source])
  if "tag_head" in o:
    rows.append(["tag head (accuracy of the tag)",
                 o["tag_head"].get("accuracy"), None, None,
                 report_lib.SOURCE_TFMA])
  for name in metrics_lib.FLOOR_NAMES:
    f = (o.get("floors") or {}).get(name)
    if f:
      rows.append([f"floor: {name}", f.get("accuracy"), f.get("auc"),
                   f.get("ece"), "build-examples"])
  note = (f"{metrics['rows']:,d} eval rows, "
          f"{100 * metrics.get('positive_ratio', float('nan')):.1f} % "
          "positive. Floors (evaluation.metrics) are scored on the same eval "
          "rows from the training rows.")
  return "<h2>Overall</h2>\n" + _table(
      "overall", "Eval split, all rows",
      ["model / floor", "accuracy", "AUC", "ECE", "source"], rows, note)


def _page_groups(metrics: Mapping[str, Any]
                 ) -> List[Tuple[str, Mapping[str, Any]]]:
  """Overall first, then the non-tag slices, then the tags."""
  groups = report_lib.slice_groups(metrics)
  overall = groups.pop()
  tags = set(metrics.get("per_tag", {}))
  return ([overall] + [g for g in groups if g[0] not in tags] +
          [g for g in groups if g[0] in tags])


def _best_auc_floor(floors: Mapping[str, Any]) -> Optional[str]:
  """The name of the floor with the highest AUC; None if none has one."""
  try:
    return metrics_lib.best_floor(floors, "auc") if floors else None
  except ValueError:  # no floor with a finite AUC
    return None


def _vs_floor(auc: Optional[float], floors: Mapping[str, Any]) -> Cell:
  """The AUC cell, red when not above the slice's best floor AUC."""
  best = _best_auc_floor(floors)
  if best is None or auc is None or not math.isfinite(auc):
    return auc
  return (auc, "above" if auc > floors[best]["auc"] else "below")


def _slices_section(metrics: Mapping[str, Any]) -> str:
  """One row per slice: both heads (review-free) and the four floors."""
  header = ["slice", "rows", "positive share", "personal acc",
            "personal AUC", "personal ECE", "agnostic acc", "agnostic AUC",
            "best floor (AUC)"]
  header += [f"{name} acc / AUC" for name in metrics_lib.FLOOR_NAMES]
  rows = []
  with_floors = []
  for name, block in _page_groups(metrics):
    p = _head(block, report_lib.REVIEW_FREE, "personal")
    a = _head(block, report_lib.REVIEW_FREE, "agnostic")
    floors = block.get("floors") or {}
    if floors:
      with_floors.append(name)
    row: List[Cell] = [name, block.get("rows"), block.get("positive_ratio"),
                       p.get("accuracy"), _vs_floor(p.get("auc"), floors),
                       p.get("ece"), a.get("accuracy"), a.get("auc"),
                       _best_auc_floor(floors)]
    for f in metrics_lib.FLOOR_NAMES:
      if f in floors:
        row.append(f"{_fmt(floors[f].get('accuracy'))} / "
                   f"{_fmt(floors[f].get('auc'))}")
      else:
        row.append(None)
    rows.append(row)
  note = ("Review-free protocol (TFMA, signature evaluate_review_free: "
          "serving_review_free's scoring, per review). "
          "Personal AUC is green when above the slice's best floor AUC, red "
          "when not. build-examples scores floors on: " +
          (", ".join(with_floors) or "no slice") + f"; {_DASH} elsewhere.")
  return ("<h2>Per slice: warm/cold images and tags</h2>\n" +
          _table("slices", "Accuracy and AUC per slice, with the floors",
                 header, rows, note))


def _reliability_png(metrics: Mapping[str, Any]) -> Optional[bytes]:
  """Reliability diagram of the personal head (review-free): overall and
  each image slice, from TFMA's calibration bins; None without bins."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  curves = []
  for name, block in _page_groups(metrics):
    if name in metrics.get("per_tag", {}):
      continue
    p = _head(block, report_lib.REVIEW_FREE, "personal")
    if "reliability" in p:
      curves.append((name, p["reliability"], p.get("ece")))
  if not curves:
    return None
  fig, (ax, hist) = plt.subplots(
      2, 1, figsize=(5.5, 6.5), sharex=True,
      gridspec_kw={"height_ratios": (3, 1)})
  ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect")
  bins = metrics_lib.ECE_BINS
  edges = np.linspace(0, 1, bins + 1)
  width = 1.0 / bins / (len(curves) + 1)
  for i, (name, b, ece) in enumerate(curves):
    counts = np.asarray(b["counts"], np.float64)
    has = counts > 0
    pred = np.asarray(b["prob_sums"], np.float64)[has] / counts[has]
    obs = np.asarray(b["label_sums"], np.float64)[has] / counts[has]
    ax.plot(pred, obs, marker="o", ms=4, color=f"C{i}",
            label=f"{name} (ECE {_fmt(ece)})")
    hist.bar(edges[:-1] + (i + 0.5) * width, counts, width, align="edge",
             color=f"C{i}")
  ax.set_xlim(0, 1)
  ax.set_ylim(0, 1)
  ax.set_ylabel("observed share of good")
  ax.set_title("Reliability: personal head, review-free (TFMA)", fontsize=10)
  ax.legend(fontsize=8, loc="upper left")
  hist.set_xlabel(f"predicted p_personal ({bins} equal-width bins)")
  hist.set_ylabel("rows")
  fig.tight_layout()
  return _figure_png(fig)


def _calibration_section(metrics: Mapping[str, Any]) -> str:
  parts = ["<h2>Calibration</h2>"]
  png = _reliability_png(metrics)
  parts.append(_img(png, "reliability diagram", "reliability") if png else
               _para("no reliability diagram: metrics.json has no "
                     "calibration bins (TFMA computed no calibration plot)"))
  rows = []
  for protocol, c in sorted((metrics.get("calibration") or {}).items()):
    rows.append([protocol, c.get("temperature"), c.get("applied"),
                 c.get("check_ece_before"), c.get("check_ece_after"),
                 c.get("check_rows"), c.get("reason", "")])
  if rows:
    parts.append(_table(
        "temperature", "Temperature scaling (Trainer, training rows held "
        "out of training)", ["protocol", "temperature", "applied",
                             "ECE before", "ECE after", "check rows",
                             "reason"], rows))
  return "\n".join(parts)


# ----------------------------------------------------------------------------
# Sections from summary.json
# ----------------------------------------------------------------------------
def _stats_row(name: str, s: Mapping[str, Any]) -> List[Cell]:
  return [name, s.get("count"), s.get("mean"), s.get("median"), s.get("min"),
          s.get("max")]


def _table1_section(summary: Mapping[str, Any]) -> str:
  t = summary.get("table1") or {}
  parts = ["<h2>Data: Table 1 and Eq. 7 (cfan build-examples)</h2>"]
  parts.append(_table(
      "table1", "Table 1: kept reviews", ["", "users", "images", "reviews"],
      [["kept", t.get("users"), t.get("images"), t.get("reviews")]]))
  parts.append(_table(
      "table1-stats", "Table 1: distributions",
      ["", "count", "mean", "median", "min", "max"],
      [_stats_row(k.replace("_", " "), t[k]) for k in
       ("reviews_per_image", "users_per_image", "reviews_per_user") if k in t]))
  tag_rows = [[tag, v.get("images"), v.get("reviews"), v.get("positive"),
               v.get("positive_ratio"), v.get("agnostic_good")]
              for tag, v in (t.get("per_tag") or {}).items()]
  parts.append(_table(
      "table1-tags", "Table 1: per major tag",
      ["tag", "images", "reviews", "good reviews", "good share",
       "images with b_v = 1"], tag_rows))
  tags = summary.get("major_tags") or []
  parts.append(_para(f"{len(tags)} major tags: {', '.join(tags)}"))
  eq7 = summary.get("eq7_consistency")
  parts.append(f'<p id="eq7"><b>Eq. 7 consistency</b> (share of an image\'s '
               f"recovered ratings that agree with its vote-based label "
               f"b_v, averaged over images): {html.escape(_fmt(eq7))}</p>")
  return "\n".join(parts)


def _rejects_section(summary: Mapping[str, Any]) -> str:
  rev = summary.get("reviews") or {}
  n_in, kept, rejected = rev.get("in"), rev.get("kept"), rev.get("rejected")
  by_reason = summary.get("rejects_by_reason") or {}
  holds = None not in (n_in, kept, rejected) and n_in == kept + rejected
  rows: List[List[Cell]] = [
      ["reviews in", n_in], ["kept", kept], ["rejected", rejected],
      ["in = kept + rejected", ("holds" if holds else "does NOT hold",
                                "above" if holds else "below")]]
  rows += [[f"  rejected: {reason}", n] for reason, n in by_reason.items()]
  ava = summary.get("ava_lines") or {}
  images = summary.get("images") or {}
  rows += [["AVA lines in / kept / rejected",
            f"{_fmt(ava.get('in'))} / {_fmt(ava.get('kept'))} / "
            f"{_fmt(ava.get('rejected'))}"],
           ["images set aside (no major tag)",
            images.get("set_aside_no_major_tag")],
           ["images without reviews", images.get("without_reviews")]]
  note = (f"reject records by reason sum to "
          f"{_fmt(summary.get('rejects_total'))}; each is a line of "
          "examples/rejects/*.jsonl")
  return "<h2>Rejects</h2>\n" + _table("rejects", "Records in = kept + "
                                       "rejected", ["", "count"], rows, note)


# ----------------------------------------------------------------------------
# Overlays (tfx_pipeline.explain with the run's model)
# ----------------------------------------------------------------------------
def pick_overlay_requests(rows: Sequence[Mapping[str, Any]],
                          images: int = OVERLAY_IMAGES
                          ) -> Optional[Tuple[str, str, List[Dict]]]:
  """Whom and what to draw: two users and images the first one rated.

  Args:
    rows: eval rows with ``user_id``, ``image_id``, ``image_slice`` (may be
      empty) and ``rating``.
    images: how many images.

  Returns:
    (user a, user b, [{"image_id", "slice", "rating"} of user a]) with the
    two users with the most rows (ties by id) and one image per slice
    value in turn (warm, then cold, ...), or None with fewer than two
    users.
  """
  per_user = collections.Counter(r[F.USER_KEY] for r in rows)
  ranked = sorted(per_user, key=lambda u: (-per_user[u], u))
  if len(ranked) < 2:
    return None
  a, b = ranked[:2]
  by_slice: Dict[str, List[Mapping[str, Any]]] = {}
  for r in rows:
    if r[F.USER_KEY] == a:
      by_slice.setdefault(r.get(F.SLICE_KEY, ""), []).append(r)
  for rs in by_slice.values():
    rs.sort(key=lambda r: r[F.IMAGE_ID_KEY])
  chosen: List[Dict] = []
  while len(chosen) < images and any(by_slice.values()):
    for s in sorted(by_slice, key=lambda s: (s != F.SLICE_WARM, s)):
      if by_slice[s] and len(chosen) < images:
        r = by_slice[s].pop(0)
        chosen.append({"image_id": r[F.IMAGE_ID_KEY], "slice": s,
                       "rating": r.get(F.LABEL_KEY)})
  return a, b, chosen


def _eval_rows(examples_dir: str, max_rows: int,
               want_images: Optional[set] = None) -> Iterable[Dict[str, Any]]:
  """Held-out (eval) rows of build-examples' TFRecords (image bytes only
  for ``want_images``): warm images' held-out reviews (marked in their
  training example), then cold images' (the eval split)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  by_split = {s: sorted(glob.glob(os.path.join(
      examples_dir, f"*-{s}-*.tfrecord*"))) for s in F.SPLITS}
  if not any(by_split.values()):
    raise FileNotFoundError(f"{examples_dir}: no TFRecords of "
                            f"{' or '.join(F.SPLITS)}")

  def text(r, key):
    v = r.get(key, b"")
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v

  seen = 0
  for split in F.SPLITS:
    for raw in (tf.data.TFRecordDataset(by_split[split])
                if by_split[split] else ()):
      for r in labelled.review_rows(raw.numpy()):
        # Every review of the eval split is held out; of the training
        # split, the marked ones.
        if split == F.TRAIN_SPLIT and not r.get(F.HELD_OUT_KEY):
          continue
        if seen >= max_rows:
          return
        row = {F.USER_KEY: text(r, F.USER_KEY),
               F.IMAGE_ID_KEY: text(r, F.IMAGE_ID_KEY),
               F.SLICE_KEY: text(r, F.SLICE_KEY),
               F.LABEL_KEY: int(r[F.LABEL_KEY])}
        if want_images and row[F.IMAGE_ID_KEY] in want_images:
          row[F.IMAGE_KEY] = r[F.IMAGE_KEY]
        seen += 1
        yield row


def _serving_dir(model_dir: str) -> str:
  sub = os.path.join(model_dir, _SERVING_SUBDIR)
  return sub if os.path.isdir(sub) else model_dir


def draw_overlays(model_dir: str, examples_dir: str,
                  images: int = OVERLAY_IMAGES,
                  max_rows: int = OVERLAY_MAX_ROWS, scorer=None
                  ) -> Tuple[List[Dict[str, Any]], str]:
  """explain.explain for two eval users on images the first one rated.

  Args:
    model_dir: the pushed model (serving dir or version) or the Trainer's
      Model artifact.
    examples_dir: build-examples' TFRecords.
    images: how many overlays.
    max_rows: eval rows read to choose users and images.
    scorer: the model's ``predict.Scorer`` (default: loaded from
      ``model_dir``).

  Returns:
    ([{"png": bytes, "caption": [lines]}], a note on what the maps show).
  """
  from tfx_pipeline import explain  # pylint: disable=g-import-not-at-top
  from tfx_pipeline import predict  # pylint: disable=g-import-not-at-top
  picked = pick_overlay_requests(list(_eval_rows(examples_dir, max_rows)),
                                 images)
  if picked is None or not picked[2]:
    return [], "no overlays: the eval split has fewer than two users"
  a, b, chosen = picked
  ids = {c["image_id"] for c in chosen}
  photos = {r[F.IMAGE_ID_KEY]: r[F.IMAGE_KEY]
            for r in _eval_rows(examples_dir, max_rows, ids)
            if F.IMAGE_KEY in r}
  scorer = scorer or predict.Scorer(_serving_dir(model_dir))
  overlays, kinds, flat = [], set(), True
  with tempfile.TemporaryDirectory() as tmp:
    for c in chosen:
      photo = os.path.join(tmp, f"{c['image_id']}.jpg")
      with open(photo, "wb") as fh:
        fh.write(photos[c["image_id"]])
      png = os.path.join(tmp, f"{c['image_id']}.png")
      results = explain.explain(scorer, photo, [explain.Panel(a),
                                                explain.Panel(b)], png)
      for r in results:
        kinds.add(r["map_kind"])
        weights = r["map"]
        flat &= float(weights.max()) - float(weights.min()) < 1e-9
      with open(png, "rb") as fh:
        data = fh.read()
      rated = {1: "good", 0: "bad"}.get(c["rating"], "?")
      lines = explain.summary(results, png).splitlines()[:-1]  # not "wrote"
      overlays.append({"png": data, "caption": [
          f"image {c['image_id']} ({c['slice'] or 'no slice'} image, eval "
          f"split; user {a} rated it {rated})"] + lines})
  note = (f"Users {a} and {b}: the two with the most eval rows; no review "
          "is given (the review-free path).")
  if saliency.OCCLUSION in kinds:
    note += (" This model has no attention output (a single cell), so "
             "cfan explain draws occlusion saliency instead: how much the "
             "user's p_personal changes when each cell of the photo is "
             "covered. It is not the paper's attention map (Eq. 5).")
  if flat:
    note += (" Every map is flat: the model's score does not depend on "
             "where in the photo anything is.")
  return overlays, note


def _overlays_section(overlays: Sequence[Mapping[str, Any]],
                      note: str) -> str:
  parts = ['<h2>Attention / saliency overlays (cfan explain)</h2>', _para(note)]
  parts.append('<div id="overlays">')
  for i, o in enumerate(overlays):
    caption = "<br>".join(html.escape(line) for line in o["caption"])
    parts.append(f"<figure>{_img(o['png'], f'overlay {i + 1}')}"
                 f"<figcaption>{caption}</figcaption></figure>")
  parts.append("</div>")
  return "\n".join(parts)


# ----------------------------------------------------------------------------
# The page
# ----------------------------------------------------------------------------
def render_page(metrics: Mapping[str, Any], summary: Mapping[str, Any], *,
                gate_line: Optional[str] = None,
                chart_png: Optional[bytes] = None,
                overlays: Sequence[Mapping[str, Any]] = (),
                overlay_note: str = "no overlays drawn",
                title: str = "CFAN run report") -> str:
  """The whole page as one HTML string (no external resource).

  Args:
    metrics: the report's metrics.json.
    summary: build-examples' summary.json.
    gate_line: the run's gate line (``RunResult.gate``).
    chart_png: the report's per-slice chart (accuracy and AUC).
    overlays: ``draw_overlays``' list.
    overlay_note: what the overlays show, or why there are none.
    title: the page's heading.
  """
  chart = (_img(chart_png, "accuracy and AUC per slice", "chart")
           if chart_png else _para("no per-slice chart in the report"))
  sources = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>"
                    for k, v in sorted((metrics.get("sources") or {}).items()))
  body = [
      f"<h1>{html.escape(title)}</h1>",
      _verdict_section(metrics, gate_line),
      _overall_section(metrics),
      _slices_section(metrics),
      "<h2>Chart: accuracy and AUC per slice</h2>", chart,
      _calibration_section(metrics),
      _table1_section(summary),
      _rejects_section(summary),
      _overlays_section(overlays, overlay_note),
      f"<h2>Where each figure comes from</h2><ul>{sources}</ul>",
  ]
  return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
          "<body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_page(report_dir: str, page: str) -> str:
  """Writes ``index.html`` into ``report_dir`` (atomically)."""
  path = os.path.join(report_dir, PAGE_FILE)
  with open(path + ".tmp", "w", encoding="utf-8") as fh:
    fh.write(page)
  os.replace(path + ".tmp", path)
  return path


def write_run_page(report_dir: str, summary: Mapping[str, Any], *,
                   gate_line: Optional[str], model_dir: Optional[str],
                   examples_dir: str,
                   log: Callable[..., None] = print) -> str:
  """The page of a finished run, next to its metrics.json.

  Args:
    report_dir: ``WORKDIR/reports`` (metrics.json and the chart).
    summary: build-examples' summary.json.
    gate_line: the run's gate line.
    model_dir: the model to draw overlays with (None: no overlays).
    examples_dir: build-examples' TFRecords (the eval users and images).
    log: where a failure to draw overlays is reported (the page says it
      too; the run does not fail for it).

  Returns:
    The page's path.
  """
  metrics = report_lib.load_metrics(report_dir)
  chart_path = os.path.join(report_dir, report_lib.FIG7_FILE)
  chart = None
  if os.path.isfile(chart_path):
    with open(chart_path, "rb") as fh:
      chart = fh.read()
  overlays: List[Dict[str, Any]] = []
  note = "no overlays: no model was trained in this run"
  if model_dir:
    try:
      overlays, note = draw_overlays(model_dir, examples_dir)
    except Exception as e:  # pylint: disable=broad-except
      # The page is written without them; it and the log say why.
      note = f"no overlays: {type(e).__name__}: {e}"
      log(f"report page: {note}")
  return write_page(report_dir, render_page(
      metrics, summary, gate_line=gate_line, chart_png=chart,
      overlays=overlays, overlay_note=note))

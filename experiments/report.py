"""results.md and results.json of ``cfan experiment`` (figures:
``experiments.figures``)."""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, Optional

import numpy as np

from experiments import FIGURE_FLOOR
from experiments import RESULTS_JSON
from experiments import RESULTS_MD
from experiments import figures
from experiments import ordered_variants


def _fmt(x: Optional[float]) -> str:
  if x is None or (isinstance(x, float) and math.isnan(x)):
    return "–"
  return f"{x:.3f}"


def results_markdown(results: Dict[str, Any]) -> str:
  """The tables of results.md."""
  labels = results.get("labels", {})
  lines = ["# CFAN experiment results", ""]
  t = results.get("timing", {})
  lines += [f"Data: `{results['data']}`; config `{results['config']['name']}`"
            f"; {results['train_steps']} training steps per model; seed "
            f"{results['seed']}.", ""]
  if t:
    lines += [f"Time: {t['wall_seconds'] / 60:.1f} min wall, "
              f"{t['cpu_user_seconds'] / 60:.1f} min user CPU "
              f"({t['cpu_count']} cores); data preparation "
              f"{t['prepare_seconds']:.0f} s.", ""]
  for proto, block in results["protocols"].items():
    lines += [f"## Protocol `{proto}` — personal head (Fig. 8)", "",
              f"Split: {block['split']}; review: {block['review']}; "
              f"{block['train_rows']:,d} training rows, "
              f"{block['test_rows']:,d} test rows ({block['test_images']} "
              f"images), {100 * block['positive_rate']:.1f} % positive.", "",
              "| model | accuracy | AUC | tag-mean accuracy | tag-mean AUC "
              "| train s |", "|---|---|---|---|---|---|"]
    for name in ordered_variants(block["variants"]):
      v = block["variants"][name]
      lines.append(
          f"| {labels.get(name, name)} | {_fmt(v['overall']['accuracy'])} | "
          f"{_fmt(v['overall']['auc'])} | {_fmt(v['tag_mean']['accuracy'])} "
          f"| {_fmt(v['tag_mean']['auc'])} | {v['train_seconds']:.0f} |")
    for fname, f in block["floors"].items():
      lines.append(
          f"| *floor: {fname}* | {_fmt(f['overall']['accuracy'])} | "
          f"{_fmt(f['overall']['auc'])} | {_fmt(f['tag_mean']['accuracy'])} "
          f"| {_fmt(f['tag_mean']['auc'])} | |")
    lines.append("")
    # Per tag: personal accuracy / AUC.
    tags = sorted(next(iter(block["floors"].values()))["per_tag"])
    names = ordered_variants(block["variants"])
    lines += [f"### `{proto}` — personal head per tag (accuracy / AUC)", "",
              "| tag | n | " + " | ".join(labels.get(n, n) for n in names) +
              f" | floor: {FIGURE_FLOOR} |",
              "|---|---|" + "---|" * (len(names) + 1)]
    for tag in tags:
      row = [tag, str(block["floors"]["majority"]["per_tag"][tag]["count"])]
      for n in names:
        m = block["variants"][n]["per_tag"].get(tag, {})
        row.append(f"{_fmt(m.get('accuracy'))} / {_fmt(m.get('auc'))}")
      f = block["floors"][FIGURE_FLOOR]["per_tag"][tag]
      row.append(f"{_fmt(f['accuracy'])} / {_fmt(f['auc'])}")
      lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    # Fig. 7: agnostic accuracy per tag.
    lines += [f"### `{proto}` — user-agnostic accuracy per tag (Fig. 7, per "
              "test image)", "",
              "| tag | images | " + " | ".join(labels.get(n, n) for n in names)
              + " | floor: majority b_v |",
              "|---|---|" + "---|" * (len(names) + 1)]
    af = block["agnostic_floor"]
    for tag in list(af["per_tag"]) + ["overall"]:
      fm = af["overall"] if tag == "overall" else af["per_tag"][tag]
      row = [f"**{tag}**" if tag == "overall" else tag, str(fm["count"])]
      for n in names:
        a = block["variants"][n]["agnostic"]
        m = a["overall"] if tag == "overall" else a["per_tag"].get(tag, {})
        row.append(_fmt(m.get("accuracy")))
      row.append(_fmt(fm["accuracy"]))
      lines.append("| " + " | ".join(row) + " |")
    sources = {labels.get(n, n): block["variants"][n]["agnostic_source"]
               for n in names}
    lines += ["", "Agnostic score source: " + "; ".join(
        f"{k}: {v}" for k, v in sources.items()) + ".", ""]
  rpi = results.get("reviews_per_image")
  if rpi:
    lines += ["## Reviews per image (Fig. 9) — personal head, "
              f"{rpi['test_rows']:,d} test rows", "",
              "| max reviews/image | mean reviews/image | train rows | model "
              "| acc (given) | AUC (given) | acc (free) | AUC (free) |",
              "|---|---|---|---|---|---|---|---|"]
    for p in rpi["points"]:
      for n in rpi["variants"]:
        v = p["variants"][n]
        lines.append(
            f"| {p['max_reviews']} | {p['mean_reviews_per_image']:.2f} | "
            f"{p['train_rows']:,d} | {labels.get(n, n)} | "
            f"{_fmt(v['given']['accuracy'])} | {_fmt(v['given']['auc'])} | "
            f"{_fmt(v['free']['accuracy'])} | {_fmt(v['free']['auc'])} |")
      um = p["floors"][FIGURE_FLOOR]["overall"]
      lines.append(f"| {p['max_reviews']} | | | *floor: {FIGURE_FLOOR}* | "
                   f"{_fmt(um['accuracy'])} | {_fmt(um['auc'])} | "
                   f"{_fmt(um['accuracy'])} | {_fmt(um['auc'])} |")
    lines.append("")
  if t and t.get("models"):
    lines += ["## Timing per model", "", "| split | model | train s | "
              "train + score s |", "|---|---|---|---|"]
    for m in t["models"]:
      lines.append(f"| {m['split']} | {labels.get(m['variant'], m['variant'])}"
                   f" | {m['train_seconds']:.1f} | {m['total_seconds']:.1f} |")
    lines.append("")
  return "\n".join(lines)


def write(results: Dict[str, Any], out_dir: str) -> Dict[str, str]:
  """Writes results.json, results.md and the Fig. 7/8/9 PNGs in ``out_dir``.

  Args:
    results: the experiment's results (``experiments.run.compare`` plus
      timing).
    out_dir: the results directory (created).

  Returns:
    {"fig7"/"fig8"/"fig9" (the figures drawn), "markdown", "json": path}.
  """
  os.makedirs(out_dir, exist_ok=True)
  paths = figures.write_figures(results, out_dir)
  md = os.path.join(out_dir, RESULTS_MD)
  with open(md, "w") as fh:
    fh.write(results_markdown(results))
  paths["markdown"] = md
  js = os.path.join(out_dir, RESULTS_JSON)
  tmp = js + ".tmp"
  with open(tmp, "w") as fh:
    json.dump({**results, "files": {k: os.path.basename(v)
                                    for k, v in paths.items()}}, fh,
              indent=2, sort_keys=True, default=_json_default)
  os.replace(tmp, js)
  paths["json"] = js
  return paths


def _json_default(o):
  if isinstance(o, (np.integer,)):
    return int(o)
  if isinstance(o, (np.floating,)):
    return float(o)
  if isinstance(o, np.ndarray):
    return o.tolist()
  return str(o)

"""The Fig. 7, 8 and 9 PNGs of ``cfan experiment`` (matplotlib, Agg)."""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

import numpy as np

from experiments import FIG7_FILE
from experiments import FIG7_VARIANTS
from experiments import FIG8_FILE
from experiments import FIG8_VARIANTS
from experiments import FIG9_FILE
from experiments import FIGURE_FLOOR
from experiments import ordered_variants


def _plt():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def plot_fig7(results: Dict[str, Any], path: str) -> Optional[str]:
  """User-agnostic accuracy per tag, overall rightmost (paper Fig. 7).

  One panel for the random split (its test images also occur in training,
  as in the paper) and one for the cold-image split (they do not).
  """
  protos = [p for p in (next((q for q in ("review-free", "paper")
                              if q in results["protocols"]), None),
                        "cold-image") if p in results["protocols"]]
  if not protos:
    return None
  labels = results.get("labels", {})
  plt = _plt()
  first = results["protocols"][protos[0]]
  width_in = max(8, 0.9 * (len(first["agnostic_floor"]["per_tag"]) + 1) + 2)
  fig, axes = plt.subplots(len(protos), 1, squeeze=False,
                           figsize=(width_in, 4.2 * len(protos) + 0.8))
  for ax, proto in zip(axes[:, 0], protos):
    block = results["protocols"][proto]
    # The paper's three (CFN-pure-2task, MTRLCNN, CFAN-3task) when trained,
    # else every model (personal-head proxies where there is no agnostic
    # head).
    names = ([n for n in FIG7_VARIANTS if n in block["variants"]] or
             ordered_variants(block["variants"]))
    tags = list(block["agnostic_floor"]["per_tag"]) + ["overall"]
    series = [(labels.get(n, n), block["variants"][n]["agnostic"])
              for n in names]
    series.append(("floor: majority b_v", block["agnostic_floor"]))
    x = np.arange(len(tags))
    width = 0.8 / len(series)
    for i, (label, agn) in enumerate(series):
      vals = [(agn["overall"] if t == "overall" else
               agn["per_tag"].get(t, {})).get("accuracy", np.nan)
              for t in tags]
      ax.bar(x + (i - (len(series) - 1) / 2) * width, vals, width,
             label=label)
    ax.set_xticks(x)
    ax.set_xticklabels(tags, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy per test image")
    ax.set_title(f"{proto}: {block['split']} "
                 f"({block['test_images']} test images)", fontsize=10)
    ax.axvline(len(tags) - 1.5, color="grey", lw=0.8, ls=":")
  axes[-1][0].legend(fontsize=8, loc="upper center",
                     bbox_to_anchor=(0.5, -0.3), ncol=len(series),
                     frameon=False)
  fig.suptitle("Fig. 7: user-agnostic assessment per major tag")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def plot_fig8(results: Dict[str, Any], path: str) -> Optional[str]:
  """Tag-averaged accuracy and AUC per method, one panel per protocol."""
  protos = [p for p in ("paper", "review-free", "cold-image")
            if p in results["protocols"]]
  if not protos:
    return None
  labels = results.get("labels", {})
  plt = _plt()
  fig, axes = plt.subplots(1, len(protos), figsize=(6 * len(protos), 4.8),
                           squeeze=False)
  for ax, proto in zip(axes[0], protos):
    block = results["protocols"][proto]
    names = [n for n in FIG8_VARIANTS if n in block["variants"]] + [
        n for n in ordered_variants(block["variants"])
        if n not in FIG8_VARIANTS]
    x = np.arange(len(names))
    for j, (metric, color) in enumerate((("accuracy", "tab:blue"),
                                         ("auc", "tab:orange"))):
      vals = [block["variants"][n]["tag_mean"][metric] for n in names]
      ax.bar(x + (j - 0.5) * 0.38, vals, 0.38, color=color,
             label=f"{metric} (mean over tags)")
    for fname, style in (("majority", ":"), (FIGURE_FLOOR, "--")):
      f = block["floors"][fname]["tag_mean"]
      ax.axhline(f["accuracy"], color="tab:blue", ls=style, lw=1,
                 label=f"floor {fname}: accuracy")
      if fname == FIGURE_FLOOR:
        ax.axhline(f["auc"], color="tab:orange", ls=style, lw=1,
                   label=f"floor {fname}: AUC")
    ax.set_xticks(x)
    ax.set_xticklabels([labels.get(n, n) for n in names], rotation=35,
                       ha="right", fontsize=8)
    ax.set_ylim(0.3, 1)
    ax.set_title(f"{proto} ("
                 + ("own review given" if block["review"] == "given" else
                    "no review: user profile") + ")")
  axes[0][0].set_ylabel("personal head")
  handles, legend_labels = axes[0][0].get_legend_handles_labels()
  fig.legend(handles, legend_labels, loc="lower center", ncol=3, fontsize=8,
             frameon=False)
  fig.suptitle("Fig. 8: evaluation of methods")
  fig.tight_layout(rect=(0, 0.1, 1, 0.95))
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def plot_fig9(results: Dict[str, Any], path: str) -> Optional[str]:
  """Accuracy and AUC against the mean number of reviews per image."""
  rpi = results.get("reviews_per_image")
  if not rpi or not rpi["points"]:
    return None
  labels = results.get("labels", {})
  plt = _plt()
  fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
  xs = [p["mean_reviews_per_image"] for p in rpi["points"]]
  colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  for ax, metric in zip(axes, ("accuracy", "auc")):
    for i, n in enumerate(rpi["variants"]):
      for mode, style in (("given", "-o"), ("free", "--s")):
        ax.plot(xs, [p["variants"][n][mode][metric] for p in rpi["points"]],
                style, color=colors[i % len(colors)],
                label=f"{labels.get(n, n)} (review {mode})")
    ax.plot(xs, [p["floors"][FIGURE_FLOOR]["overall"][metric]
                 for p in rpi["points"]], ":", color="grey",
            label=f"floor: {FIGURE_FLOOR}")
    ax.set_xlabel("mean reviews per image in training")
    ax.set_ylabel(metric)
    ax.set_title(metric)
  axes[0].legend(fontsize=8)
  fig.suptitle("Fig. 9: personal head vs. reviews per image")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def write_figures(results: Dict[str, Any], out_dir: str) -> Dict[str, str]:
  """Draws the figures the results have data for into ``out_dir``.

  Returns:
    {"fig7" / "fig8" / "fig9": path} of the figures written.
  """
  paths: Dict[str, str] = {}
  for key, fname, fn in (("fig7", FIG7_FILE, plot_fig7),
                         ("fig8", FIG8_FILE, plot_fig8),
                         ("fig9", FIG9_FILE, plot_fig9)):
    p = fn(results, os.path.join(out_dir, fname))
    if p:
      paths[key] = p
  return paths

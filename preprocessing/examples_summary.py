"""The summary of ``cfan build-examples``: counts, accounting and report.

:func:`summarize` builds summary.json's content from the Beam job's
per-image statistics (records in / kept / rejected by reason, the images
with and without reviews, Eq. 7 consistency, the Table-1 statistics);
:func:`accounting_ok` checks "in = kept + rejected"; :func:`format_summary`
is the report ``cfan build-examples`` prints. Pure Python: the Beam job
calls :func:`summarize` once, on the combined statistics.
"""
from __future__ import annotations

import collections
from typing import Any, Dict, List, Sequence

from preprocessing import eval_split
from preprocessing import features as F
from preprocessing import rating


def _stats(values: Sequence[float]) -> Dict[str, float]:
  if not values:
    return {"count": 0, "mean": float("nan"), "min": float("nan"),
            "max": float("nan"), "median": float("nan")}
  ordered = sorted(values)
  n = len(ordered)
  mid = ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] +
                                            ordered[n // 2])
  return {"count": n, "mean": sum(ordered) / n, "min": ordered[0],
          "max": ordered[-1], "median": mid}


def summarize(image_stats: List[Dict[str, Any]], user_counts: Dict[str, int],
              reject_counts: Dict[str, int], counts: Dict[str, int],
              major_tags: Dict[int, str]) -> Dict[str, Any]:
  """Builds the run summary: counts, Eq. 7 and Table-1 statistics."""
  kept_images = [s for s in image_stats if s.get("reviewed") and
                 not s.get("no_major_tag") and "labels" in s]
  eq7 = rating.consistency_eq7(
      (s["agnostic_label"], s["labels"]) for s in kept_images)
  per_image = [s["num_reviews"] for s in kept_images]
  per_user = list(user_counts.values())
  positives = sum(sum(s["labels"]) for s in kept_images)
  kept = sum(per_image)
  per_tag: Dict[str, Dict[str, Any]] = {}
  for s in kept_images:
    t = per_tag.setdefault(s["tag"], {"images": 0, "reviews": 0,
                                      "positive": 0, "agnostic_good": 0})
    t["images"] += 1
    t["reviews"] += s["num_reviews"]
    t["positive"] += sum(s["labels"])
    t["agnostic_good"] += s["agnostic_label"]
  for t in per_tag.values():
    t["positive_ratio"] = t["positive"] / t["reviews"] if t["reviews"] else 0.0
  stored = [s["stored_bytes"] for s in kept_images]
  rejected = sum(reject_counts.values())
  review_rejects = {k: v for k, v in reject_counts.items()}
  return {
      "reviews": {
          "in": counts["reviews_in"],
          "kept": kept,
          "rejected": counts["reviews_in"] - kept,
      },
      "ava_lines": {"in": counts["ava_in"], "kept": counts["ava_kept"],
                    "rejected": counts["ava_in"] - counts["ava_kept"]},
      "rejects_by_reason": dict(sorted(review_rejects.items())),
      "rejects_total": rejected,
      "images": {
          "in_ava": counts["ava_kept"],
          "with_kept_reviews": len(kept_images),
          "without_reviews": sum(1 for s in image_stats
                                 if not s.get("reviewed")),
          # Of those, training examples with no reviews (their votes train
          # the image model) and the ones set aside, by reason.
          "vote_only_kept": sum(1 for s in image_stats
                                if s.get("vote_only")),
          "vote_only_set_aside": dict(sorted(collections.Counter(
              s["set_aside"] for s in image_stats
              if s.get("set_aside")).items())),
          "set_aside_no_major_tag": sum(1 for s in image_stats
                                        if s.get("no_major_tag")),
          "stored_jpeg_bytes_mean": (sum(stored) / len(stored)
                                     if stored else 0.0),
      },
      "major_tags": sorted(major_tags.values()),
      "labels": {"good": positives, "bad": kept - positives,
                 "good_ratio": positives / kept if kept else float("nan")},
      "eq7_consistency": eq7,
      "table1": {
          "users": len(per_user),
          "images": len(per_image),
          "reviews": kept,
          "reviews_per_image": _stats(per_image),
          "users_per_image": _stats(per_image),  # one review per (u, v)
          "reviews_per_user": _stats(per_user),
          "per_tag": dict(sorted(per_tag.items())),
      },
  }


def accounting_ok(summary: Dict[str, Any]) -> bool:
  """in = kept + rejected for reviews and AVA lines, and every rejected
  item has its line in rejects/*.jsonl."""
  r, a = summary["reviews"], summary["ava_lines"]
  return (r["in"] == r["kept"] + r["rejected"] and
          a["in"] == a["kept"] + a["rejected"] and
          summary["rejects_total"] == r["rejected"] + a["rejected"])


def format_accounting(summary: Dict[str, Any]) -> str:
  """The two "in = kept + rejected" lines (reviews, AVA lines)."""
  r, a = summary["reviews"], summary["ava_lines"]
  return "\n".join([
      f"reviews   in {r['in']:>9,d} = kept {r['kept']:>9,d} + rejected "
      f"{r['rejected']:>9,d}",
      f"AVA lines in {a['in']:>9,d} = kept {a['kept']:>9,d} + rejected "
      f"{a['rejected']:>9,d}",
  ])


def rule_text(summary: Dict[str, Any]) -> str:
  """" (a tag needs >= N of the M images: --min-tag-...)", or "" for a
  summary written before the rule was recorded."""
  rule = summary.get("major_tag_rule")
  if not rule:
    return ""
  how = (f"--min-tag-images {rule['min_tag_images']}"
         if rule["min_tag_images"] is not None else
         f"--min-tag-share {rule['min_tag_share']:.6g}")
  return (f" (a tag needs >= {rule['min_images']:,d} of the "
          f"{rule['images']:,d} images: {how})")


def vote_only_text(images: Dict[str, Any]) -> str:
  """" (N kept as training images with votes only; set aside: ...)", or ""
  for a summary written before vote-only images were kept."""
  if "vote_only_kept" not in images or not images["without_reviews"]:
    return ""
  aside = images.get("vote_only_set_aside") or {}
  return (f" ({images['vote_only_kept']:,d} kept as training images with "
          "votes only" + ("; set aside: " + ", ".join(
              f"{reason} {n:,d}" for reason, n in aside.items())
                          if aside else "") + ")")


def format_summary(summary: Dict[str, Any]) -> str:
  """Human-readable report printed by ``cfan build-examples``."""
  t1 = summary["table1"]
  lines = format_accounting(summary).split("\n")
  for reason, n in summary["rejects_by_reason"].items():
    lines.append(f"  rejected review: {reason:<24s} {n:>8,d}")
  for reason, n in summary.get("ava_rejects_by_reason", {}).items():
    lines.append(f"  rejected AVA line: {reason:<22s} {n:>8,d}")
  im = summary["images"]
  lines += [
      f"images: {im['with_kept_reviews']:,d} with kept reviews, "
      f"{im['set_aside_no_major_tag']:,d} reviewed but set aside (no major "
      f"tag), {im['without_reviews']:,d} without reviews"
      + vote_only_text(im),
      f"{len(summary['major_tags'])} major tags{rule_text(summary)}: "
      + ", ".join(summary["major_tags"])
      + (f" (ids not named in {F.TAGS_FILE}: "
         f"{summary['major_tags_without_name']})"
         if summary.get("major_tags_without_name") else ""),
      f"labels: {summary['labels']['good']:,d} good / "
      f"{summary['labels']['bad']:,d} bad",
      f"Eq. 7 consistency with raw votes: "
      f"{100 * summary['eq7_consistency']:.2f} % (paper: 81.06 % on AVA)",
      "Table 1:",
      f"  users {t1['users']:,d}, images {t1['images']:,d}, reviews "
      f"{t1['reviews']:,d}",
  ]
  for key in ("reviews_per_image", "reviews_per_user"):
    s = t1[key]
    if s["count"]:
      lines.append(f"  {key.replace('_', ' ')}: mean {s['mean']:.2f}, median "
                   f"{s['median']:.1f}, range {s['min']:.0f}-{s['max']:.0f}")
  lines.append(f"  {'tag':<22s} {'images':>7s} {'reviews':>8s} {'good %':>7s}")
  for tag, t in t1["per_tag"].items():
    lines.append(f"  {tag:<22s} {t['images']:>7,d} {t['reviews']:>8,d} "
                 f"{100 * t['positive_ratio']:>6.1f}%")
  lines.append(eval_split.format_split(summary))
  return "\n".join(lines)

"""``make bench``: every benchmark at its default size, then docs/benchmarks.md.

Runs, in order: preprocessing throughput vs the raw decode limit (demo-sized
and 320-px photos), DirectRunner in-memory vs multi-processing, scaling at
1k/10k/100k reviews, the Trainer input pipeline vs in-memory tensors, storage
and the AVA projection. Writes
``bench_runs/*.json`` and rewrites ``docs/benchmarks.md`` with the figures and
the command that produced them. Last, ``benchmarks.model_quality`` (the
default model vs the floors, VBPR and BPR on held-out pairs) writes
``docs/model_quality.md``, then ``benchmarks.taste_ceiling`` (what per-user
taste over the generator's true image features adds over the floors on the
same data) ``docs/taste_ceiling.md`` (``--no-model-quality`` skips both).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from typing import Any, Dict, List, Sequence

from benchmarks import common
from benchmarks import model_quality
from benchmarks import preprocess
from benchmarks import storage
from benchmarks import taste_ceiling
from benchmarks import trainer_input
from preprocessing import config as cfg_lib

DOC = os.path.join(common.ROOT, "docs", "benchmarks.md")


def marginal_line(rows: List[Dict[str, Any]],
                  throughput: Dict[str, Any]) -> str:
  """Transform's rate between the two largest scaling runs beside the `cpu`
  decode limit of section 1 (the start-up and analysis cost excluded)."""
  rate = preprocess.transform_marginal_rate(rows)
  if rate is None:
    return "Transform's marginal rate: not measured (fewer than two sizes)."
  limit = throughput["raw_decode_resize_cpu_images_per_s"]
  return (f"Transform's marginal rate between the two largest sizes (the "
          f"images it adds over the seconds it adds, start-up and the fixed "
          f"part of the analysis pass excluded): {rate:,.0f} images/s, "
          f"{rate / limit:.3f}x the `cpu` decode+resize limit of section 1 "
          f"({limit:,.0f} images/s).")


def render(res: Dict[str, Any], command: str, seconds: float) -> str:
  t = res["throughput"]["row"]
  # The demo's small photos, then AVA-sized ones (absent in older JSON).
  t_rows = [t] + ([res["throughput_photo"]["row"]]
                  if "throughput_photo" in res else [])
  modes = res["beam_modes"]
  sc = res["scaling"]
  ti = res["trainer_input"]
  st = res["storage"]
  p = st["ava_projection"]
  lines = [
      "# Benchmarks",
      "",
      f"Produced by `{command}` on {res['date']} "
      f"({res['machine']['cpus']} CPUs, Python {res['machine']['python']}; "
      f"{seconds / 60:.1f} min in all). Every ratio below was measured side "
      "by side in the same run. JSON: `bench_runs/*.json`.",
      "",
      "## 1. Preprocessing throughput vs the raw decode limit",
      "",
      common.table(t_rows, ["photo_px", "kept", "images",
                            "build_examples_images_per_s",
                            "transform_cpu_images_per_s",
                            "raw_decode_resize_cpu_images_per_s",
                            "transform_cpu_over_limit",
                            "build_examples_over_limit"]),
      "",
      common.table(t_rows, ["photo_px", "images",
                            "transform_paper_images_per_s",
                            "raw_decode_resize_paper_images_per_s",
                            "transform_paper_over_limit"]),
      "",
      "`raw_decode_resize_*_images_per_s` is a tf.data loop of `decode_image` "
      "+ resize over the same stored photos, one decode per image, to the "
      "`cpu` size and to 320 px (`paper`); the stage rates are images per "
      "second of wall time and include Beam start-up and, for Transform, the "
      "analysis pass and re-encoding the resized JPEG. `photo_px` is the "
      "longer side of the demo photos: the demo's small ones, and photos "
      "the size build-examples stores at most (320 px, the design notes' "
      "AVA-like 320x240 JPEGs), where decoding is a real share of the work.",
      "",
      "## 2. DirectRunner: in memory vs multi-processing",
      "",
      common.table(modes["rows"], ["scale", "kept", "in_memory_s",
                                   "multi_processing_s", "mp_over_inmem"]),
      "",
      (f"Multi-processing wins from {wins:,d} kept reviews on this machine."
       if (wins := modes["multi_processing_wins_from_kept"]) is not None else
       "Multi-processing did not win at any size measured (up to "
       f"{max(r['kept'] for r in modes['rows']):,d} kept reviews) on this "
       "machine."),
      "",
      "## 3. Scaling (build-examples + Transform)",
      "",
      common.table(sc["rows"], ["scale", "reviews_in", "kept", "beam_mode",
                                "build_examples_s", "transform_s", "total_s",
                                "peak_rss_mib"]),
      "",
      f"Fitted exponent time ~ reviews^k: k = {sc.get('exponent_total', 0):.2f}"
      f" over all sizes, k = {sc.get('exponent_largest_two', 0):.2f} between "
      f"the two largest (start-up dominates the smallest); peak memory "
      f"exponent {sc.get('exponent_memory', 0):.2f}.",
      "",
      marginal_line(sc["rows"], t),
      "",
      "## 4. Trainer input pipeline",
      "",
      common.table([ti], list(trainer_input.RATE_COLUMNS)),
      "",
      f"Each of the {ti.get('rounds', 1)} rounds fits the same "
      f"{ti['steps']} batches once from the files and once from memory, "
      "back to back; the steps/s are the rounds' medians and the ratio the "
      "median of the rounds' ratios (min and max beside it): this machine's "
      "speed drifts between phases within minutes, and neighbouring fits "
      "share a phase.",
      "",
      common.table([ti], list(trainer_input.BACKBONE_COLUMNS)),
      "",
      "Backbone rows per epoch: the distinct images of each batch, summed "
      "(what a slot-reading variant's CNN runs on), for the training "
      "shuffle (whole images with all their training reviews, in shuffled "
      "order) and for the files' order.",
      "",
      "## 5. Storage and the AVA-scale projection",
      "",
      common.table(storage.stored_rows(st), list(storage.STORED_COLUMNS)),
      "",
      f"Reviews per image in this run: {st['reviews_per_image']:.2f}; photos "
      f"stored per image: {p['stored_photos_per_image']:.3f} (one example "
      f"per image with all its reviews, the held-out ones marked; vote-only "
      f"images count as examples, not as images with reviews). AVA "
      f"projection (1,435,120 reviews, 255,530 images, "
      f"30 kB per 320-px JPEG plus the measured non-image bytes per review): "
      f"labelled {p['labelled_gb']:.1f} GB + transformed at the paper size "
      f"{p['transformed_paper_gb']:.1f} GB = {p['both_gb']:.1f} GB, "
      f"{p['both_over_raw_corpus']:.3f}x the ~32 GB raw corpus (target "
      f"<= 0.5x). For scale: one JPEG per image is "
      f"{p['one_copy_per_image_gb']:.1f} GB, a JPEG on every review "
      f"{p['photo_per_review_gb']:.1f} GB.",
      "",
  ]
  return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--out", default=common.DEFAULT_OUT)
  ap.add_argument("--scales", type=float, nargs="+", default=[1, 10, 100])
  ap.add_argument("--mode-scales", type=float, nargs="+", default=[2, 10, 40])
  ap.add_argument("--throughput-scale", type=float, default=10)
  ap.add_argument("--photo-px", type=int, default=cfg_lib.STORED_IMAGE_MAX_SIDE,
                  help="longer side of the second throughput run's photos")
  ap.add_argument("--no-doc", action="store_true")
  ap.add_argument("--no-model-quality", action="store_true")
  args = ap.parse_args(argv)
  t0 = time.time()
  res: Dict[str, Any] = {"machine": common.machine(),
                         "date": datetime.date.today().isoformat()}
  print("== throughput", flush=True)
  res["throughput"] = preprocess.throughput(args.out, args.throughput_scale)
  print(f"== throughput, {args.photo_px}-px photos", flush=True)
  res["throughput_photo"] = preprocess.throughput(
      args.out, args.throughput_scale, photo_px=args.photo_px)
  print("== trainer input", flush=True)
  tdir = os.path.join(res["throughput"]["run_dir"], "transform")
  res["trainer_input"] = common.run_python(
      "import preprocessing\nfrom benchmarks import trainer_input\n"
      f"result = trainer_input.measure({tdir!r})\n")
  print(json.dumps(res["trainer_input"], default=float), flush=True)
  print("== storage", flush=True)
  res["storage"] = common.run_python(
      "import preprocessing\nfrom benchmarks import storage, common\n"
      f"result = storage.measure({res['throughput']['run_dir']!r}, "
      f"common.demo_dataset({args.out!r}, {args.throughput_scale!r}))\n")
  print("== beam modes", flush=True)
  res["beam_modes"] = preprocess.beam_modes(args.out, args.mode_scales)
  print("== scaling", flush=True)
  res["scaling"] = preprocess.scaling(args.out, args.scales)
  seconds = time.time() - t0
  res["seconds"] = seconds
  common.write_json(os.path.join(args.out, "all.json"), res)
  flags = list(sys.argv[1:] if argv is None else argv)
  command = ("python -m benchmarks.run_all " + " ".join(flags) if flags
             else "make bench")
  doc = render(res, command, seconds)
  print(doc)
  if not args.no_doc:
    os.makedirs(os.path.dirname(DOC), exist_ok=True)
    with open(DOC, "w") as fh:
      fh.write(doc)
    print(f"wrote {DOC}")
  if not args.no_model_quality:
    print("== model quality", flush=True)
    model_quality.main(["--out", args.out] + (["--no-doc"] if args.no_doc
                                              else []))
    print("== taste ceiling", flush=True)
    taste_ceiling.main(["--out", args.out] + (["--no-doc"] if args.no_doc
                                              else []))
  return 0


if __name__ == "__main__":
  sys.exit(main())

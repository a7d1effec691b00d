"""Shared helpers of the benchmark scripts: data preparation, timing, output.

Benchmarks print a table and write JSON; they are never timed unit tests.
Ratios are always measured side by side in the same process run, because
these machines are noisy.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from preprocessing import keras_env as _keras_env  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "bench_runs")
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def multi_processing(workers: int = 0) -> List[str]:
  return ["--direct_running_mode=multi_processing",
          f"--direct_num_workers={workers or os.cpu_count() or 1}"]


def machine() -> Dict[str, Any]:
  return {"cpus": os.cpu_count(), "python": platform.python_version(),
          "platform": platform.platform()}


def stamp() -> str:
  """UTC time and the commit of the code being measured ("+dirty" when a
  tracked Python file has uncommitted changes): which code produced a
  stored figure."""
  when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
  try:
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True
                          ).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain",
                            "--untracked-files=no", "--", "*.py"],
                           capture_output=True, text=True, check=True
                           ).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return f"{when}, commit unknown"
  return f"{when}, commit {head}{'+dirty' if dirty else ''}"


def px_suffix(photo_px: Optional[int]) -> str:
  """Directory-name suffix of a run on photos other than the demo's size."""
  return "" if photo_px is None else f"_px{photo_px}"


def demo_dataset(out_root: str, scale: float, seed: int = 0,
                 photo_px: Optional[int] = None) -> str:
  """Demo AVA-review directory of about scale*1000 reviews (cached), with
  photos of ``photo_px`` on the longer side (default: the demo's size)."""
  import demo_data  # pylint: disable=g-import-not-at-top
  from preprocessing import config as cfg_lib  # pylint: disable=g-import-not-at-top
  path = os.path.join(out_root,
                      f"data_scale{scale:g}_seed{seed}{px_suffix(photo_px)}")
  if not os.path.exists(os.path.join(path, demo_data.TRUTH_FILE)):
    demo_data.generate(path, scale=scale, seed=seed,
                       image_size=photo_px or cfg_lib.DEMO_IMAGE_SIZE)
  return path


def min_tag_images_for(data_dir: str) -> int:
  """Major-tag threshold for a demo dir: the demo's, scaled down for small
  sizes so that a handful of tags stay major (Kao et al. use 3000 on AVA)."""
  from preprocessing import config as cfg_lib  # pylint: disable=g-import-not-at-top
  from preprocessing import features as F  # pylint: disable=g-import-not-at-top
  with open(os.path.join(data_dir, F.AVA_FILE), "rb") as fh:
    images = sum(1 for line in fh if line.strip())
  return max(3, min(cfg_lib.DEMO_MIN_TAG_IMAGES, images // 25))


def dir_bytes(path: str, pattern_suffix: str = "") -> int:
  total = 0
  for root, _, files in os.walk(path):
    for f in files:
      if f.endswith(pattern_suffix):
        total += os.path.getsize(os.path.join(root, f))
  return total


class Timer:
  def __enter__(self):
    self.t0 = time.perf_counter()
    self.cpu0 = time.process_time()
    return self

  def __exit__(self, *exc):
    self.seconds = time.perf_counter() - self.t0
    self.cpu_seconds = time.process_time() - self.cpu0


_RESULT_TAIL = """
import json as _json, resource as _resource
result["peak_rss_mib"] = max(
    _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss,
    _resource.getrusage(_resource.RUSAGE_CHILDREN).ru_maxrss) / 1024.0
print("RESULT " + _json.dumps(result, default=float))
"""


def run_python(code: str, timeout: int = 1800) -> Dict[str, Any]:
  """Runs ``code`` in a fresh interpreter and returns its ``result`` dict.

  The code must leave its figures in a dict named ``result``. Added to it:
  ``peak_rss_mib``, the peak resident set of the largest process (the child
  itself or one of its own children, e.g. Beam multi-processing workers),
  and ``process_wall_s``, the child's wall time including interpreter and
  TensorFlow start-up.
  """
  t0 = time.perf_counter()
  proc = subprocess.run([sys.executable, "-c", code + _RESULT_TAIL],
                        capture_output=True, text=True, timeout=timeout,
                        cwd=ROOT)
  wall = time.perf_counter() - t0
  if proc.returncode != 0:
    raise RuntimeError(f"benchmark child failed:\n{proc.stderr[-4000:]}")
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
  out = json.loads(line[len("RESULT "):])
  out["process_wall_s"] = wall
  return out


def write_json(path: str, obj: Any) -> str:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".tmp"
  with open(tmp, "w") as fh:
    json.dump(obj, fh, indent=2, sort_keys=True, default=float)
  os.replace(tmp, path)
  return path


def doc_header(module: str, given: Sequence[str], json_path: str
               ) -> Dict[str, Any]:
  """The head of a benchmark's JSON document: its command line, where the
  JSON lies (relative to the repository when inside it), when and where."""
  json_path = os.path.abspath(json_path)
  return {
      "command": " ".join([f"python -m {module}"] + list(given)),
      "json": (os.path.relpath(json_path, ROOT)
               if json_path.startswith(ROOT + os.sep) else json_path),
      "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
      "machine": machine(),
  }


def produced_by(doc: Dict[str, Any]) -> str:
  """The sentence under a benchmark document's title: how and where its
  figures were made (from ``doc_header``'s fields and ``doc["seconds"]``)."""
  m = doc["machine"]
  return (f"Produced by `{doc['command']}` on {doc['date']} ({m['cpus']} "
          f"CPUs, Python {m['python']}, {m['platform']}); "
          f"{doc['seconds'] / 60:.1f} min wall in all. JSON: `{doc['json']}`.")


def write_doc(doc: Dict[str, Any], json_path: str, md_path: str,
              render: Callable[[Dict[str, Any]], str]) -> None:
  """The JSON and its rendered Markdown, each replaced atomically."""
  write_json(json_path, doc)
  with open(md_path + ".tmp", "w") as fh:
    fh.write(render(doc))
  os.replace(md_path + ".tmp", md_path)


def table(rows: Sequence[Dict[str, Any]], columns: Sequence[str],
          title: Optional[str] = None) -> str:
  def fmt(v):
    if isinstance(v, float):
      return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)
  cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
  widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c)
            for i, c in enumerate(columns)]
  lines = []
  if title:
    lines.append(title)
  lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths))
               + " |")
  lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
  for row in cells:
    lines.append("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths))
                 + " |")
  return "\n".join(lines)

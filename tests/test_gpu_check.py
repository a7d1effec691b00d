"""benchmarks/gpu_check.sh, run the way a CPU-only machine can (issue 11).

The script is meant for a lent GPU machine; here it runs with a tiny step
count and batch, and must still produce every figure it promises: Transform
throughput at the paper's 320 px, and training throughput of the paper model
(random-init VGG-16) in each precision mode.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from benchmarks import gpu_check
from preprocessing import config as cfg_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_gpu_check_runs_on_cpu_with_two_steps(tmp_path):
  out = tmp_path / "gpu_check"
  env = dict(os.environ, STEPS="2", WARMUP="1", BATCH="2", USERS="10",
             IMAGES="40", OUT=str(out))
  proc = subprocess.run(["bash", os.path.join(REPO, "benchmarks",
                                              "gpu_check.sh")],
                        cwd=str(tmp_path), env=env, capture_output=True,
                        text=True, timeout=1500)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Transform at 320 px (paper)" in proc.stdout
  with open(out / "gpu_check.json", encoding="utf-8") as fh:
    res = json.load(fh)
  assert res["config"] == "paper"
  assert res["image_size"] == cfg_lib.get_config("paper").image_size == 320
  stages = res["transform"]
  assert stages["reviews"] >= stages["images"] > 0
  assert stages["transform_reviews_per_s"] > 0
  assert [m["mode"] for m in res["training"]] == [
      name for name, _, _ in gpu_check.MODES]
  for mode in res["training"]:
    assert mode["steps"] == 2 and mode["batch_size"] == 2
    assert 0 < mode["images_per_s"] <= mode["reviews_per_s"]
    assert 1 <= mode["distinct_images_per_batch"] <= 2
    # Without a GPU the mixed modes fall back to float32.
    assert mode["policy"] == ("float32" if not res["gpus"] or
                              mode["mode"] == "float32" else
                              "mixed_float16")
    assert mode["mode"] in proc.stdout

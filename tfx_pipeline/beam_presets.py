"""Beam flag presets for the engines the pipeline scales out to.

Every Beam-based stage (``cfan build-examples`` and the TFX components
ImportExampleGen, StatisticsGen, Transform, Evaluator) receives the same flag
list, unchanged. A preset is only a starting list; flags given by the user
(``--beam-arg`` or after ``--``) come after it, and Beam's parser lets the
later value of a repeated flag win.

=========== ==============================================================
preset      what it sets (the user adds what is site-specific)
=========== ==============================================================
local       DirectRunner, multi-processing over every core
            (``--direct_num_workers=0``); the in-memory runner is chosen
            automatically for small data when no flags are given.
dataflow    ``--runner=DataflowRunner`` + Runner v2; add ``--project``,
            ``--region``, ``--temp_location=gs://...`` and
            ``--sdk_container_image`` (the pipeline image, see Dockerfile).
flink       ``--runner=FlinkRunner`` with the SDK harness in the job's
            containers; add ``--flink_master=HOST:8081``.
spark       ``--runner=SparkRunner``; add ``--spark_master_url=spark://...``
            (or use a portable job server: ``--runner=PortableRunner
            --job_endpoint=HOST:8099``).
=========== ==============================================================
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

PRESETS: Dict[str, Tuple[str, ...]] = {
    "local": ("--runner=DirectRunner", "--direct_running_mode=multi_processing",
              "--direct_num_workers=0"),
    "dataflow": ("--runner=DataflowRunner", "--experiments=use_runner_v2",
                 "--save_main_session=False"),
    "flink": ("--runner=FlinkRunner", "--environment_type=DOCKER",
              "--flink_submit_uber_jar"),
    "spark": ("--runner=SparkRunner", "--environment_type=DOCKER"),
}
# Flags a preset cannot guess; missing ones are reported before anything runs.
REQUIRED: Dict[str, Tuple[str, ...]] = {
    "local": (),
    "dataflow": ("--project", "--region", "--temp_location"),
    "flink": ("--flink_master",),
    "spark": ("--spark_master_url",),
}


def _flag_names(args: Sequence[str]) -> set:
  return {a.split("=", 1)[0] for a in args if a.startswith("--")}


def beam_args_for(preset: str | None, user_args: Sequence[str]) -> List[str]:
  """Preset flags followed by the user's, unchanged; checks required flags."""
  if not preset:
    return list(user_args)
  if preset not in PRESETS:
    raise ValueError(f"unknown Beam preset {preset!r}; choose from "
                     f"{sorted(PRESETS)}")
  missing = [f for f in REQUIRED[preset] if f not in _flag_names(user_args)]
  if missing:
    raise ValueError(f"Beam preset {preset!r} needs {', '.join(missing)} "
                     "(pass them with --beam-arg=FLAG=VALUE)")
  return list(PRESETS[preset]) + list(user_args)

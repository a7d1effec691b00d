"""Every ML Metadata query of the project, against a run's SQLite store.

A local run keeps its metadata at ``WORKDIR/metadata.sqlite``; the runners,
the experiments and the tests read back from it which components ran (or
were cached) and where their artifacts are, never by guessing paths.
"""
from __future__ import annotations

import os
from typing import Dict, Iterable, Optional

METADATA_FILE = "metadata.sqlite"
# Execution states that produced usable outputs.
_DONE_STATES = ("COMPLETE", "CACHED")


def connection_config(workdir: str):
  """SQLite ML Metadata connection config of the run in ``workdir``."""
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  return tfx.orchestration.metadata.sqlite_metadata_connection_config(
      os.path.join(workdir, METADATA_FILE))


def _store(workdir: str):
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  return metadata_store.MetadataStore(connection_config(workdir))


def _state_name(state: int) -> str:
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  return metadata_store_pb2.Execution.State.Name(state)


def _latest(items: Iterable):
  """The most recently created MLMD record (ties: the highest id)."""
  return max(items, key=lambda x: (x.create_time_since_epoch, x.id))


def latest_run_executions(workdir: str) -> Dict[str, str]:
  """Component states of the most recent pipeline run.

  Args:
    workdir: the run directory holding ``metadata.sqlite``.

  Returns:
    {component id: last known state ("COMPLETE", "CACHED", "FAILED", ...)},
    empty when no pipeline run was recorded.
  """
  store = _store(workdir)
  runs = store.get_contexts_by_type("pipeline_run")
  if not runs:
    return {}
  latest = _latest(runs)
  out: Dict[str, str] = {}
  for ex in store.get_executions_by_context(latest.id):
    node = [c.name for c in store.get_contexts_by_execution(ex.id)
            if c.type == "node"]
    node_id = node[0].split(".", 1)[-1] if node else ex.type
    out[node_id] = _state_name(ex.last_known_state)
  return out


def latest_artifact_uri(workdir: str, type_name: str) -> Optional[str]:
  """URI of the newest artifact of MLMD type ``type_name``, or None."""
  arts = _store(workdir).get_artifacts_by_type(type_name)
  return _latest(arts).uri if arts else None


def latest_pushed_model(workdir: str) -> Optional[str]:
  """Destination (``<serving_dir>/<version>``) of the newest push, or None.

  Only PushedModel artifacts whose ``pushed`` property is 1 count; a run
  whose model was not blessed records none.
  """
  arts = [a for a in _store(workdir).get_artifacts_by_type("PushedModel")
          if a.custom_properties.get("pushed") is not None
          and a.custom_properties["pushed"].int_value == 1]
  if not arts:
    return None
  return _latest(arts).custom_properties["pushed_destination"].string_value


def latest_outputs(workdir: str, component_suffix: str,
                   keys: Iterable[str]) -> Dict[str, str]:
  """URIs of output channels of the newest finished run of a component.

  Args:
    workdir: the run directory holding ``metadata.sqlite``.
    component_suffix: the end of the component's execution type name, e.g.
      ``"Transform"`` (``tfx.components.transform.component.Transform``).
    keys: the output channel names wanted, e.g. ``("transform_graph",)``.

  Returns:
    {output key: artifact URI} for every key in ``keys``.

  Raises:
    FileNotFoundError: no completed or cached execution of the component, or
      one of ``keys`` is not among its outputs.
  """
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  store = _store(workdir)
  type_names = {t.id: t.name for t in store.get_execution_types()}
  runs = [e for e in store.get_executions()
          if type_names.get(e.type_id, "").endswith(component_suffix)
          and _state_name(e.last_known_state) in _DONE_STATES]
  if not runs:
    raise FileNotFoundError(
        f"no completed {component_suffix} execution in {workdir}")
  wanted = set(keys)
  ids: Dict[int, str] = {}
  for ev in store.get_events_by_execution_ids([_latest(runs).id]):
    if ev.type != metadata_store_pb2.Event.OUTPUT or not ev.path.steps:
      continue
    key = ev.path.steps[0].key
    if key in wanted:
      ids[ev.artifact_id] = key
  out = {ids[a.id]: a.uri for a in store.get_artifacts_by_id(list(ids))}
  missing = wanted - set(out)
  if missing:
    raise FileNotFoundError(f"{component_suffix} outputs {sorted(missing)} "
                            f"not in the ML Metadata of {workdir}")
  return out


def transform_outputs(workdir: str) -> Dict[str, str]:
  """URIs of the latest Transform execution's outputs (the experiments' input).

  Returns:
    {"transform_graph": uri, "transformed_examples": uri}.
  """
  return latest_outputs(workdir, "Transform",
                        ("transform_graph", "transformed_examples"))

"""Quiet by default, complete on request (tfx_pipeline/console.py).

The terminal gets stage lines, one line per TFX component and progress bars;
TensorFlow's C++ stderr, absl/Beam logging and Python warnings go to the
command's log file (and to the terminal with --verbose). Also: Keras'
"Your input ran out of data" warning is not emitted by a fit and an
evaluation on TFRecord rows (the steps match the rows).
"""
from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import warnings

import keras_model  # noqa: F401  (pins Keras 3 before TF is imported)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from preprocessing import progress  # noqa: E402
from tfx_pipeline import console  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFAN = os.path.join(os.path.dirname(sys.executable), "cfan")


def _log_text(root) -> str:
  logs = os.listdir(os.path.join(root, console.LOGS_DIR))
  assert len(logs) == 1, logs
  with open(os.path.join(root, console.LOGS_DIR, logs[0])) as fh:
    return fh.read()


def test_progress_line_has_counts_and_eta():
  p = progress.Progress("training x", 25, 100, "step", started=1000.0,
                        note="loss 0.5")
  line = console.format_progress(p, now=1010.0)
  # 10 s for a quarter: 30 s left.
  assert line == ("  training x [######..................] 25/100 steps  "
                  "0:10 elapsed, ETA 0:30, loss 0.5")
  done = progress.Progress("training x", 100, 100, "step", started=1000.0)
  assert console.format_progress(done, now=1075.0).endswith(
      "100/100 steps  in 1:15")


def _noise():
  """What the libraries emit: absl, TF and Beam records, a warning, and
  bytes written straight to file descriptor 2 (as TF's C++ does)."""
  logging.getLogger("absl").warning(
      "Examples artifact does not have payload_format custom property.")
  logging.getLogger("apache_beam.io.tfrecordio").warning("python-snappy")
  warnings.warn("Support for google-cloud-storage < 3.0.0", FutureWarning)
  os.write(2, b"E external/local_xla/cuda_fft.cc] Unable to register cuFFT "
              b"factory\n")


def _tfx_component(name: str, cached: bool) -> None:
  """LocalDagRunner's records around one component."""
  absl = logging.getLogger("absl")
  absl.info("Component %s is running.", name)
  if cached:
    absl.info("A cached execution %d is used.", 7)
  absl.info("Component %s is finished.", name)


def test_quiet_session_routes_noise_to_the_log(tmp_path, capfd):
  with console.session("run", str(tmp_path), verbose=False) as s:
    console.stage("[1/2] build-examples: stage line")
    console.stage("a\nmulti-line detail block")
    _noise()
    _tfx_component("Transform", cached=False)
    # TF's SavedModel writer saves and restores absl's verbosity around an
    # export; TFX's INFO records must still come through afterwards.
    from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
    absl_logging.set_verbosity(absl_logging.get_verbosity())
    _tfx_component("SchemaGen", cached=True)
    reporter = progress.Reporter("training cfan", 3)
    for i in range(1, 4):
      reporter.update(i, note="loss 0.25")
  err = capfd.readouterr().err
  lines = err.rstrip("\n").split("\n")
  assert lines[0] == "[1/2] build-examples: stage line"
  assert re.fullmatch(r" +Transform +done in 0:0\d", lines[1])
  assert re.fullmatch(r" +SchemaGen +cached", lines[2])
  # Not a TTY: the finished bar only.
  assert re.fullmatch(r"  training cfan \[#{24}\] 3/3 steps  in 0:0\d, "
                      r"loss 0.250?", lines[3]), lines[3]
  assert lines[4] == f"log: {s.log_file}"
  assert len(lines) == 5, err
  log = _log_text(tmp_path)
  assert s.log_file.startswith(os.path.join(str(tmp_path), "logs", "run-"))
  for text in ("payload_format", "python-snappy", "google-cloud-storage",
               "Unable to register cuFFT factory", "multi-line detail block",
               "Component Transform is finished", "3/3 step"):
    assert text in log, text
  # File descriptor 2 and the root logger are back as they were.
  os.write(2, b"after\n")
  assert capfd.readouterr().err == "after\n"
  assert console._TerminalHandler not in [  # pylint: disable=protected-access
      type(h) for h in logging.getLogger().handlers]


def test_verbose_session_shows_everything(tmp_path, capfd):
  with console.session("run", str(tmp_path), verbose=True):
    console.stage("a\nmulti-line detail block")
    _noise()
  err = capfd.readouterr().err
  for text in ("payload_format", "python-snappy", "google-cloud-storage",
               "Unable to register cuFFT factory", "multi-line detail block"):
    assert text in err, text
  assert "payload_format" in _log_text(tmp_path)


_TF_NOISE_SCRIPT = """
import logging, sys, warnings
from tfx_pipeline import console
with console.session("probe", sys.argv[1], verbose=False):
  import tensorflow as tf  # C++ start-up lines on fd 2
  from absl import logging as absl_logging
  absl_logging.warning("payload_format probe")
  warnings.warn("aiplatform probe", FutureWarning)
  tf.constant(1.0)
  console.stage("stage line")
print("result line")
"""


def test_tensorflow_start_up_noise_stays_in_the_log(tmp_path):
  """A real TensorFlow import inside a session: stderr has our lines only."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0")  # as chatty as TF gets
  proc = subprocess.run([sys.executable, "-c", _TF_NOISE_SCRIPT,
                         str(tmp_path)], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout == "result line\n"
  lines = proc.stderr.rstrip("\n").split("\n")
  assert lines[0] == "stage line" and lines[1].startswith("log: "), (
      proc.stderr[-3000:])
  assert len(lines) == 2, proc.stderr[-3000:]
  log = _log_text(tmp_path)
  assert "payload_format probe" in log and "aiplatform probe" in log
  # TF's own C++ lines (level 0 lets its INFO lines through) came to fd 2.
  assert re.search(r"^\S+ \S+: [IWE] \S+\.cc:\d+\]", log, re.M), log[-3000:]


def test_cfan_command_writes_its_log_and_only_progress(tmp_path):
  """The real entry point: ``cfan demo-data``'s stderr is its progress bars
  and the log line; the log lands outside the data directory."""
  data = tmp_path / "data"
  proc = subprocess.run([CFAN, "demo-data", str(data), "--users", "8",
                         "--images", "30"], capture_output=True, text=True,
                        timeout=300, cwd=REPO)
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = proc.stderr.rstrip("\n").split("\n")
  assert all(l.startswith("  demo data [") for l in lines[:-1]), lines
  assert lines[-1].startswith("log: ")
  log_file = lines[-1][len("log: "):]
  assert os.path.isfile(log_file)
  assert not os.path.exists(data / console.LOGS_DIR)


def test_cli_error_goes_to_the_terminal_traceback_to_the_log(tmp_path,
                                                            capsys):
  from tfx_pipeline import cli  # pylint: disable=g-import-not-at-top
  missing = str(tmp_path / "none")
  out = tmp_path / "out"
  assert cli.main(["build-examples", "--data", missing, "--out",
                   str(out)]) == 2
  err = capsys.readouterr().err
  assert "cfan build-examples: error:" in err and "Traceback" not in err
  # The failed command created no output directory, not even for its log.
  assert not os.path.exists(out)
  log_file = err.rstrip("\n").split("\n")[-1][len("log: "):]
  assert log_file.startswith(console.FALLBACK_LOG_ROOT)
  with open(log_file) as fh:
    assert "Traceback" in fh.read()


def test_log_moves_into_the_directory_the_command_made(tmp_path, capfd):
  work = tmp_path / "work"
  with console.session("run", str(work), verbose=False):
    os.makedirs(work)
    console.stage("stage line")
  assert "stage line" in _log_text(work)
  last = capfd.readouterr().err.rstrip("\n").split("\n")[-1]
  assert last.startswith(
      f"log: {os.path.join(str(work), console.LOGS_DIR, 'run-')}"), last


def test_remote_output_dir_logs_locally(capfd):
  """``build-examples --out gs://...``: the log goes to the local fallback
  directory, not to a local folder named "gs:"."""
  with console.session("build-examples", "gs://bucket/out", False) as s:
    pass
  assert s.log_file.startswith(os.path.join(console.FALLBACK_LOG_ROOT,
                                            console.LOGS_DIR, "build-"))
  assert os.path.isfile(s.log_file) and not os.path.exists("gs:")
  assert capfd.readouterr().err == f"log: {s.log_file}\n"


def test_tiny_fit_and_evaluation_do_not_run_out_of_data(tmp_path):
  """Keras warns "Your input ran out of data" when it reaches the end of a
  dataset whose length it does not know (TFRecords); the training core
  gives it the number of steps the rows fill, for the fit and for the
  evaluation on the eval split's files."""
  from keras_model import inputs  # pylint: disable=g-import-not-at-top
  from keras_model import training  # pylint: disable=g-import-not-at-top
  from tests import test_training as tt  # pylint: disable=g-import-not-at-top
  eval_cols = tt._by_image(tt._columns(40, seed=1))  # pylint: disable=protected-access
  rows = inputs.Rows.from_files(
      [str(tmp_path / "eval")],
      tt._image_major_files(eval_cols, tmp_path / "eval"))  # pylint: disable=protected-access
  assert rows.num_rows() == 40
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    trained = tt._train("cfn-1task", tt._columns(), steps=20)  # pylint: disable=protected-access
    metrics = training.evaluate_protocols(trained, rows)
  assert set(metrics) == {"review_given", "review_free"}
  ran_out = [str(w.message) for w in caught
             if "ran out of data" in str(w.message)]
  assert not ran_out, ran_out


def test_keras_progress_reports_every_step_and_the_end(caplog):
  """The training core's callback: records of progress.LOGGER, the last one
  finished with the steps actually run."""
  from tests import test_training as tt  # pylint: disable=g-import-not-at-top
  with caplog.at_level(logging.INFO, logger=progress.LOGGER):
    tt._train("cfn-1task", tt._columns(), steps=30)  # pylint: disable=protected-access
  reports = [getattr(r, progress.RECORD_ATTR) for r in caplog.records
             if hasattr(r, progress.RECORD_ATTR)]
  assert reports and reports[-1].finished
  # 240 rows / 16 = 15 steps per epoch, two epochs.
  assert reports[-1].done == reports[-1].total == 30
  assert reports[-1].label.startswith("training ")
  assert reports[-1].note.startswith("loss ")


def test_runs_started_in_the_same_second_get_their_own_logs(tmp_path,
                                                            monkeypatch):
  """Two commands in one second (a test suite beside a run, two users on
  the fallback directory) once shared a file, and the first to finish moved
  it away from under the other, which then failed after its work was done.
  Each session now creates its own: the process id, then a counter."""
  fixed = os.path.join(str(tmp_path), console.LOGS_DIR,
                       "run-20261203-050734.log")
  monkeypatch.setattr(console, "log_path", lambda root, command: fixed)
  first, fh1 = console.open_new_log(str(tmp_path), "run")
  second, fh2 = console.open_new_log(str(tmp_path), "run")
  fh1.close()
  fh2.close()
  assert first != second
  assert os.path.basename(first) == f"run-20261203-050734-{os.getpid()}.log"
  assert os.path.basename(second) == (
      f"run-20261203-050734-{os.getpid()}-2.log")
  with console.session("run", str(tmp_path), verbose=False) as s:
    pass
  assert s.log_file not in (first, second) and os.path.isfile(s.log_file)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))

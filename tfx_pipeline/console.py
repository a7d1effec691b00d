"""What a ``cfan`` command shows on the terminal and what it writes to its log.

Quiet by default, complete on request:

* The terminal gets the stage lines (records of the ``cfan`` logger, e.g.
  "[1/2] build-examples ..."), one line per TFX component as it finishes,
  progress bars with an ETA (``preprocessing.progress`` records: the
  Trainer's steps, demo data) and the command's own result lines (stdout).
* Everything else -- Python logging at INFO from every library (TFX, absl,
  Beam, TensorFlow), Python warnings, and the C++ stderr of TensorFlow/XLA
  (cuFFT/cuDNN/cuBLAS factory errors, oneDNN notes) -- goes to
  ``DIR/logs/<command>-<timestamp>-<pid>.log``: file descriptor 2 itself is
  pointed at the log for the command's duration, so output that bypasses
  Python lands there too.
* ``--verbose`` shows all of it on the terminal as it happens (the log file
  then holds the Python part; C++ stderr stays on the terminal).

``session`` sets this up before any heavy import (``cfan`` imports
TensorFlow, Beam and TFX inside each command) and undoes it afterwards, so a
test can call ``cli.main`` in-process.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import itertools
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from typing import Dict, Iterator, Optional, TextIO, Tuple

from absl import logging as absl_logging

from preprocessing import progress as progress_lib

LOGS_DIR = "logs"
# Stage lines: terminal and log. Multi-line blocks logged on it are details:
# log only (terminal with --verbose).
LOGGER = "cfan"
# Where a command without a work directory (predict, demo-data, ...) logs.
FALLBACK_LOG_ROOT = os.path.join(tempfile.gettempdir(), "cfan")
_FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# LocalDagRunner's records (tfx/orchestration/local/local_dag_runner.py and
# portable/launcher.py) that become one terminal line per component.
_TFX_RUNNING = "Component %s is running."
_TFX_FINISHED = "Component %s is finished."
_TFX_CACHED = "A cached execution %d is used."
_BAR_WIDTH = 24
_REDRAW_S = 0.2


def log_path(log_root: str, command: str) -> str:
  """``LOG_ROOT/logs/<command>-<UTC timestamp>.log`` (not created; a run
  adds its process id: ``open_new_log``)."""
  stamp = datetime.datetime.now(datetime.timezone.utc).strftime(
      "%Y%m%d-%H%M%S")
  return os.path.join(log_root, LOGS_DIR, f"{command}-{stamp}.log")


def open_new_log(log_root: str, command: str) -> Tuple[str, TextIO]:
  """Creates and opens (line-buffered) a log file no other run writes to.

  ``log_path``'s name plus this process's id: two commands started in the
  same second (two users' runs sharing the fallback directory, a test suite
  beside a run) would otherwise write one file, and the first to finish
  would move it away from the other. Created exclusively; a name taken in
  this process too (two sessions in one second) gets a counter.
  """
  base, ext = os.path.splitext(log_path(log_root, command))
  os.makedirs(os.path.dirname(base), exist_ok=True)
  for n in itertools.count(1):
    path = f"{base}-{os.getpid()}{'' if n == 1 else f'-{n}'}{ext}"
    try:
      # pylint: disable-next=consider-using-with
      return path, open(path, "x", buffering=1, encoding="utf-8")
    except FileExistsError:
      continue
  raise AssertionError("unreachable")  # itertools.count never ends


def _clock(seconds: float) -> str:
  seconds = int(max(0, seconds))
  h, rest = divmod(seconds, 3600)
  return (f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else
          f"{rest // 60}:{rest % 60:02d}")


def format_progress(p: progress_lib.Progress, now: float) -> str:
  """One progress line: bar, counts, elapsed and ETA (or total time)."""
  elapsed = now - p.started
  if p.total > 0:
    frac = min(1.0, p.done / p.total)
    filled = int(round(_BAR_WIDTH * frac))
    bar = f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] "
    counts = f"{p.done:,d}/{p.total:,d} {p.unit}s"
  else:
    frac, bar, counts = 0.0, "", f"{p.done:,d} {p.unit}s"
  if p.finished:
    timing = f"in {_clock(elapsed)}"
  elif frac > 0:
    timing = f"{_clock(elapsed)} elapsed, ETA {_clock(elapsed / frac - elapsed)}"
  else:
    timing = f"{_clock(elapsed)} elapsed"
  note = f", {p.note}" if p.note else ""
  return f"  {p.label} {bar}{counts}  {timing}{note}"


class _TerminalHandler(logging.Handler):
  """Draws stage lines, component lines and progress bars on a stream.

  Args:
    stream: the terminal.
    everything: also print every other record (--verbose).
  """

  def __init__(self, stream: TextIO, everything: bool):
    super().__init__(logging.INFO)
    self.stream = stream
    self.everything = everything
    self.tty = bool(getattr(stream, "isatty", lambda: False)())
    self._open_line = False  # a progress line waits for its "\n"
    self._last_draw = 0.0
    self._component: Dict[str, float] = {}  # running node -> start time
    self._cached = False
    self.setFormatter(logging.Formatter("%(levelname)s %(name)s: "
                                        "%(message)s"))

  def _write(self, text: str, transient: bool = False) -> None:
    if self._open_line:
      self.stream.write("\r\033[K")
    self.stream.write(text if transient else text + "\n")
    self._open_line = transient
    self.stream.flush()

  def _progress(self, p: progress_lib.Progress) -> None:
    now = time.time()
    if p.finished:
      self._write(format_progress(p, now))
    elif self.tty and now - self._last_draw >= _REDRAW_S:
      self._last_draw = now
      self._write(format_progress(p, now), transient=True)

  def _tfx(self, record: logging.LogRecord) -> bool:
    """Turns LocalDagRunner's records into component lines; True if it was
    one."""
    if record.msg == _TFX_RUNNING:
      node = str(record.args[0])
      self._component[node], self._cached = time.time(), False
      if self.tty:
        self._write(f"      {node} ...", transient=True)
      return True
    if record.msg == _TFX_CACHED:
      self._cached = True
      return True
    if record.msg == _TFX_FINISHED:
      node = str(record.args[0])
      seconds = time.time() - self._component.pop(node, time.time())
      state = "cached" if self._cached else f"done in {_clock(seconds)}"
      self._write(f"      {node:<30s} {state}")
      return True
    return False

  def emit(self, record: logging.LogRecord) -> None:
    try:
      p = getattr(record, progress_lib.RECORD_ATTR, None)
      if p is not None:
        self._progress(p)
        return
      if (isinstance(record.args, tuple) and record.args and
          self._tfx(record) and not self.everything):
        return
      if record.name == LOGGER or record.name.startswith(LOGGER + "."):
        message = record.getMessage()
        if "\n" not in message or self.everything:
          self._write(message)
        return
      if self.everything:
        self._write(self.format(record))
    except Exception:  # pylint: disable=broad-except
      self.handleError(record)


class _FileFilter(logging.Filter):
  """Keeps progress records out of the log except each stage's last."""

  def filter(self, record: logging.LogRecord) -> bool:
    p = getattr(record, progress_lib.RECORD_ATTR, None)
    return p is None or p.finished


@dataclasses.dataclass
class Session:
  """A running command's output setup (``session``).

  Attributes:
    log_file: the command's log file while it runs (it moves into the work
      directory at the end when the command created that directory).
    verbose: everything is shown on the terminal.
    terminal: the terminal stream (stderr before the session started).
  """
  log_file: str
  verbose: bool
  terminal: TextIO


def _stream_uses_fd2(stream) -> bool:
  try:
    return stream.fileno() == 2
  except (AttributeError, OSError, ValueError):
    return False


@contextlib.contextmanager
def session(command: str, log_root: Optional[str], verbose: bool
            ) -> Iterator[Session]:
  """Routes a command's output: stage lines to the terminal, the rest to
  its log file (see the module docstring).

  Args:
    command: the subcommand (names the log file).
    log_root: the command's work or output directory (the log goes to its
      ``logs/``); None or a remote URL: ``FALLBACK_LOG_ROOT``.
    verbose: show everything on the terminal too.

  Yields:
    The ``Session``.
  """
  if not log_root or "://" in log_root:  # no directory, or gs:// etc.
    log_root = FALLBACK_LOG_ROOT
  # A directory the command has not created yet is not created for the log
  # alone (a command that fails early leaves nothing behind): the log starts
  # in the fallback directory and moves there if the command made it.
  final_root = log_root
  if not os.path.isdir(log_root):
    log_root = FALLBACK_LOG_ROOT
  path, log_stream = open_new_log(log_root, command)
  env_before = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
  if verbose and "tensorflow" not in sys.modules:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"  # TF's C++ INFO lines too
  root = logging.getLogger()
  saved_handlers, saved_level = root.handlers[:], root.level
  saved_stderr, saved_fd2 = sys.stderr, None
  terminal: TextIO = sys.stderr
  sys.stderr.flush()
  if not verbose:
    saved_fd2 = os.dup(2)
    if _stream_uses_fd2(sys.stderr):
      terminal = os.fdopen(os.dup(saved_fd2), "w", buffering=1,
                           encoding=getattr(sys.stderr, "encoding", None)
                           or "utf-8", errors="replace")
      sys.stderr = terminal
    os.dup2(log_stream.fileno(), 2)
  file_handler = logging.StreamHandler(log_stream)
  file_handler.setFormatter(logging.Formatter(_FILE_FORMAT))
  file_handler.addFilter(_FileFilter())
  term_handler = _TerminalHandler(terminal, everything=verbose)
  root.handlers = [file_handler, term_handler]
  root.setLevel(logging.INFO)
  # absl's own verbosity too: TensorFlow's SavedModel writer saves and
  # restores it around every export (autotrackable.py), which would leave
  # absl at WARNING (its default) and drop TFX's INFO records mid-run.
  absl_logger = logging.getLogger("absl")
  absl_level, absl_verbosity = absl_logger.level, absl_logging.get_verbosity()
  absl_logging.set_verbosity(absl_logging.INFO)
  logging.captureWarnings(True)
  log_stream.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} "
                   f"cfan {command} (pid {os.getpid()})\n")
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("default")  # each warning once, into the log
      yield Session(log_file=path, verbose=verbose, terminal=terminal)
  finally:
    logging.captureWarnings(False)
    root.handlers, root.level = saved_handlers, saved_level
    absl_logging.set_verbosity(absl_verbosity)
    absl_logger.setLevel(absl_level)
    sys.stderr.flush()
    if saved_fd2 is not None:
      os.dup2(saved_fd2, 2)
      os.close(saved_fd2)
    log_stream.close()
    if final_root != log_root and os.path.isdir(final_root):
      moved = os.path.join(final_root, LOGS_DIR, os.path.basename(path))
      os.makedirs(os.path.dirname(moved), exist_ok=True)
      shutil.move(path, moved)
      path = moved
    terminal.write(f"log: {path}\n")
    terminal.flush()
    if terminal is not saved_stderr:
      terminal.close()
    sys.stderr = saved_stderr
    if env_before is None:
      os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
    else:
      os.environ["TF_CPP_MIN_LOG_LEVEL"] = env_before


def stage(message: str) -> None:
  """A stage line (terminal and log); a multi-line block is a detail (log;
  terminal with --verbose). The ``log`` callable of the runners."""
  logging.getLogger(LOGGER).info("%s", message)

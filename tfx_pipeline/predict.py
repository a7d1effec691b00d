"""Batch prediction with an exported model (``cfan predict``).

Every input row gets exactly one output row, in input order. Rows that
cannot be scored (image missing or undecodable, empty user id) carry an
``error`` and empty scores; the run never stops on one bad row.

Images are normalised exactly like the training data (any PIL-readable
format, grayscale/CMYK/16-bit/alpha -> RGB JPEG, longest side capped) before
they reach the model's raw signature, so a corrupt file is found here, per
row, instead of failing a whole batch inside the graph.
"""
from __future__ import annotations

import csv
import os
import sys
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from preprocessing import keras_env as _keras_env  # noqa: F401
from preprocessing import ava
from preprocessing import features as F
from preprocessing.images import reencode_image

OUTPUT_COLUMNS = ("user_id", "image_id", F.PERSONAL_OUTPUT, F.AGNOSTIC_OUTPUT,
                  "tag", "known_user", "error")


def resolve_model_dir(path: str) -> str:
  """A SavedModel dir, or a serving base dir -> its highest integer version."""
  if os.path.exists(os.path.join(path, "saved_model.pb")):
    return path
  if not os.path.isdir(path):
    raise FileNotFoundError(f"{path}: no such model directory")
  versions = sorted((int(d) for d in os.listdir(path) if d.isdigit() and
                     os.path.exists(os.path.join(path, d, "saved_model.pb"))))
  if not versions:
    raise FileNotFoundError(
        f"{path}: neither a SavedModel nor a serving dir with <version>/ "
        "subdirectories holding saved_model.pb")
  return os.path.join(path, str(versions[-1]))


def load_image(path: Optional[str]) -> Tuple[Optional[bytes], str]:
  """(normalised JPEG bytes, "") or (None, error message)."""
  if path is None:
    return None, "image not found"
  try:
    with open(path, "rb") as fh:
      data = fh.read()
  except OSError as e:
    return None, f"cannot read image: {e}"
  if not data:
    return None, "empty image file"
  try:
    return reencode_image(data), ""
  except ValueError as e:
    return None, f"corrupt image: {e}"


def read_pairs(path: str) -> List[Dict[str, str]]:
  """Rows of a user_id,image_id[,review[,profile]] CSV (header required)."""
  with open(path, newline="", encoding="utf-8") as fh:
    reader = csv.DictReader(fh)
    missing = {"user_id", "image_id"} - set(reader.fieldnames or [])
    if missing:
      raise ValueError(f"{path}:1: header lacks column(s) {sorted(missing)}; "
                       "need user_id,image_id[,review]")
    return [dict(r) for r in reader]


def read_profile(path: Optional[str]) -> str:
  """Text of a ``--profile FILE`` (one of the user's reviews per line)."""
  if not path:
    return ""
  with open(path, encoding="utf-8") as fh:
    text = fh.read()
  if not text.strip():
    raise ValueError(f"{path}: the profile file is empty")
  return text


class Scorer:
  """Loads a model once; scores (user, image bytes, review[, profile])."""

  def __init__(self, model_path: str):
    from keras_model import signatures  # pylint: disable=g-import-not-at-top
    self.model_dir = resolve_model_dir(model_path)
    self._model = signatures.load_serving_model(self.model_dir)
    self._fn = self._model.signatures[signatures.SERVING_RAW]
    # Models exported before the profile input existed lack it.
    self.accepts_profile = (signatures.RAW_PROFILE_INPUT in
                            self._fn.structured_input_signature[1])

  def score(self, users: Sequence[str], images: Sequence[bytes],
            reviews: Sequence[str],
            profiles: Optional[Sequence[str]] = None) -> Dict[str, list]:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from keras_model import signatures  # pylint: disable=g-import-not-at-top
    kwargs = {}
    if self.accepts_profile:
      kwargs[signatures.RAW_PROFILE_INPUT] = tf.constant(
          list(profiles) if profiles is not None else [""] * len(users))
    elif profiles is not None and any(p.strip() for p in profiles):
      raise ValueError(f"{self.model_dir}: this model's serving_raw has no "
                       "profile input (exported before it existed)")
    out = self._fn(user_id=tf.constant(list(users)),
                   image_bytes=tf.constant(list(images)),
                   review=tf.constant(list(reviews)), **kwargs)
    return {
        F.PERSONAL_OUTPUT: out[F.PERSONAL_OUTPUT].numpy().tolist(),
        F.AGNOSTIC_OUTPUT: out[F.AGNOSTIC_OUTPUT].numpy().tolist(),
        "tag": [t.decode() for t in out[signatures.TAG_NAME_OUTPUT].numpy()],
        "known_user": out[signatures.KNOWN_USER_OUTPUT].numpy().tolist(),
        F.ATTENTION_OUTPUT: out[F.ATTENTION_OUTPUT].numpy(),
        "review_free": out[signatures.REVIEW_FREE_OUTPUT].numpy().tolist(),
    }


def predict_rows(scorer: Scorer, rows: Sequence[Dict[str, str]],
                 images_dir: str, batch_size: int = 64,
                 progress: Optional[Callable[[int, int], None]] = None,
                 profile: str = "") -> List[Dict[str, object]]:
  """Scores rows (dicts with user_id, image_id[, review]) in input order.

  Args:
    scorer: the loaded model.
    rows: ``read_pairs``' dicts.
    images_dir: where ``<image_id>.jpg|png`` are found.
    batch_size: rows per model call.
    progress: called with (rows done, rows in all) after each batch.
    profile: request profile text for every row (``--profile FILE``); a
      row's own ``profile`` column, when present and non-empty, wins.

  Returns:
    One dict per input row (``OUTPUT_COLUMNS``); a row that cannot be
    scored carries its ``error`` and empty scores.
  """
  results: List[Dict[str, object]] = []
  cache: Dict[str, Tuple[Optional[bytes], str]] = {}
  for start in range(0, len(rows), batch_size):
    chunk = rows[start:start + batch_size]
    batch_out: List[Dict[str, object]] = []
    ok_idx, users, imgs, reviews, profiles = [], [], [], [], []
    for i, r in enumerate(chunk):
      user = (r.get("user_id") or "").strip()
      image_id = (r.get("image_id") or "").strip()
      row: Dict[str, object] = {c: "" for c in OUTPUT_COLUMNS}
      row.update(user_id=user, image_id=image_id)
      batch_out.append(row)
      if not user or not image_id:
        row["error"] = "empty user_id or image_id"
        continue
      if image_id not in cache:
        cache[image_id] = load_image(ava.find_image(images_dir, image_id))
      data, err = cache[image_id]
      if data is None:
        row["error"] = err
        continue
      ok_idx.append(i)
      users.append(user)
      imgs.append(data)
      reviews.append(r.get("review") or "")
      profiles.append(r.get("profile") or profile)
    if ok_idx:
      scores = scorer.score(users, imgs, reviews, profiles)
      for j, i in enumerate(ok_idx):
        batch_out[i].update({
            F.PERSONAL_OUTPUT: f"{scores[F.PERSONAL_OUTPUT][j]:.6f}",
            F.AGNOSTIC_OUTPUT: f"{scores[F.AGNOSTIC_OUTPUT][j]:.6f}",
            "tag": scores["tag"][j],
            "known_user": int(bool(scores["known_user"][j])),
        })
    results.extend(batch_out)
    if progress:
      progress(len(results), len(rows))
  return results


def write_rows(path: str, rows: Iterable[Dict[str, object]]) -> None:
  """Writes the CSV to ``path.tmp`` and renames it: ``path`` is either the
  old file or the complete new one, never half-written."""
  tmp = path + ".tmp"
  try:
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
      w = csv.DictWriter(fh, fieldnames=list(OUTPUT_COLUMNS))
      w.writeheader()
      for r in rows:
        w.writerow(r)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  os.replace(tmp, path)


def tqdm_progress(total: int, desc: str):
  """A progress callback drawing a tqdm bar on stderr for large inputs."""
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  bar = tqdm(total=total, desc=desc, unit="row", file=sys.stderr,
             disable=total < 256)
  state = {"n": 0}

  def update(done: int, _total: int) -> None:
    bar.update(done - state["n"])
    state["n"] = done
    if done >= _total:
      bar.close()
  return update

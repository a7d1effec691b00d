"""Rank a folder of photos for one user (``cfan score-folder``).

Every photo (``.jpg``/``.jpeg``/``.png``, any case, any size; the folder
itself, not its subfolders) is normalised like the training data
(:func:`tfx_pipeline.predict.load_image`: RGB JPEG, alpha on white, longest
side capped) and scored in batches through the model's ``serving_raw``
signature with an empty review, i.e. review-free, reading the user's stored
profile or the request profile (``--profile FILE``).

Output rows: scored photos by descending ``p_personal`` (rank 1 = the photo
the user is predicted to like most; ``--top K`` keeps the first K), then
every photo that could not be read, with its error and no rank. A user the
model never saw gets the user-agnostic head (``known_user`` 0,
``p_personal == p_agnostic``) unless a profile is given; the printed summary
says which head ranked the photos.
"""
from __future__ import annotations

import csv
import dataclasses
import os
import sys
from typing import Callable, Dict, List, Optional

from preprocessing import config as cfg_lib
from preprocessing import features as F

FOLDER_COLUMNS = ("rank", "file", F.PERSONAL_OUTPUT, F.AGNOSTIC_OUTPUT, "tag",
                  "known_user", "error")


def list_images(folder: str) -> List[str]:
  """Sorted names of the photos directly inside ``folder``."""
  if not os.path.isdir(folder):
    raise FileNotFoundError(f"{folder}: no such directory")
  return sorted(
      name for name in os.listdir(folder)
      if name.lower().endswith(F.IMAGE_EXTENSIONS) and
      os.path.isfile(os.path.join(folder, name)))


@dataclasses.dataclass
class FolderResult:
  """What ``score_folder`` found and wrote."""
  rows: List[Dict[str, object]]
  images: int  # photos found
  scored: int
  errors: int
  known_user: Optional[bool]  # None when nothing could be scored
  profile_given: bool


def score_folder(scorer, user: str, folder: str, *, profile: str = "",
                 batch_size: int = cfg_lib.SCORE_FOLDER_BATCH_SIZE,
                 top: Optional[int] = None,
                 progress: Optional[Callable[[int], None]] = None
                 ) -> FolderResult:
  """Scores and ranks every photo of ``folder`` for ``user``.

  Args:
    scorer: a :class:`tfx_pipeline.predict.Scorer`.
    user: the user id as the model knows it.
    folder: directory of photos.
    profile: request profile text ("" = the stored profile).
    batch_size: photos per model call.
    top: keep only the K best scored photos (errors are always listed).
    progress: called with the number of photos done after each batch.
  """
  from tfx_pipeline import predict  # pylint: disable=g-import-not-at-top
  user = user.strip()
  if not user:
    raise ValueError("--user must not be empty")
  if top is not None and top < 1:
    raise ValueError(f"--top must be >= 1, got {top}")
  names = list_images(folder)
  scored: List[Dict[str, object]] = []
  failed: List[Dict[str, object]] = []
  known: Optional[bool] = None
  for start in range(0, len(names), batch_size):
    chunk = names[start:start + batch_size]
    ok_names, images = [], []
    for name in chunk:
      data, err = predict.load_image(os.path.join(folder, name))
      if data is None:
        failed.append({"file": name, "error": err})
      else:
        ok_names.append(name)
        images.append(data)
    if ok_names:
      n = len(ok_names)
      s = scorer.score([user] * n, images, [""] * n, [profile] * n)
      for j, name in enumerate(ok_names):
        scored.append({
            "file": name,
            F.PERSONAL_OUTPUT: float(s[F.PERSONAL_OUTPUT][j]),
            F.AGNOSTIC_OUTPUT: float(s[F.AGNOSTIC_OUTPUT][j]),
            "tag": s["tag"][j],
            "known_user": int(bool(s["known_user"][j])),
            "error": "",
        })
        known = bool(s["known_user"][j])
    if progress:
      progress(len(chunk))
  scored.sort(key=lambda r: (-r[F.PERSONAL_OUTPUT], r["file"]))
  kept = scored[:top] if top else scored
  rows: List[Dict[str, object]] = []
  for rank, r in enumerate(kept, start=1):
    row = dict(r, rank=rank)
    row[F.PERSONAL_OUTPUT] = f"{r[F.PERSONAL_OUTPUT]:.6f}"
    row[F.AGNOSTIC_OUTPUT] = f"{r[F.AGNOSTIC_OUTPUT]:.6f}"
    rows.append(row)
  for r in sorted(failed, key=lambda r: r["file"]):
    rows.append({c: "" for c in FOLDER_COLUMNS} | r)
  return FolderResult(rows=rows, images=len(names), scored=len(scored),
                      errors=len(failed), known_user=known,
                      profile_given=bool(profile.strip()))


def write_rows(path: str, rows: List[Dict[str, object]]) -> None:
  """Writes the ranking CSV (``FOLDER_COLUMNS``) via a renamed temp file."""
  tmp = path + ".tmp"
  with open(tmp, "w", newline="", encoding="utf-8") as fh:
    w = csv.DictWriter(fh, fieldnames=list(FOLDER_COLUMNS))
    w.writeheader()
    for r in rows:
      w.writerow({c: r.get(c, "") for c in FOLDER_COLUMNS})
  os.replace(tmp, path)


def summary(result: FolderResult, user: str, folder: str, out: str,
            top: Optional[int]) -> str:
  """The lines ``cfan score-folder`` prints."""
  if result.images == 0:
    return (f"no photos ({'/'.join(F.IMAGE_EXTENSIONS)}) in {folder}; wrote "
            f"the header only to {out}")
  lines = [f"scored {result.scored:,d} of {result.images:,d} photos for user "
           f"{user!r}; {result.errors:,d} unreadable (listed last with their "
           "error)"]
  if result.known_user is False:
    if result.profile_given and cfg_lib.COLD_USER_PROFILE_PERSONAL:
      lines.append(f"user {user!r} is unknown to the model: ranked by the "
                   "personal head read through the given profile "
                   "(average-user embedding)")
    else:
      lines.append(f"user {user!r} is unknown to the model: falling back to "
                   "the user-agnostic head (p_personal = p_agnostic); pass "
                   "--profile FILE with a few of their reviews to "
                   "personalise")
  elif result.known_user:
    src = "the given profile" if result.profile_given else "their stored " \
        "profile"
    lines.append(f"user {user!r} is known to the model: ranked by the "
                 f"personal head, attention from {src}")
  shown = min(top, result.scored) if top else result.scored
  lines.append(f"wrote {out}: {shown:,d} ranked rows"
               f"{f' (top {top})' if top else ''} + {result.errors:,d} "
               "error rows")
  return "\n".join(lines)


def tqdm_bar(total: int):
  """A tqdm progress callback on stderr (photos done per batch)."""
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  bar = tqdm(total=total, desc="scoring", unit="photo", file=sys.stderr)

  def update(n: int) -> None:
    bar.update(n)
    if bar.n >= total:
      bar.close()
  return update

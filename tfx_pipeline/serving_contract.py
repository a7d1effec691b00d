"""The TF Serving contract of an exported CFAN model (docs/serving.md).

Builds TF Serving REST ``:predict`` bodies for both scoring signatures and
decodes/encodes them the way TF Serving's REST layer does, so the contract
can be checked against the SavedModel without a model server:

* ``serving_default`` takes serialized tf.Examples (features ``user_id``,
  ``image``, optional ``review`` and ``image_id``), each sent as
  ``{"b64": ...}``;
* ``serving_raw`` takes four string tensors: ``user_id``, ``image_bytes``
  (JPEG/PNG bytes as ``{"b64": ...}``), ``review`` and ``profile`` (may be
  "", one review per line). TF Serving requires every signature input in a
  request, so ``review`` and ``profile`` are always sent.

Both REST formats are supported: row (``instances``, a list with one object
per example; for a single-input signature the bare values) and columnar
(``inputs``, one list per input name). A row request is answered with
``{"predictions": [{output: value, ...}, ...]}``, a columnar one with
``{"outputs": {output: [values]}}``. String outputs whose name ends in
``_bytes`` would come back as ``{"b64": ...}``; ours (``tag``) are UTF-8.

Command line (prints a body, e.g. for ``curl -d @body.json``)::

  python -m tfx_pipeline.serving_contract raw --user U --image photo.jpg \\
      [--review TEXT] [--profile FILE] [--format instances|inputs]
  python -m tfx_pipeline.serving_contract default --user U --image photo.jpg
"""
from __future__ import annotations

import argparse
import base64
import json
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from preprocessing import keras_env as _keras_env  # noqa: F401
from preprocessing import features as F
from preprocessing.images import reencode_image

MODEL_NAME = "cfan"
DEFAULT_REST_PORT = 8501
SERVING_DEFAULT = F.SERVING_DEFAULT
SERVING_RAW = F.SERVING_RAW
EXAMPLES_INPUT = F.EXAMPLES_INPUT
RAW_INPUTS = (F.RAW_USER_INPUT, F.RAW_IMAGE_INPUT, F.RAW_REVIEW_INPUT,
              F.RAW_PROFILE_INPUT)
ROW_FORMAT, COLUMNAR_FORMAT = "instances", "inputs"
FORMATS = (ROW_FORMAT, COLUMNAR_FORMAT)
# Response fields of both scoring signatures (keras_model.signatures).
OUTPUT_FIELDS = (F.PERSONAL_OUTPUT, F.AGNOSTIC_OUTPUT, F.TAG_OUTPUT,
                 F.TAG_NAME_OUTPUT, F.ATTENTION_OUTPUT, F.KNOWN_USER_OUTPUT,
                 F.REVIEW_FREE_OUTPUT)
B64_KEY = "b64"


class ContractError(ValueError):
  """A body TF Serving would reject (HTTP 400) with this message."""


# ----------------------------------------------------------------------------
# Building request bodies
# ----------------------------------------------------------------------------
def b64(data: bytes) -> Dict[str, str]:
  """TF Serving's JSON form of binary string data."""
  return {B64_KEY: base64.b64encode(data).decode("ascii")}


def predict_url(host: str = "localhost", port: int = DEFAULT_REST_PORT,
                model_name: str = MODEL_NAME,
                version: Optional[int] = None) -> str:
  """``POST`` URL of TF Serving's predict API (latest version if None)."""
  path = f"/v1/models/{model_name}"
  if version is not None:
    path += f"/versions/{int(version)}"
  return f"http://{host}:{port}{path}:predict"


def make_example(user_id: str, image_bytes: bytes, review: str = "",
                 image_id: str = "") -> bytes:
  """Serialized tf.Example with the features ``serving_default`` reads."""
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow.core.example import feature_pb2  # pylint: disable=g-import-not-at-top

  def one(value: bytes) -> feature_pb2.Feature:
    return feature_pb2.Feature(bytes_list=feature_pb2.BytesList(
        value=[value]))

  feats = {F.USER_KEY: one(user_id.encode("utf-8")),
           F.IMAGE_KEY: one(image_bytes)}
  if review:
    feats[F.REVIEW_KEY] = one(review.encode("utf-8"))
  if image_id:
    feats[F.IMAGE_ID_KEY] = one(image_id.encode("utf-8"))
  return example_pb2.Example(features=feature_pb2.Features(
      feature=feats)).SerializeToString(deterministic=True)


def _check_format(fmt: str) -> None:
  if fmt not in FORMATS:
    raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")


def default_body(serialized_examples: Sequence[bytes],
                 fmt: str = ROW_FORMAT,
                 signature_name: str = SERVING_DEFAULT) -> Dict[str, Any]:
  """Body for ``serving_default`` (or ``serving_review_free``).

  Row format: ``{"instances": [{"b64": ...}, ...]}`` (one input, so the
  values stand alone); columnar: ``{"inputs": {"examples": [...]}}``.

  Args:
    serialized_examples: ``make_example`` outputs.
    fmt: ``ROW_FORMAT`` or ``COLUMNAR_FORMAT``.
    signature_name: which example signature to call.

  Returns:
    The JSON-able request body.
  """
  _check_format(fmt)
  values = [b64(s) for s in serialized_examples]
  body: Dict[str, Any] = {"signature_name": signature_name}
  if fmt == ROW_FORMAT:
    body[ROW_FORMAT] = values
  else:
    body[COLUMNAR_FORMAT] = {EXAMPLES_INPUT: values}
  return body


def raw_body(user_ids: Sequence[str], images: Sequence[bytes],
             reviews: Optional[Sequence[str]] = None,
             profiles: Optional[Sequence[str]] = None,
             fmt: str = ROW_FORMAT) -> Dict[str, Any]:
  """Body for ``serving_raw``: user id, image bytes, review, profile.

  Args:
    user_ids: one per request row.
    images: the encoded photo of each row (sent as base64).
    reviews: "" (the default) means review-free.
    profiles: "" (the default) means the stored profile; else the user's
      reviews, one per line.
    fmt: ``ROW_FORMAT`` or ``COLUMNAR_FORMAT``.

  Returns:
    The JSON-able request body.
  """
  _check_format(fmt)
  n = len(user_ids)
  reviews = list(reviews) if reviews is not None else [""] * n
  profiles = list(profiles) if profiles is not None else [""] * n
  if not len(images) == len(reviews) == len(profiles) == n:
    raise ValueError("user_ids, images, reviews and profiles differ in "
                     "length")
  columns = {F.RAW_USER_INPUT: list(user_ids),
             F.RAW_IMAGE_INPUT: [b64(i) for i in images],
             F.RAW_REVIEW_INPUT: reviews, F.RAW_PROFILE_INPUT: profiles}
  body: Dict[str, Any] = {"signature_name": SERVING_RAW}
  if fmt == ROW_FORMAT:
    body[ROW_FORMAT] = [{k: columns[k][i] for k in RAW_INPUTS}
                        for i in range(n)]
  else:
    body[COLUMNAR_FORMAT] = columns
  return body


# Short placeholder bytes for the documented examples (docs/serving.md).
DOC_JPEG = b"\xff\xd8\xff\xe0"  # the first bytes of a JPEG file
DOC_USER = "u_1042"


def doc_examples() -> Dict[str, Dict[str, Any]]:
  """The request bodies shown in docs/serving.md (test_serving_units checks)."""
  example = make_example(DOC_USER, DOC_JPEG)
  return {
      "default_instances": default_body([example], ROW_FORMAT),
      "default_inputs": default_body([example], COLUMNAR_FORMAT),
      "raw_instances": raw_body(
          [DOC_USER, "someone-new"], [DOC_JPEG, DOC_JPEG],
          ["", ""], ["", "Lovely light on the water.\nToo dark, soft focus."],
          ROW_FORMAT),
      "raw_inputs": raw_body([DOC_USER], [DOC_JPEG],
                             ["The composition is great."], [""],
                             COLUMNAR_FORMAT),
  }


# ----------------------------------------------------------------------------
# TF Serving's REST decoding / encoding (no server needed)
# ----------------------------------------------------------------------------
def _decode_value(value: Any, where: str) -> bytes:
  """A DT_STRING JSON value: {"b64": ...} -> bytes, a string -> UTF-8."""
  if isinstance(value, dict):
    if set(value) != {B64_KEY}:
      raise ContractError(f"{where}: an object value must be "
                          f"{{\"b64\": ...}}, got keys {sorted(value)}")
    try:
      return base64.b64decode(value[B64_KEY], validate=True)
    except (ValueError, TypeError) as e:
      raise ContractError(f"{where}: invalid base64: {e}") from e
  if isinstance(value, str):
    return value.encode("utf-8")
  raise ContractError(f"{where}: expected a string or {{\"b64\": ...}}, got "
                      f"{type(value).__name__}")


def _is_b64(value: Any) -> bool:
  return isinstance(value, dict) and set(value) == {B64_KEY}


def decode_request(body: Mapping[str, Any],
                   signature_inputs: Mapping[str, Sequence[str]]
                   ) -> Tuple[str, Dict[str, List[bytes]], str]:
  """A predict body -> (signature name, {input: [bytes]}, format).

  ``signature_inputs`` maps each signature name to its input names (all
  [None] DT_STRING here). Mirrors TF Serving's rules: exactly one of
  ``instances``/``inputs``; row objects must name every input, a
  single-input signature also takes bare values; every signature input
  must be present and no other ("input size does not match signature").
  """
  name = body.get("signature_name", SERVING_DEFAULT)
  if name not in signature_inputs:
    raise ContractError(f"Serving signature name: \"{name}\" not found in "
                        "signature def")
  names = list(signature_inputs[name])
  if (ROW_FORMAT in body) == (COLUMNAR_FORMAT in body):
    raise ContractError("Missing 'inputs' or 'instances' key (exactly one "
                        "is allowed)")
  columns: Dict[str, List[bytes]] = {}
  if ROW_FORMAT in body:
    fmt = ROW_FORMAT
    rows = body[ROW_FORMAT]
    if not isinstance(rows, list) or not rows:
      raise ContractError("'instances' must be a non-empty list")
    named = all(isinstance(r, dict) and not _is_b64(r) for r in rows)
    if named:
      keys = set(rows[0])
      for i, r in enumerate(rows):
        if set(r) != keys:
          raise ContractError(f"instances[{i}]: every instance must name "
                              "the same inputs")
      _check_inputs(keys, names)
      for k in names:
        columns[k] = [_decode_value(r[k], f"instances[{i}].{k}")
                      for i, r in enumerate(rows)]
    else:
      if len(names) != 1:
        raise ContractError("instances must be objects naming the inputs "
                            f"{names} of a multi-input signature")
      columns[names[0]] = [_decode_value(r, f"instances[{i}]")
                           for i, r in enumerate(rows)]
  else:
    fmt = COLUMNAR_FORMAT
    inputs = body[COLUMNAR_FORMAT]
    if isinstance(inputs, dict) and not _is_b64(inputs):
      _check_inputs(set(inputs), names)
      for k in names:
        col = inputs[k] if isinstance(inputs[k], list) else [inputs[k]]
        columns[k] = [_decode_value(v, f"inputs.{k}[{i}]")
                      for i, v in enumerate(col)]
    else:
      if len(names) != 1:
        raise ContractError("inputs must be an object naming the inputs "
                            f"{names} of a multi-input signature")
      col = inputs if isinstance(inputs, list) else [inputs]
      columns[names[0]] = [_decode_value(v, f"inputs[{i}]")
                           for i, v in enumerate(col)]
  sizes = {len(v) for v in columns.values()}
  if len(sizes) != 1:
    raise ContractError(f"inputs differ in batch size: "
                        f"{ {k: len(v) for k, v in columns.items()} }")
  return name, columns, fmt


def _check_inputs(sent: set, names: Sequence[str]) -> None:
  if sent != set(names):
    raise ContractError(
        f"input size does not match signature: {len(sent)}!={len(names)} "
        f"Sent extra: {sorted(sent - set(names))}. Missing but required: "
        f"{sorted(set(names) - sent)}.")


def _json_value(name: str, value: Any) -> Any:
  """numpy value -> TF Serving's JSON form (nested lists for tensors)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  arr = np.asarray(value)
  if arr.dtype.kind in ("S", "O"):
    flat = [b64(v) if name.endswith("_bytes") else
            (v.decode("utf-8") if isinstance(v, bytes) else str(v))
            for v in arr.reshape(-1).tolist()]
    return np.array(flat, dtype=object).reshape(arr.shape).tolist() \
        if arr.ndim else flat[0]
  if arr.dtype.kind == "f":
    return arr.astype(np.float64).tolist()
  return arr.tolist()  # bool and ints map to themselves


def encode_response(outputs: Mapping[str, Any], fmt: str) -> Dict[str, Any]:
  """Signature outputs (batched numpy) -> TF Serving's JSON response."""
  _check_format(fmt)
  cols = {k: _json_value(k, v) for k, v in sorted(outputs.items())}
  if fmt == COLUMNAR_FORMAT:
    return {"outputs": cols}
  n = len(next(iter(cols.values())))
  return {"predictions": [{k: v[i] for k, v in cols.items()}
                          for i in range(n)]}


def _signature_inputs_of(model) -> Dict[str, List[str]]:
  """{signature: [input names]} of a loaded SavedModel."""
  return {name: sorted(fn.structured_input_signature[1])
          for name, fn in model.signatures.items()}


def call_rest(model, body: Mapping[str, Any]) -> Dict[str, Any]:
  """Answers a predict body with a loaded SavedModel as TF Serving would."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  name, columns, fmt = decode_request(body, _signature_inputs_of(model))
  out = model.signatures[name](**{k: tf.constant(v, tf.string)
                                  for k, v in columns.items()})
  return encode_response({k: v.numpy() for k, v in out.items()}, fmt)


# ----------------------------------------------------------------------------
# Command line: print a body
# ----------------------------------------------------------------------------
def main(argv: Optional[Sequence[str]] = None) -> int:
  """Prints a request body for a photo (see the module docstring)."""
  parser = argparse.ArgumentParser(
      prog="python -m tfx_pipeline.serving_contract",
      description="Print a TF Serving REST predict body for a CFAN model.")
  parser.add_argument("signature", choices=("raw", "default"))
  parser.add_argument("--user", required=True)
  parser.add_argument("--image", required=True, help="JPEG/PNG file")
  parser.add_argument("--review", default="")
  parser.add_argument("--profile", default=None,
                      help="text file, one of the user's reviews per line "
                      "(raw only)")
  parser.add_argument("--format", choices=FORMATS, default=ROW_FORMAT)
  parser.add_argument("--no-normalise", action="store_true",
                      help="send the file's bytes as they are instead of "
                      "re-encoding them as cfan predict does")
  args = parser.parse_args(argv)
  with open(args.image, "rb") as fh:
    data = fh.read()
  if not args.no_normalise:
    data = reencode_image(data)
  if args.signature == "raw":
    from tfx_pipeline import predict  # pylint: disable=g-import-not-at-top
    body = raw_body([args.user], [data], [args.review],
                    [predict.read_profile(args.profile)], args.format)
  else:
    body = default_body([make_example(args.user, data, args.review)],
                        args.format)
  json.dump(body, sys.stdout)
  sys.stdout.write("\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())

"""TFX Trainer entry point ``run_fn`` (referenced by dotted path).

A thin adapter, like the TFX taxi template's ``model.py``: it reads the
Trainer's ``FnArgs``, calls the training core (:mod:`keras_model.training`:
profiles from the training split, the variant ``ModelConfig.variant`` of
:mod:`keras_model.variants` trained with its calibration rows held out, both
review protocols evaluated on the eval split, temperatures fitted), writes
``train_metrics.json`` into ``fn_args.model_run_dir`` (the Trainer's
``model_run`` artifact) and exports the hermetic serving SavedModel to
``fn_args.serving_model_dir``.

``custom_config`` keys: ``MODEL_CONFIG_KEY`` (the whole ``ModelConfig``, its
Transform and Trainer parts, as a flat dict; default the ``DEFAULT_CONFIG``
preset; Transform gets only the Transform part) and, optionally,
``EARLY_STOPPING_KEY`` (``{"validation_fraction": f, "patience": n}``: early
stopping on a share of the *training* rows; off by default).
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, Optional

import tensorflow as tf
import tensorflow_transform as tft

from keras_model import inputs
from keras_model import training
from preprocessing import config as cfg_lib
from preprocessing.config import ModelConfig

TRAIN_METRICS_FILE = "train_metrics.json"
MODEL_CONFIG_KEY = cfg_lib.MODEL_CONFIG_KEY
EARLY_STOPPING_KEY = "early_stopping"


def model_config_from(custom_config: Optional[Dict[str, Any]]) -> ModelConfig:
  """The ``ModelConfig`` of a Trainer's custom_config (default preset)."""
  custom_config = custom_config or {}
  if MODEL_CONFIG_KEY in custom_config:
    return ModelConfig.from_dict(custom_config[MODEL_CONFIG_KEY])
  return cfg_lib.get_config(cfg_lib.DEFAULT_CONFIG)


def _fit_options(fn_args, cfg: ModelConfig) -> training.FitOptions:
  import keras  # pylint: disable=g-import-not-at-top
  early = (fn_args.custom_config or {}).get(EARLY_STOPPING_KEY) or {}
  return training.FitOptions(
      steps=int(fn_args.train_steps or cfg.train_steps),
      holdout_calibration=True,
      validation_fraction=float(early.get("validation_fraction", 0.0)),
      patience=early.get("patience"),
      callbacks=[keras.callbacks.TensorBoard(
          log_dir=fn_args.model_run_dir, update_freq="epoch",
          write_graph=False)],
      verbose=2)


def _write_metrics(path: str, trained: training.Trained,
                   results: Dict[str, Any], calib: Dict[str, Any]) -> None:
  with tf.io.gfile.GFile(path, "w") as fh:
    json.dump({"config": trained.cfg.to_dict(),
               "variant": trained.variant.name,
               "bpr_threshold": trained.threshold,
               "train_examples": trained.rows["fit"],
               "calibration_examples": trained.rows["calibration"],
               "validation_examples": trained.rows["validation"],
               "calibration": calib, "steps": trained.steps,
               "eval": results, "history": trained.history}, fh, indent=2)


def run_fn(fn_args) -> None:
  """TFX Trainer callback (``tfx.components.FnArgs``)."""
  cfg = model_config_from(fn_args.custom_config)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  vocab = inputs.Vocab(tft_output, cfg)
  trained = training.train(
      inputs.Rows.from_files(fn_args.train_files, tft_output), vocab, cfg,
      _fit_options(fn_args, cfg))
  # The held-out reviews: warm images' in the training split (marked held
  # out there, never trained on), cold images' in the eval split.
  results = training.evaluate_protocols(
      trained, inputs.Rows.from_files(
          list(fn_args.train_files) + list(fn_args.eval_files), tft_output,
          held_out=True))
  logging.info("eval (both protocols): %s", results)
  calib = training.fit_calibration(trained, vocab)
  logging.info("calibration: %s", calib)
  os.makedirs(fn_args.model_run_dir, exist_ok=True)
  _write_metrics(os.path.join(fn_args.model_run_dir, TRAIN_METRICS_FILE),
                 trained, results, calib)
  training.export(trained, tft_output, vocab, calib,
                  fn_args.serving_model_dir)

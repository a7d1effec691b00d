"""Evaluator user module (``module_path``): load the model with its text ops.

The exported model tokenises with tensorflow-text, whose ops must be
registered before the SavedModel is loaded — in the Evaluator's process and in
every Beam worker that builds the model. TFMA calls this hook instead of
``tfma.default_eval_shared_model``; the loader it returns imports
tensorflow_text wherever it runs.
"""
from __future__ import annotations

from preprocessing import keras_env as _keras_env  # noqa: F401
import tensorflow_model_analysis as tfma


def _with_text_ops(construct_fn):
  def construct():
    import tensorflow_text  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    return construct_fn()
  return construct


def custom_eval_shared_model(eval_saved_model_path, model_name, eval_config,
                             **kwargs):
  import tensorflow_text  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  shared = tfma.default_eval_shared_model(
      eval_saved_model_path=eval_saved_model_path, model_name=model_name,
      eval_config=eval_config, **kwargs)
  loader = shared.model_loader
  return shared._replace(model_loader=tfma.types.ModelLoader(
      construct_fn=_with_text_ops(loader.construct_fn), tags=loader.tags))

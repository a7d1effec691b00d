"""Names the pipeline refers to by string (taxi template's ``configs.py``).

TFX loads the Transform and Trainer code and the Evaluator's module in
their own processes from these dotted names, so ``pipeline.py`` never imports
the model code itself.
"""
from __future__ import annotations

PIPELINE_NAME = "cfan-aesthetics"
PREPROCESSING_FN = "preprocessing.transform.preprocessing_fn"
RUN_FN = "keras_model.trainer.run_fn"
EVALUATOR_MODULE = "tfx_pipeline.evaluator_module"

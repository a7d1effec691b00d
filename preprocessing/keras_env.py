"""The one place that decides which Keras the whole system runs on.

Decision (see BUILD.md, "Keras"): **Keras 3** (``TF_USE_LEGACY_KERAS=0``).
The model code imports ``keras`` (3.x) directly; tensorflow-transform keeps
using ``tf_keras`` for its own TransformFeaturesLayer, which we only ever
attach to a ``tf.Module`` at export time, so the two never mix inside a model.

TensorFlow reads ``TF_USE_LEGACY_KERAS`` once, the first time ``tf.keras`` is
touched, and tensorflow-transform *sets it to 1 on import* when it is unset.
Every package of this project therefore imports this module first, so the
variable is fixed before TensorFlow or Transform can be imported, in the
driver process and in every Beam worker that unpickles our functions.
"""
import os
import sys
import warnings

KERAS_ENV_VAR = "TF_USE_LEGACY_KERAS"
KERAS_ENV_VALUE = "0"


def pin_keras() -> None:
  """Forces Keras 3 for this process (and its children, which inherit env)."""
  current = os.environ.get(KERAS_ENV_VAR)
  if current is not None and current != KERAS_ENV_VALUE:
    warnings.warn(
        f"{KERAS_ENV_VAR}={current} is overridden to {KERAS_ENV_VALUE}: this "
        "project runs on Keras 3 (see BUILD.md).", RuntimeWarning, stacklevel=2)
  if "tensorflow" in sys.modules and current not in (None, KERAS_ENV_VALUE):
    warnings.warn("TensorFlow was imported before the Keras choice was pinned; "
                  "import this project's packages first.", RuntimeWarning,
                  stacklevel=2)
  os.environ[KERAS_ENV_VAR] = KERAS_ENV_VALUE
  # Quieter TF start-up logs unless the user asked for them.
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  # google-api-core nags about Python 3.10 on every import; TFX 1.16 cannot
  # run on a newer Python (see BUILD.md), so the nag carries no information.
  warnings.filterwarnings("ignore", category=FutureWarning,
                          module=r"google\.api_core\..*")


pin_keras()

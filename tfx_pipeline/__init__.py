"""TFX pipeline definition, runners and the ``cfan`` command line."""
from preprocessing import keras_env as _keras_env  # noqa: F401  (must be first)

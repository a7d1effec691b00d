"""Keras 3 functional models (CFAN and its family), training and signatures."""
from preprocessing import keras_env as _keras_env  # noqa: F401  (must be first)

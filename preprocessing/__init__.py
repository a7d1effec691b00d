"""AVA-review readers, rating recovery (paper §4.1), Beam jobs, Transform."""
from preprocessing import keras_env as _keras_env  # noqa: F401  (must be first)

"""Bottom layer: metric and floor definitions (numpy only, no TF, no TFX).

Everything that reports a number about predictions (the Trainer, the run
report, the experiments, the benchmarks, the demo generator) imports its
definition from :mod:`evaluation.metrics`; nothing here imports the project's
other packages except the data contract.
"""

# Pipeline image for Kubeflow Pipelines / Vertex AI and for Beam workers
# (Dataflow --sdk_container_image, Flink/Spark DOCKER environment).
#
# Based on the official TFX 1.16 image, which already carries Python 3.10,
# TFX 1.16 and its stack; the project's own lock is installed on top so the
# container runs exactly what local runs and CI run.
#   docker build -t REGISTRY/cfan:VERSION .
#   docker push REGISTRY/cfan:VERSION
FROM gcr.io/tfx-oss-public/tfx:1.16.0

# Same Keras as local runs (see BUILD.md, "Keras"): set before any TF import.
ENV TF_USE_LEGACY_KERAS=0 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONUNBUFFERED=1

WORKDIR /pipeline
COPY pyproject.toml uv.lock README.md ./
COPY preprocessing ./preprocessing
COPY keras_model ./keras_model
COPY tfx_pipeline ./tfx_pipeline

# Install the locked dependency set into the image's interpreter, then the
# project itself (importable by the dotted paths the pipeline references:
# preprocessing.transform.preprocessing_fn, keras_model.trainer.run_fn, ...).
RUN python -m pip install --no-cache-dir "uv>=0.4" \
 && uv export --frozen --no-dev --no-hashes --no-emit-project -o /tmp/requirements.txt \
 && uv pip install --system --no-cache -r /tmp/requirements.txt \
 && uv pip install --system --no-cache --no-deps . \
 && python -c "import preprocessing, tfx, tensorflow_text, keras; print('tfx', tfx.__version__, 'keras', keras.__version__)"

# The base image's ENTRYPOINT is left as it is. To use this image as a Beam
# worker (--sdk_container_image), the entrypoint must be Beam's SDK harness
# boot (/opt/apache/beam/boot): check with `docker inspect` and, if the base
# image differs, build a worker variant with that ENTRYPOINT (see BUILD.md).

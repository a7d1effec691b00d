"""CFAN: Collaborative Filtering Attentive aesthetic Network (paper §3.1).

``build_cfan`` composes ``keras_model.blocks`` into the paper's network:

  f_v       = CNN(image)                                   (VGG-16, §3.1)
  h_uv      = BiGRU(review)                                (Eq. 3-4)
  a_uv      = softmax_ij(sigmoid(W_k h + b_k) * f_v)       (Eq. 5)
  q_v^i     = q_v ⊙ (W^i · sum_ij a_uv^ij f_v^ij)          (Eq. 1)
  y_hat_uv  = sigmoid(f(gamma_u, q_v^i))                   (Eq. 2)
  z_hat_v   = softmax(MLP([GAP(f_v), q_v]))                (tag task)
  beta_hat_v= sigmoid(MLP([GAP(f_v), q_v]))                (user-agnostic task)

trained with the weighted sum of Eq. 6 (``compile_cfan``). ``tasks`` selects
CFAN-1task (personal), -2task (+tag) or -3task (+agnostic).

Usage (the attention output has no label, so training runs on a weight-sharing
view of the model without it; see ``training_view``):

  model = build_cfan(cfg, num_users=..., num_images=..., num_tags=...,
                     review_vocab_size=...)
  train_model = compile_cfan(model, cfg)
  train_model.fit(ds)   # labels: task_labels(train_model, labels)
  export(model)         # all four outputs, trained weights
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional

from preprocessing import keras_env as _keras_env  # noqa: F401  (must be first)

import keras
import tensorflow as tf

from keras_model import blocks
from preprocessing.config import ModelConfig
from preprocessing.features import AGNOSTIC_OUTPUT
from preprocessing.features import ATTENTION_OUTPUT
from preprocessing.features import IMAGE_ID_XF
from preprocessing.features import PERSONAL_OUTPUT
from preprocessing.features import REVIEW_XF
from preprocessing.features import TAG_OUTPUT
from preprocessing.features import USER_XF

MIXED_PRECISION_MODES = ("auto", "on", "off")
OPTIMIZERS = ("sgd", "adam")
TASK_OUTPUTS = {
    1: (PERSONAL_OUTPUT,),
    2: (PERSONAL_OUTPUT, TAG_OUTPUT),
    3: (PERSONAL_OUTPUT, TAG_OUTPUT, AGNOSTIC_OUTPUT),
}


# --------------------------------------------------------------------------
# Accelerator helpers
# --------------------------------------------------------------------------


def _visible_gpus() -> List:
  return tf.config.list_logical_devices("GPU")


def configure_precision(cfg: ModelConfig) -> str:
  """Sets (and returns) the global Keras dtype policy for ``cfg``.

  "mixed_float16" when a GPU is visible and cfg.mixed_precision is "auto" or
  "on"; "float32" otherwise ("on" without a GPU falls back with a warning).
  Call before building the model. The model's final activations are float32
  and Keras wraps the optimizer in a LossScaleOptimizer at compile time.
  """
  mode = cfg.mixed_precision
  if mode not in MIXED_PRECISION_MODES:
    raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION_MODES},"
                     f" got {mode!r}")
  policy = "float32"
  if mode in ("auto", "on"):
    if _visible_gpus():
      policy = "mixed_float16"
    elif mode == "on":
      logging.warning("mixed_precision='on' but no GPU is visible; "
                      "using float32.")
  keras.mixed_precision.set_global_policy(policy)
  return policy


def distribution_strategy() -> tf.distribute.Strategy:
  """MirroredStrategy when at least one GPU is visible, else the default."""
  if _visible_gpus():
    return tf.distribute.MirroredStrategy()
  return tf.distribute.get_strategy()


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------


def build_cfan(cfg: ModelConfig,
               *,
               num_users: int,
               num_images: int,
               num_tags: int,
               review_vocab_size: int,
               tasks: int = 3,
               allow_random_init: bool = False) -> keras.Model:
  """Builds CFAN-{tasks}task as a Keras functional model.

  Args:
    cfg: model configuration (``preprocessing.config``).
    num_users: size of the user index, OOV buckets included.
    num_images: size of the image index, OOV buckets included.
    num_tags: number of semantic tag classes (tag head width).
    review_vocab_size: number of distinct review token ids, i.e. the largest
      id + 1 (PAD, words and OOV buckets included).
    tasks: 1 (personal), 2 (+ tag) or 3 (+ user-agnostic), Eq. 6.
    allow_random_init: let the vgg16 backbone start from random weights when
      no local ImageNet weights exist (tests only).

  Returns:
    A model with dict inputs {USER_XF: int64 [B], IMAGE_ID_XF: int64 [B],
    IMAGE_PIXELS_KEY: float32 [U, S, S, 3] (0..255, the batch's distinct
    images), IMAGE_SLOT_KEY: int64 [B] (each row's image among them),
    REVIEW_XF: int64 [B, T]} (any T) and dict outputs {PERSONAL_OUTPUT: [B, 1],
    ATTENTION_OUTPUT: [B, h, w], TAG_OUTPUT: [B, num_tags] (tasks >= 2),
    AGNOSTIC_OUTPUT: [B, 1] (tasks == 3)}, all float32.
  """
  if tasks not in TASK_OUTPUTS:
    raise ValueError(f"tasks must be 1, 2 or 3, got {tasks!r}")
  if tasks >= 2 and num_tags < 2:
    raise ValueError(f"num_tags must be >= 2 for the tag head, got {num_tags}")

  inputs = blocks.model_inputs(cfg)
  # f_v: CNN feature map.
  backbone = blocks.image_backbone(cfg, allow_random_init=allow_random_init)
  f_v = blocks.row_features(backbone, inputs)
  # gamma_u, q_v: id embeddings of dimension k.
  k = cfg.embedding_dim
  gamma_u, q_v = blocks.user_and_image_embeddings(cfg, inputs, num_users,
                                                  num_images)
  # Eq. 3-4: review annotations, pooled to one vector.
  _, review_vec = blocks.review_encoder(cfg, review_vocab_size)(
      inputs[REVIEW_XF])
  # Eq. 5: review-image attention.
  attended, attention = blocks.ReviewImageAttention(
      name="review_image_attention")([f_v, review_vec])
  # Eq. 1-2: merge and interaction -> personal rating.
  q_vi = blocks.merge_visual(q_v, attended, name="merge")
  logit = blocks.interaction(gamma_u, q_vi, hidden_units=cfg.hidden_units,
                             dropout=cfg.dropout)
  outputs: Dict[str, keras.KerasTensor] = {
      PERSONAL_OUTPUT: blocks.personal_head(logit),
      ATTENTION_OUTPUT: blocks.float32_output(attention, name=ATTENTION_OUTPUT),
  }
  # Multi-task heads on user-free image features.
  if tasks >= 2:
    head_units = cfg.hidden_units[-1] if cfg.hidden_units else k
    image_feats = blocks.image_side_features(f_v, q_v)
    outputs[TAG_OUTPUT] = blocks.tag_head(
        image_feats, num_tags, hidden_units=head_units, dropout=cfg.dropout)
    if tasks >= 3:
      outputs[AGNOSTIC_OUTPUT] = blocks.agnostic_head(
          image_feats, hidden_units=head_units, dropout=cfg.dropout)
  return keras.Model(inputs=inputs, outputs=outputs, name=f"cfan_{tasks}task")


# --------------------------------------------------------------------------
# Training set-up: Eq. 6
# --------------------------------------------------------------------------


def learning_rate_schedule(
    cfg: ModelConfig) -> keras.optimizers.schedules.LearningRateSchedule:
  """lr * rate ** floor(step / steps) (paper §4: 0.005, 0.99, 1000)."""
  return keras.optimizers.schedules.ExponentialDecay(
      cfg.learning_rate, decay_steps=cfg.lr_decay_steps,
      decay_rate=cfg.lr_decay_rate, staircase=True)


def make_optimizer(cfg: ModelConfig) -> keras.optimizers.Optimizer:
  """SGD (momentum cfg.momentum, paper) or Adam, on the decayed schedule."""
  lr = learning_rate_schedule(cfg)
  if cfg.optimizer == "sgd":
    return keras.optimizers.SGD(learning_rate=lr, momentum=cfg.momentum)
  if cfg.optimizer == "adam":
    return keras.optimizers.Adam(learning_rate=lr)
  raise ValueError(f"optimizer must be one of {OPTIMIZERS}, "
                   f"got {cfg.optimizer!r}")


def loss_weights(cfg: ModelConfig) -> Dict[str, float]:
  """Eq. 6 weights: 1 (personal), lambda_z (tag), lambda_beta (agnostic)."""
  return {PERSONAL_OUTPUT: 1.0, TAG_OUTPUT: cfg.lambda_z,
          AGNOSTIC_OUTPUT: cfg.lambda_beta}


def model_task_outputs(model: keras.Model) -> List[str]:
  """The task outputs (those with a loss) that ``model`` has, in Eq. 6 order."""
  names = model.output.keys() if isinstance(model.output, dict) else (
      model.output_names)
  return [n for n in TASK_OUTPUTS[3] if n in names]


def training_view(model: keras.Model) -> keras.Model:
  """``model`` restricted to its task outputs (weights shared, not copied).

  Keras 3.12 pairs dict labels with dict outputs by position after dropping
  the outputs that have no label, so an extra label-less output (the
  attention map, which sorts first) silently shifts every compiled metric
  onto the wrong head (losses are unaffected; keras-team/keras#21675,
  #22625). Training a view without ATTENTION_OUTPUT avoids that; the full
  model keeps every output for export and sees the same trained weights.
  """
  heads = model_task_outputs(model)
  outputs = model.output
  if not isinstance(outputs, dict) or set(outputs) == set(heads):
    return model
  return keras.Model(inputs=model.input,
                     outputs={h: outputs[h] for h in heads},
                     name=f"{model.name}_train")


def task_labels(model: keras.Model, labels: Dict) -> Dict:
  """The entries of a label dict that ``model`` has a head (and loss) for."""
  return {h: labels[h] for h in model_task_outputs(model)}


def compile_cfan(model: keras.Model,
                 cfg: ModelConfig,
                 optimizer: Optional[keras.optimizers.Optimizer] = None
                 ) -> keras.Model:
  """Compiles CFAN with the loss of Eq. 6; returns the model to ``fit``.

  Losses: binary CE on PERSONAL_OUTPUT, lambda_z * sparse categorical CE on
  TAG_OUTPUT, lambda_beta * binary CE on AGNOSTIC_OUTPUT (for the heads the
  model has); none on ATTENTION_OUTPUT. Metrics: binary accuracy + AUC on
  the personal/agnostic heads, accuracy on the tag head. ``cfg.xla`` ->
  ``jit_compile``.

  Returns:
    The compiled training model: ``training_view(model)``, i.e. ``model``
    without its attention output but sharing all its weights (``model``
    itself when it has only task outputs). Fit the returned model with
    labels {PERSONAL_OUTPUT: [B, 1] 0/1, TAG_OUTPUT: [B] int class id,
    AGNOSTIC_OUTPUT: [B, 1] 0/1} restricted to its heads (``task_labels``),
    then export ``model``: it carries the trained weights.
  """
  train_model = training_view(model)
  heads = model_task_outputs(train_model)
  weights = loss_weights(cfg)
  losses = {}
  metrics = {}
  for head in heads:
    if head == TAG_OUTPUT:
      losses[head] = keras.losses.SparseCategoricalCrossentropy()
      metrics[head] = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    else:
      losses[head] = keras.losses.BinaryCrossentropy()
      metrics[head] = [keras.metrics.BinaryAccuracy(name="accuracy"),
                       keras.metrics.AUC(name="auc")]
  if optimizer is None:
    optimizer = make_optimizer(cfg)
  if (model.dtype_policy.name == "mixed_float16" and
      not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
    # Keras only wraps when the compiled model's own policy is mixed; the
    # view may have been created under another global policy.
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
  train_model.compile(
      optimizer=optimizer,
      loss=losses,
      loss_weights={h: weights[h] for h in heads},
      metrics=metrics,
      jit_compile=bool(cfg.xla))
  return train_model

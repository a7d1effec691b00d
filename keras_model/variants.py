"""The model family of the paper's comparison (Fig. 7, 8, 9), one registry.

Every variant is built from the blocks CFAN uses (``keras_model.blocks``) and
selected by name (``ModelConfig.variant``, ``cfan experiment --variants``):

=================  =======================================================
name               model
=================  =======================================================
``bpr``            BPR (Rendle et al.): x_ui = beta_i + gamma_u . gamma_i,
                   trained pairwise, -log sigma(x_ui - x_uj).
``vbpr``           VBPR (He & McAuley): BPR + theta_u . (E f_v) +
                   beta' . f_v, f_v = GAP of the same image backbone as CFAN.
``cfn-pure-2task`` ids only: Eq. 2 on (gamma_u, q_v) + the tag head.
``cfn-1task``      ids + image: Eq. 1 with GAP(f_v) instead of the
                   attended vector, Eq. 2, personal head only.
``cfan-1task``     ``build_cfan(tasks=1)``: + review and attention (Eq. 3-5).
``cfan-2task``     ``build_cfan(tasks=2)``: + tag head.
``cfan-3task``     ``build_cfan(tasks=3)``: + user-agnostic head (Eq. 6).
``mtrl-cnn``       image only, no users (MTRLCNN-like): aesthetic b_v head
                   + tag head on GAP(f_v); the user-agnostic baseline of
                   Fig. 7.
``residual``       not in the paper: vote-distribution CNN (NIMA-style,
                   once per image) + per-user leniency and taste over the
                   attributes the critiques name, tag and vote statistics
                   (:mod:`keras_model.residual`); the ``cpu`` default,
                   best on held-out pairs (docs/model_quality.md).
=================  =======================================================

Every builder has the signature of ``build_cfan`` and returns a functional
model whose inputs are the subset of the data contract it reads and whose
outputs are the heads it has (``PERSONAL_OUTPUT`` / ``TAG_OUTPUT`` /
``AGNOSTIC_OUTPUT`` / ``ATTENTION_OUTPUT``). The serving export fills the
heads a variant lacks with the uniform distribution
(``keras_model.signatures.complete_outputs``).

BPR and VBPR with binary good/bad labels
----------------------------------------
BPR learns from pairs "u prefers i to j". Here:

* a *positive* is a training example (u, i) with s_ui = 1;
* its *negative* j is drawn uniformly from the images u rated bad (s_uj = 0)
  in the training data when u has any, else uniformly from all training
  images that u did not rate good (the paper: "for each positive feedback,
  a negative sample is randomly generated");
* every epoch visits every positive once with a fresh negative.

The pairwise loss is ``-log sigma(x_ui - x_uj)`` (BPR-Opt) plus an L2 penalty
``BPR_L2`` on the factors of the triple. x_ui ranks images but has no
probability scale, so the scoring model outputs ``sigma(x_ui - t)`` where the
threshold t (a non-trainable ``ScoreOffset`` weight) is chosen *on the
training examples* to maximise training accuracy of ``x_ui >= t``
(``best_threshold``). AUC does not depend on t; accuracy at 0.5 is the
accuracy of that training-chosen threshold.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from preprocessing import keras_env as _keras_env  # noqa: F401  (must be first)

import keras
from keras import layers
from keras import ops
import numpy as np
import tensorflow as tf

from keras_model import blocks
from keras_model import cfan
from keras_model import residual
from keras_model import signatures
from preprocessing import transform as transform_lib
from preprocessing.config import ModelConfig
from preprocessing.features import AGNOSTIC_OUTPUT
from preprocessing.features import ATTENTION_OUTPUT
from preprocessing.features import IMAGE_ID_XF
from preprocessing.features import IMAGE_PIXELS_KEY
from preprocessing.features import IMAGE_SLOT_KEY
from preprocessing.features import IMAGE_XF
from preprocessing.features import LABEL_KEY
from preprocessing.features import PERSONAL_OUTPUT
from preprocessing.features import REVIEW_XF
from preprocessing.features import TAG_OUTPUT
from preprocessing.features import USER_XF

_PACKAGE = "cfan"
DEFAULT_VARIANT = "cfan-3task"

# BPR factors start small (Rendle et al. draw them from N(0, 0.1^2)).
BPR_INIT_STDDEV = 0.1
# L2 weight per triple on gamma_u, gamma_i, gamma_j, beta_i, beta_j (and
# theta_u for VBPR): lambda_Theta of BPR-Opt.
BPR_L2 = 1e-3
# Inputs of the negative image of a BPR triple (u, i, j).
NEG_IMAGE_ID = "neg_" + IMAGE_ID_XF
NEG_PIXELS = "neg_" + IMAGE_PIXELS_KEY
NEG_SLOT = "neg_" + IMAGE_SLOT_KEY
PAIRWISE_OUTPUT = "x_uij"
# Name of the x_ui sub-model inside a BPR/VBPR scoring model.
BPR_CORE = "x_ui"
# Factor embeddings of the x_ui sub-model: user side, image side.
_USER_FACTORS = ("user_factors", "user_visual_factors")
_IMAGE_FACTORS = ("image_factors", "image_bias")
# Columns of the transformed examples the pairwise sampler needs.
PAIRWISE_COLUMNS = (USER_XF, IMAGE_ID_XF, LABEL_KEY, IMAGE_XF)
# Tries to draw a random negative the user did not rate good.
_NEGATIVE_RETRIES = 10


# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class VariantBuilder:
  """A named model builder and how it is trained.

  Attributes:
    name: registry key (``ModelConfig.variant``).
    label: name used in the paper's figures.
    build_fn: ``build_fn(cfg, *, num_users, num_images, num_tags,
      review_vocab_size, allow_random_init=False) -> keras.Model`` (the
      builder is also callable itself with the same arguments).
    pairwise: trained on BPR triples (``pairwise_training_model``) instead
      of the pointwise loss of Eq. 6 (``cfan.compile_cfan``).
    uses_review: reads REVIEW_XF (trained with own review or profile).
    uses_pixels: reads IMAGE_PIXELS_KEY (has the image backbone).
    description: one line for tables and ``--help``.
    staged_fit: trains itself in stages instead of one ``fit`` of the
      compiled model: ``staged_fit(model, fit_cols, val_cols, cfg, *,
      steps, num_images, progress) -> history`` on numpy columns of the training
      rows (``keras_model.residual.fit_staged``); None for the others.
      Returns (history, batches run).
    staged_columns: the transformed columns ``staged_fit`` reads.
    staged_image_columns: the image-level columns ``staged_fit`` reads of
      the training images with votes and no review (its ``vote_only``
      argument); () for a fit that has no use for them.
  """
  name: str
  label: str
  build_fn: Callable[..., keras.Model]
  pairwise: bool
  uses_review: bool
  uses_pixels: bool
  description: str
  staged_fit: Optional[Callable[..., Tuple[Dict[str, list], int]]] = None
  staged_columns: Tuple[str, ...] = ()
  staged_image_columns: Tuple[str, ...] = ()

  def __call__(self, cfg: ModelConfig, **sizes) -> keras.Model:
    return self.build_fn(cfg, **sizes)

  @property
  def train_mode(self) -> str:
    """``trainer.model_dataset`` mode for training: "mixed" or "given".

    Variants that ignore the review need no profile on the training path.
    """
    return "mixed" if self.uses_review else "given"


def _cfan_builder(tasks: int) -> Callable[..., keras.Model]:
  def build(cfg: ModelConfig, *, num_users: int, num_images: int,
            num_tags: int, review_vocab_size: int,
            allow_random_init: bool = False) -> keras.Model:
    return cfan.build_cfan(cfg, num_users=num_users, num_images=num_images,
                           num_tags=num_tags,
                           review_vocab_size=review_vocab_size, tasks=tasks,
                           allow_random_init=allow_random_init)
  return build


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ScoreOffset(layers.Layer):
  """x - t with a non-trainable threshold t (BPR/VBPR calibration).

  ``sigmoid(x_ui - t) >= 0.5`` iff ``x_ui >= t``: t is the decision
  threshold chosen on the training data (``best_threshold``). Computed in
  float32.
  """

  def build(self, input_shape):
    self.threshold = self.add_weight(name="threshold", shape=(),
                                     initializer="zeros", trainable=False,
                                     dtype="float32")

  def call(self, x):
    return ops.cast(x, "float32") - self.threshold

  def compute_output_shape(self, input_shape):
    return input_shape

  def compute_output_spec(self, x):
    return keras.KerasTensor(x.shape, dtype="float32")


def _head_units(cfg: ModelConfig) -> int:
  return cfg.hidden_units[-1] if cfg.hidden_units else cfg.embedding_dim


def _bpr_score_model(cfg: ModelConfig, *, num_users: int, num_images: int,
                     visual: bool, allow_random_init: bool,
                     name: str) -> keras.Model:
  """x_ui of BPR (visual=False) or VBPR (visual=True), a raw logit [B, 1].

  BPR (Rendle et al. 2009, matrix-factorisation predictor with item bias):
    x_ui = beta_i + gamma_u . gamma_i
  VBPR (He & McAuley 2016, Eq. 2):
    x_ui = beta_i + gamma_u . gamma_i + theta_u . (E f_v) + beta' . f_v
  The global and user biases of the papers cancel in x_ui - x_uj and are
  omitted. f_v is GAP of ``blocks.image_backbone`` (the CFAN CNN, trained end
  to end here rather than frozen).
  """
  k = cfg.embedding_dim
  inputs = blocks.model_inputs(cfg, pixels=visual, review=False)
  user, image = inputs[USER_XF], inputs[IMAGE_ID_XF]
  gamma_u = blocks.id_embedding(num_users, k, name="user_factors",
                                stddev=BPR_INIT_STDDEV)(user)
  gamma_i = blocks.id_embedding(num_images, k, name="image_factors",
                                stddev=BPR_INIT_STDDEV)(image)
  beta_i = blocks.id_embedding(num_images, 1, name="image_bias",
                               stddev=BPR_INIT_STDDEV)(image)
  terms = [beta_i, layers.Dot(axes=-1, name="mf")([gamma_u, gamma_i])]
  if visual:
    backbone = blocks.image_backbone(cfg, allow_random_init=allow_random_init)
    f_v = blocks.global_visual(blocks.row_features(backbone, inputs))
    theta_u = blocks.id_embedding(num_users, k, name="user_visual_factors",
                                  stddev=BPR_INIT_STDDEV)(user)
    e_f = layers.Dense(k, use_bias=False, name="visual_projection_e")(f_v)
    terms.append(layers.Dot(axes=-1, name="visual_mf")([theta_u, e_f]))
    terms.append(layers.Dense(1, use_bias=False, name="visual_bias")(f_v))
  x_ui = layers.Add(name="x_ui_sum")(terms)
  return keras.Model(inputs=inputs, outputs=x_ui, name=name)


def _build_bpr_family(visual: bool, name: str) -> Callable[..., keras.Model]:
  def build(cfg: ModelConfig, *, num_users: int, num_images: int,
            num_tags: int, review_vocab_size: int,
            allow_random_init: bool = False) -> keras.Model:
    del num_tags, review_vocab_size  # BPR has no tag head and no review.
    core = _bpr_score_model(cfg, num_users=num_users, num_images=num_images,
                            visual=visual,
                            allow_random_init=allow_random_init,
                            name=BPR_CORE)
    inputs = {k: keras.Input(shape=v.shape[1:], dtype=v.dtype, name=k)
              for k, v in core.input.items()}
    logit = ScoreOffset(name="calibration")(core(inputs))
    return keras.Model(inputs=inputs,
                       outputs={PERSONAL_OUTPUT: blocks.personal_head(logit)},
                       name=name)
  return build


def build_cfn_pure_2task(cfg: ModelConfig, *, num_users: int,
                         num_images: int, num_tags: int,
                         review_vocab_size: int,
                         allow_random_init: bool = False) -> keras.Model:
  """CFN-pure-2task: ids only. y_uv = sigma(f(gamma_u, q_v)) (Eq. 2 without
  Eq. 1's visual merge) and the tag head on q_v (Eq. 6, tasks 1-2).

  q_v is drawn from the paper's N(0, 1): CFAN's ``image_embedding_mean``
  exists to pass visual features through Eq. 1, which this model lacks.
  """
  del review_vocab_size, allow_random_init
  if num_tags < 2:
    raise ValueError(f"num_tags must be >= 2 for the tag head, got {num_tags}")
  k = cfg.embedding_dim
  inputs = blocks.model_inputs(cfg, pixels=False, review=False)
  gamma_u = blocks.id_embedding(num_users, k, name="user_embedding")(
      inputs[USER_XF])
  q_v = blocks.id_embedding(num_images, k, name="image_embedding")(
      inputs[IMAGE_ID_XF])
  logit = blocks.interaction(gamma_u, q_v, hidden_units=cfg.hidden_units,
                             dropout=cfg.dropout)
  outputs = {
      PERSONAL_OUTPUT: blocks.personal_head(logit),
      TAG_OUTPUT: blocks.tag_head(
          blocks.image_side_features(None, q_v), num_tags,
          hidden_units=_head_units(cfg), dropout=cfg.dropout),
  }
  return keras.Model(inputs=inputs, outputs=outputs, name="cfn_pure_2task")


def build_cfn_1task(cfg: ModelConfig, *, num_users: int, num_images: int,
                    num_tags: int, review_vocab_size: int,
                    allow_random_init: bool = False) -> keras.Model:
  """CFN-1task: user factors, image factors and image pixels, no review.

  q_v^i = q_v ⊙ (W^i · GAP(f_v)) (Eq. 1 with uniform instead of
  review-driven attention), y_uv = sigma(f(gamma_u, q_v^i)) (Eq. 2); only the
  personal loss (first term of Eq. 6).
  """
  del num_tags, review_vocab_size
  inputs = blocks.model_inputs(cfg, review=False)
  backbone = blocks.image_backbone(cfg, allow_random_init=allow_random_init)
  f_v = blocks.row_features(backbone, inputs)
  gamma_u, q_v = blocks.user_and_image_embeddings(cfg, inputs, num_users,
                                                  num_images)
  q_vi = blocks.merge_visual(q_v, blocks.global_visual(f_v), name="merge")
  logit = blocks.interaction(gamma_u, q_vi, hidden_units=cfg.hidden_units,
                             dropout=cfg.dropout)
  return keras.Model(inputs=inputs,
                     outputs={PERSONAL_OUTPUT: blocks.personal_head(logit)},
                     name="cfn_1task")


def build_mtrl_cnn(cfg: ModelConfig, *, num_users: int, num_images: int,
                   num_tags: int, review_vocab_size: int,
                   allow_random_init: bool = False) -> keras.Model:
  """Image-only multi-task CNN (MTRLCNN-like, Kao et al. 2017): no users.

  beta_hat_v and z_hat_v (terms 2-3 of Eq. 6) on GAP(f_v). Kao et al.'s
  task-relationship matrix is not modelled: both heads share the backbone.
  """
  del num_users, num_images, review_vocab_size
  if num_tags < 2:
    raise ValueError(f"num_tags must be >= 2 for the tag head, got {num_tags}")
  inputs = blocks.model_inputs(cfg, user=False, image_id=False, review=False)
  backbone = blocks.image_backbone(cfg, allow_random_init=allow_random_init)
  feats = blocks.image_side_features(blocks.row_features(backbone, inputs),
                                     None)
  units = _head_units(cfg)
  outputs = {
      TAG_OUTPUT: blocks.tag_head(feats, num_tags, hidden_units=units,
                                  dropout=cfg.dropout),
      AGNOSTIC_OUTPUT: blocks.agnostic_head(feats, hidden_units=units,
                                            dropout=cfg.dropout),
  }
  return keras.Model(inputs=inputs, outputs=outputs, name="mtrl_cnn")


VARIANTS: Dict[str, VariantBuilder] = {
    v.name: v for v in (
        VariantBuilder("bpr", "BPR", _build_bpr_family(False, "bpr"),
                       pairwise=True, uses_review=False, uses_pixels=False,
                       description="user/image factors, pairwise BPR loss"),
        VariantBuilder("vbpr", "VBPR", _build_bpr_family(True, "vbpr"),
                       pairwise=True, uses_review=False, uses_pixels=True,
                       description="BPR + visual factors theta_u . E f_v"),
        VariantBuilder("cfn-pure-2task", "CFN-pure-2task",
                       build_cfn_pure_2task, pairwise=False,
                       uses_review=False, uses_pixels=False,
                       description="ids only; personal + tag heads"),
        VariantBuilder("cfn-1task", "CFN-1task", build_cfn_1task,
                       pairwise=False, uses_review=False, uses_pixels=True,
                       description="ids + image (GAP); personal head"),
        VariantBuilder("cfan-1task", "CFAN-1task", _cfan_builder(1),
                       pairwise=False, uses_review=True, uses_pixels=True,
                       description="ids + image + review attention"),
        VariantBuilder("cfan-2task", "CFAN-2task", _cfan_builder(2),
                       pairwise=False, uses_review=True, uses_pixels=True,
                       description="CFAN-1task + tag head"),
        VariantBuilder("cfan-3task", "CFAN-3task", _cfan_builder(3),
                       pairwise=False, uses_review=True, uses_pixels=True,
                       description="CFAN-2task + user-agnostic head (Eq. 6)"),
        VariantBuilder("mtrl-cnn", "MTRLCNN-like", build_mtrl_cnn,
                       pairwise=False, uses_review=False, uses_pixels=True,
                       description="image only; aesthetic + tag heads"),
        VariantBuilder("residual", "Residual (crowd + user + taste)",
                       residual.build_residual, pairwise=False,
                       uses_review=False, uses_pixels=True,
                       description="vote-distribution CNN; crowd term at "
                       "the vote floor + per-user leniency, vote slope and "
                       "taste over photo descriptors (taste L2 by "
                       "cross-validation)",
                       staged_fit=residual.fit_staged,
                       staged_columns=residual.FIT_COLUMNS,
                       staged_image_columns=residual.IMAGE_COLUMNS),
    )
}


def get_variant(name: str) -> VariantBuilder:
  if name not in VARIANTS:
    raise ValueError(f"Unknown model variant {name!r}; choose from "
                     f"{sorted(VARIANTS)}")
  return VARIANTS[name]


def build_variant(name: str, cfg: ModelConfig, **sizes) -> keras.Model:
  """``VARIANTS[name](cfg, **sizes)`` with a clear error for a bad name."""
  return get_variant(name)(cfg, **sizes)


def input_names(model: keras.Model) -> List[str]:
  """Names of the data-contract inputs ``model`` reads."""
  return list(model.input.keys())


def select_inputs(model: keras.Model,
                  features: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
  """The entries of ``features`` that ``model`` takes as inputs
  (``signatures.select_model_inputs``)."""
  return signatures.select_model_inputs(model, features)


def heads(model: keras.Model) -> List[str]:
  """Task heads (personal/tag/agnostic) the model has, Eq. 6 order."""
  return cfan.model_task_outputs(model)


# --------------------------------------------------------------------------
# BPR: pairwise model, loss, sampling, calibration
# --------------------------------------------------------------------------


def bpr_loss(y_true, x_uij):
  """BPR-Opt data term: mean over triples of -log sigma(x_ui - x_uj).

  ``y_true`` is ignored (a pair is an observation, not a label); written as
  softplus(-x) = -log sigma(x), which is stable for large |x|.
  """
  del y_true
  return ops.mean(ops.softplus(-ops.cast(x_uij, "float32")))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TripleL2(layers.Layer):
  """Passes x_uij through and adds BPR-Opt's L2 term as a model loss.

  Inputs ``[x_uij [B, 1], factor_1 [B, d_1], ...]``; the added loss is
  ``l2 * mean_b sum_f ||factor_f[b]||^2`` (lambda_Theta ||Theta||^2 of the
  triple, averaged over the batch like the data term).
  """

  def __init__(self, l2: float = BPR_L2, **kwargs):
    super().__init__(**kwargs)
    self.l2 = l2

  def call(self, inputs):
    x_uij, *factors = inputs
    sq = [ops.sum(ops.square(ops.cast(f, "float32")), axis=-1)
          for f in factors]
    self.add_loss(self.l2 * ops.mean(ops.sum(ops.stack(sq, axis=0), axis=0)))
    return x_uij

  def compute_output_shape(self, input_shapes):
    return input_shapes[0]

  def get_config(self):
    config = super().get_config()
    config["l2"] = self.l2
    return config


def _core(model: keras.Model) -> keras.Model:
  """The x_ui sub-model of a BPR/VBPR scoring model."""
  return model.get_layer(BPR_CORE)


def pairwise_training_model(model: keras.Model, cfg: ModelConfig
                            ) -> keras.Model:
  """(u, i, j) -> x_uij = x_ui - x_uj, sharing every weight with ``model``.

  Inputs: USER_XF, IMAGE_ID_XF (i), NEG_IMAGE_ID (j) and, for VBPR,
  IMAGE_PIXELS_KEY/IMAGE_SLOT_KEY (the batch's distinct i images, each
  triple's i among them) and NEG_PIXELS/NEG_SLOT (the same for j). ``bpr_loss`` on the output plus
  ``TripleL2`` (BPR_L2 on gamma_u, theta_u, gamma_i, beta_i, gamma_j,
  beta_j) is BPR-Opt.
  """
  del cfg  # Shapes come from the scoring model's inputs.
  core = _core(model)
  specs = core.input
  user = keras.Input(shape=(), dtype="int64", name=USER_XF)
  pos = keras.Input(shape=(), dtype="int64", name=IMAGE_ID_XF)
  neg = keras.Input(shape=(), dtype="int64", name=NEG_IMAGE_ID)
  inputs = {USER_XF: user, IMAGE_ID_XF: pos, NEG_IMAGE_ID: neg}
  pos_in = {USER_XF: user, IMAGE_ID_XF: pos}
  neg_in = {USER_XF: user, IMAGE_ID_XF: neg}
  if IMAGE_PIXELS_KEY in specs:
    shape = tuple(specs[IMAGE_PIXELS_KEY].shape[1:])
    inputs[IMAGE_PIXELS_KEY] = pos_in[IMAGE_PIXELS_KEY] = keras.Input(
        shape=shape, dtype="float32", name=IMAGE_PIXELS_KEY)
    inputs[NEG_PIXELS] = neg_in[IMAGE_PIXELS_KEY] = keras.Input(
        shape=shape, dtype="float32", name=NEG_PIXELS)
    inputs[IMAGE_SLOT_KEY] = pos_in[IMAGE_SLOT_KEY] = keras.Input(
        shape=(), dtype="int64", name=IMAGE_SLOT_KEY)
    inputs[NEG_SLOT] = neg_in[IMAGE_SLOT_KEY] = keras.Input(
        shape=(), dtype="int64", name=NEG_SLOT)
  x_uij = layers.Subtract(name="x_ui_minus_x_uj")([core(pos_in),
                                                    core(neg_in)])
  layer_names = {layer.name for layer in core.layers}
  factors = [core.get_layer(n)(user) for n in _USER_FACTORS
             if n in layer_names]
  for image in (pos, neg):
    factors += [core.get_layer(n)(image) for n in _IMAGE_FACTORS]
  x_uij = TripleL2(BPR_L2, name="bpr_l2")([x_uij] + factors)
  out = blocks.float32_output(x_uij, name=PAIRWISE_OUTPUT)
  return keras.Model(inputs=inputs, outputs={PAIRWISE_OUTPUT: out},
                     name=f"{model.name}_pairwise")


def sample_bpr_triples(users: np.ndarray, images: np.ndarray,
                       labels: np.ndarray, *, epochs: int,
                       rng: np.random.Generator,
                       candidate_images: Optional[np.ndarray] = None
                       ) -> Dict[str, np.ndarray]:
  """BPR triples (u, i, j): each positive once per epoch, one negative each.

  Positives: examples with label 1. Negative j: uniform over u's bad-rated
  (label 0) training images when u has any; otherwise uniform over
  ``candidate_images`` (default: every training image) re-drawn up to
  _NEGATIVE_RETRIES times while u rated it good.

  Returns dict user, pos, neg (int64 [epochs * #positives]) and
  ``from_bad`` (bool: j came from u's bad ratings).
  """
  users = np.asarray(users, np.int64)
  images = np.asarray(images, np.int64)
  labels = np.asarray(labels).astype(np.int64).reshape(-1)
  pos_idx = np.flatnonzero(labels == 1)
  if pos_idx.size == 0:
    raise ValueError("BPR needs at least one positive (label 1) example.")
  if candidate_images is None:
    candidate_images = np.unique(images)
  candidate_images = np.asarray(candidate_images, np.int64)
  # CSR of bad images per user.
  bad = labels == 0
  order = np.argsort(users[bad], kind="stable")
  bad_users = users[bad][order]
  bad_images = images[bad][order]
  num_users = int(users.max()) + 1
  counts = np.bincount(bad_users, minlength=num_users)
  offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
  width = int(max(images.max(), candidate_images.max())) + 1
  good_keys = np.unique(users[labels == 1] * width + images[labels == 1])

  out_u, out_i, out_j, out_bad = [], [], [], []
  for _ in range(epochs):
    idx = rng.permutation(pos_idx)
    u, i = users[idx], images[idx]
    n_bad = counts[u]
    has_bad = n_bad > 0
    j = np.empty_like(i)
    pick = offsets[u] + np.floor(
        rng.random(len(u)) * np.maximum(n_bad, 1)).astype(np.int64)
    j[has_bad] = bad_images[pick[has_bad]]
    rand = ~has_bad
    j[rand] = rng.choice(candidate_images, size=int(rand.sum()))
    for _ in range(_NEGATIVE_RETRIES):
      clash = rand & np.isin(u * width + j, good_keys)
      if not clash.any():
        break
      j[clash] = rng.choice(candidate_images, size=int(clash.sum()))
    out_u.append(u)
    out_i.append(i)
    out_j.append(j)
    out_bad.append(has_bad)
  return {"user": np.concatenate(out_u), "pos": np.concatenate(out_i),
          "neg": np.concatenate(out_j), "from_bad": np.concatenate(out_bad)}


def image_bytes_by_index(images: np.ndarray, image_xf: np.ndarray,
                         num_images: int) -> np.ndarray:
  """Object array [num_images]: the transformed JPEG of each image index.

  Indices without an example get b"" (never sampled: negatives are drawn
  from training images only).
  """
  table = np.full(num_images, b"", dtype=object)
  images = np.asarray(images, np.int64).reshape(-1)
  _, first = np.unique(images, return_index=True)
  for idx in first:
    table[images[idx]] = image_xf[idx]
  return table


def pairwise_columns(variant: VariantBuilder) -> List[str]:
  """Transformed columns the BPR sampler reads (pixels only for VBPR)."""
  return [c for c in PAIRWISE_COLUMNS if variant.uses_pixels or c != IMAGE_XF]


def collect_columns(ds: tf.data.Dataset, columns: Sequence[str]
                    ) -> Dict[str, np.ndarray]:
  """Concatenates ``columns`` of a batched dict dataset into numpy arrays.

  1-D features ([B] or [B, 1]) come back as [N]; wider ones as [N, ...].
  """
  parts: Dict[str, List[np.ndarray]] = {c: [] for c in columns}
  for batch in ds:
    for c in columns:
      v = batch[c].numpy()
      parts[c].append(v.reshape(-1) if v.ndim <= 1 or v.shape[1:] == (1,)
                      else v)
  return {c: (np.concatenate(v) if v else np.zeros(0)) for c, v in
          parts.items()}


def _distinct_images(table: tf.Tensor, images: tf.Tensor, size: int
                     ) -> Tuple[tf.Tensor, tf.Tensor]:
  """(pixels of the distinct image indices [U, S, S, 3], slot of each [B])."""
  distinct, slot = tf.unique(images, out_idx=tf.int64)
  return (transform_lib.decode_image_xf(tf.gather(table, distinct), size),
          slot)


def pairwise_dataset(columns: Dict[str, np.ndarray], cfg: ModelConfig, *,
                     visual: bool, num_images: int, steps: int,
                     seed: int) -> tf.data.Dataset:
  """Batches ({inputs of ``pairwise_training_model``}, zeros), endless.

  ``columns`` holds PAIRWISE_COLUMNS of the training examples (1-D arrays;
  IMAGE_XF only when ``visual``, i.e. VBPR). Triples are sampled up front
  (``sample_bpr_triples``) for enough epochs to fill ``steps`` batches and
  then repeated; pixels are decoded per batch from a per-image JPEG table
  (one compact JPEG per image, not per example), once per distinct image of
  the batch (``_distinct_images``).
  """
  users = np.reshape(columns[USER_XF], [-1])
  images = np.reshape(columns[IMAGE_ID_XF], [-1])
  labels = np.reshape(columns[LABEL_KEY], [-1])
  n_pos = max(1, int((labels == 1).sum()))
  epochs = max(1, -(-steps * cfg.batch_size // n_pos))
  triples = sample_bpr_triples(users, images, labels, epochs=epochs,
                               rng=np.random.default_rng(seed))
  table = None
  if visual:
    table = tf.constant(image_bytes_by_index(
        images, np.reshape(columns[IMAGE_XF], [-1]), num_images).tolist())
  ds = tf.data.Dataset.from_tensor_slices(
      {k: triples[k] for k in ("user", "pos", "neg")})
  ds = ds.repeat().batch(cfg.batch_size, drop_remainder=True)

  def to_xy(b):
    x = {USER_XF: b["user"], IMAGE_ID_XF: b["pos"], NEG_IMAGE_ID: b["neg"]}
    if visual:
      x[IMAGE_PIXELS_KEY], x[IMAGE_SLOT_KEY] = _distinct_images(
          table, b["pos"], cfg.image_size)
      x[NEG_PIXELS], x[NEG_SLOT] = _distinct_images(table, b["neg"],
                                                    cfg.image_size)
    zeros = tf.zeros([tf.shape(b["user"])[0], 1], tf.float32)
    return x, {PAIRWISE_OUTPUT: zeros}

  return ds.map(to_xy, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
      tf.data.AUTOTUNE)


def fit_dataset(model: keras.Model, ds: tf.data.Dataset) -> tf.data.Dataset:
  """(x, y) batches of ``trainer.model_dataset`` restricted to ``model``.

  Keeps the inputs the model reads and the labels of the heads it has (Keras
  pairs dict labels with outputs by position, see ``cfan.training_view``, so
  a label without a head must not be passed).
  """
  head_names = heads(model)

  def restrict(x, y):
    return (select_inputs(model, x), {h: y[h] for h in head_names})

  return ds.map(restrict)


def best_threshold(labels: Sequence[int], scores: Sequence[float]) -> float:
  """Threshold t maximising accuracy of ``score >= t`` on (labels, scores).

  Candidates are midpoints between consecutive distinct sorted scores plus
  one below the minimum (everything positive) and one above the maximum
  (everything negative); ties in accuracy go to the lowest t.
  """
  y = np.asarray(labels).astype(np.int64).reshape(-1)
  s = np.asarray(scores, np.float64).reshape(-1)
  if s.size == 0:
    return 0.0
  uniq = np.unique(s)
  cands = np.concatenate([[uniq[0] - 1.0], (uniq[:-1] + uniq[1:]) / 2.0,
                          [uniq[-1] + 1.0]])
  pos_sorted = np.sort(s[y == 1])
  neg_sorted = np.sort(s[y == 0])
  # Correct = negatives below t + positives at or above t.
  neg_below = np.searchsorted(neg_sorted, cands, side="left")
  pos_above = len(pos_sorted) - np.searchsorted(pos_sorted, cands,
                                                side="left")
  correct = neg_below + pos_above
  return float(cands[int(np.argmax(correct))])


def set_threshold(model: keras.Model, threshold: float) -> None:
  """Stores the calibration threshold t in ``model``'s ScoreOffset layer."""
  layer = model.get_layer("calibration")
  layer.threshold.assign(float(threshold))


def fit_threshold(model: keras.Model, dataset: tf.data.Dataset) -> float:
  """Chooses and stores t on labelled (x, y) batches (the training rows).

  Returns t; afterwards ``model`` outputs sigma(x_ui - t).
  """
  scores, labels = [], []
  core = _core(model)
  for x, y in dataset:
    scores.append(np.reshape(keras.ops.convert_to_numpy(
        core(select_inputs(core, x), training=False)), [-1]))
    labels.append(np.reshape(np.asarray(y[PERSONAL_OUTPUT]), [-1]))
  t = best_threshold(np.concatenate(labels), np.concatenate(scores))
  set_threshold(model, t)
  return t


# --------------------------------------------------------------------------
# Compile
# --------------------------------------------------------------------------


def compile_variant(variant: VariantBuilder, model: keras.Model,
                    cfg: ModelConfig) -> keras.Model:
  """The compiled model to ``fit`` for ``variant`` (weights shared).

  Pointwise variants: ``cfan.compile_cfan`` (Eq. 6 restricted to the heads
  the model has). Pairwise variants: ``pairwise_training_model`` with
  ``bpr_loss``.
  """
  if not variant.pairwise:
    return cfan.compile_cfan(model, cfg)
  train_model = pairwise_training_model(model, cfg)
  optimizer = cfan.make_optimizer(cfg)
  if (train_model.dtype_policy.name == "mixed_float16" and
      not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
  train_model.compile(optimizer=optimizer,
                      loss={PAIRWISE_OUTPUT: bpr_loss},
                      jit_compile=bool(cfg.xla))
  return train_model


def evaluation_model(variant: VariantBuilder, model: keras.Model,
                     train_model: keras.Model, cfg: ModelConfig
                     ) -> keras.Model:
  """A compiled model that ``evaluate``s the heads on labelled batches.

  Pointwise: the training view itself. Pairwise: the scoring model compiled
  with the personal head's binary cross-entropy, accuracy and AUC (the
  optimizer is never stepped).
  """
  if not variant.pairwise:
    return train_model
  return cfan.compile_cfan(model, cfg)


__all__ = [
    "VARIANTS", "VariantBuilder", "get_variant", "build_variant",
    "bpr_loss", "pairwise_training_model", "sample_bpr_triples",
    "pairwise_dataset", "best_threshold", "set_threshold",
    "fit_threshold", "fit_dataset", "collect_columns", "pairwise_columns",
    "compile_variant", "evaluation_model", "input_names", "select_inputs",
    "heads", "image_bytes_by_index", "DEFAULT_VARIANT", "PAIRWISE_COLUMNS",
]

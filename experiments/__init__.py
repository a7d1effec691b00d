"""``cfan experiment``: the paper's comparison (Fig. 7, 8, 9), reproduced.

One data preparation, many models:

1. ``experiments.data``: ``cfan build-examples`` and the pipeline's own
   ExampleGen -> StatisticsGen -> SchemaGen -> Transform run **once**; the
   Transform outputs are found through ML Metadata and every transformed
   row is held in memory.
2. ``experiments.run``: every variant of ``keras_model.variants`` is trained
   in this process on the same transformed rows by the training core the
   TFX Trainer uses (``keras_model.training``), once per protocol split.
3. ``experiments.results``: scores are the Keras heads (no temperature
   scaling, no serving fallback), completed like the export; metrics and
   floors are ``evaluation.metrics``'s.
4. ``experiments.report`` and ``experiments.figures``: results.json,
   results.md and the Fig. 7/8/9 PNGs.

Protocols
---------
``paper``
    The pipeline's train/eval split (build-examples, read by ExampleGen);
    the pair's own review is given to the model (the paper's set-up).
``review-free``
    The same split and the same trained models; the review is replaced by the
    user's profile (their training reviews), which is what a deployed system
    has. Models are trained once for both (``review_free_prob`` mixing).
``cold-image``
    All transformed rows re-split by image: an image is a test image iff
    ``md5(str(image index)) mod 1000 < 1000 * EVAL_FRACTION`` (rows whose
    image is already the OOV index go to the test side). Test images never
    occur in training and are scored through the OOV image index, like a new
    photo at serving. Review-free.
``reviews-per-image``
    Fig. 9: the training rows subsampled to at most k reviews per image (a
    seeded random choice per image), for each k in ``--fig9-levels``; the
    full test split; both review modes.

Floors beside every number (``evaluation.metrics.floor_scores``, from the
training rows of each split): ``majority`` (the training majority label),
``mean_vote`` (the image's AVA mean vote), ``user_rate`` (the user's smoothed
training good-rate) and ``vote_plus_user`` (their combination).

Fig. 7 (user-agnostic accuracy per tag) is computed per test image: the
agnostic head when a variant has one, otherwise the mean of its personal head
over the image's test reviews (labelled as such).
"""
from __future__ import annotations

from typing import Iterable, List

PROTOCOLS = ("paper", "review-free", "cold-image", "reviews-per-image")
DEFAULT_VARIANTS = ("bpr", "vbpr", "cfn-pure-2task", "cfn-1task",
                    "cfan-1task", "cfan-2task", "cfan-3task", "mtrl-cnn")
FIG8_VARIANTS = ("bpr", "vbpr", "cfn-1task", "cfan-1task", "cfan-2task",
                 "cfan-3task")
FIG7_VARIANTS = ("cfn-pure-2task", "mtrl-cnn", "cfan-3task")
FIG9_VARIANTS = ("cfn-1task", "cfan-1task")
FIG9_LEVELS = (1, 2, 4, 8)
# Training steps per model when --train-steps is not given: the default
# variants x all protocols (24 models, 20 with the CNN) then need about 20
# min of user CPU on the demo data, so they finish on 2 CPU cores in < 30 min
# (docs/experiments.md); the pipeline's cpu config trains 1500.
DEFAULT_TRAIN_STEPS = 500
RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
FIG7_FILE = "fig7_agnostic_per_tag.png"
FIG8_FILE = "fig8_methods.png"
FIG9_FILE = "fig9_reviews_per_image.png"
# The floor drawn in the figures and the per-tag tables beside the models
# (``evaluation.metrics.FLOOR_NAMES``; results.md lists every floor).
FIGURE_FLOOR = "user_rate"


def ordered_variants(names: Iterable[str],
                     order: Iterable[str] = DEFAULT_VARIANTS) -> List[str]:
  """``names`` in the order of ``order`` (unknown names last, by name)."""
  rank = {n: i for i, n in enumerate(order)}
  return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))

"""The optimisation: targets computed once per scale, a small `tf.function` step, loops that yield.

The loops do no IO: they yield a `Record` per iteration and the caller writes files, bars
and plots. At each scale, record i describes the image after i updates (Adam) or the i-th
point whose loss L-BFGS evaluated; record 0 is the start, the last one the result.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from nst import lbfgs
from nst.checkpoint import LoopState
from nst.convergence import ASKED, BUDGET, CONVERGED, Averaging, StoppingRule
from nst.guided import (
    Regions,
    make_regions,
    painting_grams,
    region_targets,
    style_at_zero,
    style_layer_errors,
)
from nst.images import resize
from nst.losses import (
    content_loss,
    photo_loss,
    relative,
    temporal_loss,
    tv_loss,
)
from nst.masks import Guidance
from nst.records import Diverged, Losses, Record
from nst.scales import run_plan, scaled_styles
from nst.settings import ImageSettings, LossSettings, ModelSettings, OptimizerSettings, Settings
from nst.styles import Inputs


class Targets(NamedTuple):
    """Everything the objective compares against, computed once; all tensors (no Python floats).

    objective = α Σ_c L_c / L_c(0) + β Σ_l w_l Σ_r a_r E_l,r / E_l,r(0) + tv_weight · tv
    + photo_weight · photo + temporal_weight · temporal (a video frame's), where X(0) is the
    loss for all-zero features (see losses.relative): α, β act on relative errors. Without
    masks there is one region r, all ones, with a_r = 1, and the photo region is empty (see
    nst.guided).
    """

    content_features: tuple  # P per content layer
    content_at_zero: tuple  # L_content(0, P) per content layer
    style_grams: tuple  # A per style layer, (R, N, N): one per region (see nst.guided)
    style_at_zero: tuple  # E_l,r(0, A) per style layer, (R,)
    layer_weights: tf.Tensor  # w_l, summing to 1
    loss_weights: tf.Tensor  # (α, β, tv_weight, photo_weight, temporal_weight)
    regions: Regions  # where each style applies, where the photo stays (masks as inputs)
    # A video frame's temporal term, inputs of the step like the rest (zeros for one image):
    carried: tf.Tensor  # (1, h, w, 3) the previous frame's result warped to this frame
    consistency: tf.Tensor  # (1, h, w, 1) c: 1 where that warp is trusted, else 0


class Temporal(NamedTuple):
    """A video frame's pull towards the previous result carried along the optical flow
    (Ruder et al.; see nst.flow and nst.losses.temporal_loss)."""

    carried: np.ndarray  # (height, width, 3) pixels 0..255
    consistency: np.ndarray  # (height, width) weights c in 0..1
    weight: float  # [video] temporal_weight


def compute_targets(
    extractor: keras.Model,
    content_image: np.ndarray,
    style_images: tuple,
    model: ModelSettings,
    loss: LossSettings,
    guidance: Guidance | None = None,
    temporal: Temporal | None = None,
    session: Session | None = None,
) -> Targets:
    """The content features and style Gram matrices the generated image is pulled towards.

    The generated image has the content image's size; the style images (one per [loss]
    style_blend_weights) may have any size; `guidance` places them
    (None: the blend everywhere). `temporal`: a video frame's temporal term (None: off);
    a `session` computes the style targets once per size (without guidance) and keeps them.
    """
    # In a graph, as the loop runs it: with bfloat16 convolutions eager execution rounds
    # differently, and the content loss of the content image itself would not be 0.
    session = session if session is not None else Session(extractor)
    content = session.features(tf.constant(content_image[None]))
    content_features = tuple(content[name] for name in model.content_layers)
    key = content_image.shape if guidance is None else None  # masks: computed every time
    if key not in session.style:
        blend = loss.style_blend_weights
        regions = make_regions(guidance, content_image, blend, model.network, model.style_layers)
        painting = None if guidance is None else guidance.painting_masks
        styles = painting_grams(
            session.features, style_images, painting, model.network, model.style_layers
        )
        grams = region_targets(styles, blend, model.style_layers, regions, content)
        generated = tuple(content[name] for name in model.style_layers)
        session.style[key] = regions, grams, style_at_zero(regions, grams, generated)
    regions, style_grams, at_zero = session.style.pop(key) if key is None else session.style[key]
    return Targets(
        content_features=content_features,
        content_at_zero=tuple(content_loss(tf.zeros_like(p), p) for p in content_features),
        style_grams=style_grams,
        style_at_zero=at_zero,
        layer_weights=tf.constant(model.style_layer_weights, tf.float32),
        loss_weights=tf.constant(
            [
                loss.content_weight,
                loss.style_weight,
                loss.tv_weight,
                loss.photo_weight,
                temporal.weight if temporal else 0.0,
            ]
        ),
        regions=regions,
        **temporal_inputs(content_image.shape, temporal),
    )


def temporal_inputs(shape: tuple, temporal: Temporal | None) -> dict:
    """Targets.carried and .consistency: the frame's temporal term, or zeros (off)."""
    if temporal is None:
        return {
            "carried": tf.zeros((1, *shape), tf.float32),
            "consistency": tf.zeros((1, *shape[:2], 1), tf.float32),
        }
    return {
        "carried": tf.constant(temporal.carried[None], tf.float32),
        "consistency": tf.constant(temporal.consistency[None, ..., None], tf.float32),
    }


def make_objective(extractor: keras.Model, content_layers: tuple, style_layers: tuple):
    """A function (image batch, Targets) -> Losses of scalar tensors."""

    def objective(image: tf.Tensor, targets: Targets) -> Losses:
        features = extractor(image)
        content_terms = [
            content_loss(features[name], p)
            for name, p in zip(content_layers, targets.content_features, strict=True)
        ]
        style, relative_style = guided_style_terms(features, style_layers, targets)
        content = tf.add_n(content_terms)
        tv = tv_loss(image)
        alpha, beta, tv_weight, photo_weight, temporal_weight = tf.unstack(targets.loss_weights)
        regions = targets.regions
        total = (
            alpha
            * tf.add_n(
                [
                    relative(c, z)
                    for c, z in zip(content_terms, targets.content_at_zero, strict=True)
                ]
            )
            + beta * relative_style
            + tv_weight * tv
            + temporal_weight * temporal_loss(image, targets.carried, targets.consistency)
        )
        if regions.photo_mask is not None:  # a region kept as the photo
            total += photo_weight * photo_loss(image, regions.photo, regions.photo_mask)
        return Losses(content, style, tv, total)

    return objective


def guided_style_terms(features: dict, style_layers: tuple, targets: Targets):
    """(L_style, its relative form): Σ_l w_l Σ_r a_r E_l,r, and the same with each E_l,r
    divided by E_l,r(0); a_r the regions' weights (one all-ones region: the paper's L_style)."""
    regions = targets.regions
    errors = style_layer_errors(features, style_layers, targets.style_grams, regions)
    relatives = [relative(e, z) for e, z in zip(errors, targets.style_at_zero, strict=True)]

    def weighted(per_layer: list) -> tf.Tensor:
        per_region = tf.stack([tf.reduce_sum(regions.weights * e) for e in per_layer])
        return tf.reduce_sum(targets.layer_weights * per_region)

    return weighted(errors), weighted(relatives)


def make_step(objective, optimizer: keras.optimizers.Optimizer):
    """One Adam update of `generated` in place, and of the running average `averaged` with
    decay `average` (a scalar tensor: no retracing when it changes); returns the losses of the
    image before the update and whether the update was finite. A non-finite one is undone,
    so the image stays usable."""

    @tf.function
    def step(
        generated: tf.Variable, averaged: tf.Variable, targets: Targets, average: tf.Tensor
    ) -> tuple[Losses, tf.Tensor]:
        with tf.GradientTape() as tape:
            losses = objective(generated, targets)
        gradient = tape.gradient(losses.total, generated)
        before = generated.read_value()  # a snapshot: TF copies on the write below
        optimizer.apply_gradients([(gradient, generated)])
        after = tf.clip_by_value(generated, 0.0, 255.0)  # keep valid pixels
        # A sum is not finite when any of its terms is not: one cheap reduction, no mask.
        finite = tf.reduce_all(
            tf.math.is_finite([losses.total, tf.reduce_sum(gradient), tf.reduce_sum(after)])
        )
        generated.assign(tf.where(finite, after, before))
        # A failed update leaves the average as it was, as it leaves the iterate.
        moved = average * averaged + (1.0 - average) * generated
        averaged.assign(tf.where(finite, moved, averaged))
        return losses, finite

    return step


def make_value_and_gradient(objective):
    """(image batch, Targets) -> (Losses, d total / d image)."""

    @tf.function
    def value_and_gradient(image: tf.Tensor, targets: Targets):
        with tf.GradientTape() as tape:
            tape.watch(image)
            losses = objective(image, targets)
        return losses, tape.gradient(losses.total, image)

    return value_and_gradient


def _numbers(losses: Losses) -> Losses:
    return Losses(*(float(t) for t in losses))


def initial_image(
    content_image: np.ndarray, style_image: np.ndarray, image: ImageSettings
) -> np.ndarray:
    """The starting point: the content image, a seeded noise blend of it, or the style image
    (stretched to the content's shape)."""
    if image.init == "style":
        return resize(style_image, content_image.shape[1], content_image.shape[0]).copy()
    if image.init == "noise":
        noise = np.random.default_rng(image.seed).uniform(0, 255, content_image.shape)
        blend = (1 - image.noise_ratio) * content_image + image.noise_ratio * noise
        return blend.astype(np.float32)
    return content_image.copy()


@dataclasses.dataclass(frozen=True)
class ScaleRun:
    """What the loop at one scale needs besides the objective and the start."""

    number: int  # 1 is the smallest scale
    budget: int  # Adam steps or L-BFGS evaluations, at most
    save_every: int
    clock: Callable[[], float]  # seconds since the start of `stylize`
    stop_requested: Callable[[], bool]
    tolerance: float = 0.0  # the stopping rule (nst.convergence); 0: the whole budget
    window: int = 20
    on_state: Callable[[LoopState], None] | None = None  # told the state at each saved image

    def stopping_rule(self) -> StoppingRule:
        return StoppingRule(self.window, self.tolerance)

    def tell(self, state: Callable[[], LoopState]) -> None:
        """Hand the loop's state (made only when wanted) to `on_state`: the edge writes it."""
        if self.on_state is not None:
            self.on_state(state())


@dataclasses.dataclass
class AdamLoop:
    """Everything Adam's loop at one scale carries from step to step, so that a checkpoint
    can save and restore it: the iterate, its running average, Adam's moments (in
    `optimizer.variables`), the averaging's count and the stopping rule's window."""

    generated: tf.Variable  # (1, height, width, 3), pixels 0..255
    averaged: tf.Variable  # running sum of the iterates, see nst.convergence.Averaging
    optimizer: keras.optimizers.Adam
    averaging: Averaging
    rule: StoppingRule
    iteration: int = 0

    @classmethod
    def start(cls, start: np.ndarray, optimizer: OptimizerSettings, rule: StoppingRule):
        generated = tf.Variable(start[None])
        adam = keras.optimizers.Adam(
            learning_rate=optimizer.learning_rate,
            beta_1=optimizer.beta_1,
            beta_2=optimizer.beta_2,
            epsilon=optimizer.epsilon,
        )
        adam.build([generated])
        averaged = tf.Variable(tf.zeros_like(generated))
        return cls(generated, averaged, adam, Averaging(optimizer.average), rule)

    def checkpoint(self, scale: int, elapsed_s: float) -> LoopState:
        """Everything above as arrays (nst.checkpoint), before this iteration's update."""
        return LoopState(
            scale,
            self.iteration,
            self.generated[0].numpy(),
            tuple(v.numpy() for v in self.optimizer.variables),
            elapsed_s,
            self.averaged[0].numpy(),
            self.averaging.updates,
            tuple(self.rule.best),
        )

    def restore(self, state: LoopState) -> None:
        """Continue from a checkpoint: Adam's variables, the average, the rule, the count."""
        for variable, value in zip(
            self.optimizer.variables, state.optimizer_variables, strict=True
        ):
            variable.assign(value)
        self.averaged.assign(state.averaged[None])
        self.averaging.updates = state.averaging_updates
        self.rule.best = list(state.best)
        self.iteration = state.iteration

    def image(self) -> tf.Tensor:
        """The result so far, (1, height, width, 3): the averaged iterate (or the iterate)."""
        if self.averaging.decay == 0 or self.averaging.updates == 0:
            return self.generated.read_value()
        return self.averaged * self.averaging.correction()


class Session:
    """What the frames of a video share, built once (a single image makes its own): the
    traced features, objective and Adam step, the image variable and Adam's state per size,
    and the style targets per size, which do not change between frames. So no frame traces
    anything again: everything that changes is an input of the step (Targets)."""

    def __init__(self, extractor: keras.Model):
        self.extractor = extractor
        self.features = tf.function(extractor)
        self.style: dict = {}  # content shape -> (regions, style_grams, style_at_zero)
        self._objectives: dict = {}  # (content layers, style layers) -> (objective, evaluate)
        self._adam: dict = {}  # image shape -> (AdamLoop, its traced step)

    def objective(self, model: ModelSettings) -> tuple:
        """(objective, its traced evaluation) for the model's layers."""
        layers = (model.content_layers, model.style_layers)
        if layers not in self._objectives:
            objective = make_objective(self.extractor, *layers)
            self._objectives[layers] = objective, tf.function(objective)
        return self._objectives[layers]

    def adam(self, objective, start: np.ndarray, optimizer: OptimizerSettings, rule) -> tuple:
        """(Adam's loop state from `start`, its traced step), built once per image size; later
        calls reset the iterate, its average, Adam's moments and count and the stopping rule:
        a fresh Adam run without a new trace."""
        if start.shape not in self._adam:
            state = AdamLoop.start(start, optimizer, rule)
            self._adam[start.shape] = state, make_step(objective, state.optimizer)
            return self._adam[start.shape]
        state, step = self._adam[start.shape]
        state.generated.assign(start[None])
        state.averaged.assign(tf.zeros_like(state.averaged))
        adam = state.optimizer
        for variable in adam.variables:  # the moments, and the count that debiases them
            if variable.shape == state.generated.shape or variable is adam.iterations:
                variable.assign(tf.zeros_like(variable))
        state.averaging = Averaging(optimizer.average)
        state.rule, state.iteration = rule, 0
        return state, step


def adam_records(
    objective,
    evaluate,
    targets: Targets,
    start: np.ndarray,
    optimizer: OptimizerSettings,
    run: ScaleRun,
    session: Session,
    resume: LoopState | None = None,
) -> Iterator[Record]:
    """At most `run.budget` Adam steps from `start` (or from `resume`, a checkpoint's state);
    a record per step and one for the result.

    Ends early when the stopping rule says the scale has converged, or once
    `run.stop_requested()`; the last record says why (`Record.stopped`). Record i has the
    losses of the iterate after i updates; the images are the averaged iterate
    ([optimizer] average), the last record's losses are the averaged iterate's. A non-finite
    step yields its record (with the last finite image) and raises `Diverged`.
    """
    state, step = session.adam(objective, start, optimizer, run.stopping_rule())
    if resume is not None:
        state.restore(resume)
    average = tf.constant(optimizer.average, tf.float32)
    stopped = CONVERGED if state.rule.converged else ""  # resumed at a converged scale's end
    while True:
        iteration = state.iteration
        if run.stop_requested():
            stopped = ASKED
        elif iteration == run.budget:
            stopped = stopped or BUDGET
        last = bool(stopped)
        due = last or iteration % run.save_every == 0
        snapshot = state.image()[0].numpy() if due else None  # the image only when due
        if due:
            run.tell(lambda: state.checkpoint(run.number, run.clock()))
        if last:
            losses = _numbers(evaluate(tf.constant(snapshot[None]), targets))
            finite = bool(np.isfinite(losses).all())
        else:
            losses, finite = step(state.generated, state.averaged, targets, average)
            losses, finite = _numbers(losses), bool(finite)
            state.averaging.updates += finite
            if state.rule.observe(losses.total):
                stopped = CONVERGED  # the next record, with the result, is the last
        if not finite and snapshot is None:
            snapshot = state.image()[0].numpy()  # unchanged: the failed update was undone
        record = Record.of(iteration, losses, run.clock(), snapshot, run.number, stopped * last)
        yield record
        if not finite:
            raise Diverged(record)
        if last:
            return
        state.iteration += 1


def _lbfgs_checkpoint(
    state: lbfgs.State, iteration: int, run: ScaleRun, best: list, shape: tuple
) -> LoopState:
    """The state to resume from at the start of record `iteration`: L-BFGS's whole state
    (nst.lbfgs), its accepted image and the stopping rule's history."""
    image = state.x.reshape(shape).astype(np.float32)
    return LoopState(run.number, iteration, image, (), run.clock(), None, 0, tuple(best), state)


def _lbfgs_stop(run: ScaleRun, rule: StoppingRule, state: lbfgs.State, iteration: int) -> str:
    """Why the scale ends before evaluating record `iteration` ("" if it goes on)."""
    if run.stop_requested():
        return ASKED
    if rule.converged or state.done:  # the rule, or no step lowers the objective
        return CONVERGED
    return BUDGET if iteration == run.budget else ""


def lbfgs_records(
    objective,
    evaluate,
    targets: Targets,
    start: np.ndarray,
    run: ScaleRun,
    resume: LoopState | None = None,
) -> Iterator[Record]:
    """Our L-BFGS (nst.lbfgs) in pixel bounds [0, 255] for at most `run.budget` loss+gradient
    evaluations.

    Record i is the i-th evaluated point (line-search trials included); the last record is
    the last point L-BFGS accepted, evaluated once more, and says why the scale ended. Stops
    early when the stopping rule says it has converged, when no step lowers the objective
    (converged too), once `run.stop_requested()`; a non-finite loss or gradient yields its
    record, with the last accepted image, and raises `Diverged`. `resume` (a checkpoint's
    state) continues the very same evaluations.
    """
    value_and_gradient = make_value_and_gradient(objective)
    state = lbfgs.start(start) if resume is None else resume.lbfgs
    rule = run.stopping_rule()
    rule.best = list(resume.best) if resume is not None else []
    iteration = resume.iteration if resume is not None else 0
    while True:
        stopped = _lbfgs_stop(run, rule, state, iteration)
        if iteration % run.save_every == 0 or stopped:
            run.tell(
                functools.partial(_lbfgs_checkpoint, state, iteration, run, rule.best, start.shape)
            )
        if stopped:
            break
        image = lbfgs.ask(state).reshape(start.shape).astype(np.float32)
        losses, gradient = value_and_gradient(tf.constant(image[None]), targets)
        losses, gradient = _numbers(losses), gradient.numpy()
        if not (np.isfinite(losses).all() and np.isfinite(gradient).all()):
            accepted = state.x.reshape(start.shape).astype(np.float32)
            record = Record.of(iteration, losses, run.clock(), accepted, run.number)
            yield record
            raise Diverged(record)
        due = iteration % run.save_every == 0
        yield Record.of(iteration, losses, run.clock(), image if due else None, run.number)
        state = lbfgs.tell(state, losses.total, gradient.astype(np.float64))
        rule.observe(losses.total)
        iteration += 1
    final = state.x.reshape(start.shape).astype(np.float32)
    losses = _numbers(evaluate(tf.constant(final[None]), targets))
    record = Record.of(iteration, losses, run.clock(), final, run.number, stopped)
    yield record
    if not np.isfinite(losses).all():
        raise Diverged(record)


def stylize(
    extractor: keras.Model,
    inputs: Inputs,
    settings: Settings,
    *,
    stop_requested: Callable[[], bool] = lambda: False,
    start: np.ndarray | None = None,
    temporal: Temporal | None = None,
    session: Session | None = None,
    resume: LoopState | None = None,
    on_state: Callable[[LoopState], None] | None = None,
) -> Iterator[Record]:
    """Optimise an image; yield a Record per iteration, with the image every `save_every`.

    The last record of each scale always has the image and says why the scale ended
    (`Record.stopped`): its budget spent, converged by [optimizer] tolerance and window, or
    `stop_requested()` true (checked before each step; then no further scale runs). A
    non-finite loss or update yields that iteration's record, with the last finite image,
    and then raises `Diverged`. Images are float32 (height, width, 3) pixels 0..255; the
    result has the content image's shape. The scales of the run plan come smallest first,
    each starting from the previous result resized; targets are recomputed at every scale.
    A video gives each frame its `start`, `temporal` term and shared `session` (nst.video);
    `on_state` gets the state with each image (nst.checkpoint), `resume` goes on from one.
    """
    started = time.perf_counter() - (resume.elapsed_s if resume is not None else 0.0)

    def clock() -> float:
        return time.perf_counter() - started

    model, optimizer = settings.model, settings.optimizer
    height, width = inputs.content.shape[:2]
    session = session if session is not None else Session(extractor)
    objective, evaluate = session.objective(model)  # evaluate: the last record's losses
    current = None
    plan = run_plan(height, width, settings.image, optimizer)
    first = resume.scale if resume is not None else 1  # resumed: from the checkpoint's scale
    for number, (h, w, budget) in enumerate(plan[first - 1 :], start=first):
        here = resume if number == first else None
        content = resize(inputs.content, w, h)
        styles = scaled_styles(inputs.styles, width / w)
        if current is None:  # a video frame brings its own start
            current = initial_image(content, styles[0], settings.image) if start is None else start
        begin = here.image if here is not None else resize(current, w, h)
        frame_term = temporal if (h, w) == (height, width) else None
        targets = compute_targets(
            extractor, content, styles, model, settings.loss, inputs.guidance, frame_term, session
        )
        every, tolerance, window = settings.output.save_every, optimizer.tolerance, optimizer.window
        scale = ScaleRun(number, budget, every, clock, stop_requested, tolerance, window, on_state)
        if optimizer.name == "lbfgs":
            records = lbfgs_records(objective, evaluate, targets, begin, scale, here)
        else:
            records = adam_records(
                objective, evaluate, targets, begin, optimizer, scale, session, here
            )
        for record in records:
            current = record.image if record.image is not None else current
            yield record
        if stop_requested():
            return

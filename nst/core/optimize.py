"""The optimisation: targets computed once per scale, a small `tf.function` step, loops that yield.

The loops do no IO: they yield a `Record` per iteration and the caller writes files, bars
and plots. At each scale, record i describes the image after i updates (Adam) or the i-th
point whose loss L-BFGS evaluated; record 0 is the start, the last one the result.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Iterator

import keras
import numpy as np
import tensorflow as tf

from nst.core import finest, lbfgs
from nst.core.convergence import ASKED, BUDGET, CONVERGED, Averaging, StoppingRule
from nst.core.objective import (
    Temporal,
    build_terms,
    make_objective,
    reference_picture,
    signature,
    tensors,
    with_reference,
)
from nst.core.pyramid import clipped_finest, decompose, level_shapes, render
from nst.core.recipe import Recipe
from nst.core.records import Diverged, LoopState, Losses, Record
from nst.core.scales import reference_shape, run_plan, scaled_styles
from nst.core.tilegrid import cores, tile_side
from nst.core.tiles import TiledObjective, TilesInterrupted
from nst.inputs.images import resize
from nst.inputs.styles import Inputs
from nst.settings import ImageSettings, OptimizerSettings, SettingsError

__all__ = ["Session", "Temporal", "initial_image", "stylize"]

DRAW = tf.constant(0, tf.int64)  # the random projections' draw outside Adam's steps


def make_step(objective, optimizer: keras.optimizers.Optimizer):
    """One Adam update of the image's parameters `pyramid` in place (nst.core.pyramid; one level:
    the pixels), its finest level moved `finest_rate` times as far as Adam says (with more than
    one level), and of the running average `averaged` of the rendered image with decay
    `average` (both scalar tensors: no retracing when they change); returns the losses of the
    image before the update and whether the update was finite. A non-finite one is undone,
    so the image stays usable. Adam's step count numbers the draw of random projections."""

    @tf.function
    def step(
        pyramid: tuple,
        averaged: tf.Variable,
        inputs: tuple,
        average: tf.Tensor,
        finest_rate: tf.Tensor,
    ) -> tuple[Losses, tf.Tensor]:
        with tf.GradientTape() as tape:
            losses = objective(render(pyramid), inputs, optimizer.iterations)
        gradients = tape.gradient(losses.total, pyramid)
        finite = _update(
            optimizer, pyramid, averaged, gradients, losses.total, average, finest_rate
        )
        return losses, finite

    return step


def _update(optimizer, pyramid, averaged, gradients, total, average, finest_rate) -> tf.Tensor:
    """Adam's update of `pyramid` by `gradients` and of the running average (see make_step);
    whether it was finite."""
    before = [level.read_value() for level in pyramid]  # snapshots: TF copies on write
    optimizer.apply_gradients(zip(gradients, pyramid, strict=True))
    if len(pyramid) > 1:  # Adam moves every parameter ~learning_rate: the detail level less
        slower = before[0] + finest_rate * (pyramid[0] - before[0])
        pyramid[0].assign(tf.where(finest_rate < 1.0, slower, pyramid[0]))  # 1: bit for bit
    rendered = render(pyramid)
    after = tf.clip_by_value(rendered, 0.0, 255.0)  # keep valid pixels
    # A sum is not finite when any of its terms is not: one cheap reduction, no mask.
    gradient_sum = tf.add_n([tf.reduce_sum(g) for g in gradients])
    finite = tf.reduce_all(tf.math.is_finite([total, gradient_sum, tf.reduce_sum(after)]))
    finest = clipped_finest(pyramid, rendered, after)
    for level, new, old in zip(pyramid, (finest, *pyramid[1:]), before, strict=True):
        level.assign(tf.where(finite, new, old))
    # A failed update leaves the average as it was, as it leaves the iterate.
    moved = average * averaged + (1.0 - average) * after
    averaged.assign(tf.where(finite, moved, averaged))
    return finite


def make_tiled_step(tiled: TiledObjective, optimizer: keras.optimizers.Optimizer):
    """make_step's update with the objective's gradient computed over tiles (nst.core.tiles):
    the pyramid renders the whole picture, the tiles give d total / d picture, and the tape
    carries it back to the levels."""
    update = tf.function(functools.partial(_update, optimizer))

    def step(
        pyramid: tuple, averaged: tf.Variable, inputs: tuple, average, finest_rate, interrupted=None
    ):
        with tf.GradientTape() as tape:
            image = render(pyramid)
        losses, gradient = tiled.value_and_gradient(
            image, inputs, optimizer.iterations, interrupted
        )
        gradients = tape.gradient(image, list(pyramid), output_gradients=gradient)
        total = losses.total
        return losses, update(pyramid, averaged, tuple(gradients), total, average, finest_rate)

    return step


def make_value_and_gradient(objective):
    """(image batch, term tensors) -> (Losses, d total / d image), projections of draw 0."""

    @tf.function
    def value_and_gradient(image: tf.Tensor, inputs: tuple):
        with tf.GradientTape() as tape:
            tape.watch(image)
            losses = objective(image, inputs, tf.constant(0, tf.int64))
        return losses, tape.gradient(losses.total, image)

    return value_and_gradient


def make_tiled_value_and_gradient(tiled: TiledObjective, levels: int):
    """make_value_and_gradient (levels 1) or make_pyramid_value_and_gradient over tiles."""
    draw = tf.constant(0, tf.int64)

    def value_and_gradient(point, inputs: tuple):
        if levels == 1:
            return tiled.value_and_gradient(point, inputs, draw)
        with tf.GradientTape() as tape:
            tape.watch(point)
            image = tf.clip_by_value(render(point), 0.0, 255.0)
        losses, gradient = tiled.value_and_gradient(image, inputs, draw)
        gradients = tape.gradient(image, list(point), output_gradients=gradient)
        return losses, tf.concat([tf.reshape(g, [-1]) for g in gradients], axis=0)

    return value_and_gradient


def make_pyramid_value_and_gradient(objective):
    """(pyramid levels, term tensors) -> (Losses of its clipped rendering, d total / d levels
    flattened and joined), projections of draw 0."""

    @tf.function
    def value_and_gradient(pyramid: tuple, inputs: tuple):
        with tf.GradientTape() as tape:
            tape.watch(pyramid)
            image = tf.clip_by_value(render(pyramid), 0.0, 255.0)
            losses = objective(image, inputs, tf.constant(0, tf.int64))
        gradients = tape.gradient(losses.total, pyramid)
        return losses, tf.concat([tf.reshape(g, [-1]) for g in gradients], axis=0)

    return value_and_gradient


@dataclasses.dataclass(frozen=True)
class Coordinates:
    """What L-BFGS searches over, as one flat vector: the pixels (in 0..255), or with
    `levels` > 1 the levels of the image's Laplacian pyramid (nst.core.pyramid) in ±255."""

    shape: tuple  # the image's (height, width, 3)
    levels: int = 1

    @property
    def bounds(self) -> tuple[float, float]:
        return (0.0, 255.0) if self.levels == 1 else (-255.0, 255.0)

    def of_image(self, image: np.ndarray) -> np.ndarray:
        if self.levels == 1:
            return image
        pyramid = decompose(tf.constant(image[None], tf.float32), self.levels)
        return np.concatenate([level.numpy().ravel() for level in pyramid])

    def point(self, x: np.ndarray):
        """What the traced evaluation takes: an image batch, or the pyramid's levels."""
        if self.levels == 1:
            return tf.constant(x.reshape((1, *self.shape)).astype(np.float32))
        height, width = self.shape[:2]
        levels, start = [], 0
        for h, w in level_shapes(height, width, self.levels):
            size = h * w * 3
            levels.append(tf.constant(x[start : start + size].reshape(1, h, w, 3), tf.float32))
            start += size
        return tuple(levels)

    def image(self, x: np.ndarray) -> np.ndarray:
        """The picture at `x`, float32 (height, width, 3) in 0..255."""
        if self.levels == 1:
            return x.reshape(self.shape).astype(np.float32)
        return tf.clip_by_value(render(self.point(x)), 0.0, 255.0)[0].numpy()


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
    tolerance: float = 0.0  # the stopping rule (nst.core.convergence); 0: the whole budget
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
    can save and restore it: the image's parameters (its pyramid; one level: the pixels),
    its running average, Adam's moments (in `optimizer.variables`), the averaging's count
    and the stopping rule's window."""

    pyramid: tuple  # tf.Variables (1, h_k, w_k, 3), finest first (see nst.core.pyramid)
    averaged: tf.Variable  # running sum of the rendered iterates, see convergence.Averaging
    optimizer: keras.optimizers.Adam
    averaging: Averaging
    rule: StoppingRule
    iteration: int = 0

    @classmethod
    def start(cls, start: np.ndarray, levels: int, optimizer: OptimizerSettings, rule):
        pyramid = tuple(tf.Variable(level) for level in decompose(tf.constant(start[None]), levels))
        adam = keras.optimizers.Adam(
            learning_rate=optimizer.learning_rate,
            beta_1=optimizer.beta_1,
            beta_2=optimizer.beta_2,
            epsilon=optimizer.epsilon,
        )
        adam.build(list(pyramid))
        averaged = tf.Variable(tf.zeros((1, *start.shape), tf.float32))
        return cls(pyramid, averaged, adam, Averaging(optimizer.average), rule)

    def reset(self, start: np.ndarray, optimizer: OptimizerSettings, rule) -> None:
        """A fresh Adam run from `start` on the same variables (no new trace)."""
        for level, value in zip(
            self.pyramid, decompose(tf.constant(start[None]), len(self.pyramid)), strict=True
        ):
            level.assign(value)
        self.averaged.assign(tf.zeros_like(self.averaged))
        adam = self.optimizer
        shapes = {tuple(level.shape) for level in self.pyramid}
        for variable in adam.variables:  # the moments, and the count that debiases them
            if tuple(variable.shape) in shapes or variable is adam.iterations:
                variable.assign(tf.zeros_like(variable))
        self.averaging = Averaging(optimizer.average)
        self.rule, self.iteration = rule, 0

    def iterate(self) -> tf.Tensor:
        """The current iterate in pixels, (1, height, width, 3) (clipped: a pyramid's
        levels add up to valid pixels only up to float rounding)."""
        return tf.clip_by_value(render(self.pyramid), 0.0, 255.0)

    def checkpoint(self, scale: int, elapsed_s: float) -> LoopState:
        """Everything above as arrays (nst.output.checkpoint), before this iteration's update; a
        pyramid's levels other than the pixels go first among the optimizer's variables."""
        levels = tuple(level.numpy() for level in self.pyramid) if len(self.pyramid) > 1 else ()
        return LoopState(
            scale,
            self.iteration,
            self.iterate()[0].numpy(),
            levels + tuple(v.numpy() for v in self.optimizer.variables),
            elapsed_s,
            self.averaged[0].numpy(),
            self.averaging.updates,
            tuple(self.rule.best),
        )

    def restore(self, state: LoopState) -> None:
        """Continue from a checkpoint: the levels, Adam's variables, the average, the rule,
        the count (the pixels themselves are the start the loop was made from)."""
        saved = list(state.optimizer_variables)
        if len(self.pyramid) > 1:
            for level in self.pyramid:
                level.assign(saved.pop(0))
        for variable, value in zip(self.optimizer.variables, saved, strict=True):
            variable.assign(value)
        self.averaged.assign(state.averaged[None])
        self.averaging.updates = state.averaging_updates
        self.rule.best = list(state.best)
        self.iteration = state.iteration

    def image(self) -> tf.Tensor:
        """The result so far, (1, height, width, 3): the averaged iterate (or the iterate)."""
        if self.averaging.decay == 0 or self.averaging.updates == 0:
            return self.iterate()
        return self.averaged * self.averaging.correction()


class Session:
    """What the frames of a video share, built once (a single image makes its own): the
    traced features, objective and Adam step, the image's variables and Adam's state per
    size, and the style targets per size, which do not change between frames. So no frame
    traces anything again: everything that changes is an input of the step (the terms'
    tensors)."""

    def __init__(self, extractor: keras.Model):
        self.extractor = extractor
        self.features = tf.function(extractor)
        self.style: dict = {}  # (content shape, style loss) -> (style Term, Regions)
        self._objectives: dict = {}  # terms' signature -> (objective, traced evaluation)
        self._adam: dict = {}  # (image shape, levels) -> AdamLoop
        self._steps: dict = {}  # (image shape, levels, signature, tiled) -> traced step
        self._tiled: dict = {}  # (image shape, tile side, signature) -> TiledObjective
        self.shallow: Session | None = None  # finest_scale = shallow: the cut network's

    def objective(self, terms: tuple) -> tuple:
        """(objective, its traced evaluation) for the terms' names and kinds."""
        kinds = signature(terms)
        if kinds not in self._objectives:
            objective = make_objective(self.extractor, kinds)
            self._objectives[kinds] = objective, tf.function(objective)
        return self._objectives[kinds]

    def tiled(self, terms: tuple, shape: tuple, model, side: int) -> TiledObjective:
        """The objective over tiles of `side` px (nst.core.tiles) for a picture of `shape`."""
        key = (shape, side, signature(terms))
        if key not in self._tiled:
            height, width = shape[:2]
            self._tiled[key] = TiledObjective(
                self.extractor, signature(terms), model, height, width, side
            )
        return self._tiled[key]

    def adam(self, terms: tuple, start: np.ndarray, levels: int, optimizer, rule, tiled=None):
        """(Adam's loop state from `start`, its traced step): the variables are made once
        per image size, the step traced once per size and terms; later calls reset the
        iterate, its average, Adam's moments and count and the stopping rule. `tiled`: the
        objective over tiles (None: the whole picture at once)."""
        size = (start.shape, levels)
        if size in self._adam:
            state = self._adam[size]
            state.reset(start, optimizer, rule)
        else:
            state = self._adam[size] = AdamLoop.start(start, levels, optimizer, rule)
        key = (*size, signature(terms), tiled)
        if key not in self._steps and tiled is not None:
            self._steps[key] = make_tiled_step(tiled, state.optimizer)
        elif key not in self._steps:
            self._steps[key] = make_step(self.objective(terms)[0], state.optimizer)
        return state, self._steps[key]


def step_size(optimizer: OptimizerSettings, scale: int, iteration: int, budget: int) -> float:
    """Adam's learning rate for update `iteration` (0-based) of a scale's `budget` at scale
    `scale` (1: the smallest): learning_rate, ramped up linearly over the first warmup_steps
    updates at the scales that start from a smaller scale's picture, then falling along a half
    cosine to learning_rate * anneal_to at the budget's last update. A function of the step's
    index, so a resumed run takes the very same steps."""
    rate = optimizer.learning_rate
    warmup = 0 if scale == 1 else optimizer.warmup_steps
    if iteration < warmup:
        return rate * (iteration + 1) / warmup
    span = budget - 1 - warmup  # the updates from the warm-up's end to the budget's last
    if optimizer.anneal_to == 1 or span <= 0:
        return rate
    progress = min(1.0, (iteration - warmup) / span)
    fall = 0.5 * (1 + math.cos(math.pi * progress))  # 1 at the warm-up's end, 0 at the last
    return rate * (optimizer.anneal_to + (1 - optimizer.anneal_to) * fall)


def adam_records(
    evaluate,
    terms: tuple,
    start: np.ndarray,
    levels: int,
    optimizer: OptimizerSettings,
    run: ScaleRun,
    session: Session,
    resume: LoopState | None = None,
    tiled: TiledObjective | None = None,
    finest_rate: float = 1.0,
) -> Iterator[Record]:
    """At most `run.budget` Adam steps from `start` (or from `resume`, a checkpoint's state);
    a record per step and one for the result.

    Ends early when the stopping rule says the scale has converged, or once
    `run.stop_requested()`; the last record says why (`Record.stopped`). Record i has the
    losses of the iterate after i updates; the images are the averaged iterate
    ([optimizer] average), the last record's losses are the averaged iterate's. A non-finite
    step yields its record (with the last finite image) and raises `Diverged`. The image
    is moved as a pyramid of `levels` (1: its pixels; nst.core.pyramid), its finest level
    `finest_rate` times as far as Adam says; `tiled`: each step over tiles (nst.core.tiles).
    """
    state, step = session.adam(terms, start, levels, optimizer, run.stopping_rule(), tiled)
    inputs = tensors(terms)
    if resume is not None:
        state.restore(resume)
    average = tf.constant(optimizer.average, tf.float32)
    rate = tf.constant(finest_rate, tf.float32)
    between_tiles = {} if tiled is None else {"interrupted": run.stop_requested}
    stopped = CONVERGED if state.rule.converged else ""  # resumed at a converged scale's end
    while True:
        iteration = state.iteration
        if run.stop_requested():
            stopped = ASKED
        elif iteration >= run.budget:  # >=: a resumed run may be past a smaller budget
            stopped = stopped or BUDGET
        last = bool(stopped)
        due = last or iteration % run.save_every == 0
        snapshot = state.image()[0].numpy() if due else None  # the image only when due
        if due:
            run.tell(lambda: state.checkpoint(run.number, run.clock()))
        if last:
            losses = _numbers(evaluate(tf.constant(snapshot[None]), inputs, DRAW))
            finite = bool(np.isfinite(losses).all())
        else:
            state.optimizer.learning_rate.assign(
                step_size(optimizer, run.number, iteration, run.budget)
            )
            try:
                losses, finite = step(
                    state.pyramid, state.averaged, inputs, average, rate, **between_tiles
                )
            except TilesInterrupted:  # nothing moved: this iteration ends the scale, as asked
                continue
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
    state: lbfgs.State, iteration: int, run: ScaleRun, best: list, where: Coordinates
) -> LoopState:
    """The state to resume from at the start of record `iteration`: L-BFGS's whole state
    (nst.core.lbfgs), its accepted image and the stopping rule's history."""
    image = where.image(state.x)
    return LoopState(run.number, iteration, image, (), run.clock(), None, 0, tuple(best), state)


def _lbfgs_stop(run: ScaleRun, rule: StoppingRule, state: lbfgs.State, iteration: int) -> str:
    """Why the scale ends before evaluating record `iteration` ("" if it goes on)."""
    if run.stop_requested():
        return ASKED
    if rule.converged or state.done:  # the rule, or no step lowers the objective
        return CONVERGED
    return BUDGET if iteration >= run.budget else ""


def lbfgs_records(
    objective,
    evaluate,
    terms: tuple,
    start: np.ndarray,
    run: ScaleRun,
    resume: LoopState | None = None,
    levels: int = 1,
    tiled: TiledObjective | None = None,
) -> Iterator[Record]:
    """Our L-BFGS (nst.core.lbfgs) in pixel bounds [0, 255] (or over a pyramid of `levels`, see
    Coordinates) for at most `run.budget` loss+gradient evaluations.

    Record i is the i-th evaluated point (line-search trials included); the last record is
    the last point L-BFGS accepted, evaluated once more, and says why the scale ended. Stops
    early when the stopping rule says it has converged, when no step lowers the objective
    (converged too), once `run.stop_requested()`; a non-finite loss or gradient yields its
    record, with the last accepted image, and raises `Diverged`. `resume` (a checkpoint's
    state) continues the very same evaluations; `tiled`: each evaluation over tiles.
    """
    where = Coordinates(start.shape, levels)
    if tiled is not None:
        value_and_gradient = make_tiled_value_and_gradient(tiled, levels)
    elif levels == 1:
        value_and_gradient = make_value_and_gradient(objective)
    else:
        value_and_gradient = make_pyramid_value_and_gradient(objective)
    inputs = tensors(terms)
    state = lbfgs.start(where.of_image(start), *where.bounds) if resume is None else resume.lbfgs
    rule = run.stopping_rule()
    rule.best = list(resume.best) if resume is not None else []
    iteration = resume.iteration if resume is not None else 0
    while True:
        stopped = _lbfgs_stop(run, rule, state, iteration)
        if iteration % run.save_every == 0 or stopped:
            run.tell(functools.partial(_lbfgs_checkpoint, state, iteration, run, rule.best, where))
        if stopped:
            break
        x = lbfgs.ask(state)
        losses, gradient = value_and_gradient(where.point(x), inputs)
        losses, gradient = _numbers(losses), gradient.numpy()
        if not (np.isfinite(losses).all() and np.isfinite(gradient).all()):
            accepted = where.image(state.x)
            record = Record.of(iteration, losses, run.clock(), accepted, run.number)
            yield record
            raise Diverged(record)
        due = iteration % run.save_every == 0
        image = where.image(x) if due else None
        yield Record.of(iteration, losses, run.clock(), image, run.number)
        state = lbfgs.tell(state, losses.total, gradient.astype(np.float64))
        rule.observe(losses.total)
        iteration += 1
    final = where.image(state.x)
    losses = _numbers(evaluate(tf.constant(final[None]), inputs, DRAW))
    record = Record.of(iteration, losses, run.clock(), final, run.number, stopped)
    yield record
    if not np.isfinite(losses).all():
        raise Diverged(record)


def stylize(
    extractor: keras.Model,
    inputs: Inputs,
    recipe: Recipe,
    *,
    stop_requested: Callable[[], bool] = lambda: False,
    start: np.ndarray | None = None,
    temporal: Temporal | None = None,
    session: Session | None = None,
    resume: LoopState | None = None,
    on_state: Callable[[LoopState], None] | None = None,
    memory_budget: int | Callable[[int, int], int | None] | None = None,
) -> Iterator[Record]:
    """Optimise an image by `recipe`; yield a Record per iteration, with the image every
    `recipe.save_every`.

    The last record of each scale always has the image and says why the scale ended
    (`Record.stopped`): its budget spent, converged by [optimizer] tolerance and window, or
    `stop_requested()` true (checked before each step; then no further scale runs). A
    non-finite loss or update yields that iteration's record, with the last finite image,
    and then raises `Diverged`. Images are float32 (height, width, 3) pixels 0..255; the
    result has the content image's shape. The scales of the run plan come smallest first,
    each starting from the previous result resized; targets are recomputed at every scale.
    A video gives each frame its `start`, `temporal` term and shared `session` (nst.run.video);
    `on_state` gets the state with each image (nst.output.checkpoint), `resume` goes on from one.
    A scale whose step needs more than `memory_budget` bytes (or `memory_budget(height,
    width)` at its size; None: no limit) steps over tiles (nst.core.tiles; the same result),
    its targets computed over them too; its records say how many (`Record.tiles`).
    """
    started = time.perf_counter() - (resume.elapsed_s if resume is not None else 0.0)

    def clock() -> float:
        return time.perf_counter() - started

    height, width = inputs.content.shape[:2]
    session = session if session is not None else Session(extractor)
    current = None
    plan = run_plan(height, width, recipe.image, recipe.optimizer)
    first = resume.scale if resume is not None else 1  # resumed: from the checkpoint's scale
    for number, (h, w, budget) in enumerate(plan[first - 1 :], start=first):
        here = resume if number == first else None
        content = resize(inputs.content, w, h)
        styles = scaled_styles(inputs.styles, width / w)
        if current is None:  # a video frame brings its own start
            current = initial_image(content, styles[0], recipe.image) if start is None else start
        begin = here.image if here is not None else resize(current, w, h)
        frame_term = temporal if (h, w) == (height, width) else None
        where, cut = _network_at(session, recipe, number, len(plan))
        memory_here = memory_budget(h, w) if callable(memory_budget) else memory_budget
        side = tile_side(cut.model, h, w, memory_here)  # None: the whole picture fits
        terms = build_terms(
            where.extractor, content, styles, cut.model, recipe.loss,
            inputs.guidance, frame_term, where, recipe.image.seed + number, side,
        )  # fmt: skip
        if recipe.image.reference_size is not None and number == len(plan):
            full = where if where is session else None  # None: the shallow network
            terms = _referenced(terms, content, styles, recipe, full, inputs.guidance, side, number)
        told = on_state
        if where is not session:  # the shallow finest scale: anchored to the coarser result
            anchor = here.anchor if here is not None and here.anchor is not None else begin
            terms, told = finest.anchored(terms, anchor), finest.with_anchor(on_state, anchor)
        optimizer = recipe.optimizer
        scale = ScaleRun(
            number, budget, recipe.save_every, clock, stop_requested,
            optimizer.tolerance, optimizer.window, told,
        )  # fmt: skip
        tiles = 1 if side is None else len(cores(h, w, side))
        for record in scale_records(terms, begin, cut, scale, where, here, side):
            current = record.image if record.image is not None else current
            yield record if tiles == 1 else dataclasses.replace(record, tiles=tiles)
        if stop_requested():
            return


def _referenced(terms, content, styles, recipe: Recipe, session, guidance, side, number):
    """[image] reference_size at the full-size scale: the terms with the content (and with
    reference_terms = both half the style) matched on the picture resized to the reference
    size (nst.core.objective.with_reference); unchanged where the picture is that size.
    `session`: the whole network's (None: the finest scale runs a shallow one)."""
    height, width = content.shape[:2]
    small_h, small_w = reference_shape(height, width, recipe.image.reference_size)
    if (small_h, small_w) == (height, width):
        return terms
    if side is not None or session is None:
        raise SettingsError(
            f"[image] reference_size runs with the whole network on the whole picture: not "
            f"with [image] finest_scale = shallow, nor over tiles (this {width}x{height} scale "
            f"does not fit [image] memory_limit)"
        )
    small = _resized(content, small_w, small_h)
    small_styles = scaled_styles(styles, width / small_w, resizer=_resized)
    reference = build_terms(
        session.extractor, small, small_styles, recipe.model, recipe.loss, guidance, None, session,
        recipe.image.seed + number, None,
    )  # fmt: skip
    return with_reference(terms, reference, small_h, small_w, recipe.image.reference_terms)


def _resized(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """`image` (h, w, 3) resized as the step resizes the picture (objective.reference_picture)."""
    picture = reference_picture(tf.constant(image[None], tf.float32), height, width)
    return np.clip(picture[0].numpy(), 0.0, 255.0)


def _network_at(session: Session, recipe: Recipe, number: int, scales: int):
    """(session, recipe) of scale `number` of `scales`: the run's own, or at the finest scale
    with [image] finest_scale = shallow the network cut after finest.CUT (nst.core.finest)."""
    model = recipe.model
    if finest.is_shallow(recipe.image.finest_scale, number, scales):
        model = finest.shallow_model(recipe.model)
    if model is None or model is recipe.model:  # no style layer that shallow: the whole one
        return session, recipe
    if session.shallow is None:
        session.shallow = Session(finest.cut_extractor(session.extractor, model.style_layers))
    return session.shallow, dataclasses.replace(recipe, model=model)


def scale_records(
    terms: tuple,
    begin: np.ndarray,
    recipe: Recipe,
    scale: ScaleRun,
    session: Session,
    resume: LoopState | None,
    side: int | None = None,
) -> Iterator[Record]:
    """The records of one scale from `begin`, by [optimizer] name; over tiles of `side` px
    (None: the whole picture at once)."""
    objective, evaluate = session.objective(terms)  # evaluate: the last record's losses
    tiled = None if side is None else session.tiled(terms, begin.shape, recipe.model, side)
    evaluate = evaluate if tiled is None else tiled.losses
    image = recipe.image
    levels = image.pyramid_levels if image.parameterization == "pyramid" else 1
    if recipe.optimizer.name == "lbfgs":
        return lbfgs_records(objective, evaluate, terms, begin, scale, resume, levels, tiled)
    rate = image.pyramid_finest_rate
    return adam_records(
        evaluate, terms, begin, levels, recipe.optimizer, scale, session, resume, tiled, rate
    )

"""Our L-BFGS for a box [lower, upper] (pixels: 0..255) whose whole state is one record of
NumPy arrays and numbers, so that a checkpoint can save it and a resumed run evaluates the
very same points (nst.output.checkpoint). No TensorFlow here.

Ask and tell, one evaluation at a time: `ask(state)` is the next point to evaluate,
`tell(state, f, g)` takes its objective and gradient and returns the next state. Nothing
happens between the two calls that the state does not hold, the line search included, so a
state saved anywhere continues identically.

The method is projected L-BFGS (as in Kim, Sra and Dhillon 2010, simplified): the variables
at a bound whose gradient points out of the box are held, the two-loop recursion gives the
direction in the others (m pairs, initial scaling s·y / y·y), and the line search runs along
the projected path clip(x + t d): a weak Wolfe search by bracketing (Armijo c1 = 1e-4,
curvature c2 = 0.9; a step that fails is cut by safeguarded quadratic interpolation, one too
short grown 4× as More-Thuente's extrapolation does). The first step without pairs moves the
largest variable by a fifth of the box's width (FIRST_MOVE), later ones start at 1. Pairs
with s·y ≤ ε y·y are skipped (as SciPy does); a search that fails restarts from steepest
descent with an empty memory, and if that fails too no step lowers the objective: the state
is `done`. Against L-BFGS-B it has no generalised Cauchy point and subspace minimisation:
simpler, the state plain, and as good on style transfer (measured: bench/results/batch.md). Memory:
2m + 3 float64 vectors of the image's size in the state, a few more while telling.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

MEMORY = 10  # correction pairs kept, SciPy's default
ARMIJO = 1e-4  # c1: sufficient decrease
CURVATURE = 0.9  # c2: the step is not too short
GROW = 4.0  # a step too short is multiplied by this
# Without pairs the first trial changes the largest variable by this share of the box's
# width (51 grey levels in 0..255). SciPy's 1/|d| moves an image by a norm of 1: a few grey
# levels in total, and its search spends evaluations growing the step (bench.lbfgs: at 128
# px, after 10 evaluations 2.26 against 3.40 with 1/|d|, the same from 50 on).
FIRST_MOVE = 0.2
MAX_TRIALS = 20  # evaluations in one line search before it gives up
EPSILON = float(np.finfo(np.float64).eps)

START, SEARCH, RETRY, DONE = "start", "search", "retry", "done"  # phases


@dataclasses.dataclass(frozen=True)
class State:
    """Everything L-BFGS carries between evaluations. Arrays are never written in place: a
    new state shares the ones that did not change."""

    x: np.ndarray  # the last accepted point, float64 (n,), inside the box
    f: float  # the objective there (nan until the start is evaluated)
    g: np.ndarray  # its gradient (empty until then)
    d: np.ndarray  # the search direction from x (empty until then)
    s: tuple[np.ndarray, ...]  # corrections x_k+1 − x_k, oldest first, at most `memory`
    y: tuple[np.ndarray, ...]  # gradient differences g_k+1 − g_k, with them
    step: float = 0.0  # t: the trial point is clip(x + t d)
    low: float = 0.0  # the largest step tried that was too short (0: none)
    high: float = math.inf  # the smallest step tried that did not lower f enough (inf: none)
    trials: int = 0  # evaluations in this line search
    evaluations: int = 0  # evaluations told so far
    phase: str = START  # start: evaluate x; search or retry: the trial point; done
    memory: int = MEMORY
    lower: float = 0.0
    upper: float = 255.0

    @property
    def done(self) -> bool:
        """True once no step lowers the objective (a zero projected gradient, or searches
        failing from steepest descent): asking for more points is an error."""
        return self.phase == DONE


def start(x: np.ndarray, lower: float = 0.0, upper: float = 255.0, memory: int = MEMORY) -> State:
    """The state before any evaluation: the first point asked is `x` clipped into the box."""
    point = np.clip(np.asarray(x, np.float64).ravel(), lower, upper)
    empty = np.zeros(0)
    return State(point, math.nan, empty, empty, (), (), memory=memory, lower=lower, upper=upper)


def ask(state: State) -> np.ndarray:
    """The point to evaluate next, float64 (n,), inside the box."""
    if state.phase == DONE:
        raise ValueError("L-BFGS is done: no step lowers the objective")
    if state.phase == START:
        return state.x
    return np.clip(state.x + state.step * state.d, state.lower, state.upper)


def tell(state: State, f: float, g: np.ndarray) -> State:
    """The state after the point `ask(state)` evaluated to objective `f`, gradient `g`
    (finite; kept, not copied)."""
    g = np.asarray(g, np.float64).ravel()
    state = dataclasses.replace(state, evaluations=state.evaluations + 1)
    if state.phase == START:
        return begin_search(dataclasses.replace(state, f=float(f), g=g))
    trial = ask(state)
    if state.phase == RETRY:  # the best step found, evaluated again: taken as it is
        return accept(state, trial, f, g)
    moved = trial - state.x
    slope = float(state.g @ moved)
    lowered = f < state.f and f <= state.f + ARMIJO * min(slope, 0.0)
    trials = state.trials + 1
    if not lowered:
        return shorter(dataclasses.replace(state, trials=trials), f, slope)
    long_enough = float(g @ moved) >= CURVATURE * slope
    if long_enough or state.high < math.inf or trials >= MAX_TRIALS:
        return accept(state, trial, f, g)
    return dataclasses.replace(state, low=state.step, step=GROW * state.step, trials=trials)


def shorter(state: State, f: float, slope: float) -> State:
    """After a trial step that did not lower f enough: a shorter one, or a new search."""
    step = state.step
    if state.trials >= MAX_TRIALS:
        if state.low > 0:  # a step that lowered f: evaluate it again and take it
            return dataclasses.replace(state, phase=RETRY, step=state.low)
        if state.s:  # the memory misled: steepest descent
            return begin_search(dataclasses.replace(state, s=(), y=()))
        return dataclasses.replace(state, phase=DONE)
    if state.low > 0:
        next_step = 0.5 * (state.low + step)  # bisect the bracket
    else:  # the minimiser of the quadratic through f(0), f'(0) and f(t), kept in [t/10, t/2]
        curve = f - state.f - slope
        guess = -slope * step / (2 * curve) if curve > 0 and slope < 0 else 0.5 * step
        next_step = min(max(guess, 0.1 * step), 0.5 * step)
    return dataclasses.replace(state, high=step, step=next_step)


def accept(state: State, point: np.ndarray, f: float, g: np.ndarray) -> State:
    """Move to `point`, keep its correction pair if its curvature is positive, search on."""
    s, y = point - state.x, g - state.g
    pairs_s, pairs_y = state.s, state.y
    if float(s @ y) > EPSILON * float(y @ y):
        pairs_s = (*pairs_s, s)[-state.memory :]
        pairs_y = (*pairs_y, y)[-state.memory :]
    moved = dataclasses.replace(state, x=point, f=float(f), g=g, s=pairs_s, y=pairs_y)
    return begin_search(moved)


def begin_search(state: State) -> State:
    """A new line search from the accepted point: the direction and the first step."""
    held = held_fixed(state.x, state.g, state.lower, state.upper)
    gradient = np.where(held, 0.0, state.g)
    if not gradient.any():  # a zero projected gradient: a stationary point in the box
        return dataclasses.replace(state, phase=DONE, d=gradient, trials=0)
    d = np.where(held, 0.0, -two_loop(gradient, state.s, state.y))
    if state.s and not float(state.g @ d) < 0:  # rounding made it uphill: steepest descent
        return begin_search(dataclasses.replace(state, s=(), y=()))
    first = 1.0 if state.s else first_step(d, state.lower, state.upper)
    return dataclasses.replace(
        state, d=d, step=first, low=0.0, high=math.inf, trials=0, phase=SEARCH
    )


def first_step(d: np.ndarray, lower: float, upper: float) -> float:
    """The first trial step without pairs: the largest change FIRST_MOVE of the box's width
    (SciPy's 1/|d| where the box is unbounded)."""
    width = upper - lower
    if math.isfinite(width):
        return FIRST_MOVE * width / float(np.abs(d).max())
    return 1.0 / float(np.linalg.norm(d))


def held_fixed(x: np.ndarray, g: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """The variables at a bound whose gradient points out of the box (descent would leave)."""
    return ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))


def two_loop(g: np.ndarray, s: tuple, y: tuple) -> np.ndarray:
    """H g for the L-BFGS inverse Hessian H of the pairs (s, y), H0 = (s·y / y·y) I of the
    newest pair (I without pairs): Nocedal and Wright, algorithm 7.4."""
    q = g.copy()
    rho = [1.0 / float(yi @ si) for si, yi in zip(s, y, strict=True)]
    alpha = []
    for si, yi, ri in zip(reversed(s), reversed(y), reversed(rho), strict=True):
        a = ri * float(si @ q)
        q -= a * yi
        alpha.append(a)
    if s:
        q *= float(s[-1] @ y[-1]) / float(y[-1] @ y[-1])
    for si, yi, ri, a in zip(s, y, rho, reversed(alpha), strict=True):
        b = ri * float(yi @ q)
        q += (a - b) * si
    return q


def to_arrays(state: State) -> dict[str, np.ndarray]:
    """The state as named arrays for an .npz (numbers as 0-d arrays, pairs one per key)."""
    arrays = {}
    for field in dataclasses.fields(State):
        value = getattr(state, field.name)
        if field.name in ("s", "y"):
            arrays.update({f"{field.name}_{i}": v for i, v in enumerate(value)})
        else:
            arrays[field.name] = np.asarray(value)
    arrays["pairs"] = np.asarray(len(state.s))
    return arrays


def from_arrays(arrays) -> State:
    """The state `to_arrays` wrote (a dict or an open .npz with those keys)."""
    pairs = int(arrays["pairs"])
    values = {}
    for field in dataclasses.fields(State):
        if field.name in ("s", "y"):
            values[field.name] = tuple(
                np.asarray(arrays[f"{field.name}_{i}"]) for i in range(pairs)
            )
        elif field.name in ("x", "g", "d"):
            values[field.name] = np.asarray(arrays[field.name], np.float64)
        else:
            values[field.name] = np.asarray(arrays[field.name]).item()
    return State(**values)

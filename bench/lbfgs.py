"""Our L-BFGS (nst.core.lbfgs) against SciPy's L-BFGS-B on the real objective: same start, same
objective and gradient function, the best objective after k evaluations.

python -m bench.lbfgs [--size 128] [--evaluations 200] [--weights PATH] [--images DIR]

Prints a Markdown table: evaluations, SciPy's best objective, ours, ours / SciPy (below 1:
ours lower), and each one's seconds. Tübingen in Starry Night's style on VGG16 from the
photo itself, tv_weight 0, the default settings otherwise (float32).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--evaluations", type=int, default=200)
    parser.add_argument("--checks", default="10,25,50,100,200", help="k to print")
    parser.add_argument(
        "--weights", default=str(SHARED / "weights" / "vgg16_imagenet_notop.weights.h5")
    )
    parser.add_argument("--images", type=Path, default=SHARED / "images")
    return parser.parse_args(argv)


def problem(size: int, weights: str, images: Path):
    """(function x -> (f, g) in float64 over the flattened image, the start)."""
    import tensorflow as tf

    from nst.core.objective import build_terms, make_objective, signature, tensors
    from nst.core.optimize import make_value_and_gradient
    from nst.inputs.images import load_pair
    from nst.run.process import build_extractor
    from nst.settings import load_settings

    overrides = (
        "model.network=vgg16",
        f"model.weights={weights}",
        "optimizer.name=lbfgs",
        "loss.tv_weight=0",  # as measured in bench/results/batch.md (the default before 10)
    )
    settings = load_settings(None, overrides)
    content, style = load_pair(images / "tubingen.jpg", images / "starry_night.jpg", size)
    extractor = build_extractor(settings)
    model = settings.model
    terms = build_terms(extractor, content, (style,), model, settings.loss)
    objective, targets = make_objective(extractor, signature(terms)), tensors(terms)
    value_and_gradient = make_value_and_gradient(objective)

    def function(x: np.ndarray) -> tuple[float, np.ndarray]:
        image = tf.constant(x.reshape((1, *content.shape)), tf.float32)
        losses, gradient = value_and_gradient(image, targets)
        return float(losses.total), gradient.numpy().astype(np.float64).ravel()

    return function, content.astype(np.float64).ravel()


def scipy_run(function, start: np.ndarray, evaluations: int) -> list[float]:
    """SciPy's L-BFGS-B (as nst ran it before: m = 10, no tolerances): f per evaluation."""
    from scipy.optimize import Bounds, minimize

    values: list[float] = []

    def counted(x):
        f, g = function(x)
        values.append(f)
        return f, g

    options = {"maxfun": evaluations, "maxiter": evaluations, "ftol": 0, "gtol": 0}
    minimize(counted, start, jac=True, method="L-BFGS-B", bounds=Bounds(0, 255), options=options)
    return values[:evaluations]


def our_run(function, start: np.ndarray, evaluations: int) -> list[float]:
    """nst.core.lbfgs driven by ask and tell: f per evaluation."""
    from nst.core import lbfgs

    state, values = lbfgs.start(start), []
    while len(values) < evaluations and not state.done:
        f, g = function(lbfgs.ask(state))
        values.append(f)
        state = lbfgs.tell(state, f, g)
    return values


def best_after(values: list[float], k: int) -> float:
    """The lowest objective among the first k evaluations (nan if fewer were made)."""
    return min(values[:k]) if len(values) >= k else float("nan")


def main(argv=None) -> None:
    args = parse_args(argv)
    function, start = problem(args.size, args.weights, args.images)
    function(start)  # trace once, outside the timings
    columns = {}
    for name, runner in (("SciPy L-BFGS-B", scipy_run), ("ours", our_run)):
        began = time.perf_counter()
        columns[name] = runner(function, start, args.evaluations), time.perf_counter() - began
    (theirs, their_s), (ours, our_s) = columns.values()
    print(f"VGG16, tubingen x starry_night, {args.size} px, start f = {ours[0]:.6g}")
    print(f"seconds: SciPy {their_s:.0f}, ours {our_s:.0f}\n")
    print("| evaluations | SciPy L-BFGS-B | ours | ours / SciPy |")
    print("|---:|---:|---:|---:|")
    for k in (int(c) for c in args.checks.split(",")):
        a, b = best_after(theirs, k), best_after(ours, k)
        print(f"| {k} | {a:.5g} | {b:.5g} | {b / a:.3f} |")


if __name__ == "__main__":
    main()

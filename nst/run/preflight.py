"""Checks made before any real work: the image is big enough for the network, the results
folder is writable with room to spare, and the machine has the memory the run needs.

Nothing here imports TensorFlow: a run that cannot succeed is refused in well under a second,
not after the model is built or an hour into the optimisation.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import replace
from pathlib import Path

from nst.core import lbfgs
from nst.core.scales import Scale, run_plan
from nst.core.tilegrid import (
    ACTIVATION_COPIES,
    SlicedBytes,
    activation_values,
    cores,
    picture_bytes,
    reach,
    sliced_bytes,
    smallest_side,
    step_bytes,
    tile_side,
    tiled_step_bytes,
)
from nst.inputs.images import ImageError, fit_size
from nst.run.memlimits import (
    RUNTIME_BYTES,
    address_space_limit,
    address_space_needed,
    cgroup_available,
    mem_available,
)
from nst.settings import (
    MAX_SIDE,
    ImageSettings,
    ModelSettings,
    OptimizerSettings,
    OutputSettings,
)
from nst.settings.networks import (
    deepest_layer,
    layer_shapes,
    min_input_side,
    parameter_count,
    style_loss_layers,
)

MB = 1024**2
# Memory model: the Python and TensorFlow runtime, the network's weights (loaded whole, then
# cut) and the cut network's activations for one image, each times a factor, fitted to the
# measured peak RSS of real runs (TF 2.21 CPU, VGG16 ImageNet, 256-1024 px, float32 and
# bfloat16, Adam and L-BFGS, 1 and 2 scales, style_scale 2 and 4: within -8..+14 %,
# bench/results/memory.md).
WEIGHT_COPIES = 2
# An optimisation step: the activations and their gradients, ACTIVATION_COPIES times them
# (nst.core.tilegrid, which sizes the tiles of a step that does not fit by the same estimate).
# The style image's one forward pass (its Gram targets, before the loop), freed layer by
# layer: 0.85 x its activations (style_scale 2 at 512 and 1024 px).
STYLE_COPIES = 0.85
# Spatial control (nst.core.guided): each region's masked features at every style layer, an
# (R, M_l, N_l) tensor, and its gradient in the step: 2 copies (see guided_values).
GUIDED_COPIES = 2
PLOT_BYTES = 1 * MB  # four loss plots, generously
# evolution.gif: at most 50 frames of at most 320x320 px and a caption strip, a byte a pixel,
# LZW's worst case 1.5 times that (12-bit codes for 8-bit pixels): under 10 MB.
ANIMATION_BYTES = 16 * MB
ENCODED_HEADER_BYTES = 2048  # a PNG's or TIFF's headers and tags (under 500 bytes), and slack
SRGB_PROFILE_BYTES = 1024  # the sRGB profile every PNG and TIFF carries (LittleCMS's: 588 bytes)
# The checkpoint (nst.output.checkpoint), bytes per value of the picture: Adam 6 float32
# copies (image, averaged image, and the parameters with their first and second moments: a
# pyramid's levels ([image] parameterization = pyramid, the default) add up to 4/3 of the
# pixels, so 3 x 4/3); L-BFGS a float32 image and float64 x, g, d and its MEMORY pairs s, y
# (10: 4 + 8 * 23).
ADAM_CHECKPOINT_BYTES = 4 * 6
# What the checkpoint's state takes in memory while it is written (streamed, array by array):
# Adam's arrays are NumPy copies of its TensorFlow variables (ADAM_CHECKPOINT_BYTES); L-BFGS's
# are its own vectors (counted in LBFGS_BYTES_PER_VALUE) but for its float32 image.
ADAM_STATE_BYTES = ADAM_CHECKPOINT_BYTES
LBFGS_STATE_BYTES = 4
# The saved pictures, bytes per value: the float32 picture a saved record carries out of the
# loop and the one the run's writer keeps for the print file (nst.output.outputs.RunWriter),
# both alive while an iterate is made. A whole 4096x3072 run with memory_limit = 8 peaked a
# picture's 151 MB above the limit at its first iterate after those were left out
# (bench/results/print_4096.md).
SAVED_PICTURE_BYTES = 4 * 2
LBFGS_CHECKPOINT_BYTES = 4 + 8 * (3 + 2 * lbfgs.MEMORY)
# L-BFGS adds float64 vectors of the image's size (nst.core.lbfgs): its 10 correction pairs, the
# point, gradient and direction (23), while a pair is taken the old point, gradient and
# direction and the pair about to be dropped (+5), and the work vectors of a step (trial
# point, gradient in float64, two-loop vector: +4), rounded up: 34. Counted, not fitted;
# SciPy's L-BFGS-B, used before, measured 44-49 vectors above Adam.
LBFGS_BYTES_PER_VALUE = 8 * 34
MAX_SIZE_STEP = 32  # suggested sizes are multiples of this


class ResourceError(RuntimeError):
    """The machine cannot run this as configured (folder, disk, memory); the message says why
    and what to change."""


def check_fits_network(
    path: Path,
    width: int,
    height: int,
    model: ModelSettings,
    source: tuple[int, int] | None = None,
) -> None:
    """Refuse a (resized) content image too small for the poolings before the deepest layer;
    `source`, the image's own (width, height), makes the suggested max_size exact."""
    layers = (*model.content_layers, *model.style_layers)
    side = min_input_side(model.network, layers)
    if min(width, height) >= side:
        return
    needed = smallest_max_size(source, side) if source else size_for_short_side(width, height, side)
    fix = (
        f"raise [image] max_size to at least {needed}"
        if needed is not None and needed <= MAX_SIDE
        else "crop it to a less extreme aspect ratio"
    )
    raise ImageError(
        f"image {path} is {width}x{height} pixels after resizing, too small for "
        f"{model.network} up to {deepest_layer(model.network, layers)}: each side must be at "
        f"least {side} pixels (the network halves it at each pooling); {fix}, or use "
        f"shallower layers"
    )


def smallest_max_size(source: tuple[int, int], side: int) -> int | None:
    """The smallest max_size the settings accept at which an image of `source` (width,
    height) keeps `side` pixels on its shorter side after resizing; None if none does."""
    return next(
        (size for size in range(1, MAX_SIDE + 1) if min(fit_size(*source, size)) >= side),
        None,
    )


def size_for_short_side(width: int, height: int, side: int) -> int | None:
    """The smallest max_size at which an image now resized to width x height (longer side =
    max_size, shorter side rounded) keeps `side` pixels on its shorter side; None when the
    rounding hides its true aspect (a 1-pixel side). The original's shorter side was at least
    (short - 0.5) / long of the longer, so the size is computed from that, then verified."""
    long, short = max(width, height), min(width, height)
    if short < 2:
        return None
    size = math.ceil(side * long / (short - 0.5))
    return size


def output_bytes(
    width: int,
    height: int,
    image: ImageSettings,
    optimizer: OptimizerSettings,
    output: OutputSettings,
    profile_bytes: int = 0,
) -> int:
    """An upper bound on what a run on a width x height picture writes: every scale's iterates
    (8-bit sRGB PNGs), the print file as [output] asks (print_bytes; `profile_bytes`: the
    size of the content photo's profile with profile = content), the checkpoint while it is
    replaced, the log, the plots and evolution.gif. Encoded files are counted as if nothing
    compressed (a noisy picture barely does)."""
    total = PLOT_BYTES + ANIMATION_BYTES + print_bytes(width, height, output, profile_bytes)
    for h, w, iterations in run_plan(height, width, image, optimizer):
        iterates = iterations // output.save_every + 2  # iteration 0 and the last one
        total += iterates * encoded_bytes(w, h) + 100 * (iterations + 1)
    # The checkpoint of the full scale, the largest, twice: the new one is written beside
    # the old before it replaces it.
    return total + 2 * checkpoint_bytes(width * height * 3, optimizer.name)


def encoded_bytes(
    width: int, height: int, sample_bytes: int = 1, profile_bytes: int = SRGB_PROFILE_BYTES
) -> int:
    """An upper bound on a PNG or TIFF of width x height RGB pixels, samples of `sample_bytes`
    bytes, that do not compress: the samples and PNG's filter byte per row, deflate's stored
    blocks and the chunks or strips that hold them (under 0.2 %: 1/256 counted), the headers
    and the embedded profile."""
    raw = height * (1 + width * 3 * sample_bytes)
    return raw + raw // 256 + ENCODED_HEADER_BYTES + profile_bytes


def print_bytes(width: int, height: int, output: OutputSettings, profile_bytes: int = 0) -> int:
    """An upper bound on the print file of a width x height result ([output] bit_depth,
    format): 3 samples of 1 or 2 bytes a pixel, in final.png, or in final.tiff and final.png
    beside it in 8-bit sRGB. `profile_bytes`: the embedded profile's size where it is not
    sRGB (profile = content)."""
    profile = max(profile_bytes, SRGB_PROFILE_BYTES)
    final = encoded_bytes(width, height, int(output.bit_depth) // 8, profile)
    if output.format == "tiff":
        final += encoded_bytes(width, height)
    return final


def checkpoint_bytes(values: int, optimizer_name: str) -> int:
    """An upper bound on the checkpoint of a picture of `values` samples (nst.output.checkpoint):
    Adam's image, averaged image and two moments in float32; L-BFGS's image in float32 and its
    point, gradient, direction and correction pairs in float64; the .npz's headers."""
    per_value = LBFGS_CHECKPOINT_BYTES if optimizer_name == "lbfgs" else ADAM_CHECKPOINT_BYTES
    return per_value * values + 64 * 1024


def check_results_folder(results_dir: Path, needed_bytes: int) -> None:
    """Create `results_dir` if needed, prove that it is writable (write, sync and delete a
    probe file) and that its disk has `needed_bytes` free."""
    where = f"[paths] results_dir = {results_dir}"
    if results_dir.exists() and not results_dir.is_dir():
        raise ResourceError(f"{where} is a file, not a folder: give a folder")
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        probe = results_dir / f".nst-write-test-{os.getpid()}"
        try:
            with open(probe, "wb") as file:
                file.write(b"\0" * 4096)
                file.flush()
                os.fsync(file.fileno())
        finally:
            probe.unlink(missing_ok=True)
        free = shutil.disk_usage(results_dir).free
    except OSError as error:
        raise ResourceError(
            f"{where}: cannot write there ({error.strerror or error}): choose a folder you "
            f"can write to, or fix its permissions or free space"
        ) from None
    if free < needed_bytes:
        raise ResourceError(
            f"{where}: only {free / MB:.0f} MB free on its disk, and this run may write up to "
            f"{needed_bytes / MB:.0f} MB (its iterates, print file and checkpoint): free some "
            f"space, choose another folder, or raise [output] save_every"
        )


def guided_values(model: ModelSettings, width: int, height: int) -> int:
    """Values of one region's masked features at all the style layers: Σ_l M_l N_l."""
    sizes = {name: h * w * c for name, h, w, c in layer_shapes(model.network, height, width)}
    return sum(sizes[name] for name in model.style_layers)


def memory_needed(
    model: ModelSettings,
    width: int,
    height: int,
    optimizer_name: str = "adam",
    style_sizes: tuple[tuple[int, int], ...] = (),
    regions: int = 0,
) -> int:
    """Estimated peak memory, in bytes, of a run on a width x height content image (see the
    model at the top of this module): the larger of an optimisation step's activations and
    the one forward pass of the largest style image (`style_sizes`: (width, height) each,
    its activations counted 0.85 times: a forward pass frees them layer by layer);
    L-BFGS adds SciPy's float64 workspace. Activations are counted as float32 whatever the
    precision: bfloat16's features are float32 again, and its weights a second copy.
    `regions`: the masked regions of spatial control (0: none), whose masked features the
    step adds."""
    step = int(ACTIVATION_COPIES * 4 * activation_values(model, width, height))
    step += GUIDED_COPIES * 4 * regions * guided_values(model, width, height)
    style = max(
        (int(STYLE_COPIES * 4 * activation_values(model, w, h)) for w, h in style_sizes),
        default=0,
    )
    weights = parameter_count(model.network) * 4
    lbfgs = LBFGS_BYTES_PER_VALUE * width * height * 3 if optimizer_name == "lbfgs" else 0
    return RUNTIME_BYTES + WEIGHT_COPIES * weights + max(step, style) + lbfgs


def tiled_memory_needed(
    model: ModelSettings,
    width: int,
    height: int,
    optimizer_name: str = "adam",
    regions: int = 0,
    side: int | None = None,
    style_loss: str = "gram",
    style_area: float = 1.0,
) -> int:
    """`memory_needed` of a run whose full scale steps over tiles of `side` px cores (None:
    the smallest sensible, nst.core.tilegrid.smallest_side): the runtime, the weights, the
    widest tile's step (its targets are computed over the same tiles, so the style images'
    passes are bounded by it too), what the scale keeps of the whole picture, the regions'
    masked features in a tile and their masks on the whole picture, the optimiser's state
    (optimizer_bytes), and the sliced loss's tables (`style_loss`, style_extra_bytes)."""
    side = smallest_side(model) if side is None else side
    tile = min(max(width, height), side + 2 * reach_halo(model))
    step = tiled_step_bytes(model, height, width, side)
    step += GUIDED_COPIES * 4 * regions * guided_values(model, tile, tile)
    masks = layer_shapes(model.network, height, width)
    step += 4 * regions * sum(h * w for name, h, w, _ in masks if name in model.style_layers)
    weights = parameter_count(model.network) * 4
    beside = optimizer_bytes(width * height * 3, optimizer_name)
    extra = style_extra_bytes(model, height, width, style_loss, regions, style_area)
    return RUNTIME_BYTES + WEIGHT_COPIES * weights + step + beside + max(extra)


def style_extra_bytes(model, height, width, style_loss: str, regions: int, style_area: float):
    """What the style loss keeps of the whole picture beside a step over tiles, as
    nst.core.tilegrid.SlicedBytes (the sliced loss's tables and style grid); none for the Gram
    loss. A whole step with the sliced loss peaked no higher than with the Gram loss (512 and
    1024 px, bench/results/memory.md), so only a tiled step counts them."""
    _, sliced = style_loss_layers(style_loss, model.style_layers)
    if not sliced:
        return SlicedBytes(0, 0)
    return sliced_bytes(replace(model, style_layers=sliced), height, width, regions, style_area)


def style_area(image: ImageSettings) -> float:
    """The style image's area at a scale as a share of the picture's ([image] style_scale:
    stretched to the content, or its longer side s times the content's)."""
    return 1.0 if image.style_scale is None else image.style_scale**2


def reach_halo(model: ModelSettings) -> int:
    """The pixels a tile reaches past its core (nst.core.tilegrid.reach)."""
    return reach(model.network, (*model.content_layers, *model.style_layers)).halo


def least_memory_needed(
    model, width, height, optimizer_name, style_sizes, regions, tileable, style=("gram", 1.0)
):
    """The least memory a run can take: whole, or (`tileable`: where the step may run over
    tiles) over the smallest sensible tiles, whichever is less. `style`: (the style loss, the
    style's area as a share of the picture's; style_area)."""
    whole = memory_needed(model, width, height, optimizer_name, style_sizes, regions)
    if not tileable:
        return whole
    tiled = tiled_memory_needed(model, width, height, optimizer_name, regions, None, *style)
    return min(whole, tiled)


def step_budget(
    model: ModelSettings,
    image: ImageSettings,
    optimizer_name: str,
    available: int | None,
    width: int | None = None,
    height: int | None = None,
    style_loss: str = "gram",
    regions: int = 0,
) -> int | None:
    """The bytes an optimisation step's activations may take ([image] memory_limit, or auto:
    `available`, None if unknown) once the runtime, the weights, the optimiser's state
    (optimizer_bytes) and what a tiled scale keeps of the whole width x height picture (None:
    max_size square; with `style_loss` sliced its tables beside tiles, style_extra_bytes,
    unless the whole step fits without them) are counted: what
    nst.core.optimize.stylize's memory_budget takes (None: no limit)."""
    limit = available if image.memory_limit is None else int(image.memory_limit * 1024**3)
    if limit is None:
        return None
    fixed = RUNTIME_BYTES + WEIGHT_COPIES * parameter_count(model.network) * 4
    width, height = width or image.max_size, height or image.max_size
    beside = optimizer_bytes(width * height * 3, optimizer_name)
    room = limit - fixed - beside - picture_bytes(model, height, width)
    tables, grid = style_extra_bytes(model, height, width, style_loss, regions, style_area(image))
    if (tables or grid) and step_bytes(model, width, height) <= room:
        # a whole step makes its tables inside the step, at no higher peak than the Gram
        # loss's (bench/results/memory.md): it steps whole, where tiles would be twice as slow
        return room
    # the style's grid is kept beside a tile's forward pass, which takes 1 / ACTIVATION_COPIES
    # of its step's memory or less
    return max(0, min(room - tables, int(ACTIVATION_COPIES * (room - grid))))


def step_budgets(settings, available, regions: int = 0):
    """Per scale, (height, width) -> step_budget at that size for a run of `settings`: a
    coarser scale keeps less beside its step, so it may step whole where the full size must
    tile."""
    model, image, optimizer = settings.model, settings.image, settings.optimizer
    style_loss = settings.loss.style_loss
    return lambda height, width: step_budget(
        model, image, optimizer.name, available, width, height, style_loss, regions
    )


def optimizer_bytes(values: int, optimizer_name: str) -> int:
    """What the optimiser keeps beside a step on a picture of `values` samples: L-BFGS's
    float64 vectors, and the checkpoint's state built every [output] save_every steps (a
    whole 4096x3072 run peaked 2.5 GB over [image] memory_limit = 8 while the state was kept
    between checkpoints and written through a bytes copy, bench/results/memory_run.md); and
    the saved pictures (SAVED_PICTURE_BYTES)."""
    if optimizer_name == "lbfgs":
        return (LBFGS_BYTES_PER_VALUE + LBFGS_STATE_BYTES + SAVED_PICTURE_BYTES) * values
    return (ADAM_STATE_BYTES + SAVED_PICTURE_BYTES) * values


def tiles_note(model: ModelSettings, plan: list[Scale], budgets) -> str | None:
    """The line that says which scales of `plan` will step over tiles within `budgets`
    (step_budgets: bytes per scale size), and in how many; None where every scale runs whole."""
    parts, budget = [], None
    for number, scale in enumerate(plan, 1):
        side = tile_side(model, scale.height, scale.width, budgets(scale.height, scale.width))
        if side is None:
            continue
        budget = budgets(scale.height, scale.width)  # the message names the largest tiled
        size = f"{scale.width}x{scale.height}"
        label = f"scale {number}/{len(plan)} ({size})" if len(plan) > 1 else f"the {size} picture"
        count = len(cores(scale.height, scale.width, side))
        parts.append(f"{label}{' will run' * (not parts)} in {count} tiles of {side} px")
    if not parts:
        return None
    return (
        f"{', '.join(parts)}: a whole step would not fit the {budget / MB:,.0f} MB a step may "
        f"take (the same result, slower; [image] memory_limit sets the memory)"
    )


def check_run_memory(
    settings,
    width: int,
    height: int,
    available: int | None,
    style_sizes: tuple = (),
    regions: int = 0,
    plan=None,
) -> str | None:
    """check_memory for a run of `settings` on a width x height picture, against `available`
    bytes (available_memory) and [image] memory_limit (the smallest tiles must fit the user's
    bound too); then the tiles note (tiles_note) of `plan` (None: the still's coarse-to-fine
    plan), or None."""
    model, image, optimizer = settings.model, settings.image, settings.optimizer
    style = (settings.loss.style_loss, style_area(image))
    limits = [(available, "is available", address_space_limit())]
    if image.memory_limit is not None:
        limits.append((int(image.memory_limit * 1024**3), "allowed by [image] memory_limit", None))
    for limit, what, address_space in limits:
        check_memory(
            model, width, height, image.max_size, limit, optimizer.name, style_sizes,
            address_space, regions, True, what, style,
        )  # fmt: skip
    plan = run_plan(height, width, image, optimizer) if plan is None else plan
    return tiles_note(model, plan, step_budgets(settings, available, regions))


def run_memory_needed(settings, inputs) -> int:
    """`memory_needed` for a run of `settings` on its loaded `inputs` (nst.inputs.styles.Inputs):
    the full scale is the largest (coarse-to-fine's smaller scales come first and are freed)."""
    height, width = inputs.content.shape[:2]
    styles = tuple((style.shape[1], style.shape[0]) for style in inputs.styles)
    regions = region_count(inputs.guidance)
    return memory_needed(settings.model, width, height, settings.optimizer.name, styles, regions)


def region_count(guidance) -> int:
    """The masked regions of a run's nst.inputs.masks.Guidance (None, or style masks only: 0)."""
    return 0 if guidance is None else len(guidance.style_masks)


def available_memory() -> int | None:
    """Bytes this process can still take: MemAvailable, capped by every memory cgroup limit
    that applies to it (nested included). None where that cannot be read (not Linux): the
    memory check is then skipped."""
    available = mem_available()
    limited = cgroup_available()
    if available is None or limited is None:
        return available if limited is None else limited
    return min(available, limited)


def check_memory(
    model: ModelSettings,
    width: int,
    height: int,
    max_size: int,
    available: int | None,
    optimizer_name: str = "adam",
    style_sizes: tuple[tuple[int, int], ...] = (),
    address_space: int | None = None,
    regions: int = 0,
    tileable: bool = False,
    what: str = "is available",
    style: tuple[str, float] = ("gram", 1.0),
) -> None:
    """Refuse a run whose estimated memory exceeds `available` bytes (None: unknown, allowed)
    or whose address space would exceed `address_space` (the `ulimit -v` limit, None: none),
    suggesting the largest max_size that fits. `tileable` (the step may run over tiles): a run too
    large for a whole step steps over tiles, and is refused only if even the smallest
    sensible tiles do not fit. `what` says what `available` is; `style`: (the style loss, the
    style's area as a share of the picture's)."""
    needed = least_memory_needed(
        model, width, height, optimizer_name, style_sizes, regions, tileable, style
    )
    mapped = address_space_needed(needed)
    if address_space is not None and mapped > address_space:
        raise ResourceError(
            f"the address-space limit (ulimit -v) is {address_space / MB:,.0f} MB, and a "
            f"{width}x{height} run with {model.network} maps about {mapped / MB:,.0f} MB "
            f"(TensorFlow reserves far more address space than the {needed / MB:,.0f} MB it "
            f"uses): raise the limit (`ulimit -v unlimited`) or limit memory with a cgroup "
            f"instead"
        )
    if available is None or needed <= available:
        return

    def shrunk(size: int) -> tuple[tuple[int, int], tuple[tuple[int, int], ...]]:
        scale = size / max(width, height)  # the style images shrink with the content
        styles = tuple(fit_size(w, h, round(max(w, h) * scale)) for w, h in style_sizes)
        return fit_size(width, height, size), styles

    fits = [
        size
        for size in range(MAX_SIZE_STEP, max_size, MAX_SIZE_STEP)
        if least_memory_needed(
            model, *shrunk(size)[0], optimizer_name, shrunk(size)[1], regions, tileable, style
        )
        <= available
    ]
    fix = (
        f"set [image] max_size to {fits[-1]} or less"
        if fits
        else "close other programs or use a machine with more memory"
    )
    if style[0] != "gram":  # the sliced tables are what a print's last megabytes go to
        gram = least_memory_needed(
            model, width, height, optimizer_name, style_sizes, regions, tileable,
            ("gram", style[1]),
        )  # fmt: skip
        if gram <= available:
            fix += f", or set [loss] style_loss = gram (about {gram / MB:,.0f} MB)"
    tiles = f" even over the smallest tiles ({smallest_side(model)} px)" if tileable else ""
    raise ResourceError(
        f"a {width}x{height} image with {model.network} needs about {needed / MB:,.0f} MB of "
        f"memory{tiles}, but only {available / MB:,.0f} MB {what}: {fix}"
    )

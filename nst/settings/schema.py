"""The settings, section by section: each field's single default, kind and config.ini comment.

This file is the one place a default lives; config.ini is generated from it (`render`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from nst.settings.kinds import (
    AUTO_REGIONS_ALIASES,
    AUTO_REGIONS_CHOICES,
    ENGINE_CHOICES,
    FINEST_SCALE_CHOICES,
    FORMAT_CHOICES,
    FOUND_REGIONS,
    INIT_CHOICES,
    MAX_SIDE,
    OPTIMIZER_CHOICES,
    PADDING_CHOICES,
    PARAMETERIZATION_CHOICES,
    POOLING_CHOICES,
    PRECISION_CHOICES,
    PRESERVE_COLORS_CHOICES,
    PROFILE_CHOICES,
    REFERENCE_TERMS_CHOICES,
    SOURCE,
    STRETCH,
    STYLE_LOSS_CHOICES,
    VIDEO_INIT_CHOICES,
    Choice,
    FilePath,
    Flag,
    FrameRange,
    ListOf,
    Number,
    NumberOr,
    OptionalPath,
    RegionStyles,
    Text,
    Weights,
    setting,
)
from nst.settings.networks import MIN_SIDE, NETWORKS, PAPER_STYLE_LAYERS

# --- the sections -------------------------------------------------------------------------


@dataclass(frozen=True)
class PathsSettings:
    content_image: Path = setting(
        Path("data/content.png"),
        FilePath(),
        "photo whose content is kept; --batch: a folder or glob, one item per image",
    )
    style_image: tuple[Path, ...] = setting(
        (Path("data/style.png"),),
        ListOf(FilePath()),
        "image whose style is painted; several: comma-separated, blended (see [loss]); "
        "--batch: one folder or glob, one item per image",
    )
    results_dir: Path = setting(Path("results"), FilePath(), "each run makes a new folder in here")
    style_masks: tuple[Path, ...] = setting(
        (),
        ListOf(FilePath(), allow_empty=True),
        "one mask per style image (white: that style, grey: partly, any size); empty: none",
    )
    style_image_masks: tuple[Path, ...] = setting(
        (),
        ListOf(FilePath(), allow_empty=True),
        "one mask per style image: the part of that painting whose style counts (white; grey: "
        "partly; any size); empty: each whole painting",
    )
    regions: Path | None = setting(
        None,
        OptionalPath(),
        "colour-label image, each flat colour a region (see [loss] region_styles); empty: none",
    )
    content_mask: Path | None = setting(
        None, OptionalPath(), "mask (white) of where the result stays the photo; empty: none"
    )


@dataclass(frozen=True)
class ModelSettings:
    network: str = setting("vgg19", Choice(NETWORKS), "feature network: vgg19 | vgg16")
    weights: str = setting(
        "imagenet",
        Weights(),
        "imagenet (Keras downloads ~80 MB once) | random (no download, no art) | path",
    )
    pooling: str = setting(
        "avg",
        Choice(POOLING_CHOICES),
        "avg (Gatys et al.; same weights) | max (as trained)",
    )
    padding: str = setting(
        "reflect",
        Choice(PADDING_CHOICES),
        "the picture's border: reflect (mirrored 16 px past each edge, the features cropped "
        "back: no lines or blobs along the borders) | reflect_each (every convolution pads "
        "by mirroring one pixel instead of zeros) | reflect_first (only the first one does) | "
        "zeros (the network's own, the paper's)",
    )
    precision: str = setting(
        "auto",
        Choice(PRECISION_CHOICES),
        "network arithmetic: auto (bfloat16 for Adam on CPUs with native bf16, else "
        "float32) | float32 | bfloat16",
    )
    content_layers: tuple[str, ...] = setting(
        ("block3_conv3", "block4_conv2"),
        ListOf(),
        "layers whose features are the content (Keras names), each its relative error, "
        "averaged: block4_conv2 alone is the paper's; block3_conv3 beside it keeps thin "
        "structures (towers, window bars) the style would dissolve",
    )
    style_layers: tuple[str, ...] = setting(
        PAPER_STYLE_LAYERS[:-1],
        ListOf(),
        "layers whose feature statistics are the style (see [loss] style_loss): the paper's "
        "five without block5_conv1, whose pull (about 200 px wide) crackled faces and "
        "dissolved thin towers; adding it back gives larger swirls on some paintings",
    )
    style_layer_weights: tuple[float, ...] = setting(
        (),
        ListOf(Number(float, min=0), allow_empty=True),
        "one weight per style layer, normalised to sum 1; empty: equal weights",
    )


@dataclass(frozen=True)
class LossSettings:
    content_weight: float = setting(
        1.0,
        Number(float, min=0),
        "alpha: weight of the content term (relative error, averaged over the content layers)",
    )
    style_weight: float = setting(
        10.0, Number(float, min=0), "beta: weight of the style term (relative error)"
    )
    # mixed, not the paper's gram: on seven pairs at 512 px it kept thin structures and
    # painted longer, calmer strokes (no pair looked worse) in 0.99x gram's CPU time
    # (bench/results/defaults.md).
    style_loss: str = setting(
        "mixed",
        Choice(STYLE_LOSS_CHOICES),
        "mixed (Gram matrices in blocks 1-2, the brush texture; the sliced loss from block 3 "
        "on, the forms: about gram's time) | gram (the paper's Gram matrices everywhere) | "
        "sliced (whole feature distributions everywhere, sliced Wasserstein, Heitz et al. "
        "2021, 2-3x the time); each scaled so style_weight paints about as much",
    )
    tv_weight: float = setting(
        10.0,
        Number(float, min=0),
        "weight of total variation (smoothness: fewer specks of colour); 0 = off. tv is a "
        "mean over pixels (0..1) of squared neighbour differences, about 0.01-0.05 for a "
        "picture, against an objective near 1: values from about 1 to 100 matter, 1e-4 "
        "does nothing",
    )
    style_blend_weights: tuple[float, ...] = setting(
        (),
        ListOf(Number(float, min=0), allow_empty=True),
        "one weight per style image, normalised to sum 1; empty: equal weights",
    )
    region_styles: tuple[tuple[str, str], ...] = setting(
        (),
        RegionStyles(),
        "with [paths] regions: '#rrggbb: style image' per colour (style file name or photo)",
    )
    photo_weight: float = setting(
        1e4,
        Number(float, min=0),
        "pull towards the photo inside the photo region (mean squared pixel difference, 0..1)",
    )
    auto_regions: str = setting(
        "faces",
        Choice(AUTO_REGIONS_CHOICES, AUTO_REGIONS_ALIASES),
        "regions found in the content photo: faces (OpenCV's face finder, a fraction of a "
        "second: the faces keep more of the photo, face_style and face_content) | "
        "people (also the people and the background, "
        "by a selfie segmentation model, about a second more; needed for auto_region_styles) "
        "| off. A hand [paths] content_mask wins; with faces, hand [paths] regions or "
        "style_masks do too (no faces are looked for)",
    )
    auto_region_styles: tuple[tuple[str, str], ...] = setting(
        (),
        RegionStyles(FOUND_REGIONS),
        "with auto_regions = people: 'background | person | face: style image or photo' (face: its "
        "person's if not given); empty: the styles everywhere",
    )
    face_style: float = setting(
        0.25,
        Number(float, min=0, max=1),
        "with auto_regions, where the face has no style of its own: the share of the style's "
        "force inside the faces (0: as the photo's content, 1: styled like the rest)",
    )
    face_content: float = setting(
        4.0,
        Number(float, min=1),
        "with auto_regions, where the face has no style of its own: the content weight "
        "inside the faces, times the rest's (soft edged; 1: the same everywhere)",
    )
    face_photo: float = setting(
        30.0,
        Number(float, min=0),
        "with auto_regions, where the face has no style of its own: weight of a pull of the "
        "face's broad forms and shading (the picture's luminance blurred) towards the photo's, "
        "which keeps a face clean of crackle and leaves it the painting's colours and brush "
        "texture (0: off; 30 cleaned every face tried)",
    )


@dataclass(frozen=True)
class OptimizerSettings:
    name: str = setting(
        "adam",
        Choice(OPTIMIZER_CHOICES),
        "adam | lbfgs (our projected L-BFGS in 0..255, resumable; iterations count evaluations)",
    )
    learning_rate: float = setting(
        5.0,
        Number(float, min=0, min_open=True),
        "Adam step size, in pixel units (0..255)",
    )
    # Adam's first step moves every pixel by about learning_rate, whatever its gradient: at a
    # larger scale, whose start is the smaller scale's painted picture, that scatters it
    # into speckle the next steps must undo (at 2048 px: ~30 steps). With 10 the pictures
    # looked the same or cleaner on 7 pairs at 512 px and the stopping rule ended some
    # scales earlier (bench/results/finest_steps.md).
    warmup_steps: int = setting(
        10,
        Number(int, min=0),
        "with [image] scales > 1 (Adam): at each scale after the smallest, the step size rises "
        "linearly to learning_rate over this many steps (the first: learning_rate / this), so "
        "the first steps do not scatter the enlarged picture; 0 = full steps from the start",
    )
    anneal_to: float = setting(
        1.0,
        Number(float, min=0, max=1),
        "Adam: after the warm-up the step size falls along a half cosine to learning_rate "
        "times this at the scale's last step (its budget of iterations), so the last steps "
        "refine rather than shake the picture; 1 = learning_rate throughout",
    )
    # 100, not 300: the full size starts from the smaller scale's painted picture, and its
    # look was settled by step 100 on every pair tried (bench/results/finest_steps.md); the
    # stopping rule still ends most runs earlier.
    iterations: int = setting(
        100,
        Number(int, min=1),
        "number of optimisation steps (at the full size), at most; with more than 2 scales "
        "fewer (see iterations_decay)",
    )
    coarse_iterations: tuple[int, ...] = setting(
        (100,),
        ListOf(Number(int, min=1)),
        "with [image] scales > 1: steps at each smaller scale, smallest first (one value: "
        "all; from the third scale on fewer, see iterations_decay)",
    )
    # Each smaller scale before a scale leaves it less to do: at 1024 px (3 scales) 75
    # full-size steps looked like 100 on 3 pairs (70 close on a 4th), at 2048 px (4 scales)
    # 60-80 like 100 or more on 3, and 64 (with 80 at 1024 px before) like 72 on 2
    # (bench/results/finest_steps.md).
    iterations_decay: float = setting(
        0.8,
        Number(float, min=0, max=1, min_open=True),
        "with [image] scales > 2: the third scale takes its steps (coarse_iterations, or "
        "iterations at the full size) times this, the fourth times this squared, and so on, "
        "as the smaller scales leave each less to do (the full size: 1024 px 80 steps, "
        "2048 px 64, 4096 px 51); 1 = no decay",
    )
    tolerance: float = setting(
        0.02,
        Number(float, min=0),
        "stop a scale once the objective fell by less than this fraction of itself over the "
        "last `window` steps (iterations is then the maximum); 0 = always spend iterations",
    )
    window: int = setting(
        20, Number(int, min=1), "steps the stopping rule looks back over (see tolerance)"
    )
    average: float = setting(
        0.9,
        Number(float, min=0, max=0.999),
        "Adam: the result is a moving average of the iterates with this decay (0.9: about "
        "the last 10 steps), which removes the last steps' jitter; 0 = the last iterate",
    )
    beta_1: float = setting(0.9, Number(float, min=0, max=0.999999), "Adam's beta_1")
    beta_2: float = setting(0.999, Number(float, min=0, max=0.999999), "Adam's beta_2")
    epsilon: float = setting(
        1e-8,
        Number(float, min=0, min_open=True),
        "Adam's epsilon: far below the gradients, so a step moves pixels ~learning_rate",
    )


@dataclass(frozen=True)
class ImageSettings:
    max_size: int = setting(
        512, Number(int, min=MIN_SIDE, max=MAX_SIDE), "longest side of the result, in pixels"
    )
    init: str = setting(
        "noise",
        Choice(INIT_CHOICES),
        "starting image: noise (blended with the photo, see noise_ratio; the paper's, more "
        "painted) | content (the photo: more photographic) | style",
    )
    noise_ratio: float = setting(
        0.6,
        Number(float, min=0, max=1),
        "with init = noise: share of noise in the blend",
    )
    seed: int = setting(  # NumPy's generators take seeds below 2**32
        0, Number(int, min=0, max=2**32 - 1), "random seed (noise, random weights)"
    )
    scales: int | None = setting(
        None,
        NumberOr(Number(int, min=1, max=8), "auto"),
        "coarse-to-fine: number of image sizes (1 = off) | auto: from the image size, the "
        "smallest scale's short side near 128-256 px",
    )
    scale_factor: float = setting(
        2.0, Number(float, min=1, min_open=True), "each smaller scale is this many times smaller"
    )
    style_scale: float | None = setting(
        None,
        NumberOr(Number(float, min=0, min_open=True, max=4), STRETCH),
        "stretch (to the content's shape, paper) | s: aspect kept, longer side s x the content's",
    )
    parameterization: str = setting(
        "pyramid",
        Choice(PARAMETERIZATION_CHOICES),
        "what the optimiser moves: pyramid (a Laplacian pyramid: large forms and fine texture "
        "move at comparable rates, no single-pixel speckle) | pixels (the paper's)",
    )
    pyramid_levels: int = setting(
        5, Number(int, min=1, max=8), "with parameterization = pyramid: number of levels"
    )
    pyramid_finest_rate: float = setting(
        1.0,
        Number(float, min=0, max=1, min_open=True),
        "with parameterization = pyramid and Adam: how far the finest level (the pixel-sized "
        "detail) moves a step, as a fraction of the coarser levels' (below 1: less speckle)",
    )
    finest_scale: str = setting(
        "full",
        Choice(FINEST_SCALE_CHOICES),
        "with scales > 1, the full-size scale: full (the whole network) | shallow (the network "
        "only up to block3_conv1: its style layers, and instead of the content a pull towards "
        "the blurred enlarged coarser result; cheaper, but the photo's fine detail and colours "
        "come back less: bench/results/finest.md)",
    )
    reference_size: int | None = setting(
        None,
        NumberOr(Number(int, min=MIN_SIDE, max=MAX_SIDE), "off"),
        "off | N: at the full-size scale the content (see reference_terms) is matched on the "
        "picture resized to longest side N, so that one setting means the same picture at every "
        "max_size (a preview at N predicts the print; bench/results/preview.md)",
    )
    reference_terms: str = setting(
        "content",
        Choice(REFERENCE_TERMS_CHOICES),
        "with reference_size: content (the content term at N instead of full size) | both (also "
        "half the style weight at N, half at full size) | style (the style term at N, the content "
        "at full size)",
    )
    memory_limit: float | None = setting(
        None,
        NumberOr(Number(float, min=1, max=100000), "auto"),
        "memory the run may take, in GB: auto (what the machine has available) | a number. A "
        "scale whose step would need more runs over tiles: the same result, in bounded memory",
    )
    preserve_colors: str = setting(
        "none",
        Choice(PRESERVE_COLORS_CHOICES),
        "keep the photo's colours: none | luminance (style on luminance only) | histogram",
    )


@dataclass(frozen=True)
class OutputSettings:
    save_every: int = setting(10, Number(int, min=1), "save an iterate every this many steps")
    show_viewer: bool = setting(True, Flag(), "open the evolution viewer after the run")
    animation: bool = setting(
        True, Flag(), "write evolution.gif, a short animation of the saved iterates"
    )
    format: str = setting(
        "png",
        Choice(FORMAT_CHOICES),
        "the print file: png (final.png) | tiff (final.tiff, and final.png in 8-bit sRGB to view)",
    )
    bit_depth: str = setting(
        "8",
        Choice(("8", "16")),
        "bits per sample of the print file: 8 | 16 (keeps the result's finer levels)",
    )
    dpi: float = setting(
        300.0, Number(float, min=1, max=10000), "print resolution written into the print file"
    )
    profile: str = setting(
        "srgb",
        Choice(PROFILE_CHOICES),
        "colour space of the print file: srgb | content (the content photo's own RGB "
        "profile, e.g. Adobe RGB or Display P3, converted into and embedded; sRGB if it has "
        "none)",
    )


@dataclass(frozen=True)
class BatchSettings:
    engine: str = setting(
        "local",
        Choice(ENGINE_CHOICES),
        "--batch: local (items one after another here) | ray (one Ray task per item)",
    )
    address: str = setting(
        "",
        Text(),
        "engine = ray: empty (start Ray on this machine) | auto (the cluster `ray start` "
        "joined here) | host:6379 | ray://host:10001",
    )
    num_cpus: float = setting(
        1.0, Number(float, min=0, min_open=True), "engine = ray: CPUs reserved per item"
    )
    num_gpus: float = setting(0.0, Number(float, min=0), "engine = ray: GPUs reserved per item")
    max_retries: int = setting(
        3, Number(int, min=0), "engine = ray: reruns of an item whose worker died"
    )
    sheet_rows: str = setting(
        "", Text(), "contact sheet rows: content | style | a swept section.key; empty: automatic"
    )
    sheet_columns: str = setting(
        "", Text(), "contact sheet columns: as sheet_rows; other axes get a page per value"
    )
    page_size: int = setting(
        8, Number(int, min=1), "at most this many rows and columns per contact sheet page"
    )


@dataclass(frozen=True)
class VideoSettings:
    """Used only when [paths] content_image is a video or a folder of frames."""

    temporal_weight: float = setting(
        # 300, not 1000: with tv_weight 10 and the noisy start, 1000 held each frame's style
        # 19 % above independent frames'; 300 keeps flicker at ~2 % of theirs
        # (bench/results/video.md)
        300.0,
        Number(float, min=0),
        "weight of the temporal loss against the previous frame warped by the flow (0 = off)",
    )
    first_frame_iterations: int = setting(
        300, Number(int, min=1), "optimisation steps for the first frame"
    )
    frame_iterations: int = setting(
        100, Number(int, min=1), "optimisation steps for every later frame"
    )
    init: str = setting(
        "prev_warped",
        Choice(VIDEO_INIT_CHOICES),
        "later frames start from: prev_warped (the previous result warped by the flow) | prev"
        " | content",
    )
    frames: tuple[int, int | None] = setting(
        (0, None), FrameRange(), "which source frames, first:stop counted from 0; empty: all"
    )
    fps: float | None = setting(
        None,
        NumberOr(Number(float, min=0, min_open=True, max=1000), SOURCE),
        "frame rate of video.mp4: source (the clip's; 25 for a folder of frames) | a number",
    )
    compare: bool = setting(True, Flag(), "also write compare.mp4: source | result side by side")


@dataclass(frozen=True)
class Settings:
    paths: PathsSettings = PathsSettings()
    model: ModelSettings = ModelSettings()
    loss: LossSettings = LossSettings()
    optimizer: OptimizerSettings = OptimizerSettings()
    image: ImageSettings = ImageSettings()
    output: OutputSettings = OutputSettings()
    batch: BatchSettings = BatchSettings()
    video: VideoSettings = VideoSettings()


SECTIONS: dict[str, type] = {f.name: f.default.__class__ for f in fields(Settings)}

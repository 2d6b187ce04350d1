"""Spatial control on a real photo: Tübingen's sky in Starry Night's style, its town in The
Scream's, against single-style runs; and the town kept as the photo with a content mask.

python -m bench.regions [--size 256] [--iterations 200] [--out results/bench-regions]
                        [--picture docs/regions.jpg]

Needs ../shared (the real VGG16 and the photos; or set NST_SHARED to that folder). The
sky/town split is made by code (blue pixels connected to the top edge) into the output
folder. Each run is `main.py` as a user runs it; every final.png is then judged by one
float32 network: per region r and painting s, E_r,s = Σ_l w_l Σ (G_r − (M_r/M_s) G_s)² /
(4 N² M_r²), the paper's style loss inside the region (`nst.core.losses.guided_style_layer_loss`;
for the whole image it is the paper's L_style).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NST_SHARED", ROOT.parent / "shared"))  # the photos, the VGG16
VGG16 = SHARED / "weights" / "vgg16_imagenet_notop.weights.h5"
PHOTO = SHARED / "images" / "tubingen.jpg"
PAINTINGS = {
    "starry": SHARED / "images" / "starry_night.jpg",
    "scream": SHARED / "images" / "the_scream.jpg",
}
SKY, TOWN = "#87ceeb", "#808080"


def sky_mask(photo: np.ndarray) -> np.ndarray:
    """1 where the photo is sky: blue pixels connected to the top edge, holes filled."""
    r, b = photo[..., 0].astype(np.float64), photo[..., 2].astype(np.float64)
    blue = (b > r + 25) & (b > 110)
    labels, _ = ndimage.label(blue)
    top = set(np.unique(labels[0])) - {0}
    sky = np.isin(labels, list(top))
    sky = ndimage.binary_closing(sky, iterations=2)
    return ndimage.binary_fill_holes(sky).astype(np.float32)


def write_masks(out: Path, size: int) -> tuple[Path, Path]:
    """The regions doodle (sky, town) and the town's mask, at the photo's run size."""
    photo = Image.open(PHOTO).convert("RGB")
    width, height = size, round(size * photo.height / photo.width)
    pixels = np.asarray(photo.resize((width, height), Image.Resampling.LANCZOS))
    sky = sky_mask(pixels)
    colours = np.where(sky[..., None] > 0, (135, 206, 235), (128, 128, 128)).astype(np.uint8)
    Image.fromarray(colours).save(out / "regions.png")
    Image.fromarray(((1 - sky) * 255).astype(np.uint8)).save(out / "town.png")
    return out / "regions.png", out / "town.png"


def run(name: str, out: Path, iterations: int, size: int, *overrides: str) -> Path:
    """main.py with the real VGG16 at `size`; the run folder."""
    results = out / name
    sets = {
        "paths.content_image": str(PHOTO),
        "paths.results_dir": str(results),
        "model.network": "vgg16",
        "model.weights": str(VGG16),
        "image.max_size": str(size),
        "optimizer.iterations": str(iterations),
        "output.save_every": str(iterations),
        "output.animation": "false",
    }
    args = [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]
    args += [arg for o in overrides for arg in ("--set", o)]
    if not any(results.glob("*/final.png")):
        done = subprocess.run([sys.executable, str(ROOT / "main.py"), "--no-viewer", *args])
        if done.returncode != 0:
            raise SystemExit(f"run {name} failed with status {done.returncode}")
    return next(results.glob("*/final.png"))


def judge(final: Path, masks: dict, size: int) -> dict:
    """E_r,s for each region r (masks at the result's size) and painting s, float32 VGG16."""
    import tensorflow as tf

    from nst.core.features import build_feature_extractor
    from nst.core.losses import gram_matrix, guided_style_layer_loss
    from nst.inputs.images import load_image, resize
    from nst.inputs.masks import layer_masks
    from nst.settings import load_settings

    settings = load_settings(
        None, ("model.network=vgg16", f"model.weights={VGG16}", "model.precision=float32")
    )
    model = settings.model
    extractor = build_feature_extractor(model)
    image = load_image(final)
    height, width = image.shape[:2]
    features = extractor(tf.constant(image[None]))
    scores = {}
    for painting, path in PAINTINGS.items():
        style = extractor(tf.constant(resize(load_image(path), width, height)[None]))
        for region, mask in masks.items():
            per_layer = layer_masks(mask, model.network, model.style_layers)
            total = 0.0
            for name, weight, m in zip(
                model.style_layers, model.style_layer_weights, per_layer, strict=True
            ):
                g = gram_matrix(style[name])
                m_s = float(style[name].shape[1] * style[name].shape[2])
                target = (float(m.sum()) / m_s) * g
                error = guided_style_layer_loss(features[name], tf.constant(m[None]), target[None])
                total += weight * float(error[0])
            scores[f"{region}|{painting}"] = total
    return scores


def photo_difference(final: Path, town: np.ndarray) -> tuple[float, float]:
    """Mean absolute pixel difference to the photo (0..255) inside the town and in the sky."""
    from nst.inputs.images import fit_size, load_image, resize

    result = load_image(final)
    photo = load_image(PHOTO)
    photo = resize(photo, *fit_size(photo.shape[1], photo.shape[0], max(result.shape[:2])))
    difference = np.abs(result - photo).mean(axis=2)
    return float(difference[town > 0.5].mean()), float(difference[town < 0.5].mean())


def picture(panels: list[Path], path: Path, height: int = 192, gap: int = 6) -> None:
    images = [Image.open(p).convert("RGB") for p in panels]
    images = [i.resize((round(i.width * height / i.height), height)) for i in images]
    width = sum(i.width for i in images) + gap * (len(images) - 1)
    sheet = Image.new("RGB", (width, height), "white")
    x = 0
    for image in images:
        sheet.paste(image, (x, 0))
        x += image.width + gap
    sheet.save(path, quality=90)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("results/bench-regions"))
    parser.add_argument("--picture", type=Path, help="write the result picture here")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="a setting for every run (e.g. optimizer.tolerance=0); repeatable",
    )  # fmt: skip
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    doodle, town_path = write_masks(out, args.size)
    both = ", ".join(str(p) for p in PAINTINGS.values())
    steps, size, common = args.iterations, args.size, tuple(args.set)
    finals = {
        "regions": run(
            "regions", out, steps, size, *common,
            f"paths.style_image={both}", f"paths.regions={doodle}",
            f"loss.region_styles={SKY}: starry_night.jpg, {TOWN}: the_scream.jpg",
        ),
        "starry": run(
            "starry", out, steps, size, *common, f"paths.style_image={PAINTINGS['starry']}"
        ),
        "scream": run(
            "scream", out, steps, size, *common, f"paths.style_image={PAINTINGS['scream']}"
        ),
        "town_photo": run(
            "town_photo", out, steps, size, *common,
            f"paths.style_image={PAINTINGS['starry']}", f"paths.content_mask={town_path}",
        ),
    }  # fmt: skip
    town = np.asarray(Image.open(town_path), np.float32) / 255.0
    masks = {"sky": 1.0 - town, "town": town, "whole": np.ones_like(town)}
    report = {name: judge(final, masks, size) for name, final in finals.items()}
    report["town_photo_difference"] = photo_difference(finals["town_photo"], town)
    (out / "regions.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    ratios = {
        "sky: regions starry / starry alone (whole)": report["regions"]["sky|starry"]
        / report["starry"]["whole|starry"],
        "town: regions scream / scream alone (whole)": report["regions"]["town|scream"]
        / report["scream"]["whole|scream"],
        "sky: scream / starry (regions run)": report["regions"]["sky|scream"]
        / report["regions"]["sky|starry"],
        "town: starry / scream (regions run)": report["regions"]["town|starry"]
        / report["regions"]["town|scream"],
    }
    for name, value in ratios.items():
        print(f"{name}: {value:.3f}")
    inside, outside = report["town_photo_difference"]
    print(f"content mask: town differs from the photo by {inside:.2f}/255, sky {outside:.2f}/255")
    if args.picture:
        # results only: the photo itself (../shared) is not to be copied into the repository
        picture([out / "regions.png", finals["regions"], finals["town_photo"]], args.picture)


if __name__ == "__main__":
    main()

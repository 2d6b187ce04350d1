"""Stroke scale as a share of the picture: does a 1024 px result carry the 512 px preview's strokes?

    python -m bench.strokes /tmp/pv/c/tubingen_starry_night__p512.png \
        /tmp/pv/c/tubingen_starry_night__ref1024.png --width 512

Every picture is resized (box filter) to one common size, so each statistic is measured in
shares of the picture, not in pixels; then, on the luminance:

- energy per octave of spatial frequency, in cycles per picture width (8–16 … 128–256): a
  result with smaller strokes (a finer share of the picture) moves energy to the upper octaves;
- the characteristic wavelength: the energy-weighted geometric mean frequency above the
  lowest octave (the composition), given as a share of the picture width;
- the correlation length of the detail: the radius where the autocorrelation of the luminance,
  its composition (below 8 cycles per width) and pixel grain (above 128) removed, first falls
  to one half, as a share of the picture width.

`--crop` measures one region (e.g. the sky, where the photo itself has no detail) at the same
share of every picture, still in cycles per whole picture width. Prints a Markdown table.
The statistics are NumPy only; PIL only loads and resizes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

OCTAVES = ((8, 16), (16, 32), (32, 64), (64, 128), (128, 256))


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an (H, W, 3) picture, as float64."""
    return np.asarray(rgb, np.float64)[..., :3] @ np.array([0.299, 0.587, 0.114])


def _spectrum(gray: np.ndarray, picture_width: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(power, radius in cycles per picture width) of the Hann-windowed, mean-free picture or
    crop; `picture_width` is the whole picture's width in pixels (None: gray is the picture)."""
    height, width = gray.shape
    picture_width = picture_width or width
    window = np.outer(np.hanning(height), np.hanning(width))  # no edge between wrapped sides
    power = np.abs(np.fft.fft2((gray - gray.mean()) * window)) ** 2
    fy = np.fft.fftfreq(height)[:, None] * picture_width  # cycles per pixel → per picture width
    fx = np.fft.fftfreq(width)[None, :] * picture_width
    return power, np.hypot(fx, fy)


def octave_energy(
    gray: np.ndarray, octaves=OCTAVES, picture_width: int | None = None
) -> list[float]:
    """Share of the energy between octaves[0][0] and octaves[-1][1] cycles per width, per octave."""
    power, radius = _spectrum(gray, picture_width)
    energy = [power[(radius >= low) & (radius < high)].sum() for low, high in octaves]
    total = sum(energy)
    return [e / total for e in energy]


def characteristic_wavelength(
    gray: np.ndarray, low: float = 8.0, picture_width: int | None = None
) -> float:
    """Share of the picture width of the energy-weighted geometric mean frequency above `low`."""
    power, radius = _spectrum(gray, picture_width)
    band = (radius >= low) & (radius <= (picture_width or gray.shape[1]) / 2)
    mean_log = np.average(np.log(radius[band]), weights=power[band])
    return float(1.0 / np.exp(mean_log))


def correlation_length(
    gray: np.ndarray, low: float = 8.0, high: float = 128.0, picture_width: int | None = None
) -> float:
    """Share of the picture width where the autocorrelation of the detail between `low` and
    `high` cycles per width first falls to 1/2 (linearly interpolated between lags)."""
    power, radius = _spectrum(gray, picture_width)
    # below `low` is the composition (sky against town), above `high` the pixel grain
    power[(radius < low) | (radius > high)] = 0.0
    correlation = np.real(np.fft.ifft2(power))  # Wiener–Khinchin
    correlation /= correlation[0, 0]
    height, width = gray.shape
    dy = np.minimum(np.arange(height), height - np.arange(height))[:, None]
    dx = np.minimum(np.arange(width), width - np.arange(width))[None, :]
    lag = np.rint(np.hypot(dx, dy)).astype(int)
    sums = np.bincount(lag.ravel(), correlation.ravel())
    radial = (sums / np.maximum(np.bincount(lag.ravel()), 1))[: min(height, width) // 2]
    below = np.nonzero(radial < 0.5)[0]
    if not below.size:
        return float("nan")
    after = below[0]  # radial[0] is 1, so after >= 1
    before = after - 1
    crossing = before + (radial[before] - 0.5) / (radial[before] - radial[after])
    return float(crossing / (picture_width or width))


def stroke_row(gray: np.ndarray, picture_width: int | None = None) -> dict:
    """All three statistics of one picture (or crop of a picture) at the common size."""
    return {
        "octaves": octave_energy(gray, picture_width=picture_width),
        "wavelength": characteristic_wavelength(gray, picture_width=picture_width),
        "correlation": correlation_length(gray, picture_width=picture_width),
    }


def load_gray(path: Path, width: int, crop=(0.0, 0.0, 1.0, 1.0)) -> np.ndarray:
    """Luminance of the picture box-resized to `width`, then cut to `crop` (shares x0,y0,x1,y1)."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    height = round(image.height * width / image.width)
    gray = luminance(np.asarray(image.resize((width, height), Image.Resampling.BOX)))
    x0, y0, x1, y1 = crop
    return gray[round(y0 * height) : round(y1 * height), round(x0 * width) : round(x1 * width)]


def crop_sheet(paths: list[Path], crop, out: Path) -> None:
    """The crop of every picture side by side, each enlarged (bicubic) to the crop of the
    largest picture: the strokes at the same share of the picture, seen at one scale."""
    from PIL import Image, ImageDraw

    images = [Image.open(p).convert("RGB") for p in paths]
    width = max(im.width for im in images)
    x0, y0, x1, y1 = crop
    cuts = []
    for im in images:
        box = (
            round(x0 * im.width),
            round(y0 * im.height),
            round(x1 * im.width),
            round(y1 * im.height),
        )
        size = (round((x1 - x0) * width), round((y1 - y0) * width * im.height / im.width))
        cuts.append(im.crop(box).resize(size, Image.Resampling.BICUBIC))
    sheet = Image.new("RGB", (sum(c.width + 4 for c in cuts), cuts[0].height + 18), "white")
    draw, x = ImageDraw.Draw(sheet), 0
    for cut, path, im in zip(cuts, paths, images, strict=True):
        sheet.paste(cut, (x, 18))
        draw.text((x + 2, 2), f"{path.stem.split('__')[-1]} ({im.width} px)", fill="black")
        x += cut.width + 4
    sheet.save(out)


def table(rows: dict[str, dict]) -> str:
    bands = " | ".join(f"{low}–{high}" for low, high in OCTAVES)
    lines = [
        f"| picture | {bands} | wavelength / width | correlation length / width |",
        "| --- |" + " ---: |" * (len(OCTAVES) + 2),
    ]
    for name, row in rows.items():
        shares = " | ".join(f"{100 * e:.1f} %" for e in row["octaves"])
        lines.append(f"| {name} | {shares} | {row['wavelength']:.4f} | {row['correlation']:.4f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pictures", nargs="+", type=Path)
    parser.add_argument("--width", type=int, default=512, help="the common width")
    parser.add_argument("--crop", default="0,0,1,1", help="x0,y0,x1,y1 as shares, e.g. the sky")
    parser.add_argument("--sheet", type=Path, help="also write the crops side by side here")
    args = parser.parse_args(argv)
    crop = tuple(float(v) for v in args.crop.split(","))
    if args.sheet:
        crop_sheet(args.pictures, crop, args.sheet)
    rows = {
        p.stem.split("__")[-1]: stroke_row(load_gray(p, args.width, crop), args.width)
        for p in args.pictures
    }
    print(table(rows))


if __name__ == "__main__":
    main()

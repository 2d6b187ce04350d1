"""Draws data/style.png: swirling brush strokes in a night-sky palette, made by the project.

    python data/make_style.py   (deterministic: the same file every time)

Strokes follow a flow field of a few vortices, each a thick polyline with a dark outline,
so the picture has what a style loss picks up: strong colours, oriented texture, and
structure at several scales.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 512
PALETTE = np.array(
    [(22, 45, 110), (38, 80, 160), (70, 120, 200), (230, 200, 60), (250, 230, 120), (20, 30, 60)],
    dtype=float,
)
VORTICES = [(0.3, 0.35, 1.0), (0.72, 0.25, -0.8), (0.55, 0.75, 0.9), (0.15, 0.8, -0.6)]


def flow(x: float, y: float) -> tuple[float, float]:
    """Unit direction of the brush at (x, y) in 0..1 coordinates."""
    dx, dy = 0.25, 0.05  # a gentle wind to the right
    for cx, cy, strength in VORTICES:
        rx, ry = x - cx, y - cy
        r2 = rx * rx + ry * ry + 0.01
        dx += strength * -ry / r2 * 0.15
        dy += strength * rx / r2 * 0.15
    norm = (dx * dx + dy * dy) ** 0.5
    return dx / norm, dy / norm


def main(path: Path = Path(__file__).with_name("style.png")) -> None:
    rng = np.random.default_rng(1889)
    image = Image.new("RGB", (SIZE, SIZE), (25, 40, 90))
    draw = ImageDraw.Draw(image)
    for stroke in range(5000):
        x, y = rng.uniform(0, 1, 2)
        near_vortex = min(np.hypot(x - cx, y - cy) for cx, cy, _ in VORTICES)
        warm = rng.uniform() < 0.25 + 0.5 * np.exp(-near_vortex * 12)
        colour = PALETTE[rng.choice([3, 4]) if warm else rng.choice([0, 1, 2, 5])]
        colour = tuple(int(c) for c in np.clip(colour + rng.normal(0, 18, 3), 0, 255))
        width = int(rng.integers(3, 9)) if stroke < 4000 else int(rng.integers(2, 5))
        points = [(x * SIZE, y * SIZE)]
        for _ in range(int(rng.integers(4, 12))):
            dx, dy = flow(x, y)
            x, y = x + dx * 0.012, y + dy * 0.012
            points.append((x * SIZE, y * SIZE))
        draw.line(points, fill=(10, 15, 35), width=width + 2, joint="curve")
        draw.line(points, fill=colour, width=width, joint="curve")
    image.filter(ImageFilter.SMOOTH).save(path, optimize=True)


if __name__ == "__main__":
    main()

"""Before/after pictures side by side, one row per pair, each picture under its caption.

python -m bench.make_speed_comparison bench/results/speed_before_after.jpg \
    --row "BEFORE.png" "caption" "AFTER.png" "caption" [--row ...]

The pictures are run results (final.png of two runs), never the input photos alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

HEIGHT = 300  # each picture scaled to this height
CAPTION = 22  # caption strip height, px
GAP = 8


def tile(path: Path, caption: str) -> Image.Image:
    """One picture scaled to HEIGHT with its caption above it."""
    picture = Image.open(path).convert("RGB")
    width = round(picture.width * HEIGHT / picture.height)
    picture = picture.resize((width, HEIGHT), Image.Resampling.LANCZOS)
    framed = Image.new("RGB", (width, HEIGHT + CAPTION), "white")
    framed.paste(picture, (0, CAPTION))
    ImageDraw.Draw(framed).text((4, 5), caption, fill="black")
    return framed


def sheet(rows: list[list[str]]) -> Image.Image:
    """Rows of (picture, caption, picture, caption) laid out in a grid."""
    tiles = [[tile(Path(r[i]), r[i + 1]) for i in range(0, len(r), 2)] for r in rows]
    width = max(sum(t.width for t in row) + GAP * (len(row) - 1) for row in tiles)
    height = sum(row[0].height for row in tiles) + GAP * (len(tiles) - 1)
    out = Image.new("RGB", (width, height), "white")
    y = 0
    for row in tiles:
        x = 0
        for t in row:
            out.paste(t, (x, y))
            x += t.width + GAP
        y += row[0].height + GAP
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--row", nargs="+", action="append", required=True)
    parser.add_argument("--width", type=int, default=1200, help="the sheet's largest width")
    args = parser.parse_args()
    image = sheet(args.row)
    image.thumbnail((args.width, 4 * args.width))  # a README picture, not a full-size copy
    image.save(args.out, quality=75)


if __name__ == "__main__":
    main()

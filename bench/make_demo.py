"""Composes docs/demo.jpg: content, style and a run's result side by side, one height.

python -m bench.make_demo results/<run>
"""

import sys
from pathlib import Path

from PIL import Image

HEIGHT = 256
GAP = 8


def main(run_dir: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    panels = [
        Image.open(p).convert("RGB")
        for p in (root / "data" / "content.png", root / "data" / "style.png", run_dir / "final.png")
    ]
    panels = [p.resize((round(p.width * HEIGHT / p.height), HEIGHT), Image.LANCZOS) for p in panels]
    sheet = Image.new("RGB", (sum(p.width for p in panels) + GAP * 2, HEIGHT), "white")
    x = 0
    for panel in panels:
        sheet.paste(panel, (x, 0))
        x += panel.width + GAP
    sheet.save(root / "docs" / "demo.jpg", quality=90)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

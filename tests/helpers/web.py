"""For the web studio's tests: tiny run settings, the same-origin header, an upload, the form's
first choices and a run folder as the command line leaves it."""

from __future__ import annotations

import io
from pathlib import Path

from nst.settings import load_settings
from tests.helpers import make_image

SAME_ORIGIN = {"Origin": "http://localhost"}


def tiny(tmp_path: Path, **extra: str) -> tuple[str, ...]:
    content = make_image(tmp_path / "content.png", seed=1)
    style = make_image(tmp_path / "style.png", seed=2)
    values = {
        "paths.content_image": str(content),
        "paths.style_image": str(style),
        "paths.results_dir": str(tmp_path / "results"),
        "model.weights": "random",
        "model.network": "vgg16",
        "image.max_size": "48",
        "optimizer.iterations": "3",
        "output.save_every": "1",
        "optimizer.tolerance": "0",  # every run spends its iterations: lengths are known
        **extra,
    }
    return tuple(f"{key}={value}" for key, value in values.items())


def chosen(client) -> dict:
    form = client.get("/api/form").json
    return {"content": form["content"][0], "styles": form["styles"]}


def upload(client, data: bytes, name: str, **headers):
    return client.post(
        "/api/images",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
        headers={**SAME_ORIGIN, **headers},
    )


def fake_run(results: Path, name: str = "20260101-120000-a-b") -> Path:
    """A run folder as the CLI leaves it (stopped after 2 of 3 iterations)."""
    run_dir = results / name
    (run_dir / "iterates").mkdir(parents=True)
    (run_dir / "plots").mkdir()
    settings = load_settings(None, ("optimizer.iterations=3",))
    from nst.settings import render

    (run_dir / "config.ini").write_text(render(settings))
    for i in (0, 2):
        make_image(run_dir / "iterates" / f"iter_{i:06d}.png", seed=i)
    make_image(run_dir / "final.png", seed=2)
    rows = ["iteration,content,style,tv,total,elapsed_s,scale"]
    rows += [f"{i},{1 + i},{10 - i},0.1,{5 - i},{i * 0.5},1" for i in range(3)]
    (run_dir / "losses.csv").write_text("\n".join(rows) + "\n")
    return run_dir

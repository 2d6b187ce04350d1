"""nst: paint the content of one image in the style of another (Gatys et al. 2016).

python main.py [--config config.ini] [--set section.key=value ...] [--no-viewer]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("config.ini"), help="settings file")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting for this run (repeatable), e.g. --set optimizer.iterations=50",
    )
    parser.add_argument("--no-viewer", action="store_true", help="do not open the viewer")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = (*args.set, *(["output.show_viewer=false"] if args.no_viewer else []))

    from tqdm import tqdm

    from nst.features import WeightsError, build_feature_extractor
    from nst.images import ImageError, load_pair
    from nst.optimize import stylize
    from nst.outputs import RunWriter, create_run_dir
    from nst.settings import SettingsError, load_settings, render

    try:
        settings = load_settings(args.config, overrides)
        paths = settings.paths
        content_image, style_image = load_pair(
            paths.content_image, paths.style_image, settings.image.max_size
        )
        extractor = build_feature_extractor(settings.model, settings.image.seed)
    except (SettingsError, ImageError, WeightsError) as error:
        print(f"nst: error: {error}", file=sys.stderr)
        return 2

    run_dir = create_run_dir(paths.results_dir, paths.content_image, paths.style_image)
    (run_dir / "config.ini").write_text(render(settings), encoding="utf-8")
    writer = RunWriter(run_dir)
    records = stylize(
        extractor,
        content_image,
        style_image,
        settings.model,
        settings.loss,
        settings.optimizer,
        settings.image,
        settings.output.save_every,
    )
    with tqdm(total=settings.optimizer.iterations, unit="step", dynamic_ncols=True) as bar:
        for record in records:
            writer.add(record)
            bar.set_postfix(content=f"{record.content:.3g}", style=f"{record.style:.3g}")
            bar.update(1 if record.iteration else 0)  # record 0 is the starting image
    writer.finish()
    print(f"nst: result in {run_dir}")
    from nst.viewer import after_run

    # The exit status is the optimisation's: nothing the viewer does can change it.
    after_run(run_dir, settings.output.animation, settings.output.show_viewer)
    return 0


if __name__ == "__main__":
    sys.exit(main())

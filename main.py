"""nst: paint the content of one image in the style of another (Gatys et al. 2016).

python main.py [--config config.ini] [--set section.key=value ...] [--no-viewer]
               [--sweep section.key=value1,value2,... ...]
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
    parser.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="SECTION.KEY=V1,V2,...",
        help="run once per value (repeatable: the grid of all keys) and draw a contact sheet; "
        "separate the values with ';' instead when a value is itself a list",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, sweep_point: tuple[str, ...] = ()) -> int:
    """One run; or, with --sweep, one run per grid point (`sweep_point`: its overrides)."""
    args = parse_args(argv)
    overrides = (*args.set, *(["output.show_viewer=false"] if args.no_viewer else []))
    if args.sweep and not sweep_point:
        from nst.sweep import run_sweep

        return run_sweep(args.config, overrides, args.sweep, lambda point: main(argv, point))
    overrides = (*overrides, *sweep_point)

    from tqdm import tqdm

    from nst.features import WeightsError, build_feature_extractor
    from nst.images import ImageError
    from nst.optimize import stylize
    from nst.outputs import RunWriter, create_run_dir
    from nst.settings import SettingsError, load_settings, render
    from nst.styles import load_inputs, restore_colors

    try:
        settings = load_settings(args.config, overrides)
        paths = settings.paths
        inputs = load_inputs(paths, settings.image)
        extractor = build_feature_extractor(settings.model, settings.image.seed)
    except (SettingsError, ImageError, WeightsError) as error:
        print(f"nst: error: {error}", file=sys.stderr)
        return 2

    run_dir = create_run_dir(paths.results_dir, paths.content_image, paths.style_image)
    (run_dir / "config.ini").write_text(render(settings), encoding="utf-8")
    writer = RunWriter(run_dir)
    records = stylize(
        extractor,
        inputs.content,
        inputs.styles,
        settings.model,
        settings.loss,
        settings.optimizer,
        settings.image,
        settings.output.save_every,
    )
    records = restore_colors(records, inputs.photo, settings.image.preserve_colors)
    with tqdm(total=settings.optimizer.iterations, unit="step", dynamic_ncols=True) as bar:
        for record in records:
            writer.add(record)
            bar.set_postfix(content=f"{record.content:.3g}", style=f"{record.style:.3g}")
            bar.update(1 if record.iteration else 0)  # record 0 is the starting image
    writer.finish()
    print(f"nst: result in {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""nst: paint the content of one image in the style of another (Gatys et al. 2016).

python main.py [--config config.ini] [--set section.key=value ...] [--no-viewer] [--debug]
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
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    """One run (checks, optimisation, run folder: see nst.app); returns the exit status."""
    from nst.app import run
    from nst.settings import load_settings

    overrides = (*args.set, *(["output.show_viewer=false"] if args.no_viewer else []))
    settings = load_settings(args.config, overrides)
    outcome = run(settings)
    return outcome.status


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from nst.app import guarded  # errors -> one line and an exit status (see README)

    return guarded(lambda: run(args), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())

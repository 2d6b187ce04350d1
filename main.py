"""nst: paint the content of one image in the style of another (Gatys et al. 2016).

python main.py [--config config.ini] [--set section.key=value ...] [--no-viewer] [--debug]
               [--sweep section.key=value1,value2,... ...]
python main.py --web [--host 127.0.0.1] [--port 8000] [--config ...] [--set ...]  (web studio)
python main.py --resume results/<run>   (go on with an interrupted video run)
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
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="go on with an interrupted video run, with its own config.ini (no --set/--sweep)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument(
        "--web",
        action="store_true",
        help="start the web studio instead (python -m nst.web; also takes --host and --port)",
    )
    args = parser.parse_args(argv)
    if args.resume and (args.set or args.sweep):
        parser.error("--resume uses the run's own config.ini: it takes no --set or --sweep")
    return args


def overrides_of(args: argparse.Namespace) -> tuple[str, ...]:
    return (*args.set, *(["output.show_viewer=false"] if args.no_viewer else []))


# nst's modules are imported where first needed: `--help` answers at once, and nothing is
# loaded before the allocator re-exec below.


def run_once(settings):
    """One run with a progress bar (see nst.app.run); its Outcome."""
    from nst.app import run
    from nst.progress import ProgressBar

    return run(settings, watcher=ProgressBar())


def single(args: argparse.Namespace) -> int:
    """One run, then the viewer; the exit status is the optimisation's."""
    from nst.settings import load_settings
    from nst.viewer import after_run

    settings = load_settings(args.config, overrides_of(args))
    outcome = run_once(settings)
    if outcome.run_dir is not None:
        # Nothing the viewer does can change the status; an interrupted or failed run gets
        # no window.
        after_run(outcome.run_dir, settings.output.show_viewer, finished=outcome.status == 0)
    return outcome.status


def main(argv: list[str] | None = None) -> int:
    """One run; or, with --sweep, one run per grid point and a contact sheet."""
    arguments = sys.argv[1:] if argv is None else argv
    if "--web" in arguments:  # the studio has its own options (--host, --port)
        from nst.web.__main__ import main as web

        return web([arg for arg in arguments if arg != "--web"])
    args = parse_args(argv)
    from nst.exits import guarded  # errors -> one line and an exit status (see README)

    if args.resume:
        from nst.video import resume

        return guarded(lambda: resume(args.resume).status, debug=args.debug)
    if args.sweep:
        from nst.sweep import run_sweep

        return guarded(
            lambda: run_sweep(args.config, overrides_of(args), args.sweep, run_once),
            debug=args.debug,
        )
    return guarded(lambda: single(args), debug=args.debug)


if __name__ == "__main__":
    from nst.allocator import reexec_with_allocator

    reexec_with_allocator(sys.orig_argv[1:])  # once, with tcmalloc where installed
    sys.exit(main())

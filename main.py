"""nst: paint the content of one image in the style of another (Gatys et al. 2016).

python main.py [--config config.ini] [--set section.key=value ...] [--no-viewer] [--debug]
               [--sweep section.key=value1,value2,... ...] [--resume RUN_DIR]
               [--batch [NAME] [--shard I/N] [--engine local|ray] [--address ADDRESS]]
python main.py --web [--host 127.0.0.1] [--port 8000] [--config ...] [--set ...]  (web studio)
python main.py --resume results/<run>   (go on with an interrupted run, single or video)
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path


def stop_while_starting(error_fd: int):
    """A handler for signals before the run's own is in place (imports, checks) or after it
    (the animation, the viewer): one line on `error_fd` (stderr as it was at start: while
    TensorFlow loads, fd 2 goes to /dev/null) and 128 + the signal's number, at once, no
    traceback. Files are written under temporary names and renamed: what is there is complete."""

    def stopped(signum: int, frame) -> None:
        name = signal.Signals(signum).name
        try:
            os.write(
                error_fd, f"nst: stopped by {name}; files already written are complete\n".encode()
            )
        finally:
            os._exit(128 + signum)

    return stopped


if __name__ == "__main__":  # first of all (imports take seconds): Ctrl-C, SIGTERM, SIGHUP
    try:
        _handler = stop_while_starting(os.dup(2))
    except OSError:  # no stderr at all
        _handler = stop_while_starting(2)
    for _signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(_signum, _handler)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with its errors (an unknown flag, a missing value) as nst's one line."""

    def error(self, message: str):
        sys.stderr.write(f"nst: error: {message} (python main.py --help lists the options)\n")
        sys.exit(2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from nst.settings import add_settings_arguments

    parser = ArgumentParser(description=__doc__.splitlines()[0])
    add_settings_arguments(
        parser,
        "override one setting for this run (repeatable), e.g. --set optimizer.iterations=50",
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
        "--batch",
        nargs="?",
        const="",
        metavar="NAME",
        help="one run per content image × style image × sweep value ([paths] may name folders "
        "or globs) into results/batch-NAME; rerun to finish it (see docs/batch.md)",
    )
    parser.add_argument("--shard", metavar="I/N", help="with --batch: run only share I of N")
    parser.add_argument("--engine", choices=("local", "ray"), help="with --batch: [batch] engine")
    parser.add_argument("--address", help="with --batch --engine ray: [batch] address")
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue an interrupted run (single or video) in its folder, with its own "
        "config.ini (no --set/--sweep)",
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
    engine = [f"batch.engine={args.engine}"] if args.engine else []
    engine += [f"batch.address={args.address}"] if args.address is not None else []
    return (*args.set, *(["output.show_viewer=false"] if args.no_viewer else []), *engine)


# nst's modules are imported where first needed: `--help` answers at once, and nothing is
# loaded before the allocator re-exec below.


def run_once(settings):
    """One run, a still picture or a clip, with a progress bar (nst.run.pipeline.run).

    Returns its Outcome."""
    from nst.cli.progress import ProgressBar
    from nst.run.pipeline import run

    return run(settings, watcher=ProgressBar())


def resumed(args: argparse.Namespace) -> int:
    """An interrupted run continued in its folder (nst.run.pipeline.resume), with the bar; the
    status is the run's."""
    from nst.cli.progress import ProgressBar
    from nst.run.pipeline import resume

    return resume(args.resume, watcher=ProgressBar()).status


def single(args: argparse.Namespace) -> int:
    """One run, then the viewer; the exit status is the optimisation's."""
    from nst.cli.viewer import after_run
    from nst.settings import load_settings

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
    from nst.cli.startup import EXIT_FAULT, address_space_problem

    problem = address_space_problem()  # before NumPy's BLAS loads (it can spin under a limit)
    if problem:
        print(f"nst: error: {problem}", file=sys.stderr)
        return EXIT_FAULT
    try:
        from nst.run.exits import guarded  # errors -> one line and an exit status (see README)
    except (ImportError, MemoryError, OSError) as error:  # a library that cannot be mapped
        print(f"nst: error: cannot load nst's libraries: {error}", file=sys.stderr)
        return EXIT_FAULT
    if signal.getsignal(signal.SIGINT) is globals().get("_handler"):
        # From here `guarded` says a Ctrl-C in one line, and the viewer's Ctrl-C closes only
        # the window (the finished run keeps its status): Python's KeyboardInterrupt again.
        signal.signal(signal.SIGINT, signal.default_int_handler)

    if args.batch is not None:
        from nst.batch.launch import run_batch

        return guarded(
            lambda: run_batch(
                args.config, overrides_of(args), args.sweep, args.batch or None, args.shard
            ),
            debug=args.debug,
        )
    if args.resume is not None:
        return guarded(lambda: resumed(args), debug=args.debug)
    if args.sweep:
        from nst.batch.sweep import run_sweep

        return guarded(
            lambda: run_sweep(args.config, overrides_of(args), args.sweep),
            debug=args.debug,
        )
    return guarded(lambda: single(args), debug=args.debug)


if __name__ == "__main__":
    from nst.cli.allocator import reexec_with_allocator
    from nst.cli.startup import forgiving_streams

    reexec_with_allocator(sys.orig_argv[1:])  # once, with tcmalloc where installed
    forgiving_streams()  # `| head -1` or a closed terminal must not fail a finished run
    from nst.cli.allocator import tensorflow_environment

    os.environ.update(tensorflow_environment(os.environ))  # before TensorFlow loads
    sys.exit(main())

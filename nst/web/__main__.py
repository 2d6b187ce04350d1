"""python -m nst.web [--host 127.0.0.1] [--port 8000] [--config config.ini] [--set k=v ...]

Starts the web studio and prints its address. Ctrl-C, SIGTERM or SIGHUP (the terminal closed)
stops the running job the way they stop a CLI run (its folder is completed), then the server;
a second one while it waits only says so. Exit status: 128 + the signal that stopped it, as
the command line's (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), 2 where it cannot start (bad
settings, a port in use, a results folder that is a file).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from nst.settings import add_settings_arguments

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
CLOSING_EVENT_S = 2.0  # how long the open pages get to receive "server stopped"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m nst.web",
        description="The web studio: style transfer from the browser, with live progress.",
    )
    add_arguments(parser)
    add_settings_arguments(parser, "override one setting the page starts from (repeatable)")
    return parser.parse_args(argv)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The server's own options (main.py --web takes them too)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument(
        "--max-upload-mb", type=float, default=50.0, help="largest image upload, in MiB"
    )
    parser.add_argument(
        "--max-upload-megapixels",
        type=float,
        default=40.0,
        help="largest image upload, in megapixels (checked before it is decoded)",
    )
    parser.add_argument(
        "--uploads", type=Path, default=None, help="upload folder (default: results/.uploads)"
    )
    parser.add_argument(
        "--examples",
        type=Path,
        default=None,
        help="a folder of paintings the page offers to pick from (none ship with nst)",
    )


def loopback(host: str) -> bool:
    from nst.web.server import loopback as is_loopback

    return is_loopback(host)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket; OSError where the port is taken or the address is not ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host.strip("[]"), port), family=family)


def say(text: str) -> None:
    """A line on stderr; nothing where the terminal is gone (SIGHUP)."""
    with contextlib.suppress(OSError, ValueError):
        print(f"nst: {text}", file=sys.stderr, flush=True)


def serve(args: argparse.Namespace, overrides: tuple[str, ...]) -> int:
    """Run the studio until Ctrl-C, SIGTERM or SIGHUP; an exit status as main.py's."""
    from werkzeug.serving import make_server

    from nst.settings import SettingsError
    from nst.web.server import StudioConfig, create_app

    studio = StudioConfig(
        args.config,
        overrides,
        args.uploads,
        int(args.max_upload_mb * 1024 * 1024),
        local_only=loopback(args.host),
        max_upload_pixels=int(args.max_upload_megapixels * 1e6),
        examples_dir=args.examples,
    )
    try:
        app = create_app(studio)
    except SettingsError as error:
        say(f"error: {error}")
        return 2
    try:
        sock = listen(args.host, args.port)
    except OSError as error:
        app.extensions["nst"]["worker"].close()
        say(f"error: cannot listen on {args.host}:{args.port}: {error.strerror or error}")
        return 2
    with sock:
        server = make_server(args.host, args.port, app, threaded=True, fd=sock.fileno())
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per image request
    stopping = _on_stop_signals(server)  # before the address: a script may stop us then
    _announce(args, server.port, app.extensions["nst"]["worker"].restored)
    server.serve_forever()
    say(f"stopping ({stopping.name}): the running job finishes its folder first")
    worker = app.extensions["nst"]["worker"]
    worker.close()
    worker.events.wait_quiet(CLOSING_EVENT_S)  # the open pages hear "server stopped"
    server.server_close()
    return 128 + stopping.signum if stopping.signum else 0  # as a CLI run stopped by it


class Stopping:
    """Which signal stopped the studio; later ones while it waits only say so."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "stopped"


def _on_stop_signals(server) -> Stopping:
    stopping = Stopping()

    def stop(signum, frame) -> None:
        if stopping.signum is not None:
            say("already stopping: the running job is completing its folder")
            return
        stopping.signum = signum
        threading.Thread(target=server.shutdown, daemon=True).start()

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    return stopping


def _announce(args: argparse.Namespace, port: int, restored: int) -> None:
    if not loopback(args.host):
        say(
            f"warning: listening on {args.host}: anyone who can reach port {port} "
            "can run jobs and read every result and upload"
        )
    if restored:
        say(f"note: {restored} run(s) waiting when the studio last stopped are queued again")
    host = f"[{args.host}]" if ":" in args.host else args.host
    with contextlib.suppress(OSError, ValueError):
        print(f"nst: web studio at http://{host}:{port}/ (Ctrl-C stops it)", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return serve(args, tuple(args.set))


if __name__ == "__main__":
    sys.exit(main())

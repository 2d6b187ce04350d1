"""python -m nst.web [--host 127.0.0.1] [--port 8000] [--config config.ini] [--set k=v ...]

Starts the web studio and prints its address. Ctrl-C or SIGTERM stops the running job the way
they stop a CLI run (its folder is completed), then the server.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from nst.settings import add_settings_arguments

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


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
        "--max-upload-mb", type=float, default=50.0, help="largest image upload, in MB"
    )
    parser.add_argument(
        "--uploads", type=Path, default=None, help="upload folder (default: results/.uploads)"
    )


def serve(args: argparse.Namespace, overrides: tuple[str, ...]) -> int:
    """Run the studio until Ctrl-C or SIGTERM; an exit status as main.py's."""
    from werkzeug.serving import make_server

    from nst.settings import SettingsError
    from nst.web.server import StudioConfig, create_app

    studio = StudioConfig(
        args.config,
        overrides,
        args.uploads,
        int(args.max_upload_mb * 1024 * 1024),
        local_only=args.host in LOCAL_HOSTS,
    )
    try:
        app = create_app(studio)
        server = make_server(args.host, args.port, app, threaded=True)
    except SettingsError as error:
        print(f"nst: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"nst: error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per image request
    signal.signal(signal.SIGTERM, _interrupt)  # before the address: a script may stop us then
    if args.host not in LOCAL_HOSTS:
        print(
            f"nst: warning: listening on {args.host}: anyone who can reach port {args.port} "
            "can run jobs and read every result and upload",
            file=sys.stderr,
        )
    host = f"[{args.host}]" if ":" in args.host else args.host
    try:  # the address inside: a SIGTERM right after it must stop us here, not escape
        print(f"nst: web studio at http://{host}:{server.port}/ (Ctrl-C stops it)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("nst: stopping: the running job finishes its folder first", file=sys.stderr)
    finally:
        app.extensions["nst"]["worker"].close()
        server.server_close()
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the server as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return serve(args, tuple(args.set))


if __name__ == "__main__":
    sys.exit(main())

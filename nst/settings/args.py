"""The command-line options that name settings, shared by every front end's parser."""

from __future__ import annotations

from pathlib import Path


def add_settings_arguments(parser, set_help: str) -> None:
    """--config and --set on an argparse parser: how every command line names its settings."""
    parser.add_argument("--config", type=Path, default=Path("config.ini"), help="settings file")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help=set_help
    )

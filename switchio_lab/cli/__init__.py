"""The ``switchio-lab`` command line: one module per subcommand (``sim``, ``serve``,
``dial``, ``lab``) and what they share (``common``)."""

from __future__ import annotations

import argparse
import logging

from . import common, dial, lab, serve, sim
from .common import DEFAULT_PASSWORD, PASSWORD_ENV, describe_switches, load_app_spec
from .dial import (
    DIAL_FLUSH_INTERVAL,
    DIAL_LOAD,
    as_options,
    dial_duration,
    dial_table,
    unanswered_warning,
)
from .lab import lab_command

__all__ = ["DEFAULT_PASSWORD", "DIAL_FLUSH_INTERVAL", "DIAL_LOAD", "PASSWORD_ENV", "as_options",
           "build_parser", "describe_switches", "dial_duration", "dial_table", "lab_command",
           "load_app_spec", "main", "parse", "unanswered_warning"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchio-lab",
                                     description="An interactive FreeSWITCH telephony lab.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    sim.add_parser(sub)
    serve.add_parser(sub)
    dial.add_parser(sub)
    lab.add_parser(sub)
    return parser


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, parsed; ``lab`` passes the options it does not know on to
    JupyterLab (``switchio-lab lab --port 8898 --no-browser``)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if args.command != "lab":
            parser.parse_args(argv)  # the usual error, with its usage line
        args.extra = [*unknown, *args.extra]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if hasattr(args, "password"):
        args.password = common.resolve_password(args)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return args.func(args)


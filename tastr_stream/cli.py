"""``tastr-stream`` command line: one subcommand per module in :mod:`tastr_stream.commands`.

Each command module exposes ``register(subparsers)`` which adds its parser and sets
``func(args) -> int``. Errors the project raises on purpose (:class:`TastrError`) end the
process with one line on stderr and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .errors import TastrError

COMMANDS = (
    "sim",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tastr-stream", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"tastr_stream.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .logs import setup_logging

    setup_logging(args.log_level)
    try:
        return int(args.func(args) or 0)
    except TastrError as e:
        logging.getLogger("tastr_stream").debug("failed", exc_info=True)
        print(f"tastr-stream {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tastr-stream {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

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
    "lookup",
    "train",
    "evaluate",
    "status",
)


def build_parser(extra_modules: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """Library commands plus ``extra_modules`` (the daemons in ``services/``, given by its entry point,
    so the library itself never imports ``services``)."""
    parser = argparse.ArgumentParser(prog="tastr-stream", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in [f"tastr_stream.commands.{name}" for name in COMMANDS] + list(extra_modules):
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None, extra_modules: tuple[str, ...] = ()) -> int:
    args = build_parser(extra_modules).parse_args(argv)
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

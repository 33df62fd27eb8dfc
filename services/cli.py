"""The ``tastr-stream`` console script: library commands plus the daemons defined here."""

from __future__ import annotations

import sys

from tastr_stream.cli import main as library_main

DAEMONS = (
    "services.ingest",
    "services.associator",
    "services.trainer",
    "services.demo",
    "services.replay",
)
# Library commands registered here rather than in tastr_stream.cli (their modules import zmq).
COMMANDS = ("tastr_stream.commands.keys",)


def main(argv: list[str] | None = None) -> int:
    return library_main(argv, DAEMONS + COMMANDS)


if __name__ == "__main__":
    sys.exit(main())

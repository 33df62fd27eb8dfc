"""Structured log lines: ``ts level logger msg key=value ...`` on stderr.

Call sites pass context as ``extra={"kv": {...}}`` so lines stay grep-able and parseable.
"""

from __future__ import annotations

import logging
import sys
import time


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created)) + f".{int(record.msecs):03d}"
        line = f"{ts} {record.levelname:<7} {record.name} {record.getMessage()}"
        kv = getattr(record, "kv", None)
        if kv:
            line += " " + " ".join(f"{k}={v}" for k, v in kv.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # faiss logs which CPU build it tried at INFO, seven lines per process: noise on every command.
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)

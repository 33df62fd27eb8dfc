"""The one receive loop every ZeroMQ endpoint here uses: wait once, then take what is waiting."""

from __future__ import annotations

import time

import zmq

from ..errors import WireError


def bind(sock: zmq.Socket, endpoint: str, in_use_wait_s: float = 2.0) -> None:
    """Bind, or say in one line which endpoint could not be bound and why (e.g. in use).

    A port a restarted process held a moment ago is released asynchronously, so "in use" is
    retried for ``in_use_wait_s`` before it is an error."""
    deadline = time.monotonic() + in_use_wait_s
    while True:
        try:
            sock.bind(endpoint)
            return
        except zmq.ZMQError as exc:
            if exc.errno == zmq.EADDRINUSE and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            sock.close(linger=0)
            raise WireError(f"cannot bind {endpoint!r}: {exc.strerror} (is another daemon using it? "
                            f"set a free port in [endpoints])") from exc


def drain(sock: zmq.Socket, timeout_ms: int, limit: int | None = None, multipart: bool = False) -> list:
    """Messages waiting on ``sock`` after up to ``timeout_ms`` for the first, at most ``limit``.

    Never blocks past the first wait, so a daemon's loop can poll several sockets in turn;
    ``multipart`` returns each message as its list of frames.
    """
    out: list = []
    if not sock.poll(timeout_ms):
        return out
    while limit is None or len(out) < limit:
        try:
            out.append(sock.recv_multipart(flags=zmq.NOBLOCK) if multipart else sock.recv(flags=zmq.NOBLOCK))
        except zmq.Again:
            break
    return out

"""The one receive loop every ZeroMQ endpoint here uses: wait once, then take what is waiting."""

from __future__ import annotations

import zmq

from ..errors import WireError


def bind(sock: zmq.Socket, endpoint: str) -> None:
    """Bind, or say in one line which endpoint could not be bound and why (e.g. in use)."""
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
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

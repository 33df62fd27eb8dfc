"""Request/reply over ZeroMQ for live lookups and control (msgpack bodies, schema-versioned).

The server is a ROUTER so one slow request never wedges the socket; the client follows the
"lazy pirate" pattern: a REQ socket per attempt, a poll with timeout, and on timeout the socket
is discarded so the next call starts clean (a plain REQ would be stuck in its send state).

With a shared token (``security.token_file``) every request carries it in a ``token`` field; the
server takes it out before the body reaches the handler and turns a request without it, or with
another one, into an :class:`Unauthorized` error the daemon replies with. A server bound beyond
loopback without a token refuses to start.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

import zmq

from ..config.security import endpoint_host, require_token_beyond_loopback
from ..errors import TastrError, WireError
from .codec import decode, encode
from .sockets import bind, drain


log = logging.getLogger(__name__)
TOKEN_FIELD = "token"


class RpcTimeout(TastrError):
    """No reply within the deadline (server down, overloaded or unreachable)."""


class Unauthorized(WireError):
    """A request without the shared token, or with another one."""


def token_matches(expected: str, given: Any) -> bool:
    """Constant-time comparison (a timing difference must not reveal how much of a guess was right)."""
    return isinstance(given, str) and hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


@dataclass(frozen=True)
class Request:
    envelope: list[bytes]      # ROUTER routing frames up to and including the empty delimiter
    body: dict | None
    error: WireError | None


class RpcServer:
    def __init__(self, endpoint: str, context: zmq.Context | None = None, token: str | None = None):
        """``token``: the shared secret every request must carry; required when ``endpoint`` is
        reachable beyond loopback (ConfigError otherwise, before anything binds)."""
        require_token_beyond_loopback("endpoints.lookup", endpoint_host(endpoint), token)
        self._token = token
        self.unauthorized = 0
        self._ctx = context or zmq.Context.instance()
        self.sock = self._ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        bind(self.sock, endpoint)
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def receive(self, timeout_ms: int, max_requests: int = 64) -> list[Request]:
        out: list[Request] = []
        for frames in drain(self.sock, timeout_ms, max_requests, multipart=True):
            try:
                split = frames.index(b"")
            except ValueError:
                continue  # not from a REQ socket: nothing we could reply to
            envelope, payload = frames[: split + 1], frames[split + 1:]
            if len(payload) != 1:
                out.append(Request(envelope, None, WireError(f"expected one payload frame, got {len(payload)}")))
                continue
            try:
                msg_type, body = decode(payload[0])
                if msg_type != "lookup.request":
                    raise WireError(f"expected a lookup.request, got {msg_type}")
                given = body.pop(TOKEN_FIELD, None) if isinstance(body, dict) else None
                if self._token is not None and not token_matches(self._token, given):
                    raise self._refuse(given)
                out.append(Request(envelope, body, None))
            except WireError as e:
                out.append(Request(envelope, None, e))
        return out

    def _refuse(self, given: Any) -> Unauthorized:
        self.unauthorized += 1
        if self.unauthorized & (self.unauthorized - 1) == 0:      # 1st, 2nd, 4th, 8th ...: no log flood
            log.warning("lookup refused: missing or wrong token", extra={"kv": {
                "refused_so_far": self.unauthorized, "token_given": given is not None}})
        return Unauthorized("unauthorized: this lookup endpoint needs the shared token (security.token_file "
                            "or the TASTR_STREAM_TOKEN environment variable on the client)")

    def reply(self, request: Request, body: dict[str, Any]) -> None:
        # ROUTER silently drops replies to peers that went away (a client that timed out).
        self.sock.send_multipart(request.envelope + [encode(body, "lookup.reply")], flags=zmq.NOBLOCK)

    def close(self) -> None:
        self.sock.close(linger=0)


class RpcClient:
    def __init__(self, endpoint: str, context: zmq.Context | None = None, token: str | None = None):
        self.endpoint = endpoint
        self._token = token
        self._ctx = context or zmq.Context.instance()
        self._sock: zmq.Socket | None = None

    def _socket(self) -> zmq.Socket:
        if self._sock is None:
            self._sock = self._ctx.socket(zmq.REQ)
            self._sock.setsockopt(zmq.LINGER, 0)
            self._sock.connect(self.endpoint)
        return self._sock

    def call(self, body: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
        sock = self._socket()
        if self._token is not None:
            body = {**body, TOKEN_FIELD: self._token}
        sock.send(encode(body, "lookup.request"))
        if not sock.poll(int(timeout_s * 1000)):
            sock.close(linger=0)
            self._sock = None
            raise RpcTimeout(f"no reply from {self.endpoint} within {timeout_s} s")
        msg_type, reply = decode(sock.recv())
        if msg_type != "lookup.reply":
            raise WireError(f"expected a lookup.reply, got {msg_type}")
        return reply

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

"""Train-round requests: the associator PUSHes, the trainer PULLs.

Why PUSH/PULL and not the reliable DEALER/ROUTER channel: a request carries no data the
trainer cannot read from the store, and requests coalesce (the trainer runs one round for any
number of requests that arrived while it was busy), so a lost request only delays a round
until the next one. What matters is that the associator never blocks on a slow or absent
trainer: ``send`` is non-blocking and reports whether the request was queued.

Body (message type ``train.request``, schema-versioned by :mod:`.codec`)::

    {"round": int >= 0, "reason": str, "model_version": int >= -1, "requested_at_s": float}

``round`` is the associator's request counter, ``model_version`` the version its window
serves when it asks (the trainer logs both; it decides the round kind from its own state).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import zmq

from ..errors import WireError
from .codec import decode, encode
from .curve import CurveClient, CurveServer
from .sockets import bind, drain

log = logging.getLogger(__name__)

MSG_TYPE = "train.request"
MAX_REASON_CHARS = 256
SEND_HWM = 8     # at most this many requests wait for an absent trainer; more are pointless


@dataclass(frozen=True)
class TrainRequest:
    round: int
    reason: str
    model_version: int
    requested_at_s: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if isinstance(self.round, bool) or not isinstance(self.round, int) or self.round < 0:
            raise WireError(f"train.request.round: expected an int >= 0, got {self.round!r}")
        if not isinstance(self.reason, str) or len(self.reason) > MAX_REASON_CHARS:
            raise WireError(f"train.request.reason: expected a string up to {MAX_REASON_CHARS} chars, "
                            f"got {self.reason!r:.80}")
        if isinstance(self.model_version, bool) or not isinstance(self.model_version, int) \
                or self.model_version < -1:
            raise WireError(f"train.request.model_version: expected an int >= -1, got {self.model_version!r}")
        if isinstance(self.requested_at_s, bool) or not isinstance(self.requested_at_s, (int, float)) \
                or not math.isfinite(self.requested_at_s):
            raise WireError(f"train.request.requested_at_s: expected a finite number, got {self.requested_at_s!r}")

    def to_body(self) -> dict:
        return {"round": self.round, "reason": self.reason, "model_version": self.model_version,
                "requested_at_s": float(self.requested_at_s)}

    @classmethod
    def from_body(cls, body: dict) -> TrainRequest:
        missing = [k for k in ("round", "reason", "model_version") if k not in body]
        if missing:
            raise WireError(f"train.request: missing fields {missing}")
        return cls(body["round"], body["reason"], body["model_version"],
                   body.get("requested_at_s", 0.0))


def encode_request(req: TrainRequest) -> bytes:
    return encode(req.to_body(), MSG_TYPE)


def decode_request(data: bytes) -> TrainRequest:
    kind, body = decode(data)
    if kind != MSG_TYPE:
        raise WireError(f"expected {MSG_TYPE}, got {kind}")
    return TrainRequest.from_body(body)


class TrainRequestSender:
    """The associator's side: PUSH (connect) to the trainer; ``send`` never blocks."""

    def __init__(self, endpoint: str, context: zmq.Context | None = None, curve: CurveClient | None = None):
        self._ctx = context or zmq.Context.instance()
        self.sock = self._ctx.socket(zmq.PUSH)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            curve.apply(self.sock)
        self.sock.setsockopt(zmq.SNDHWM, SEND_HWM)
        self.sock.connect(endpoint)
        self.endpoint = endpoint
        self.sent = 0
        self.dropped = 0

    def send(self, req: TrainRequest) -> bool:
        """Queue ``req``; False (and counted) when the queue towards the trainer is full."""
        try:
            self.sock.send(encode_request(req), flags=zmq.NOBLOCK)
        except zmq.Again:
            self.dropped += 1
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        self.sock.close(linger=0)


class TrainRequestReceiver:
    """The trainer's side: PULL (bind). Malformed messages are counted and logged, never raised."""

    def __init__(self, endpoint: str, context: zmq.Context | None = None, curve: CurveServer | None = None):
        self._ctx = context or zmq.Context.instance()
        self.sock = self._ctx.socket(zmq.PULL)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            curve.apply(self.sock)
        bind(self.sock, endpoint)
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.rejected = 0

    def poll(self, timeout_ms: int = 0) -> list[TrainRequest]:
        """Every request waiting (after up to ``timeout_ms`` for the first)."""
        out: list[TrainRequest] = []
        for data in drain(self.sock, timeout_ms):
            try:
                out.append(decode_request(data))
            except WireError as exc:
                self.rejected += 1
                log.warning("malformed train request dropped", extra={"kv": {"bytes": len(data), "error": exc}})
        return out

    def close(self) -> None:
        self.sock.close(linger=0)

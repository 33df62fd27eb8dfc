"""Model-version announcements: the trainer PUBlishes, extractors and the associator SUBscribe.

PUB/SUB fits a broadcast whose latest value is all that matters, but a subscriber that joins
late misses earlier messages; so the publisher repeats the newest announcement periodically,
and subscribers ignore versions they already have. Nothing here blocks the publisher.
"""

from __future__ import annotations

import zmq

from ..errors import WireError
from .codec import decode, encode
from .curve import CurveClient, CurveServer
from .records import WeightsAnnouncement
from .sockets import bind, drain


class AnnouncementPublisher:
    def __init__(self, endpoint: str, context: zmq.Context | None = None, curve: CurveServer | None = None):
        self._ctx = context or zmq.Context.instance()
        self.sock = self._ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            curve.apply(self.sock)
        bind(self.sock, endpoint)
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.latest: WeightsAnnouncement | None = None

    def publish(self, ann: WeightsAnnouncement | None = None) -> None:
        """Publish ``ann`` (and remember it), or repeat the latest one when called without."""
        if ann is not None:
            self.latest = ann
        if self.latest is not None:
            self.sock.send(encode(self.latest), flags=zmq.NOBLOCK)

    def close(self) -> None:
        self.sock.close(linger=0)


class AnnouncementSubscriber:
    def __init__(self, endpoint: str, context: zmq.Context | None = None, curve: CurveClient | None = None):
        self._ctx = context or zmq.Context.instance()
        self.sock = self._ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            curve.apply(self.sock)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(endpoint)
        self.rejected = 0

    def poll(self, timeout_ms: int = 0) -> list[WeightsAnnouncement]:
        out: list[WeightsAnnouncement] = []
        for data in drain(self.sock, timeout_ms):
            try:
                kind, rec = decode(data)
                if kind != "weights":
                    raise WireError(f"expected weights, got {kind}")
                out.append(rec)
            except WireError:
                self.rejected += 1
        return out

    def close(self) -> None:
        self.sock.close(linger=0)

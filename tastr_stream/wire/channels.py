"""Reliable tracklet delivery: ingest DEALER -> associator ROUTER, with acknowledgements.

Why not plain PUSH/PUB: PUB drops everything while no subscriber is connected, and PUSH hands
messages to the socket buffer, so a crash of either side loses what was in flight. Here every
message is first put in the sender's :class:`DiskSpool`, sent as ``[msg_id, payload]``, and
deleted only when the receiver replies ``[msg_id, status]`` after its store has committed.
The receiver's store is idempotent by tracklet id, so a duplicate is harmless, but each one costs
a transfer and a store lookup, so resends are few:

- at most ``max_in_flight`` messages await an acknowledgement at a time (the rest wait on disk);
- the socket queues only to a completed connection (``IMMEDIATE``): while the associator is down
  nothing is sent at all. Without it, every resend during an outage piled up in ZeroMQ's queue and
  all of them were delivered when the associator came back (a 32-tracklet spool was delivered 288
  times after a 45 s outage);
- an unacknowledged message is resent after ``ack_timeout_s``, then after twice that, four times
  ... up to ``max_backoff_s`` (an associator that is up but stuck is not flooded);
- when a connection is (re)established, every message in flight is resent once at once: what was
  in flight when the peer went away was lost with that connection.
ZeroMQ reconnects by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import zmq

from collections.abc import Callable

from zmq.utils.monitor import recv_monitor_message

from ..errors import WireError
from .codec import decode
from .curve import CurveClient, CurveServer
from .sockets import bind, drain
from .spool import DiskSpool

log = logging.getLogger(__name__)
ACK_OK = b"ok"
ACK_REJECTED = b"rejected"


@dataclass
class SenderStats:
    sent: int = 0
    resent: int = 0
    acked: int = 0
    rejected: int = 0
    not_connected: int = 0      # sends held back because no connection was up (no queueing)
    connects: int = 0           # connections established (the first one and every reconnect)
    passes: int = 0             # loop passes of the sender thread (tests wait on these)


@dataclass
class _Flight:
    sent_at: float              # sender clock; -inf: due now (a new connection)
    attempts: int


class ReliableSender:
    """Background thread draining a spool to a ROUTER endpoint. ``submit`` never blocks on the network."""

    def __init__(self, endpoint: str, spool: DiskSpool, *, max_in_flight: int = 32, ack_timeout_s: float = 5.0,
                 max_backoff_s: float = 60.0, context: zmq.Context | None = None,
                 clock: Callable[[], float] = time.monotonic, curve: CurveClient | None = None):
        """``clock`` decides when a resend is due (tests pass a manual one: no sleeping);
        ``curve``: this box's CURVE client keys when ``security.curve`` is on."""
        if not (max_in_flight >= 1 and ack_timeout_s > 0 and max_backoff_s >= ack_timeout_s):
            raise WireError(f"sender: need max_in_flight >= 1, ack_timeout_s > 0, max_backoff_s >= ack_timeout_s; got "
                            f"{max_in_flight}, {ack_timeout_s}, {max_backoff_s}")
        self.endpoint = endpoint
        self.spool = spool
        self.max_in_flight = max_in_flight
        self.ack_timeout_s = ack_timeout_s
        self.max_backoff_s = max_backoff_s
        self.stats = SenderStats()
        self._clock = clock
        self._curve = curve
        self._ctx = context or zmq.Context.instance()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._in_flight: dict[str, _Flight] = {}
        self._thread = threading.Thread(target=self._run, name="tracklet-sender", daemon=True)

    def start(self) -> "ReliableSender":
        self._thread.start()
        return self

    def submit(self, msg_id: str, payload: bytes) -> None:
        with self._lock:
            self.spool.put(msg_id, payload)
        self._wake.set()

    @property
    def queue_depth(self) -> int:
        with self._lock:
            return len(self.spool)

    def stop(self, drain_timeout_s: float = 0.0, abort: threading.Event | None = None) -> None:
        """Stop sending, first waiting up to ``drain_timeout_s`` for the spool to empty; ``abort``
        (e.g. the daemon's SIGTERM event) ends that wait early. What is left stays in the spool,
        which survives the process, and is sent by the next start."""
        deadline = time.monotonic() + drain_timeout_s
        aborted = abort or threading.Event()
        while drain_timeout_s and self.queue_depth and time.monotonic() < deadline:
            if aborted.wait(0.02):
                break
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        sock.setsockopt(zmq.SNDHWM, self.max_in_flight * 2)
        sock.setsockopt(zmq.IMMEDIATE, 1)          # nothing queues while no connection is up
        if self._curve is not None:
            self._curve.apply(sock)
        monitor = sock.get_monitor_socket(zmq.EVENT_CONNECTED)
        sock.connect(self.endpoint)
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                self._send_due(sock)
                for ready, _ in poller.poll(timeout=50):
                    if ready is sock:
                        self._drain_acks(sock)
                    else:
                        self._connected(monitor)
                self.stats.passes += 1
                if not self._in_flight and not self.queue_depth:
                    self._wake.wait(0.2)
                    self._wake.clear()
        finally:
            sock.disable_monitor()
            monitor.close(linger=0)
            sock.close(linger=0)

    def _connected(self, monitor: zmq.Socket) -> None:
        """A connection came up: what was in flight went down with the previous one; resend it now."""
        while monitor.poll(0):
            event = recv_monitor_message(monitor)
            if event["event"] == zmq.EVENT_CONNECTED:
                self.stats.connects += 1
                for flight in self._in_flight.values():
                    flight.sent_at = -float("inf")

    def _backoff_s(self, attempts: int) -> float:
        return min(self.ack_timeout_s * 2.0 ** max(0, attempts - 1), self.max_backoff_s)

    def _send_due(self, sock: zmq.Socket) -> None:
        now = self._clock()
        with self._lock:
            for gone in [m for m in self._in_flight if m not in self.spool]:   # dropped by the spool's bound
                del self._in_flight[gone]
            ids = self.spool.ids(limit=self.max_in_flight + len(self._in_flight))
        for msg_id in ids:
            flight = self._in_flight.get(msg_id)
            if flight is not None and now - flight.sent_at < self._backoff_s(flight.attempts):
                continue
            if flight is None and len(self._in_flight) >= self.max_in_flight:
                break
            with self._lock:
                payload = self.spool.read(msg_id)
            if payload is None:                    # acknowledged or dropped meanwhile
                self._in_flight.pop(msg_id, None)
                continue
            try:
                sock.send_multipart([msg_id.encode(), payload], flags=zmq.NOBLOCK)
            except zmq.Again:                      # no connection up (IMMEDIATE): nothing queued
                self.stats.not_connected += 1
                return
            if flight is None:
                self.stats.sent += 1
                self._in_flight[msg_id] = _Flight(now, 1)
            else:
                self.stats.resent += 1
                flight.sent_at, flight.attempts = now, flight.attempts + 1

    def _drain_acks(self, sock: zmq.Socket) -> None:
        while True:
            try:
                frames = sock.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) != 2:
                continue
            msg_id = frames[0].decode(errors="replace")
            self._in_flight.pop(msg_id, None)
            with self._lock:
                self.spool.ack(msg_id)
            if frames[1] == ACK_OK:
                self.stats.acked += 1
            else:
                self.stats.rejected += 1
                log.warning("receiver rejected a message", extra={"kv": {"msg_id": msg_id, "reason": frames[1][:200]}})


@dataclass(frozen=True)
class Incoming:
    """One received message: ``record`` is set when it decoded, ``error`` when it did not."""

    peer: bytes
    msg_id: bytes
    msg_type: str | None
    record: object | None
    error: WireError | None


class TrackletReceiver:
    """The associator's side: bind, receive, decode, and acknowledge after the caller has stored."""

    def __init__(self, endpoint: str, context: zmq.Context | None = None, curve: CurveServer | None = None):
        self._ctx = context or zmq.Context.instance()
        self.sock = self._ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, 10_000)
        if curve is not None:
            curve.apply(self.sock)
        bind(self.sock, endpoint)
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def receive(self, timeout_ms: int, max_messages: int = 256) -> list[Incoming]:
        out: list[Incoming] = []
        for frames in drain(self.sock, timeout_ms, max_messages, multipart=True):
            if len(frames) != 3:
                peer = frames[0] if frames else b""
                out.append(Incoming(peer, b"", None, None, WireError(f"expected [id, msg_id, payload], got {len(frames)} frames")))
                continue
            peer, msg_id, payload = frames
            try:
                msg_type, record = decode(payload)
                out.append(Incoming(peer, msg_id, msg_type, record, None))
            except WireError as e:
                out.append(Incoming(peer, msg_id, None, None, e))
        return out

    def ack(self, item: Incoming, ok: bool = True, reason: str = "") -> None:
        if not item.msg_id:
            return
        status = ACK_OK if ok else ACK_REJECTED + (b": " + reason.encode()[:200] if reason else b"")
        try:
            self.sock.send_multipart([item.peer, item.msg_id, status], flags=zmq.NOBLOCK)
        except zmq.ZMQError as e:  # peer gone: it will resend and our store dedups
            log.info("ack not delivered", extra={"kv": {"msg_id": item.msg_id[:64], "error": e}})

    def close(self) -> None:
        self.sock.close(linger=0)

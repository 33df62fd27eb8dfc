"""Resends across an outage, counted: an associator that is down, and one that is up but stuck.

Guards against (issue 13, item 5): during a 45 s associator outage a spool of 32 tracklets was
resent 256 times and delivered 288 times when the associator came back. The sender's clock is a
manual one, advanced step by step, so the outage lasts exactly N acknowledgement timeouts; every
assertion is a bound on counts, none on times.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter

import pytest
import zmq

from tastr_stream.wire.channels import ReliableSender
from tastr_stream.wire.spool import DiskSpool

from .test_channels import free_port, wait_for

ACK_TIMEOUT_S = 1.0
OUTAGE_S = 60.0            # the benchmark outage, in the sender's own clock
N_SPOOLED = 32
STEP_S = 2.0               # the clock moves by this much per step of the outage


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, s: float) -> None:
        with self._lock:
            self.now += s


def run_outage(sender: ReliableSender, clock: ManualClock) -> None:
    """Let the outage last OUTAGE_S of the sender's clock, STEP_S at a time, each step seen by at
    least two passes of the sender's loop."""
    for _ in range(int(OUTAGE_S / STEP_S)):
        clock.advance(STEP_S)
        seen = sender.stats.passes
        assert wait_for(lambda: sender.stats.passes >= seen + 2, 10), "sender thread stalled"


def serve(router: zmq.Socket, deliveries: Counter, sender: ReliableSender, ack: bool = True) -> None:
    """Receive (and acknowledge) until the sender's spool is empty."""
    deadline = time.monotonic() + 30
    while sender.queue_depth and time.monotonic() < deadline:
        if router.poll(50):
            peer, msg_id, _ = router.recv_multipart()
            deliveries[msg_id] += 1
            if ack:
                router.send_multipart([peer, msg_id, b"ok"])
    assert sender.queue_depth == 0, "spool not drained"


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def router_on(ctx, endpoint: str) -> zmq.Socket:
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    deadline = time.monotonic() + 5
    while True:
        try:
            sock.bind(endpoint)
            return sock
        except zmq.ZMQError:                      # the previous socket's port is released asynchronously
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_spool_is_delivered_about_once_across_a_60_s_outage(ctx, tmp_path):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    clock = ManualClock()
    sender = ReliableSender(endpoint, DiskSpool(tmp_path / "spool", 10**8), ack_timeout_s=ACK_TIMEOUT_S,
                            context=ctx, clock=clock).start()
    try:
        first = router_on(ctx, endpoint)
        before: Counter = Counter()
        for i in range(4):                         # the associator is up, then goes away
            sender.submit(f"warm-{i}", b"x" * 100)
        serve(first, before, sender)
        first.close(linger=0)
        for i in range(N_SPOOLED):
            sender.submit(f"t-{i}", b"y" * 1000)
        run_outage(sender, clock)
        back = router_on(ctx, endpoint)
        after: Counter = Counter()
        serve(back, after, sender)
        back.close(linger=0)
    finally:
        sender.stop()
    assert set(after) == {f"t-{i}".encode() for i in range(N_SPOOLED)}
    per_tracklet = sum(after.values()) / N_SPOOLED
    print(f"deliveries per distinct tracklet after a {OUTAGE_S:.0f} s outage: {per_tracklet:.3f}; "
          f"sends held back while down: {sender.stats.not_connected}")
    assert per_tracklet <= 1.1


def test_a_stuck_receiver_gets_exponentially_fewer_resends(ctx, tmp_path):
    """Up but never acknowledging (a stuck associator): resends back off, doubling up to the cap."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    clock = ManualClock()
    stuck = router_on(ctx, endpoint)
    sender = ReliableSender(endpoint, DiskSpool(tmp_path / "spool", 10**8), ack_timeout_s=ACK_TIMEOUT_S,
                            max_in_flight=8, context=ctx, clock=clock).start()
    got: Counter = Counter()
    try:
        for i in range(20):                        # more than the in-flight window
            sender.submit(f"t-{i}", b"z" * 100)
        assert wait_for(lambda: sender.stats.sent >= 8, 10)
        run_outage(sender, clock)
        while stuck.poll(200):
            got[stuck.recv_multipart()[1]] += 1
    finally:
        sender.stop()
        stuck.close(linger=0)
    # Sent at 0, then after 1, 2, 4, 8, 16, 32 timeouts: 1 + ceil(log2(60 + 1)) sends at most.
    bound = 1 + math.ceil(math.log2(OUTAGE_S / ACK_TIMEOUT_S + 1))
    assert len(got) == 8, "only the in-flight window is sent to a receiver that acknowledges nothing"
    assert max(got.values()) <= bound, got
    assert sender.stats.sent == 8 and sender.stats.resent <= 8 * (bound - 1)

"""Real ZeroMQ sockets on loopback: delivery survives an absent or restarting receiver.

Guards against: ingest blocking or crashing while the associator is down, tracklets lost
when the associator dies between receiving and storing, and an unbounded spool filling a disk.
"""

from __future__ import annotations

import socket
import threading
import time

import msgpack
import pytest
import zmq

from tastr_stream.errors import WireError
from tastr_stream.wire.announce import AnnouncementPublisher, AnnouncementSubscriber
from tastr_stream.wire.channels import ReliableSender, TrackletReceiver
from tastr_stream.wire.codec import encode
from tastr_stream.wire.records import WeightsAnnouncement
from tastr_stream.wire.rpc import RpcClient, RpcServer, RpcTimeout
from tastr_stream.wire.spool import DiskSpool

from .test_codec import make_tracklet


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def receive_until(receiver, n, timeout_s=10.0, ack=True, distinct=False):
    """Messages received until ``n`` arrived (``n`` different message ids if ``distinct``) or the timeout."""
    got, deadline = [], time.monotonic() + timeout_s
    while (len({g.msg_id for g in got}) if distinct else len(got)) < n and time.monotonic() < deadline:
        for item in receiver.receive(timeout_ms=100):
            got.append(item)
            if ack:
                receiver.ack(item, ok=item.error is None, reason=str(item.error or ""))
    return got


def wait_for(cond, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def payload(i: int) -> bytes:
    t = make_tracklet(n=5 + i % 3, dim=8, crops=1)
    return encode(t)


def test_sender_spools_while_receiver_is_down_then_delivers(tmp_path, ctx):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    sender = ReliableSender(endpoint, DiskSpool(tmp_path / "spool", 10**8), context=ctx).start()
    submits = threading.Thread(target=lambda: [sender.submit(f"m{i}", payload(i)) for i in range(20)])
    submits.start()
    submits.join(timeout=30)
    assert not submits.is_alive(), "submit must not block on a missing receiver"
    assert sender.queue_depth == 20
    receiver = TrackletReceiver(endpoint, context=ctx)
    # Delivery is at least once: a message the sender resent while the first copy was on its way
    # may arrive twice (the store drops the copy), so wait for the 20 ids, not for 20 messages.
    got = receive_until(receiver, 20, distinct=True)
    assert {g.msg_id.decode() for g in got} == {f"m{i}" for i in range(20)}
    assert all(g.msg_type == "tracklet" for g in got)
    assert wait_for(lambda: sender.queue_depth == 0)
    sender.stop()
    receiver.close()


def test_a_stop_during_the_drain_ends_it_and_leaves_the_rest_in_the_spool(tmp_path, ctx):
    """An ingest at the end of its file waits up to --drain-timeout for acknowledgements; a SIGTERM
    in that wait must end it (the spool is durable), not be ignored for the rest of the timeout."""
    sender = ReliableSender(f"tcp://127.0.0.1:{free_port()}", DiskSpool(tmp_path / "spool", 10**8), context=ctx).start()
    for i in range(3):
        sender.submit(f"m{i}", payload(i))
    abort = threading.Event()
    stopping = threading.Thread(target=sender.stop, kwargs={"drain_timeout_s": 3600.0, "abort": abort})
    stopping.start()
    stopping.join(timeout=0.5)
    assert stopping.is_alive(), "with nobody acknowledging, the drain waits"
    abort.set()
    stopping.join(timeout=30)
    assert not stopping.is_alive() and sender.queue_depth == 3
    assert len(DiskSpool(tmp_path / "spool", 10**8)) == 3          # kept for the next start


def test_unacknowledged_messages_are_resent_to_a_restarted_receiver(tmp_path, ctx):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    sender = ReliableSender(endpoint, DiskSpool(tmp_path / "spool", 10**8), ack_timeout_s=0.5, context=ctx).start()
    first = TrackletReceiver(endpoint, context=ctx)
    for i in range(5):
        sender.submit(f"m{i}", payload(i))
    # "crashes" before storing: no acks. On a slow box the sender may already resend some of them
    # (ack_timeout_s 0.5) before all five arrived: wait for the five ids, not for five messages.
    got = receive_until(first, 5, ack=False, distinct=True)
    assert {g.msg_id for g in got} == {f"m{i}".encode() for i in range(5)}
    first.close()
    second = None
    deadline = time.monotonic() + 5
    while second is None:  # zmq releases a closed socket's port asynchronously (bind waits 2 s itself)
        try:
            second = TrackletReceiver(endpoint, context=ctx)
        except WireError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    again = receive_until(second, 5)
    assert {g.msg_id for g in again} == {f"m{i}".encode() for i in range(5)}
    assert wait_for(lambda: sender.queue_depth == 0)
    assert sender.stats.resent >= 5
    sender.stop()
    second.close()


def test_spool_survives_process_restart_and_bounds_bytes(tmp_path):
    spool = DiskSpool(tmp_path / "s", max_bytes=10_000)
    for i in range(5):
        spool.put(f"cam1:x:{i}", bytes([i]) * 3000)
    assert len(spool) == 3 and spool.dropped == 2 and spool.bytes <= 10_000
    reopened = DiskSpool(tmp_path / "s", max_bytes=10_000)
    assert [k for k, _ in reopened.pending()] == ["cam1:x:2", "cam1:x:3", "cam1:x:4"]
    assert reopened.pending()[0][1] == bytes([2]) * 3000
    assert reopened.ack("cam1:x:2") and not reopened.ack("cam1:x:2")


def test_malformed_message_is_rejected_not_resent(tmp_path, ctx):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    receiver = TrackletReceiver(endpoint, context=ctx)
    sender = ReliableSender(endpoint, DiskSpool(tmp_path / "spool", 10**8), ack_timeout_s=0.3, context=ctx).start()
    sender.submit("bad", msgpack.packb({"schema": 1, "type": "tracklet", "body": {"nope": 1}}))
    sender.submit("good", payload(1))
    got = receive_until(receiver, 2)
    errors = [g for g in got if g.error is not None]
    assert len(errors) == 1 and errors[0].msg_id == b"bad"
    assert wait_for(lambda: sender.queue_depth == 0)
    assert sender.stats.rejected == 1
    raw = ctx.socket(zmq.DEALER)
    raw.connect(endpoint)
    raw.send_multipart([b"only-one-frame"])
    (item,) = receive_until(receiver, 1)
    assert item.error is not None
    raw.close(linger=0)
    sender.stop()
    receiver.close()


def test_rpc_round_trip_bad_request_and_timeout(ctx):
    server = RpcServer("tcp://127.0.0.1:0", context=ctx)
    client = RpcClient(server.endpoint, context=ctx)
    import threading

    stop = threading.Event()

    def serve():
        while not stop.is_set():
            for req in server.receive(50):
                server.reply(req, {"ok": req.error is None, "echo": req.body})

    th = threading.Thread(target=serve)
    th.start()
    try:
        assert client.call({"op": "ping"}, timeout_s=5) == {"ok": True, "echo": {"op": "ping"}}
    finally:
        stop.set()
        th.join()
    with pytest.raises(RpcTimeout):
        client.call({"op": "ping"}, timeout_s=0.2)
    client.close()
    server.close()


def test_announcements_reach_a_late_subscriber_through_repeats(ctx):
    pub = AnnouncementPublisher("tcp://127.0.0.1:0", context=ctx)
    ann = WeightsAnnouncement(version=2, path="/w/v2.pt", sha256="0" * 64, backbone="tiny", emb_dim=32)
    pub.publish(ann)
    sub = AnnouncementSubscriber(pub.endpoint, context=ctx)
    got = []
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        pub.publish()
        got = sub.poll(50)
    assert got and got[0] == ann
    sub.close()
    pub.close()

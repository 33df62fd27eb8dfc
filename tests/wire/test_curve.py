"""CURVE between edge and centre, over real sockets on loopback ports.

Guards against issue 13's exposure item: tracklet intake, weight announcements, the checkpoint
server and train requests accepted anyone who could reach their ports. With ``security.curve``
on, a client without the server's public key, with a wrong one, or with a key the centre has not
authorized never completes a connection (the server's monitor reports the failed handshake) and
delivers nothing; a client with the keys delivers.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from tastr_stream.config import Curve
from tastr_stream.errors import ConfigError
from tastr_stream.wire.announce import AnnouncementPublisher, AnnouncementSubscriber
from tastr_stream.wire.channels import ReliableSender, TrackletReceiver
from tastr_stream.wire.checkpoints import CheckpointFetchError, CheckpointServer, checkpoint_name, fetch_checkpoint
from tastr_stream.wire.codec import encode
from tastr_stream.wire.curve import CurveClient, curve_client, curve_server, write_keys
from tastr_stream.wire.records import WeightsAnnouncement
from tastr_stream.wire.requests import TrainRequest, TrainRequestReceiver, TrainRequestSender
from tastr_stream.wire.spool import DiskSpool

from .test_codec import make_tracklet

FAILED = zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH
EVENTS = FAILED | zmq.EVENT_HANDSHAKE_SUCCEEDED


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


@pytest.fixture
def keys(tmp_path):
    write_keys(tmp_path / "keys")
    return Curve(enabled=True, keys_dir=str(tmp_path / "keys"))


def other_keys(tmp_path, name: str) -> Curve:
    write_keys(tmp_path / name)
    return Curve(enabled=True, keys_dir=str(tmp_path / name))


def next_handshake(monitor: zmq.Socket, timeout_s: float = 15.0) -> int:
    """The server's next handshake outcome (an event with a deadline, no sleeping)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if monitor.poll(100):
            event = recv_monitor_message(monitor)["event"]
            if event & EVENTS:
                return event
    raise AssertionError(f"no handshake within {timeout_s} s")


def deliver(ctx, tmp_path, server, client, name: str) -> tuple[int, list, ReliableSender]:
    """Send one tracklet through a CURVE receiver; return the handshake outcome and what arrived."""
    receiver = TrackletReceiver("tcp://127.0.0.1:0", context=ctx, curve=server)
    monitor = receiver.sock.get_monitor_socket(EVENTS)
    sender = ReliableSender(receiver.endpoint, DiskSpool(tmp_path / f"spool-{name}", 16 * 1024**2), context=ctx, curve=client,
                            ack_timeout_s=0.5, max_backoff_s=1.0)
    tracklet = make_tracklet(n=5, dim=8, crops=1)
    sender.submit(tracklet.tracklet_id, encode(tracklet))
    sender.start()
    try:
        event = next_handshake(monitor)
        got = []
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            deadline = time.monotonic() + 15
            while not got and time.monotonic() < deadline:
                got = receiver.receive(timeout_ms=100)
            for item in got:
                receiver.ack(item)
            deadline = time.monotonic() + 15
            while sender.queue_depth and time.monotonic() < deadline:
                time.sleep(0.02)
        else:
            got = receiver.receive(timeout_ms=0)     # a failed handshake carries no message
        return event, got, sender
    finally:
        sender.stop()
        receiver.sock.disable_monitor()
        monitor.close(linger=0)
        receiver.close()


def test_keys_command_output_and_files(tmp_path):
    written = write_keys(tmp_path / "k")
    assert {p.name for p in written.values()} == {"server.key", "server.key_secret", "client.key", "client.key_secret",
                                                  "client.key", "token"}
    for secret in ("server.key_secret", "client.key_secret", "token"):
        assert os.stat(tmp_path / "k" / secret).st_mode & 0o077 == 0, f"{secret} readable by others"
    assert (tmp_path / "k" / "authorized_clients" / "client.key").read_bytes() == (tmp_path / "k" / "client.key").read_bytes()
    with pytest.raises(ConfigError, match="already there"):
        write_keys(tmp_path / "k")
    client = curve_client(Curve(enabled=True, keys_dir=str(tmp_path / "k")))
    assert client.secret.decode() not in repr(client)


def test_a_client_with_the_keys_delivers_a_tracklet(ctx, tmp_path, keys):
    server = curve_server(keys, ctx)
    try:
        event, got, sender = deliver(ctx, tmp_path, server, curve_client(keys), "ok")
    finally:
        server.close()
    assert event == zmq.EVENT_HANDSHAKE_SUCCEEDED
    # A resend on connect may arrive too (the store dedups by id): one distinct tracklet arrived.
    assert {g.msg_id for g in got} == {got[0].msg_id} and got[0].error is None and got[0].msg_type == "tracklet"
    assert sender.stats.acked >= 1 and sender.queue_depth == 0


@pytest.mark.parametrize("who", ["plain", "wrong_server_key", "unauthorized_client"])
def test_a_client_without_the_server_key_or_authorization_delivers_nothing(ctx, tmp_path, keys, who):
    server = curve_server(keys, ctx)
    mine = curve_client(keys)
    if who == "plain":
        client = None                                            # no CURVE at all
    elif who == "wrong_server_key":
        client = CurveClient(mine.public, mine.secret, curve_client(other_keys(tmp_path, "o")).server_public)
    else:
        stranger = curve_client(other_keys(tmp_path, "o"))       # another key set's client, not authorized here
        client = CurveClient(stranger.public, stranger.secret, mine.server_public)
    try:
        event, got, sender = deliver(ctx, tmp_path, server, client, who)
    finally:
        server.close()
    assert event & FAILED, f"handshake event {event}"
    if who == "unauthorized_client":
        assert event == zmq.EVENT_HANDSHAKE_FAILED_AUTH
    assert got == [] and sender.stats.acked == 0 and sender.queue_depth == 1


def test_any_client_with_the_server_key_when_clients_are_not_authorized_one_by_one(ctx, tmp_path, keys):
    server = curve_server(keys.model_copy(update={"authorize_clients": False}), ctx)
    stranger = curve_client(other_keys(tmp_path, "o"))
    try:
        event, got, _ = deliver(ctx, tmp_path, server, CurveClient(stranger.public, stranger.secret,
                                                                    curve_client(keys).server_public), "any")
    finally:
        server.close()
    assert event == zmq.EVENT_HANDSHAKE_SUCCEEDED and {g.msg_id for g in got} == {got[0].msg_id}


def test_announcements_train_requests_and_checkpoints_over_curve(ctx, tmp_path, keys):
    server, client = curve_server(keys, ctx), curve_client(keys)
    ckpt_dir = tmp_path / "ckpt"
    ckpt_dir.mkdir()
    data = os.urandom(10_000)
    (ckpt_dir / checkpoint_name(3)).write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    pub = AnnouncementPublisher("tcp://127.0.0.1:0", context=ctx, curve=server)
    sub = AnnouncementSubscriber(pub.endpoint, context=ctx, curve=client)
    pull = TrainRequestReceiver("tcp://127.0.0.1:0", context=ctx, curve=server)
    push = TrainRequestSender(pull.endpoint, context=ctx, curve=client)
    ckpts = CheckpointServer("tcp://127.0.0.1:0", ckpt_dir, context=ctx, curve=server)
    try:
        ann = WeightsAnnouncement(version=3, path=str(ckpt_dir / checkpoint_name(3)), sha256=sha, backbone="tiny",
                                  emb_dim=16)
        got, requests, deadline = [], [], time.monotonic() + 15
        while (not got or not requests) and time.monotonic() < deadline:
            pub.publish(ann)                    # repeated, as the trainer does, for a late subscriber
            push.send(TrainRequest(round=0, reason="test", model_version=0))
            got += sub.poll(50)
            requests += pull.poll(50)
        assert got and got[0].version == 3 and requests and requests[0].reason == "test"
        stop = threading.Event()
        serving = threading.Thread(target=lambda: [ckpts.serve(20) for _ in iter(stop.is_set, True)], daemon=True)
        serving.start()
        try:
            path = fetch_checkpoint(ckpts.endpoint, 3, sha, tmp_path / "cache", timeout_s=10, context=ctx, curve=client)
            assert path.read_bytes() == data
            with pytest.raises(CheckpointFetchError, match="no reply"):      # no keys: never connects
                fetch_checkpoint(ckpts.endpoint, 3, sha, tmp_path / "cache2", timeout_s=1, context=ctx)
        finally:
            stop.set()
            serving.join(timeout=5)
    finally:
        for s in (pub, sub, pull, push, ckpts):
            s.close()
        server.close()


def test_curve_config_errors_are_one_line(tmp_path, keys):
    with pytest.raises(ConfigError, match=r"security.curve.keys_dir: cannot read .*server.key_secret"):
        curve_server(Curve(enabled=True, keys_dir=str(tmp_path / "none")))
    for f in (tmp_path / "keys" / "authorized_clients").iterdir():
        f.unlink()
    with pytest.raises(ConfigError, match=r"security.curve.authorize_clients: no client key"):
        curve_server(keys)
    assert curve_server(Curve()) is None and curve_client(Curve()) is None

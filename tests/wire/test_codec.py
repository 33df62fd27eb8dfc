"""Wire decoding: round trips, and every kind of bad message raises WireError, never anything else.

Guards against: one malformed or hostile message crashing the associator (a daemon catches
only WireError, counts it and drops the message), and a forged length field making a daemon
allocate gigabytes.
"""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tastr_stream.errors import WireError
from tastr_stream.wire import SCHEMA_VERSION, Tracklet, WeightsAnnouncement, decode, encode
from tastr_stream.wire.codec import MAX_MESSAGE_BYTES


def make_tracklet(n: int = 12, dim: int = 64, crops: int = 4, dtype=np.float32) -> Tracklet:
    rng = np.random.default_rng(n)
    t = 100.0 + np.arange(n) / 30.0
    boxes = np.column_stack([rng.uniform(0, 100, n), rng.uniform(0, 100, n)])
    boxes = np.column_stack([boxes, boxes + 50]).astype(np.float32)
    return Tracklet(
        tracklet_id="cam3:a1b2:17", camera_id="cam3", local_track_id=17,
        t_start_s=float(t[0]), t_end_s=float(t[-1]), frame_times_s=t, boxes_xyxy=boxes,
        crops_jpeg=tuple(bytes([0xFF, 0xD8, i, 0xFF, 0xD9]) for i in range(crops)),
        crop_times_s=t[: crops], embedding=rng.normal(size=dim).astype(dtype), model_version=3,
    )


def test_tracklet_round_trip_keeps_every_field():
    t = make_tracklet()
    kind, back = decode(encode(t))
    assert kind == "tracklet"
    assert back.tracklet_id == t.tracklet_id and back.camera_id == "cam3" and back.local_track_id == 17
    assert back.t_start_s == t.t_start_s and back.t_end_s == t.t_end_s
    np.testing.assert_array_equal(back.frame_times_s, t.frame_times_s)
    np.testing.assert_array_equal(back.boxes_xyxy, t.boxes_xyxy)
    np.testing.assert_array_equal(back.embedding, t.embedding)
    assert back.embedding.dtype == np.float32
    assert back.crops_jpeg == t.crops_jpeg and back.model_version == 3


def test_float16_embedding_travels_as_float16():
    t = make_tracklet(dtype=np.float16)
    data = encode(t)
    _, back = decode(data)
    assert back.embedding.dtype == np.float16
    assert len(data) < len(encode(make_tracklet(dtype=np.float32)))


def test_weights_announcement_round_trip_and_bad_sha():
    w = WeightsAnnouncement(version=4, path="/x/v4.pt", sha256="ab" * 32, backbone="mobilenetv2", emb_dim=512)
    assert decode(encode(w)) == ("weights", w)
    bad = msgpack.packb({"schema": SCHEMA_VERSION, "type": "weights",
                         "body": {"version": 4, "path": "/x", "sha256": "zz", "backbone": "m", "emb_dim": 512}})
    with pytest.raises(WireError, match="sha256"):
        decode(bad)


@pytest.mark.parametrize(
    "envelope, match",
    [
        ({"schema": 99, "type": "tracklet", "body": {}}, "schema version 99"),
        ({"schema": SCHEMA_VERSION, "type": "teleport", "body": {}}, "unknown message type"),
        ({"schema": SCHEMA_VERSION, "type": "tracklet", "body": []}, "expected a map"),
        ({"schema": SCHEMA_VERSION, "type": "tracklet", "body": {"tracklet_id": 5, "crops_jpeg": []}}, "tracklet_id"),
        ([1, 2, 3], "envelope"),
    ],
)
def test_bad_envelopes(envelope, match):
    with pytest.raises(WireError, match=match):
        decode(msgpack.packb(envelope))


def _body_with(**changes):
    body = msgpack.unpackb(encode(make_tracklet()), raw=False)["body"]
    body.update(changes)
    return msgpack.packb({"schema": SCHEMA_VERSION, "type": "tracklet", "body": body}, use_bin_type=True)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"t_end_s": 0.0}, "start <= end"),
        ({"t_start_s": float("nan")}, "t_start_s"),
        ({"embedding": {"dtype": "<f4", "shape": [10], "data": b"\x00" * 12}}, "12 bytes"),
        ({"embedding": {"dtype": "<c16", "shape": [1], "data": b"\x00" * 16}}, "dtype"),
        ({"embedding": {"dtype": "<f4", "shape": [2**31], "data": b""}}, "shape"),
        ({"boxes_xyxy": {"dtype": "<f4", "shape": [4001, 1000], "data": b""}}, "elements"),
        ({"boxes_xyxy": {"dtype": "<f4", "shape": [3, 4], "data": b"\x00" * 48}}, "boxes_xyxy"),
        ({"crops_jpeg": ["not bytes"]}, "crops_jpeg"),
        ({"model_version": True}, "model_version"),
        ({"local_track_id": 2**63}, "local_track_id"),
        ({"crop_times_s": {"dtype": "<f8", "shape": [3], "data": b"\x00" * 24}}, "3 times for 4 crops"),
        ({"crops_jpeg": [], "crop_times_s": {"dtype": "<f8", "shape": [1001], "data": b"\x00" * 8008}}, "at most 1000"),
    ],
)
def test_bad_tracklet_fields(changes, match):
    with pytest.raises(WireError, match=match):
        decode(_body_with(**changes))


def test_crop_times_travel_without_the_crops():
    """A stored tracklet read without its crops still says how many it has (it weighs a visit)."""
    _, t = decode(_body_with(crops_jpeg=[]))
    assert t.crops_jpeg == () and len(t.crop_times_s) == len(make_tracklet().crop_times_s) > 0


def test_not_msgpack_and_truncated():
    with pytest.raises(WireError):
        decode(b"\xc1\xc1\xc1")
    data = encode(make_tracklet())
    for cut in (1, len(data) // 3, len(data) - 1):
        with pytest.raises(WireError):
            decode(data[:cut])


def test_oversized_message_rejected_before_parsing():
    with pytest.raises(WireError, match="exceeds"):
        decode(b"\x00" * (MAX_MESSAGE_BYTES + 1))


def test_non_bytes_rejected():
    with pytest.raises(WireError):
        decode("a string")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_arbitrary_bytes_never_crash(data):
    try:
        decode(data)
    except WireError:
        pass


_VALID = encode(make_tracklet(n=5, dim=16, crops=2))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_fuzz_byte_flips_of_a_valid_message(flips):
    data = bytearray(_VALID)
    for pos, val in flips:
        data[pos] = val
    try:
        kind, rec = decode(bytes(data))
    except WireError:
        return
    assert kind in ("tracklet", "weights", "lookup.request", "lookup.reply", "train.request", "ack")


msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=20)
    | st.binary(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)
_FIELDS = ["tracklet_id", "camera_id", "local_track_id", "t_start_s", "t_end_s", "frame_times_s", "boxes_xyxy",
           "crops_jpeg", "crop_times_s", "embedding", "model_version", "dtype", "shape", "data"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(_FIELDS), msgpack_values, max_size=12))
def test_fuzz_structured_tracklet_bodies(body):
    data = msgpack.packb({"schema": SCHEMA_VERSION, "type": "tracklet", "body": body}, use_bin_type=True)
    try:
        decode(data)
    except WireError:
        pass


def test_encode_unknown_type_raises():
    with pytest.raises(WireError):
        encode(object())

"""msgpack encoding of wire messages, with a schema version and strict, bounded decoding.

Envelope: ``{"schema": 1, "type": <str>, "body": <map>}``. Arrays travel as
``{"dtype": "<f4", "shape": [...], "data": <raw bytes>}`` so embeddings cost their size and
nothing more. Decoding never trusts the sender: the total size is checked before parsing,
msgpack's own limits bound every string, binary, array and map, and each field is checked
for type, shape and range before a record is built. Anything wrong raises :class:`WireError`,
which daemons count in a metric and drop.
"""

from __future__ import annotations

from typing import Any, Callable

import msgpack
import numpy as np

from ..errors import WireError
from .records import MAX_CROP_BYTES, MAX_CROPS, Tracklet, WeightsAnnouncement

SCHEMA_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_ARRAY_ELEMENTS = 4_000_000
_ALLOWED_DTYPES = {"<f4": np.float32, "<f2": np.float16, "<f8": np.float64, "<i8": np.int64, "|u1": np.uint8}


# ----------------------------------------------------------------------------- arrays
def pack_array(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a)
    dtype = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
    return {"dtype": dtype.str, "shape": list(a.shape), "data": a.astype(dtype, copy=False).tobytes()}


def unpack_array(obj: Any, name: str, ndim: int | None = None) -> np.ndarray:
    body = _map(obj, name)
    dtype_str = _str(body.get("dtype"), f"{name}.dtype")
    if dtype_str not in _ALLOWED_DTYPES:
        raise WireError(f"{name}.dtype: {dtype_str!r} not one of {sorted(_ALLOWED_DTYPES)}")
    shape = body.get("shape")
    if not isinstance(shape, list) or not all(isinstance(s, int) and 0 <= s <= MAX_ARRAY_ELEMENTS for s in shape):
        raise WireError(f"{name}.shape: expected a list of non-negative ints, got {shape!r}")
    if ndim is not None and len(shape) != ndim:
        raise WireError(f"{name}.shape: expected {ndim} dimensions, got {shape}")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count > MAX_ARRAY_ELEMENTS:
        raise WireError(f"{name}: {count} elements exceeds {MAX_ARRAY_ELEMENTS}")
    data = body.get("data")
    if not isinstance(data, bytes):
        raise WireError(f"{name}.data: expected bytes, got {type(data).__name__}")
    dtype = np.dtype(_ALLOWED_DTYPES[dtype_str])
    if len(data) != count * dtype.itemsize:
        raise WireError(f"{name}.data: {len(data)} bytes for shape {shape} of {dtype_str}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


# ----------------------------------------------------------------------------- field checks
def _map(obj: Any, name: str) -> dict:
    if not isinstance(obj, dict):
        raise WireError(f"{name}: expected a map, got {type(obj).__name__}")
    return obj


def _str(obj: Any, name: str, max_len: int = 4096) -> str:
    if not isinstance(obj, str) or len(obj) > max_len:
        raise WireError(f"{name}: expected a string up to {max_len} chars, got {type(obj).__name__}")
    return obj


def _num(obj: Any, name: str) -> float:
    if isinstance(obj, bool) or not isinstance(obj, (int, float)):
        raise WireError(f"{name}: expected a number, got {type(obj).__name__}")
    return float(obj)


def _int(obj: Any, name: str, lo: int = -(2**62), hi: int = 2**62) -> int:
    if isinstance(obj, bool) or not isinstance(obj, int) or not lo <= obj <= hi:
        raise WireError(f"{name}: expected an integer in [{lo}, {hi}], got {obj!r}")
    return obj


# ----------------------------------------------------------------------------- bodies
def _tracklet_to_body(t: Tracklet) -> dict[str, Any]:
    return {
        "tracklet_id": t.tracklet_id,
        "camera_id": t.camera_id,
        "local_track_id": t.local_track_id,
        "t_start_s": t.t_start_s,
        "t_end_s": t.t_end_s,
        "frame_times_s": pack_array(t.frame_times_s),
        "boxes_xyxy": pack_array(t.boxes_xyxy),
        "crops_jpeg": list(t.crops_jpeg),
        "crop_times_s": pack_array(t.crop_times_s),
        "embedding": None if t.embedding is None else pack_array(t.embedding),
        "model_version": t.model_version,
    }


def _tracklet_from_body(b: dict) -> Tracklet:
    crops = b.get("crops_jpeg")
    if not isinstance(crops, list) or len(crops) > MAX_CROPS:
        raise WireError(f"tracklet.crops_jpeg: expected a list of at most {MAX_CROPS} items")
    for i, c in enumerate(crops):
        if not isinstance(c, bytes) or len(c) > MAX_CROP_BYTES:
            raise WireError(f"tracklet.crops_jpeg[{i}]: expected bytes up to {MAX_CROP_BYTES}")
    emb = b.get("embedding")
    return Tracklet(
        tracklet_id=_str(b.get("tracklet_id"), "tracklet.tracklet_id", 128),
        camera_id=_str(b.get("camera_id"), "tracklet.camera_id", 32),
        local_track_id=_int(b.get("local_track_id"), "tracklet.local_track_id"),
        t_start_s=_num(b.get("t_start_s"), "tracklet.t_start_s"),
        t_end_s=_num(b.get("t_end_s"), "tracklet.t_end_s"),
        frame_times_s=unpack_array(b.get("frame_times_s"), "tracklet.frame_times_s", 1),
        boxes_xyxy=unpack_array(b.get("boxes_xyxy"), "tracklet.boxes_xyxy", 2),
        crops_jpeg=tuple(crops),
        crop_times_s=unpack_array(b.get("crop_times_s"), "tracklet.crop_times_s", 1),
        embedding=None if emb is None else unpack_array(emb, "tracklet.embedding", 1),
        model_version=_int(b.get("model_version"), "tracklet.model_version", -1),
    )


def _weights_to_body(w: WeightsAnnouncement) -> dict[str, Any]:
    return {"version": w.version, "path": w.path, "sha256": w.sha256, "backbone": w.backbone, "emb_dim": w.emb_dim}


def _weights_from_body(b: dict) -> WeightsAnnouncement:
    sha = _str(b.get("sha256"), "weights.sha256", 64)
    if len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha):
        raise WireError(f"weights.sha256: expected 64 lowercase hex digits, got {sha!r}")
    return WeightsAnnouncement(
        version=_int(b.get("version"), "weights.version", 0),
        path=_str(b.get("path"), "weights.path"),
        sha256=sha,
        backbone=_str(b.get("backbone"), "weights.backbone", 64),
        emb_dim=_int(b.get("emb_dim"), "weights.emb_dim", 1, 8192),
    )


def _plain_map(b: dict) -> dict:
    """Request/reply bodies (lookup, train requests) are plain maps validated by their handler."""
    return b


_ENCODERS: dict[type, tuple[str, Callable[[Any], dict]]] = {
    Tracklet: ("tracklet", _tracklet_to_body),
    WeightsAnnouncement: ("weights", _weights_to_body),
}
_DECODERS: dict[str, Callable[[dict], Any]] = {
    "tracklet": _tracklet_from_body,
    "weights": _weights_from_body,
    "lookup.request": _plain_map,
    "lookup.reply": _plain_map,
    "train.request": _plain_map,
    "ack": _plain_map,
}
MESSAGE_TYPES = tuple(_DECODERS)


# ----------------------------------------------------------------------------- public API
def encode(obj: Any, msg_type: str | None = None) -> bytes:
    """Encode a record (or, with ``msg_type``, a plain map body) into one wire message."""
    if msg_type is None:
        if type(obj) not in _ENCODERS:
            raise WireError(f"no wire encoding for {type(obj).__name__}")
        msg_type, to_body = _ENCODERS[type(obj)]
        body = to_body(obj)
    else:
        if msg_type not in _DECODERS:
            raise WireError(f"unknown message type {msg_type!r}")
        body = obj
    data = msgpack.packb({"schema": SCHEMA_VERSION, "type": msg_type, "body": body}, use_bin_type=True)
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return data


def decode(data: bytes) -> tuple[str, Any]:
    """Decode and validate one wire message; returns ``(type, record or map)``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WireError(f"message must be bytes, got {type(data).__name__}")
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        envelope = msgpack.unpackb(
            bytes(data), raw=False, strict_map_key=True, use_list=True,
            max_str_len=1 << 20, max_bin_len=MAX_MESSAGE_BYTES,
            max_array_len=1 << 20, max_map_len=1 << 12, max_ext_len=0,
        )
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise WireError(f"not a valid msgpack message: {type(e).__name__}: {str(e)[:200]}") from None
    env = _map(envelope, "envelope")
    schema = env.get("schema")
    if schema != SCHEMA_VERSION:
        raise WireError(f"unsupported schema version {schema!r}; this build speaks {SCHEMA_VERSION}")
    msg_type = env.get("type")
    if msg_type not in _DECODERS:
        raise WireError(f"unknown message type {msg_type!r}")
    body = _map(env.get("body"), f"{msg_type}.body")
    try:
        return msg_type, _DECODERS[msg_type](body)
    except WireError:
        raise
    except (ValueError, TypeError, OverflowError) as e:  # numpy/dataclass conversions of hostile values
        raise WireError(f"{msg_type}: invalid body: {type(e).__name__}: {str(e)[:200]}") from None

"""Arrays to SQLite BLOBs and back, and the small thumbnail kept for every sighting.

Arrays are stored as raw little-endian bytes with the dtype and shape implied by the column
(frame times float64, boxes float32 x 4) or stored beside the blob (embeddings: dtype, dim),
so a reader needs no pickle and a stored row decodes the same on any machine.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from ..errors import StoreError

log = logging.getLogger(__name__)

THUMB_HEIGHT_PX = 64
THUMB_JPEG_QUALITY = 80
EMB_DTYPES = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2")}


def f64_to_blob(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype="<f8").tobytes()


def blob_to_f64(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<f8").astype(np.float64)


def boxes_to_blob(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype="<f4").tobytes()


def blob_to_boxes(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<f4").astype(np.float32).reshape(-1, 4)


def embedding_to_blob(vector: np.ndarray, where: str) -> tuple[str, int, bytes]:
    """(dtype name, dim, bytes) of a 1-D float32/float16 finite vector; StoreError otherwise."""
    v = np.asarray(vector)
    if v.ndim != 1 or v.shape[0] < 1:
        raise StoreError(f"{where}: embedding must be a non-empty 1-D vector, got shape {v.shape}")
    if v.dtype == np.float16:
        name = "float16"
    else:
        name = "float32"
        if v.dtype.kind not in "fiu":
            raise StoreError(f"{where}: embedding dtype {v.dtype} is not numeric")
    out = np.ascontiguousarray(v, dtype=EMB_DTYPES[name])
    if not np.all(np.isfinite(out)):
        raise StoreError(f"{where}: embedding contains NaN or infinity")
    return name, int(out.shape[0]), out.tobytes()


def blob_to_embedding(dtype: str, dim: int, b: bytes) -> np.ndarray:
    """Vector in its stored dtype (float16 stays float16)."""
    v = np.frombuffer(b, dtype=EMB_DTYPES[dtype])
    if v.shape[0] != dim:
        raise StoreError(f"embedding blob holds {v.shape[0]} values, row says dim={dim}")
    return v.astype(EMB_DTYPES[dtype].newbyteorder("="))


def make_thumbnail(crop_jpeg: bytes, tracklet_id: str) -> bytes | None:
    """A small JPEG (64 px high) of the first crop, kept in the row so a sighting has a picture
    even after its crops are evicted. None (and a warning) when the crop does not decode:
    the tracklet is still stored, a bad picture must not lose its metadata."""
    img = cv2.imdecode(np.frombuffer(crop_jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        log.warning("first crop does not decode as an image; no thumbnail",
                    extra={"kv": {"tracklet": tracklet_id, "bytes": len(crop_jpeg)}})
        return None
    h, w = img.shape[:2]
    if h > THUMB_HEIGHT_PX:
        w_px = max(1, round(w * THUMB_HEIGHT_PX / h))
        img = cv2.resize(img, (w_px, THUMB_HEIGHT_PX), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, THUMB_JPEG_QUALITY])
    if not ok:
        log.warning("thumbnail encoding failed", extra={"kv": {"tracklet": tracklet_id}})
        return None
    return buf.tobytes()

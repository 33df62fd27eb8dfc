"""What an uploaded search image may be, checked from its header before anything is decoded.

A 410 KB PNG can declare 12000 x 12000 pixels; decoding it costs ~430 MB for the pixels alone
(+736 MB RSS was measured). Image search therefore reads the width and height from the PNG or
JPEG header first and refuses images larger than ``MAX_PIXELS`` (a 4K frame is 8.3 Mpx) or in
another format, with an error that says so.

With ``ingest.tracklet.blur_heads`` every stored embedding comes from a crop whose head is
blurred, so an uploaded person is blurred the same way before it is embedded
(:func:`blur_upload_head`): an unblurred query against blurred gallery crops would be another
kind of crop (DESIGN.md, "People's privacy"). An upload has no keypoints: its top is blurred, as a
crop's is when the detector found no confident head keypoint.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

from ..tracklet.crops import blur_head_fallback, decode_jpeg

MAX_PIXELS = 16_777_216          # 4096 x 4096
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9}


class UploadRejected(ValueError):
    """The upload is not an image search can take (format, declared size, truncated header)."""


def image_size(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) from a PNG or JPEG header; UploadRejected otherwise."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 4 <= len(data):
            if data[i] != 0xFF:
                break
            marker = data[i + 1]
            if marker == 0xFF:                      # fill byte
                i += 1
                continue
            if marker in _STANDALONE:
                i += 2
                continue
            (length,) = struct.unpack(">H", data[i + 2:i + 4])
            if marker in _SOF and i + 9 <= len(data):
                height, width = struct.unpack(">HH", data[i + 5:i + 9])
                return "jpeg", width, height
            i += 2 + length
        raise UploadRejected("the JPEG header has no frame size (truncated or not a JPEG)")
    raise UploadRejected("image search takes a JPEG or PNG image")


def check_upload(data: bytes, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(width, height) of an acceptable upload; UploadRejected naming the problem otherwise."""
    fmt, width, height = image_size(data)
    if width <= 0 or height <= 0:
        raise UploadRejected(f"the {fmt} header declares {width}x{height} pixels")
    if width * height > max_pixels:
        raise UploadRejected(f"the {fmt} image is {width}x{height} pixels; image search takes at most "
                             f"{max_pixels:,} pixels (crop the person first)")
    return width, height


def blur_upload_head(data: bytes) -> bytes | None:
    """The (already checked) upload with its head blurred like a crop's, as lossless PNG; None when
    the bytes do not decode."""
    image = decode_jpeg(data)
    if image is None:
        return None
    ok, buf = cv2.imencode(".png", blur_head_fallback(image))
    return np.asarray(buf).tobytes() if ok else None

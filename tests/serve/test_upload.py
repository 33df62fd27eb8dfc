"""Image search reads an upload's size from its header and refuses huge or unknown images.

Guards against the operator probe of issue 13: a 410 KB PNG declaring 12000 x 12000 pixels cost
+736 MB RSS in image search, because it was decoded before anything looked at it.
"""

from __future__ import annotations

import json
import struct
import urllib.error
import urllib.request
import zlib

import cv2
import numpy as np
import pytest

from tastr_stream.serve.http_api import HttpApi
from tastr_stream.serve.lookup import LookupService
from tastr_stream.serve.upload import UploadRejected, check_upload, image_size


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (its pixel data is a token: never decoded)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_sizes_come_from_the_header():
    jpeg = cv2.imencode(".jpg", np.zeros((120, 50, 3), np.uint8))[1].tobytes()
    png = cv2.imencode(".png", np.zeros((30, 70, 3), np.uint8))[1].tobytes()
    assert image_size(jpeg) == ("jpeg", 50, 120) and image_size(png) == ("png", 70, 30)
    assert check_upload(jpeg) == (50, 120)
    with pytest.raises(UploadRejected, match="12000x12000"):
        check_upload(png_declaring(12000, 12000))
    with pytest.raises(UploadRejected, match="JPEG or PNG"):
        check_upload(cv2.imencode(".bmp", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    with pytest.raises(UploadRejected, match="truncated"):
        check_upload(jpeg[:20])


def test_image_search_refuses_before_decoding_over_http():
    calls = []

    def embed(data):
        calls.append(len(data))
        return np.zeros(8, np.float32), 0

    api = HttpApi(LookupService(store=None, embed_image=embed), lambda tid: None, port=0).start()
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{api.port}/api/search?k=3", data=png_declaring(12000, 12000),
                                     method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 400
        body = json.loads(err.value.read())
        assert body["ok"] is False and "12000x12000" in body["error"]
        assert calls == [], "the image must be refused before any decoding"
    finally:
        api.close()

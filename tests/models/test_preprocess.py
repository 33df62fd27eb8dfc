"""Crop decoding and normalisation.

Guards against: one corrupt JPEG crashing the extractor thread, BGR/RGB swaps (ImageNet
weights expect RGB), and crops of the wrong size reaching the network.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from tastr_stream.errors import ModelError
from tastr_stream.models import check_images, decode_crops, to_input
from tastr_stream.models.preprocess import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB


def _jpeg(bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


def test_decode_skips_and_counts_bad_crops_and_resizes():
    red_bgr = np.zeros((256, 128, 3), np.uint8)
    red_bgr[..., 2] = 255
    odd = np.full((100, 40, 3), 128, np.uint8)
    crops = [_jpeg(red_bgr), b"not a jpeg", b"", _jpeg(odd), _jpeg(red_bgr)[:40]]
    dec = decode_crops(crops)
    assert dec.images.shape == (2, 256, 128, 3) and dec.images.dtype == np.uint8
    assert dec.index.tolist() == [0, 3] and dec.n_failed == 3
    assert dec.images[0, ..., 0].mean() > 240 and dec.images[0, ..., 2].mean() < 15   # RGB order
    assert abs(int(dec.images[1].mean()) - 128) <= 2


def test_decode_nothing():
    dec = decode_crops([])
    assert dec.images.shape == (0, 256, 128, 3) and dec.n_failed == 0


def test_to_input_normalises_with_imagenet_stats_in_channels_last():
    mean_px = np.round(np.array(IMAGENET_MEAN_RGB) * 255).astype(np.uint8)
    imgs = np.broadcast_to(mean_px, (2, 256, 128, 3)).copy()
    imgs[1] = 255
    x = to_input(imgs)
    assert x.shape == (2, 3, 256, 128) and x.is_contiguous(memory_format=torch.channels_last)
    assert x[0].abs().max() < 0.01
    want = (1 - torch.tensor(IMAGENET_MEAN_RGB)) / torch.tensor(IMAGENET_STD_RGB)
    assert torch.allclose(x[1, :, 5, 5], want, atol=1e-5)


def test_check_images_validates_and_resizes():
    with pytest.raises(ModelError, match="uint8"):
        check_images(np.zeros((1, 256, 128, 3), np.float32))
    with pytest.raises(ModelError, match="uint8"):
        check_images(np.zeros((256, 128, 3), np.uint8))
    assert check_images(np.zeros((3, 64, 32, 3), np.uint8)).shape == (3, 256, 128, 3)

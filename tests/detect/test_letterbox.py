"""Letterbox placement and the exact inverse for coordinates."""

from __future__ import annotations

import numpy as np
import pytest

from tastr_stream.detect.letterbox import (PAD_VALUE, letterbox, letterbox_points, plan_letterbox,
                                           stride_aligned, unletterbox_points)
from tastr_stream.errors import ConfigError


@pytest.mark.parametrize("image_wh", [(3840, 2160), (1280, 720), (768, 576), (640, 1000), (333, 97)])
def test_points_round_trip(image_wh):
    rng = np.random.default_rng(7)
    plan = plan_letterbox(image_wh, (1280, 736))
    pts = rng.uniform(0, 1, (50, 2)) * np.array(image_wh)
    back = unletterbox_points(letterbox_points(pts, plan), plan)
    np.testing.assert_allclose(back, pts, atol=1e-2)
    inside = letterbox_points(pts, plan)
    assert (inside >= 0).all() and (inside <= np.array([1280, 736]) + 1e-3).all()


def test_image_is_centred_and_padded_grey():
    image = np.zeros((576, 768, 3), dtype=np.uint8)
    image[100:110, 200:210] = 255            # a white square at known image pixels
    out, plan = letterbox(image, (1280, 736))
    assert out.shape == (736, 1280, 3) and out.dtype == np.uint8
    # 768x576 scaled by 736/576 -> 981x736: grey bars left and right, none top and bottom.
    assert plan.pad_top == 0 and plan.pad_left == (1280 - round(768 * plan.scale)) // 2
    assert (out[:, : plan.pad_left] == PAD_VALUE).all() and (out[:, -plan.pad_left + 1:] == PAD_VALUE).all()
    ys, xs = np.nonzero(out[:, :, 0] > 200)
    centre = unletterbox_points(np.array([[xs.mean(), ys.mean()]]), plan)[0]
    np.testing.assert_allclose(centre, [204.5, 104.5], atol=1.0)


def test_4k_frame_scaled_down_with_vertical_bars():
    plan = plan_letterbox((3840, 2160), (1280, 736))
    assert plan.scale == pytest.approx(1 / 3)
    assert plan.pad_left == 0 and plan.pad_top == 8   # 720 rows inside 736


def test_stride_alignment_and_validation():
    assert stride_aligned(720) == 736 and stride_aligned(736) == 736 and stride_aligned(1) == 32
    with pytest.raises(ConfigError, match="1280x720"):
        plan_letterbox((100, 100), (1280, 720))

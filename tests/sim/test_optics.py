"""Camera optics and face details: what makes rendered people look like camera footage.

Guards against: the renderer going back to razor-sharp, noise-free frames (YOLO11n-pose then
misses ~17 % of clearly visible people, see tests/detect/test_synthetic_recall.py), noise that
is not reproducible from the seed (videos would differ run to run), a fixed noise pattern
repeated every frame, and face details that leak into the ground-truth box or silhouette.
"""

from __future__ import annotations

import numpy as np
import pytest

from tastr_stream.errors import ConfigError
from tastr_stream.sim.appearance import sample_appearances
from tastr_stream.sim.camera_view import make_view, render_background
from tastr_stream.sim.figure import build_figure, person_colours, prims_box
from tastr_stream.sim.optics import BLUR_SIGMA_720P, CameraOptics
from tastr_stream.sim.paint import draw_figure, draw_mask


def _grey(w=320, h=180, level=128):
    return np.full((h, w, 3), level, np.uint8)


def test_blur_scales_with_resolution():
    for (w, h), factor in (((1280, 720), 1.0), ((640, 360), 0.5), ((3840, 2160), 3.0)):
        optics = CameraOptics((w, h), 0, noise_sigma=0.0)
        assert optics.blur_sigma_px == pytest.approx(BLUR_SIGMA_720P * factor)


def test_blur_softens_a_hard_edge_and_leaves_input_alone():
    img = _grey(level=40)
    img[:, 160:] = 220
    before = img.copy()
    out = CameraOptics((320, 180), 0, noise_sigma=0.0, blur_sigma_720p=3.0).apply(img, 0)
    assert np.array_equal(img, before)
    steps = np.abs(np.diff(out[90, :, 0].astype(int)))
    assert steps.max() < 100 and (steps > 5).sum() >= 3       # a ramp over several pixels, not one jump
    assert out[90, 10, 0] == 40 and out[90, 310, 0] == 220    # flat areas keep their level


def test_noise_has_the_configured_strength_and_is_seeded():
    optics = CameraOptics((320, 180), 5, blur_sigma_720p=0.0, noise_sigma=3.0)
    a = optics.apply(_grey(), 10).astype(np.float64)
    assert abs(a.mean() - 128) < 0.3
    assert 2.6 < a.std() < 3.4
    again = CameraOptics((320, 180), 5, blur_sigma_720p=0.0, noise_sigma=3.0).apply(_grey(), 10)
    assert np.array_equal(a, again)
    other_seed = CameraOptics((320, 180), 6, blur_sigma_720p=0.0, noise_sigma=3.0).apply(_grey(), 10)
    assert not np.array_equal(a, other_seed)


def test_noise_changes_from_frame_to_frame():
    optics = CameraOptics((320, 180), 5, blur_sigma_720p=0.0)
    frames = [optics.apply(_grey(), k).astype(np.int16) for k in range(6)]
    for k in range(1, 6):
        assert np.abs(frames[k] - frames[0]).mean() > 1.0, k


def test_noise_saturates_instead_of_wrapping():
    optics = CameraOptics((320, 180), 1, blur_sigma_720p=0.0)
    white = optics.apply(_grey(level=255), 3)
    black = optics.apply(_grey(level=0), 3)
    assert white.min() > 230 and black.max() < 25


@pytest.mark.parametrize("kwargs, message", [
    (dict(size_wh=(0, 180)), "0x180"),
    (dict(size_wh=(320, 180), noise_sigma=-1.0), "-1.0"),
])
def test_bad_settings_raise_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        CameraOptics(seed=0, **kwargs)


def test_wrong_frame_size_raises_config_error():
    with pytest.raises(ConfigError, match="320x180"):
        CameraOptics((320, 180), 0).apply(_grey(w=160, h=90), 0)


def _facing_figure(heading_rad: float):
    view = make_view("cam1", 16 / 9, np.random.default_rng(0))
    look = sample_appearances(1, np.random.default_rng(2))[0]
    z = view.z_near_m + 1.0
    return build_figure(view, (1280, 720), 1.75, look, person_colours(look, view), 0.0, z, heading_rad,
                        0.0, 1.0, 0.0)


def test_face_details_drawn_facing_the_camera_but_outside_ground_truth():
    front = _facing_figure(-np.pi / 2)      # walking towards the camera (which looks along +Z)
    back = _facing_figure(np.pi / 2)
    details = [p for p in front.prims if p[0] == "detail"]
    assert len(details) == 4                 # two eyes, nose, mouth
    assert not [p for p in back.prims if p[0] == "detail"]
    plain = tuple(p for p in front.prims if p[0] != "detail")
    assert np.array_equal(prims_box(front.prims), prims_box(plain))
    masks = []
    for prims in (front.prims, plain):
        m = np.zeros((720, 1280), np.uint8)
        draw_mask(m, prims, 1.0, (0.0, 0.0))
        masks.append(m)
    assert np.array_equal(masks[0], masks[1])
    with_face, without = np.zeros((720, 1280, 3), np.uint8), np.zeros((720, 1280, 3), np.uint8)
    draw_figure(with_face, front.prims)
    draw_figure(without, plain)
    changed = np.argwhere((with_face != without).any(axis=2))
    head_top = front.keypoints_xy[[1, 2], 1].min() - 0.06 * (front.box_xyxy[3] - front.box_xyxy[1])
    assert len(changed) > 0 and changed[:, 0].min() >= head_top     # only the face changed


@pytest.mark.parametrize("size_wh", [(640, 360), (1280, 720)])
def test_blurring_only_drawn_regions_equals_blurring_the_whole_frame(size_wh):
    """The render loop's fast path (pre-blurred background + figure boxes) against the reference."""
    view = make_view("cam2", 16 / 9, np.random.default_rng(3))
    background = render_background(view, size_wh)
    looks = sample_appearances(3, np.random.default_rng(4))
    img = background.copy()
    boxes = []
    # Near the right edge (partly outside), mid-frame, and far away; one facing the camera.
    for look, (x_frac, z_frac, heading) in zip(looks, ((1.0, 0.1, 0.0), (0.0, 0.5, -np.pi / 2), (-0.5, 0.9, 2.0))):
        z = view.z_near_m + z_frac * (view.z_far_m - view.z_near_m)
        fig = build_figure(view, size_wh, 1.8, look, person_colours(look, view), x_frac * view.half_width_m(z), z,
                           heading, 1.3, 1.0, 0.4)
        draw_figure(img, fig.prims)
        boxes.append(fig.box_xyxy)
    optics = CameraOptics(size_wh, 9, background=background)
    fast = optics.apply(img, 7, boxes)
    reference = optics.apply(img, 7)
    assert np.array_equal(fast, reference)
    assert not np.array_equal(fast, optics.apply(background, 7, []))    # the figures are there

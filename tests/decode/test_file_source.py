"""FileSource: every frame, exact times from pts, BGR images, clear errors for bad input."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tastr_stream.config.ingest import DecodeConfig
from tastr_stream.decode import FileSource, NetworkSource, ReplaySource, open_source
from tastr_stream.errors import StreamError

from .conftest import FPS, N_FRAMES
from .media import make_h264, synthetic_image


@pytest.mark.parametrize("clip", ["mp4_clip", "ts_clip"])
def test_every_frame_with_exact_time_from_pts(clip, request):
    src = FileSource(request.getfixturevalue(clip), "cam1", threads=2, epoch_offset_s=100.0)
    frames = list(src.frames())
    assert [f.index for f in frames] == list(range(N_FRAMES))
    # Exact: pts * time_base, not a frame counter times a rounded period.
    assert [f.t_s for f in frames] == [100.0 + float(i) / FPS for i in range(N_FRAMES)]
    assert src.stats.frames_decoded == N_FRAMES and src.stats.corrupt_packets == 0
    assert all(f.camera_id == "cam1" and (f.width, f.height) == (320, 240) for f in frames)


def test_uneven_pts_are_kept_not_renumbered(media_dir):
    """A variable-rate recording: time must follow pts (frame i at i*3/90 s), not i/fps."""
    path = make_h264(media_dir / "step3.mp4", n_frames=12, fps=30, pts_step=3)
    frames = list(FileSource(path, "cam2").frames())
    assert [f.t_s for f in frames] == [i * 3 / 90 for i in range(12)]


def test_images_are_bgr_uint8_matching_the_source(mp4_clip):
    frames = list(FileSource(mp4_clip, "cam1").frames())
    for i in (0, 30, 59):
        img = frames[i].image
        assert img.dtype == np.uint8 and img.shape == (240, 320, 3) and img.flags.writeable
        ref = synthetic_image(i, 320, 240).astype(np.int16)
        # Lossy codec + chroma subsampling: compare means per channel; channel order must match.
        assert np.abs(img.astype(np.int16).mean((0, 1)) - ref.mean((0, 1))).max() < 6


def test_missing_file_raises_stream_error_naming_it(tmp_path):
    missing = tmp_path / "nope" / "cam9.mp4"
    with pytest.raises(StreamError, match="cam9.mp4"):
        FileSource(missing, "cam9")
    with pytest.raises(StreamError, match="cam9.mp4"):
        ReplaySource(missing, "cam9", epoch_wall_s=1e9)


def test_not_a_video_raises_stream_error_naming_it(tmp_path):
    bogus = tmp_path / "notes.mp4"
    bogus.write_bytes(b"this is not a video file\n" * 20)
    with pytest.raises(StreamError, match="notes.mp4"):
        FileSource(bogus, "cam1")


def test_frames_iterates_once_and_stop_ends_it(mp4_clip):
    src = FileSource(mp4_clip, "cam1")
    stop = threading.Event()
    got = []
    for f in src.frames(stop):
        got.append(f)
        if len(got) == 5:
            stop.set()
    assert len(got) == 5
    with pytest.raises(StreamError, match="once"):
        next(src.frames())


def test_open_source_dispatches_on_url_and_epoch(mp4_clip):
    cfg = DecodeConfig(threads=1, replay_speed=4.0)
    assert isinstance(open_source(mp4_clip, "c", cfg), FileSource)
    replay = open_source(mp4_clip, "c", cfg, epoch_wall_s=2e9)
    assert isinstance(replay, ReplaySource) and replay.speed == 4.0
    assert isinstance(open_source("tcp://127.0.0.1:9", "c", cfg), NetworkSource)
    with pytest.raises(StreamError, match="ftp://x"):
        NetworkSource("ftp://x", "c")


def test_frames_are_converted_only_when_read_and_identically(mp4_clip):
    """Ingest detects a few times a second: frames nobody looks at never cost a BGR conversion."""
    lazy = list(FileSource(mp4_clip, "cam1").frames())
    assert not any(f.converted for f in lazy)
    first = lazy[7].image
    assert lazy[7].converted and lazy[7].image is first and sum(f.converted for f in lazy) == 1
    import av

    with av.open(str(mp4_clip)) as c:
        eager = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    np.testing.assert_array_equal(first, eager[7])


def test_a_conversion_of_the_wrong_shape_is_a_stream_error():
    from tastr_stream.decode import Frame

    f = Frame("cam1", 3, 0.1, lambda: np.zeros((10, 10, 3), np.uint8), 320, 240)
    with pytest.raises(StreamError, match="frame 3"):
        f.image


def test_decode_time_is_reported_per_packet(mp4_clip):
    seen = []
    src = FileSource(mp4_clip, "cam1")
    src.stats.on_decode = seen.append
    n = sum(1 for _ in src.frames())
    assert len(seen) >= n and all(s >= 0 for s in seen)


def test_region_and_resized_match_the_full_conversion_without_making_it(mp4_clip):
    """The detector's downscaled copy and a crop's rectangle come straight from the decoded planes
    (the full 4K BGR is never made for them) and agree with cutting/resizing the full frame."""
    import cv2

    lazy = list(FileSource(mp4_clip, "cam1").frames())
    eager = list(FileSource(mp4_clip, "cam1").frames())
    for i in (0, 31):
        part = lazy[i].region(33, 17, 161, 205)        # odd edges: widened to even, cut exactly
        small = lazy[i].resized(160, 120)
        assert not lazy[i].converted
        full = eager[i].image
        assert part.shape == (188, 128, 3)
        assert np.abs(part.astype(int) - full[17:205, 33:161].astype(int)).mean() < 2.0
        ref = cv2.resize(full, (160, 120), interpolation=cv2.INTER_AREA)
        assert small.shape == (120, 160, 3)
        assert np.abs(small.astype(int) - ref.astype(int)).mean() < 3.0
    # Clipped to the frame; an already converted frame is sliced.
    assert lazy[5].region(-10, -10, 20, 30).shape == (30, 20, 3)
    assert eager[0].region(300, 200, 400, 300).shape == (40, 20, 3)

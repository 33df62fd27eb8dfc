"""``decode.hwaccel``: NVDEC through PyAV's hwaccel API where a CUDA device exists, software otherwise.

Guards against: a GPU-less box failing on "auto" instead of decoding in software, a forced "cuda"
that silently decodes in software (a one-line error naming the field instead), and hardware
frames that come out in another shape or colour order than the software path's lazy BGR frames.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tastr_stream.config.ingest import DecodeConfig
from tastr_stream.decode import FileSource, NetworkSource
from tastr_stream.decode.av_reader import open_decoding
from tastr_stream.errors import ConfigError, StreamError

from .conftest import N_FRAMES


def cuda_decodes(path) -> bool:
    try:
        container, used = open_decoding(str(path), "auto")
    except (ConfigError, StreamError):
        return False
    container.close()
    return used == "cuda"


def test_auto_without_a_cuda_device_decodes_the_same_frames_in_software(mp4_clip, caplog):
    if cuda_decodes(mp4_clip):
        pytest.skip("this box decodes on CUDA; the GPU test covers it")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tastr_stream.decode.av_reader"):
        hw = FileSource(mp4_clip, "cam1", hwaccel="auto")
    assert hw.hwaccel == "none"
    assert [r.getMessage() for r in caplog.records] == ["no hardware decoder; decoding in software"]
    sw = FileSource(mp4_clip, "cam1")
    got, want = list(hw.frames()), list(sw.frames())
    assert len(got) == len(want) == N_FRAMES and not any(f.converted for f in got)   # still lazy
    for a, b in zip(got, want):
        assert (a.index, a.t_s) == (b.index, b.t_s)
        np.testing.assert_array_equal(a.image, b.image)


def test_forced_cuda_without_a_device_is_a_one_line_config_error(mp4_clip):
    if cuda_decodes(mp4_clip):
        pytest.skip("this box decodes on CUDA")
    with pytest.raises(ConfigError, match=r"decode.hwaccel='cuda': no CUDA decoder for .*set decode.hwaccel") as err:
        FileSource(mp4_clip, "cam1", hwaccel="cuda")
    assert "\n" not in str(err.value)


def test_a_bad_source_is_still_the_source_s_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    for hwaccel in ("auto", "cuda"):
        with pytest.raises(StreamError, match="cannot open video source"):
            FileSource(bad, "cam1", hwaccel=hwaccel)
    with pytest.raises(ConfigError, match="decode.hwaccel='vaapi'"):
        open_decoding(str(bad), "vaapi")


def test_network_sources_take_hwaccel_from_the_config():
    src = NetworkSource.from_config("tcp://127.0.0.1:9", "cam1", DecodeConfig(hwaccel="auto"))
    assert src.hwaccel == "auto"
    assert DecodeConfig().hwaccel == "none"


@pytest.mark.gpu
def test_nvdec_frames_match_software_frames(mp4_clip):
    hw = FileSource(mp4_clip, "cam1", hwaccel="cuda")
    assert hw.hwaccel == "cuda"
    got, want = list(hw.frames()), list(FileSource(mp4_clip, "cam1").frames())
    assert len(got) == len(want) == N_FRAMES
    for a, b in zip(got, want):
        assert a.image.shape == b.image.shape and a.image.dtype == np.uint8
        # NVDEC's pictures are exact; the NV12 -> BGR conversion may round differently.
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 2.0

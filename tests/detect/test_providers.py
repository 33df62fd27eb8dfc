"""onnxruntime execution providers from ``detect.device``: CUDA/TensorRT when offered, CPU otherwise.

Guards against: a GPU box silently detecting on CPU because "cuda" was asked of a CPU-only
onnxruntime (an error naming the field instead), and "auto" failing where there is no GPU.
The provider lists are given, so these run on any machine.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tastr_stream.config.ingest import DetectConfig
from tastr_stream.detect.providers import CPU, CUDA, TENSORRT, pick_providers, provider_names
from tastr_stream.errors import ConfigError

CPU_ONLY = ["AzureExecutionProvider", CPU]
GPU = [TENSORRT, CUDA, CPU]


def test_cpu_and_auto_without_a_gpu_run_on_cpu_with_one_log_line(caplog):
    assert pick_providers("cpu", GPU) == [CPU]
    with caplog.at_level(logging.INFO, logger="tastr_stream.detect.providers"):
        assert pick_providers("auto", CPU_ONLY) == [CPU]
    assert len(caplog.records) == 1 and "pose detector on CPU" in caplog.records[0].getMessage()


def test_auto_takes_cuda_but_never_tensorrt_unasked():
    assert pick_providers("auto", GPU) == [CUDA, CPU]


def test_forced_gpu_without_it_is_a_one_line_config_error():
    for device, missing in (("cuda", CUDA), ("tensorrt", TENSORRT)):
        with pytest.raises(ConfigError, match=rf"detect.device='{device}': onnxruntime offers .* not {missing}; "
                                              r"install onnxruntime-gpu") as err:
            pick_providers(device, CPU_ONLY)
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="detect.device='npu'"):
        pick_providers("npu", GPU)


def test_tensorrt_caches_engines_and_profiles_the_batch():
    providers = pick_providers("tensorrt", GPU, model_path="/m/pose-batch.onnx", input_shape=(3, 736, 1280), max_batch=4)
    assert provider_names(providers) == [TENSORRT, CUDA, CPU]
    opts = providers[0][1]
    assert opts["trt_engine_cache_path"] == "/m/pose-batch.trt-cache"
    assert opts["trt_profile_max_shapes"] == "images:4x3x736x1280"
    assert "trt_profile_min_shapes" not in pick_providers("tensorrt", GPU, max_batch=1)[0][1]


def test_the_installed_onnxruntime_runs_the_model_with_auto(pose_model_path):
    """Whatever this box's onnxruntime offers, "auto" builds a working detector."""
    from tastr_stream.detect import make_detector

    det = make_detector(DetectConfig(model_path=str(pose_model_path), device="auto"), intra_op_threads=1)
    assert det.inner.providers[-1] == CPU
    assert det.detect(np.zeros((360, 640, 3), np.uint8)) == []


def test_forcing_cuda_on_this_box_says_what_to_install(pose_model_path):
    import onnxruntime as ort

    if CUDA in ort.get_available_providers():
        pytest.skip("this onnxruntime offers CUDA")
    from tastr_stream.detect import make_detector

    with pytest.raises(ConfigError, match="detect.device='cuda'"):
        make_detector(DetectConfig(model_path=str(pose_model_path), device="cuda"))


@pytest.mark.gpu
def test_cuda_detector_matches_cpu(pose_model_path, vtest_frames):
    import onnxruntime as ort

    if CUDA not in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu not installed")
    from tastr_stream.detect import make_detector

    cpu = make_detector(DetectConfig(model_path=str(pose_model_path), device="cpu"))
    gpu = make_detector(DetectConfig(model_path=str(pose_model_path), device="cuda"))
    assert gpu.inner.providers[0] == CUDA
    for frame in vtest_frames[:3]:
        a, b = cpu.detect(frame), gpu.detect(frame)
        assert len(a) == len(b)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x.box_xyxy, y.box_xyxy, atol=1.0)

"""Which onnxruntime execution provider runs the pose network (``ingest.detect.device``).

- ``"cpu"``: CPU only (what the tests and the 2-core dev box run).
- ``"auto"``: CUDA when the installed onnxruntime offers it, else CPU with one log line. The
  default wheel (``onnxruntime``, pinned in the ``pose`` extra) is CPU-only; a GPU box installs
  ``onnxruntime-gpu`` instead (the ``pose-gpu`` extra), and the same config then runs on CUDA.
- ``"cuda"`` / ``"tensorrt"``: required; a ConfigError naming the field when this onnxruntime
  does not offer them, never a silent CPU run that looks like a GPU one.

TensorRT is never picked by ``"auto"``: it builds an engine per input shape on first use
(minutes), which is worth it only when asked for. Its engines are cached next to the model, and a
model with a free batch axis gets an optimisation profile from 1 to ``max_batch`` frames.

Every list ends with the CPU provider, so a node the GPU provider cannot run still runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import ConfigError

log = logging.getLogger(__name__)

CPU, CUDA, TENSORRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
DEVICES = ("auto", "cpu", "cuda", "tensorrt")
GPU_HINT = "install onnxruntime-gpu on a GPU box (pip install -e '.[pose-gpu]') or set detect.device = 'cpu'"


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def pick_providers(device: str, available: list[str] | None = None, *, model_path: str | Path | None = None,
                   input_shape: tuple[int, int, int] | None = None, max_batch: int = 1) -> list[Any]:
    """The provider list for ``onnxruntime.InferenceSession(providers=...)``.

    ``available`` defaults to what the installed onnxruntime offers (tests pass their own).
    ``model_path``, ``input_shape`` (C, H, W) and ``max_batch`` only shape TensorRT's options.
    """
    if device not in DEVICES:
        raise ConfigError(f"detect.device={device!r}: expected one of {DEVICES}")
    have = available_providers() if available is None else list(available)
    if device == "cpu":
        return [CPU]
    if device == "auto":
        if CUDA in have:
            log.info("pose detector on CUDA", extra={"kv": {"providers": [CUDA, CPU]}})
            return [CUDA, CPU]
        log.info("no CUDA execution provider in this onnxruntime; pose detector on CPU",
                 extra={"kv": {"available": have}})
        return [CPU]
    want = TENSORRT if device == "tensorrt" else CUDA
    if want not in have:
        raise ConfigError(f"detect.device={device!r}: onnxruntime offers {have}, not {want}; {GPU_HINT}")
    if device == "cuda":
        return [CUDA, CPU]
    return [(TENSORRT, tensorrt_options(model_path, input_shape, max_batch))] + ([CUDA] if CUDA in have else []) + [CPU]


def tensorrt_options(model_path: str | Path | None, input_shape: tuple[int, int, int] | None,
                     max_batch: int) -> dict[str, str]:
    """Engine cache beside the model (a restart reuses it) and, for a batch model, one profile."""
    opts = {"trt_fp16_enable": "True", "trt_engine_cache_enable": "True"}
    if model_path is not None:
        opts["trt_engine_cache_path"] = str(Path(model_path).with_suffix(".trt-cache"))
    if input_shape is not None and max_batch > 1:
        c, h, w = input_shape
        opts["trt_profile_min_shapes"] = f"images:1x{c}x{h}x{w}"
        opts["trt_profile_opt_shapes"] = f"images:{max_batch}x{c}x{h}x{w}"
        opts["trt_profile_max_shapes"] = f"images:{max_batch}x{c}x{h}x{w}"
    return opts


def provider_names(providers: list[Any]) -> list[str]:
    return [p[0] if isinstance(p, tuple) else p for p in providers]

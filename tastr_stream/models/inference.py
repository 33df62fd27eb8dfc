"""Running a Re-ID network for embeddings: the fast batched path and its plain reference.

Kept in ``models/`` so that the extractor and hot-swap code in ``tracklet/`` never import
torch themselves. The fast path uses ``torch.inference_mode``, channels-last tensors and, on CUDA
only, autocast to bf16 (default) or fp16; outputs are always float32 numpy. Channels-last is
the default on CPU too: on the 2-core dev VM, on a worker thread, it ran MobileNetV2 about 2x
faster (0.52 s vs 0.9-1.1 s per 32 crops) and ResNet-50 at par. (Timed on the *main* thread
under heavy load it looked 4x slower: a threading artefact, not the layout.) The
reference path embeds one image at a time in float32 with default memory layout: the tests
hold the two equal.

Fixed batch shapes (:func:`embed_in_fixed_batches`): a batch of any size runs as chunks whose
sizes come from a fixed set (``max_batch``, then powers of two below it), never as one pass of
its own size. On CPU, oneDNN builds and caches convolution primitives per input shape, and each
MobileNetV2 shape kept about 28 MB: with the 32 batch sizes a live extractor meets, a process
grew by ~0.9 GB before the cache filled (the ingest's +42 MB/min of issue 13; bench_memory). On
CUDA, cuDNN plans per shape too. Chunking, unlike padding to the next size, wastes no compute:
above one crop per pass the cost per crop hardly changes (MobileNetV2 on the 2-core dev VM:
~60 ms per crop alone, 25-31 ms at 2 to 32).
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import torch
from torch import nn

from ..errors import ModelError
from .preprocess import to_input

log = logging.getLogger(__name__)

Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when present, else CPU; ``"cuda"`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ModelError(f"bad device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} requested but no CUDA device is available")
    return dev


def resolve_precision(precision: str, device: torch.device) -> str:
    """Reduced precision only on CUDA (bf16 for ``auto``); CPU always runs fp32."""
    if precision not in PRECISIONS:
        raise ModelError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if device.type != "cuda":
        if precision in _AUTOCAST_DTYPES:
            log.info("reduced precision is CUDA-only; running fp32",
                     extra={"kv": {"precision": precision, "device": device}})
        return "fp32"
    return "bf16" if precision == "auto" else precision


def default_channels_last(device: torch.device) -> bool:
    """Channels-last everywhere by default (see module doc); kept a function to tune per device."""
    return device.type in ("cuda", "cpu")


def prepare_model(model: nn.Module, device: torch.device, channels_last: bool | None = None) -> nn.Module:
    """Move to ``device``, eval mode, frozen; channels-last weights unless told otherwise.

    Done off the hot path before a swap."""
    if not isinstance(model, nn.Module):
        raise ModelError(f"model factory returned {type(model).__name__}, not a torch Module")
    if channels_last is None:
        channels_last = default_channels_last(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=fmt)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def embed_batch(model: nn.Module, images: np.ndarray, device: torch.device,
                precision: str = "fp32", channels_last: bool | None = None) -> np.ndarray:
    """uint8 (N, H, W, 3) RGB -> float32 (N, D) embeddings in one forward pass."""
    if len(images) == 0:
        raise ModelError("embed_batch called with an empty batch")
    if channels_last is None:
        channels_last = default_channels_last(device)
    with torch.inference_mode():
        x = to_input(images, device, channels_last=channels_last)
        if precision in _AUTOCAST_DTYPES:
            with torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[precision]):
                out = model(x)
        else:
            out = model(x)
        return out.float().cpu().numpy()


def fixed_batch_sizes(max_batch: int) -> tuple[int, ...]:
    """Every chunk size :func:`fixed_chunks` uses: ``max_batch``, then the powers of two below it."""
    if not isinstance(max_batch, int) or max_batch < 1:
        raise ModelError(f"max_batch must be an int >= 1, got {max_batch!r}")
    return (max_batch,) + tuple(1 << k for k in range(max_batch.bit_length() - 1, -1, -1) if 1 << k < max_batch)


def fixed_chunks(n: int, max_batch: int) -> list[int]:
    """``n`` crops as chunk sizes from ``fixed_batch_sizes(max_batch)``, largest first:
    full chunks of ``max_batch``, then the binary digits of the rest (23 of 32 -> 16, 4, 2, 1)."""
    fixed_batch_sizes(max_batch)
    if n < 0:
        raise ModelError(f"cannot split {n} crops")
    full, rest = divmod(n, max_batch)
    return [max_batch] * full + [1 << k for k in range(rest.bit_length() - 1, -1, -1) if rest >> k & 1]


def fixed_slices(n: int, max_batch: int) -> list[slice]:
    """``fixed_chunks(n, max_batch)`` as consecutive slices of ``range(n)``."""
    out, start = [], 0
    for size in fixed_chunks(n, max_batch):
        out.append(slice(start, start + size))
        start += size
    return out


def embed_in_fixed_batches(model: nn.Module, images: np.ndarray, device: torch.device, max_batch: int,
                           precision: str = "fp32", channels_last: bool | None = None) -> np.ndarray:
    """``embed_batch`` over ``fixed_chunks(len(images), max_batch)``: the same (N, D) rows, but
    the model only ever sees the few batch shapes of ``fixed_batch_sizes`` (see module doc)."""
    if len(images) == 0:
        raise ModelError("embed_in_fixed_batches called with an empty batch")
    parts = [embed_batch(model, images[chunk], device, precision, channels_last)
             for chunk in fixed_slices(len(images), max_batch)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def forward_tensor(model: nn.Module, x: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """The bare model forward on an already prepared input tensor (benchmark baseline)."""
    with torch.inference_mode():
        if precision in _AUTOCAST_DTYPES:
            with torch.autocast(device_type=x.device.type, dtype=_AUTOCAST_DTYPES[precision]):
                return model(x)
        return model(x)


def embed_reference(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Plain reference: one image at a time, float32, contiguous NCHW, on the model's device."""
    device = next(model.parameters()).device
    rows = []
    with torch.no_grad():
        for img in images:
            x = to_input(img[None], device, channels_last=False)
            rows.append(model(x).float().cpu().numpy()[0])
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)


def synchronize(device: torch.device) -> None:
    """Wait for queued device work (timings on CUDA are otherwise meaningless)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)

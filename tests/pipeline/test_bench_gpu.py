"""benchmarks/bench_gpu.py runs where no GPU is: the same code on CPU, said so in its header.

Guards against: the GPU capacity benchmark rotting on the CPU-only machines that run CI, so the
day a GPU is lent it fails instead of measuring. Tiny sizes; the table's shape is checked, never
its times.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / ".cache/models/yolo11n-pose-640x384.onnx"


def test_cpu_fallback_prints_its_capacity_table():
    pytest.importorskip("onnxruntime")
    if not MODEL.is_file():
        pytest.skip(f"{MODEL} absent: run ./run setup-pose")
    import torch

    run = subprocess.run([sys.executable, "benchmarks/bench_gpu.py", "--width", "320", "--height", "192",
                          "--frames", "4", "--batch", "2", "--backbone", "tiny", "--crops", "4"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    header = out.splitlines()[0]
    assert header.startswith("# GPU ingest capacity")
    if not torch.cuda.is_available():
        assert "NO CUDA: CPU fallback, the same code on CPU" in header
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and not ln.startswith("| stage")]
    assert [r.split("|")[1].strip() for r in rows] == ["decode", "to BGR", "detect", "embed", "**all**"]
    assert re.search(r"cameras sustained in real time: \d+\.\d", out)
    assert "| detect | CPU, batch 2 |" in out or "| detect | CUDA, batch 2 |" in out


@pytest.mark.gpu
def test_gpu_run_decodes_on_nvdec_and_detects_on_cuda():
    run = subprocess.run([sys.executable, "benchmarks/bench_gpu.py", "--frames", "30", "--batch", "8"],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "GPU: " in run.stdout.splitlines()[0]

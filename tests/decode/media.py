"""Synthetic test media: small H.264 clips with known pts, corrupted copies, a TS server process."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

TS_PACKET = 188
SERVER = Path(__file__).with_name("ts_server.py")


def synthetic_image(i: int, width: int, height: int) -> np.ndarray:
    """Frame i: a flat colour ramp and a moving white square (cheap to encode, visibly distinct)."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:, :, 0] = (i * 4) % 256
    img[:, :, 2] = 255 - (i * 4) % 256
    y, x = (i * 3) % (height - 24), (i * 5) % (width - 24)
    img[y:y + 24, x:x + 24] = 255
    return img


def make_h264(path: Path, *, n_frames: int = 60, width: int = 320, height: int = 240, fps: int = 30,
              gop: int = 10, pts_step: int = 1, fmt: str | None = None) -> Path:
    """Encode ``n_frames`` with pts ``i * pts_step`` in time base ``1/(fps*pts_step)``: frame i is at i/fps s."""
    out = av.open(str(path), "w", format=fmt)
    stream = out.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.gop_size = gop
    stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0"}
    tb = Fraction(1, fps * pts_step)
    for i in range(n_frames):
        frame = av.VideoFrame.from_ndarray(synthetic_image(i, width, height), format="bgr24")
        frame.pts, frame.time_base = i * pts_step, tb
        out.mux(stream.encode(frame))
    out.mux(stream.encode())
    out.close()
    return path


def video_pid(ts: bytes) -> int:
    """The PID that carries most packets (the video elementary stream)."""
    pk = np.frombuffer(ts, np.uint8).reshape(-1, TS_PACKET)
    pids = ((pk[:, 1].astype(int) & 0x1F) << 8) | pk[:, 2]
    values, counts = np.unique(pids, return_counts=True)
    return int(values[np.argmax(counts)])


def inject_garbage_ts(src: Path, dst: Path, *, seed: int, n_packets: int = 5) -> Path:
    """Insert ``n_packets`` TS packets of random payload on the video PID in the middle of the
    stream, with wrong continuity counters: what a flaky link or a bad recorder produces."""
    data = src.read_bytes()
    pk = np.frombuffer(data, np.uint8).reshape(-1, TS_PACKET)
    pid = video_pid(data)
    rng = np.random.default_rng(seed)
    garbage = rng.integers(0, 256, (n_packets, TS_PACKET), dtype=np.uint8)
    garbage[:, 0] = 0x47
    garbage[:, 1] = (pid >> 8) & 0x1F
    garbage[:, 2] = pid & 0xFF
    garbage[:, 3] = 0x10 | (np.arange(n_packets) * 7 % 16)  # payload only, scrambled counters
    mid = len(pk) // 2
    dst.write_bytes(np.concatenate([pk[:mid], garbage, pk[mid:]]).tobytes())
    return dst


def overwrite_garbage(src: Path, dst: Path, *, seed: int, n_bytes: int = 3000) -> Path:
    """Overwrite ``n_bytes`` in the middle with random bytes (sync bytes included)."""
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(seed)
    mid = len(data) // 2
    data[mid:mid + n_bytes] = rng.integers(0, 256, n_bytes, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ts_server(ts_path: Path, port: int, n_frames: int, *, fps: float = 30.0,
                    stall_after_bytes: int = 0, timeout_s: float = 10.0) -> subprocess.Popen:
    """Start ``ts_server.py`` and wait (polling its stdout, bounded) until it listens."""
    cmd = [sys.executable, str(SERVER), str(ts_path), "--port", str(port), "--fps", str(fps),
           "--frames", str(n_frames), "--stall-after-bytes", str(stall_after_bytes)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("LISTENING"):
                return proc
        if proc.poll() is not None:
            break
    proc.kill()
    proc.wait(5)
    raise RuntimeError(f"ts server did not start on port {port}: rc={proc.returncode}")


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(5)
    if proc.stdout:
        proc.stdout.close()

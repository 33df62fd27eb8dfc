"""Test helper run as a subprocess: serve a pre-encoded MPEG-TS file over loopback TCP in real time.

Accepts one client at a time and streams the file in a loop (so pts restart on every loop, as a
restarted camera's would), paced at ``--fps`` frames per second. ``--stall-after-bytes N`` makes
the FIRST connection go silent (socket held open) after N bytes, like a hung camera.
Prints ``LISTENING <port>`` once bound so the test can wait for it without sleeping.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

TS_PACKET = 188


class _Hang(Exception):
    """The first connection goes silent here."""


def serve(path: str, port: int, fps: float, n_frames: int, stall_after_bytes: int) -> None:
    data = open(path, "rb").read()
    chunk = max(TS_PACKET, (len(data) // n_frames) // TS_PACKET * TS_PACKET)
    period_s = chunk / (len(data) / n_frames) / fps
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    print(f"LISTENING {srv.getsockname()[1]}", flush=True)
    connection = 0
    hung = []  # stalled connections: kept open, never written to again
    while True:
        conn, _ = srv.accept()
        connection += 1
        sent = 0
        next_s = time.monotonic()
        try:
            while True:
                for off in range(0, len(data), chunk):
                    if connection == 1 and stall_after_bytes and sent >= stall_after_bytes:
                        raise _Hang
                    conn.sendall(data[off:off + chunk])
                    sent += chunk
                    next_s += period_s
                    time.sleep(max(0.0, next_s - time.monotonic()))
        except _Hang:
            hung.append(conn)  # hung camera: socket open, silent; serve the next client
        except OSError as exc:
            print(f"client gone: {exc}", file=sys.stderr, flush=True)
            conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--frames", type=int, required=True, help="frames in the file (for pacing)")
    ap.add_argument("--stall-after-bytes", type=int, default=0)
    a = ap.parse_args()
    serve(a.path, a.port, a.fps, a.frames, a.stall_after_bytes)


if __name__ == "__main__":
    main()

"""The demo's live view over a real RPC socket: a silent associator is reported once, not per tick."""

from __future__ import annotations

import threading

from services.live_view import LiveView
from tastr_stream.wire.rpc import RpcServer

from .daemons import free_port


def test_silence_is_reported_once_and_recovery_is_reported():
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    lines: list[str] = []
    view = LiveView(endpoint, out=lines.append)
    try:
        for _ in range(3):
            view.client.call = _timeout_after(view.client.call, 0.2)
            view.tick(2)
        assert sum("not answering" in line for line in lines) == 1, lines

        server = RpcServer(endpoint)
        stop = threading.Event()

        def serve():
            while not stop.is_set():
                for req in server.receive(50):
                    op = req.body.get("op")
                    server.reply(req, {"ok": True, "tracklets": 3, "identities": 1, "links": {"provisional": 1},
                                       "model_version": 2} if op == "stats" else
                                 {"ok": True, "identities": [{"identity_id": 7, "sightings": [
                                     {"camera_id": "cam1", "t_start_s": 1.0}, {"camera_id": "cam2", "t_start_s": 9.0}]}]})

        th = threading.Thread(target=serve, daemon=True)
        th.start()
        view.tick(2)
        stop.set()
        th.join(5)
        server.close()
    finally:
        view.close()
    assert any("answering again (after 3 silent ticks)" in line for line in lines), lines
    assert any("link: identity    7: cam1@1s -> cam2@9s" in line for line in lines), lines
    assert lines[-1].strip().endswith("model v2")


def _timeout_after(call, timeout_s: float):
    """The view asks with a 2 s timeout; keep the test quick by shortening it."""
    if getattr(call, "_short", False):
        return call

    def short(body, timeout_s_=None, **kw):
        return call(body, timeout_s=timeout_s)

    short._short = True
    return short

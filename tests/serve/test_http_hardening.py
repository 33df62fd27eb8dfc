"""The HTTP API answers every request in JSON and does not let a stalled client hold a thread.

Guards against the operator probes of issue 13: unknown methods and garbage request lines got
http.server's HTML error pages, and a stalled upload held its connection forever.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from tastr_stream.serve.http_api import HttpApi


class _Lookups:
    def handle(self, body, with_thumbnails=True):
        return {"ok": True, "op": body.get("op")}


@pytest.fixture
def server():
    api = HttpApi(_Lookups(), lambda tid: None, port=0, connection_timeout_s=0.5).start()
    yield api
    api.close()


def _raw(port: int, data: bytes) -> tuple[int, dict]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    assert b"application/json" in head, head
    return status, json.loads(body)


@pytest.mark.parametrize("request_bytes, status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"PUT /api/stats HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    (b"GET /api/stats HTTP/9.9\r\n\r\n", 505),
])
def test_http_server_errors_are_json(server, request_bytes, status):
    code, body = _raw(server.port, request_bytes)
    assert code == status and body["ok"] is False and body["status"] == status and body["error"]


def test_a_stalled_client_is_dropped_and_others_are_served(server):
    stalled = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    stalled.sendall(b"POST /api/search HTTP/1.1\r\nContent-Length: 1000\r\n\r\npartial")
    deadline = time.monotonic() + 10
    closed = False
    while time.monotonic() < deadline and not closed:
        closed = stalled.recv(65536) == b""        # the server hangs up once the client stalls
    stalled.close()
    assert closed, "a stalled upload must not hold its connection"
    code, body = _raw(server.port, b"GET /api/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert code == 200 and body["ok"] is True

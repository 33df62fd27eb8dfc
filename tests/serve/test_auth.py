"""The lookup token on both front ends, over real sockets on loopback ports.

Guards against issue 13's exposure item: anyone who could reach the HTTP API or the ZeroMQ
lookup port could read people's sightings and thumbnails, and forget identities.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
import zmq

from tastr_stream.errors import ConfigError
from tastr_stream.serve.http_api import HttpApi
from tastr_stream.wire.rpc import RpcClient, RpcServer

TOKEN = "0123456789abcdef-token"


class _Lookups:
    def __init__(self):
        self.bodies = []

    def handle(self, body, with_thumbnails=True):
        self.bodies.append(body)
        return {"ok": True, "op": body.get("op")}


@pytest.fixture
def api():
    refused = []
    lookups = _Lookups()
    server = HttpApi(lookups, lambda tid: b"\xff\xd8jpeg", port=0, token=TOKEN, on_unauthorized=lambda: refused.append(1),
                     pages={"/": ("text/html", b"<html></html>")}).start()
    yield server, lookups, refused
    server.close()


def _get(port: int, path: str, method: str = "GET", data: bytes | None = None, **headers) -> tuple[int, bytes, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


@pytest.mark.parametrize("method, path, data", [("GET", "/api/stats", None), ("GET", "/api/thumbnail/cam1:1", None),
                                                ("DELETE", "/api/identity/3", None),
                                                ("POST", "/api/search?k=3", b"\x89PNG" + b"\0" * 100)])
def test_http_without_or_with_a_wrong_token_is_401_json(api, method, path, data):
    server, lookups, refused = api
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Cookie": "tastr_token=nope"},
                    {"Authorization": f"Basic {TOKEN}"}):
        code, body, head = _get(server.port, path, method, data, **headers)
        assert code == 401 and head["Content-Type"] == "application/json", (headers, code)
        reply = json.loads(body)
        assert reply["ok"] is False and reply["status"] == 401 and "token" in reply["error"]
        assert head["WWW-Authenticate"].startswith("Bearer")
    assert lookups.bodies == [], "nothing reached the lookup service"
    assert len(refused) == 4


def test_http_with_the_token_works_as_header_or_cookie(api):
    server, lookups, refused = api
    code, body, _ = _get(server.port, "/api/stats", Authorization=f"Bearer {TOKEN}")
    assert code == 200 and json.loads(body) == {"ok": True, "op": "stats"}
    code, body, head = _get(server.port, "/api/thumbnail/cam1:1", Cookie=f"other=1; tastr_token={TOKEN}")
    assert code == 200 and body == b"\xff\xd8jpeg" and head["Content-Type"] == "image/jpeg"
    code, body, _ = _get(server.port, "/")                       # the page itself holds no data
    assert code == 200 and body == b"<html></html>"
    assert refused == []


def test_http_beyond_loopback_needs_a_token():
    with pytest.raises(ConfigError, match=r"^endpoints.http_host='0.0.0.0' is reachable beyond this machine"):
        HttpApi(_Lookups(), lambda tid: None, host="0.0.0.0", port=0)
    server = HttpApi(_Lookups(), lambda tid: None, host="0.0.0.0", port=0, token=TOKEN).start()
    try:
        assert _get(server.port, "/api/stats")[0] == 401
        assert _get(server.port, "/api/stats", Authorization=f"Bearer {TOKEN}")[0] == 200
    finally:
        server.close()


@pytest.fixture
def rpc():
    ctx = zmq.Context()
    server = RpcServer("tcp://127.0.0.1:0", context=ctx, token=TOKEN)
    lookups = _Lookups()
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            for req in server.receive(20):
                server.reply(req, lookups.handle(req.body) if req.error is None else {"ok": False, "error": str(req.error)})

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server, lookups, ctx
    stop.set()
    thread.join(timeout=5)
    server.close()
    ctx.term()


def test_zmq_lookup_without_or_with_a_wrong_token_gets_an_error_reply(rpc):
    server, lookups, ctx = rpc
    for token in (None, "wrong-token-0123456789", 12345):
        client = RpcClient(server.endpoint, context=ctx, token=token)
        try:
            reply = client.call({"op": "stats"}, timeout_s=10)
        finally:
            client.close()
        assert reply["ok"] is False and reply["error"].startswith("unauthorized"), reply
    assert lookups.bodies == [] and server.unauthorized == 3


def test_zmq_lookup_with_the_token_works_and_the_handler_never_sees_it(rpc):
    server, lookups, ctx = rpc
    client = RpcClient(server.endpoint, context=ctx, token=TOKEN)
    try:
        assert client.call({"op": "stats"}, timeout_s=10) == {"ok": True, "op": "stats"}
    finally:
        client.close()
    assert lookups.bodies == [{"op": "stats"}] and server.unauthorized == 0


def test_zmq_lookup_beyond_loopback_needs_a_token():
    ctx = zmq.Context()
    try:
        with pytest.raises(ConfigError, match=r"^endpoints.lookup='0.0.0.0' is reachable beyond this machine"):
            RpcServer("tcp://0.0.0.0:0", context=ctx)
        RpcServer("tcp://0.0.0.0:0", context=ctx, token=TOKEN).close()
    finally:
        ctx.term()

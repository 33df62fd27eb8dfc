"""A small HTTP JSON API over :class:`LookupService`, for people, scripts and dashboards.

Binds to loopback unless configured otherwise. Thumbnails are not inlined in JSON; each
sighting carries a ``thumbnail_url`` served as ``image/jpeg`` (a candidate, one
``thumbnail_urls`` entry per tracklet of its visit). Errors are JSON too: 404 for what does not
exist (an unknown tracklet, identity or path), 400 for a malformed request.

  GET  /api/tracklet/<tracklet_id>
  GET  /api/camera/<camera_id>/track/<local_track_id>
  GET  /api/identity/<identity_id>
  GET  /api/candidates?tracklet_id=ID&k=N    other cameras' visits ranked for one tracklet
  GET  /api/recent?limit=N
  GET  /api/stats
  GET  /api/network                          cameras and every pair's transfer-time prior
                                             (configured, and what the associator uses now)
  GET  /api/thumbnail/<tracklet_id>          image/jpeg
  POST /api/search?k=N   (body: a JPEG/PNG person image)
  DELETE /api/identity/<identity_id>         forget that person everywhere (also
  POST /api/identity/<identity_id>/forget    as POST, for clients without DELETE);
                                             JSON with what was removed per kind

With a shared token (``security.token_file``) every ``/api/`` request must carry it, as
``Authorization: Bearer <token>`` or as the ``tastr_token`` cookie (what the web page sets once
its user typed the token; images cannot send headers); otherwise 401 with a JSON error. The page's
static files carry no data and need no token. Bound beyond loopback, a token is required: the
server refuses to start without one.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, quote, unquote, urlparse

from ..config.security import require_token_beyond_loopback
from ..errors import ConfigError
from .lookup import LookupService

CONNECTION_TIMEOUT_S = 10.0

log = logging.getLogger(__name__)
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
# Error replies that name something that does not exist (404); any other error is the request's (400).
NOT_FOUND = ("unknown", "no tracklet", "not in the")
# () -> {"a-b": {"configured_s", "mean_s", "std_s", "source", "samples"}}: the transfer times in use now.
TransferView = Callable[[], dict[str, dict[str, Any]]]
TOKEN_COOKIE = "tastr_token"


def _given_tokens(headers) -> list[str]:
    """The tokens a request offers: its Bearer header and its ``tastr_token`` cookie."""
    out = []
    auth = headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        out.append(auth[7:].strip())
    try:
        morsel = SimpleCookie(headers.get("Cookie", "")).get(TOKEN_COOKIE)
    except CookieError:
        morsel = None
    if morsel is not None:
        out.append(unquote(morsel.value))
    return out


def _token_ok(expected: str, headers) -> bool:
    # Every offer is compared, each in constant time.
    return any([hmac.compare_digest(g.encode("utf-8", "replace"), expected.encode()) for g in _given_tokens(headers)])


def _thumbnail_url(tracklet_id: str) -> str:
    return f"/api/thumbnail/{quote(tracklet_id, safe='')}"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        out = {k: _jsonable(v) for k, v in obj.items() if k != "thumbnail_jpeg"}
        if "thumbnail_jpeg" in obj and "tracklet_id" in obj:
            out["thumbnail_url"] = _thumbnail_url(obj["tracklet_id"]) if obj["thumbnail_jpeg"] else None
        return out
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bytes):
        return None
    return obj


def _with_thumbnail_urls(reply: dict) -> dict:
    """A candidates reply with thumbnail URLs for the query and every candidate's tracklets."""
    if not reply.get("ok"):
        return reply
    return {**reply, "thumbnail_url": _thumbnail_url(reply["tracklet_id"]),
            "candidates": [{**c, "thumbnail_urls": [_thumbnail_url(t) for t in c["tracklet_ids"]]}
                           for c in reply["candidates"]]}


def _network_now(network: dict[str, Any], transfer_view: TransferView | None) -> dict[str, Any]:
    """The configured graph, each pair with ``transfer``: the prior association uses now
    (configured, site-scaled or learned from confident links), when the associator says."""
    if transfer_view is None:
        return network
    now = transfer_view()
    return {**network, "pairs": [{**p, "transfer": now.get(f"{p['a']}-{p['b']}", now.get(f"{p['b']}-{p['a']}"))}
                                 for p in network["pairs"]]}


def _make_handler(lookup: LookupService, thumbnail: Callable[[str], bytes | None],
                  pages: dict[str, tuple[str, bytes]], network: dict[str, Any] | None,
                  transfer_view: TransferView | None, connection_timeout_s: float = CONNECTION_TIMEOUT_S,
                  token: str | None = None, on_unauthorized: Callable[[], None] | None = None):
    class Handler(BaseHTTPRequestHandler):
        server_version = "tastr-stream"
        # An unparsable request line is answered as HTTP/1.0 (status line and headers), not 0.9.
        default_request_version = "HTTP/1.0"
        # Socket timeout per connection: a client that stalls mid-request (a slow upload, a half
        # request line) is dropped after this, instead of holding a server thread forever.
        timeout = connection_timeout_s

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """http.server's own errors (garbage request line, unknown method, header too long) as
            the same JSON every route answers with, not an HTML page."""
            self.close_connection = True
            body = json.dumps({"ok": False, "error": message or self.responses.get(code, ("error",))[0],
                               "status": code}).encode()
            try:
                self.send_response(code, message)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                    self.wfile.write(body)
            except OSError as exc:
                log.debug("http client gone before its error was sent", extra={"kv": {"code": code, "error": exc}})

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("http " + fmt % args)

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _authorized(self) -> bool:
            """True for the page's static files and for ``/api/`` requests with the token; else
            answers 401 (and closes: an unread upload body is not waited for)."""
            if token is None or not urlparse(self.path).path.startswith("/api/") or _token_ok(token, self.headers):
                return True
            if on_unauthorized is not None:
                on_unauthorized()
            self.close_connection = True
            body = json.dumps({"ok": False, "status": 401, "error": "unauthorized: this API needs the shared token "
                               "(Authorization: Bearer <token>, or the tastr_token cookie)"}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("WWW-Authenticate", 'Bearer realm="tastr-stream"')
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            return False

        def _json(self, reply: dict) -> None:
            error = str(reply.get("error", ""))
            code = 200 if reply.get("ok", True) else (404 if any(w in error for w in NOT_FOUND) else 400)
            self._send(code, json.dumps(_jsonable(reply)).encode(), "application/json")

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if not self._authorized():
                return None
            url = urlparse(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            query = parse_qs(url.query)
            if url.path in pages:
                ctype, body = pages[url.path]
                return self._send(200, body, ctype)
            if len(parts) < 2 or parts[0] != "api":
                return self._json({"ok": False, "error": f"unknown path {url.path}"})
            route = parts[1:]
            if route[0] == "tracklet" and len(route) == 2:
                return self._json(lookup.handle({"op": "tracklet", "tracklet_id": route[1]}))
            if route[0] == "identity" and len(route) == 2 and route[1].lstrip("-").isdigit():
                return self._json(lookup.handle({"op": "identity", "identity_id": int(route[1])}))
            if route[0] == "camera" and len(route) == 4 and route[2] == "track" and route[3].lstrip("-").isdigit():
                return self._json(lookup.handle({"op": "camera_track", "camera_id": route[1],
                                                 "local_track_id": int(route[3])}))
            if route == ["candidates"]:
                body: dict[str, Any] = {"op": "candidates"}
                if "tracklet_id" in query:
                    body["tracklet_id"] = query["tracklet_id"][0]
                if "k" in query:
                    k = query["k"][0]
                    body["k"] = int(k) if k.isdigit() else k
                return self._json(_with_thumbnail_urls(lookup.handle(body)))
            if route == ["recent"]:
                limit = query.get("limit", ["20"])[0]
                body = {"op": "recent", "limit": int(limit) if limit.isdigit() else limit}
                return self._json(lookup.handle(body))
            if route == ["stats"]:
                return self._json(lookup.handle({"op": "stats"}))
            if route == ["network"]:
                if network is None:
                    return self._json({"ok": False, "error": "unknown path /api/network: no network configured"})
                return self._json({"ok": True, **_network_now(network, transfer_view)})
            if route[0] == "thumbnail" and len(route) == 2:
                jpeg = thumbnail(route[1])
                if jpeg is None:
                    return self._json({"ok": False, "error": f"unknown tracklet {route[1]!r} or no thumbnail"})
                return self._send(200, jpeg, "image/jpeg")
            return self._json({"ok": False, "error": f"unknown path {url.path}"})

        def _forget(self, route: list[str]) -> None:
            self._discard_body()
            if route[0] != "identity" or not route[1].isdigit():
                return self._json({"ok": False, "error": f"unknown path {self.path}"})
            return self._json(lookup.handle({"op": "forget", "identity_id": int(route[1])}))

        def _discard_body(self) -> None:
            length = self.headers.get("Content-Length", "0")
            if length.isdigit() and 0 < int(length) <= MAX_UPLOAD_BYTES:
                self.rfile.read(int(length))

        def do_DELETE(self) -> None:  # noqa: N802
            if not self._authorized():
                return None
            route = [unquote(p) for p in urlparse(self.path).path.strip("/").split("/")]
            if len(route) == 3 and route[0] == "api":
                return self._forget(route[1:])
            return self._json({"ok": False, "error": f"unknown path {urlparse(self.path).path}"})

        def do_POST(self) -> None:  # noqa: N802
            if not self._authorized():
                return None
            url = urlparse(self.path)
            route = [unquote(p) for p in url.path.strip("/").split("/")]
            if len(route) == 4 and route[0] == "api" and route[3] == "forget":
                return self._forget(route[1:3])
            if url.path != "/api/search":
                return self._json({"ok": False, "error": f"unknown path {url.path}"})
            length = self.headers.get("Content-Length", "")
            if not length.isdigit() or not 0 < int(length) <= MAX_UPLOAD_BYTES:
                return self._json({"ok": False, "error": f"Content-Length must be 1..{MAX_UPLOAD_BYTES} bytes, got {length!r}"})
            data = self.rfile.read(int(length))
            k = parse_qs(url.query).get("k", ["5"])[0]
            return self._json(lookup.handle({"op": "image", "jpeg": data, "k": int(k) if k.isdigit() else k}))

    return Handler


class HttpApi:
    def __init__(self, lookup: LookupService, thumbnail: Callable[[str], bytes | None], host: str = "127.0.0.1",
                 port: int = 0, pages: dict[str, tuple[str, bytes]] | None = None,
                 network: dict[str, Any] | None = None, transfer_view: TransferView | None = None,
                 connection_timeout_s: float = CONNECTION_TIMEOUT_S, token: str | None = None,
                 on_unauthorized: Callable[[], None] | None = None):
        """``pages``: static ``{url_path: (content_type, body)}`` (the web page); ``network``: the
        JSON-able camera graph served at ``/api/network`` (see :func:`.web.network_view`);
        ``transfer_view``: the transfer times in use now, added to each pair of that graph.

        Requests are answered on the server's own threads: ``lookup`` and ``transfer_view`` must be
        safe to call while the daemon's loop runs (store reads are; the window needs a lock).

        ``token``: the shared secret every ``/api/`` request must carry (required when ``host`` is
        beyond loopback: ConfigError otherwise); ``on_unauthorized`` counts refused requests."""
        require_token_beyond_loopback("endpoints.http_host", host, token)
        try:
            self.server = ThreadingHTTPServer((host, port), _make_handler(lookup, thumbnail, pages or {}, network,
                                                                          transfer_view, connection_timeout_s,
                                                                          token, on_unauthorized))
        except OSError as exc:        # port in use, host that does not resolve or is not this machine's
            raise ConfigError(f"endpoints.http_host/http_port {host}:{port}: {exc.strerror or exc}") from exc
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="http-api", daemon=True)

    def start(self) -> "HttpApi":
        self._thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

"""The page's assets and its camera-graph payload, served by a real HttpApi on a loopback port.

Guards against: a wheel shipped without the page (package data not configured), a page that
reaches for the internet (sites run without it), and a graph that shows a different prior from
the one the associator applies.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from tastr_stream.config import StrPrior
from tastr_stream.config.network import Network
from tastr_stream.serve.http_api import HttpApi
from tastr_stream.serve.web import PAGE_PATHS, load_pages, network_view

SVG_NAMESPACE = "http://www.w3.org/2000/svg"   # an XML namespace name, never fetched


def three_cameras(**net) -> Network:
    return Network(cameras=[{"id": "cam1", "position_m": (0, 0)}, {"id": "cam2"}, {"id": "cam3"}],
                   paths=[{"a": "cam1", "b": "cam2", "length_m": 100.0},
                          {"a": "cam1", "b": "cam3", "transfer_s": 2.0},
                          {"a": "cam3", "b": "cam2", "transfer_s": 30.0}], **net)


def test_pages_load_from_package_data_and_reference_nothing_external():
    pages = load_pages()
    assert set(pages) == set(PAGE_PATHS)
    ctype, html = pages["/"]
    assert ctype.startswith("text/html") and b'src="/app.js"' in html and b'href="/style.css"' in html
    assert pages["/app.js"][0].startswith("text/javascript") and pages["/style.css"][0].startswith("text/css")
    for path, (_, body) in pages.items():
        text = body.decode("utf-8").replace(SVG_NAMESPACE, "")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), f"{path} references an external URL"
    js = pages["/app.js"][1].decode()
    assert "innerHTML" not in js, "server values must be inserted as text, never parsed as HTML"
    for endpoint in ("/api/network", "/api/recent", "/api/stats", "/api/search", "/api/identity/",
                     "/api/tracklet/", "/api/camera/", "/api/candidates"):
        assert endpoint in js
    assert b'src="/graph.js"' in html and html.index(b"/graph.js") < html.index(b"/app.js"), "graph.js loads first"
    assert "innerHTML" not in pages["/graph.js"][1].decode()


def test_network_view_matches_the_prior_the_associator_applies():
    view = network_view(three_cameras(walking_speed_mps=1.25), StrPrior(sigma_floor_s=5.0))
    assert [c["id"] for c in view["cameras"]] == ["cam1", "cam2", "cam3"]
    assert view["cameras"][0]["position_m"] == [0.0, 0.0] and view["cameras"][1]["position_m"] is None
    pairs = {(p["a"], p["b"]): p for p in view["pairs"]}
    assert set(pairs) == {("cam1", "cam2"), ("cam1", "cam3"), ("cam2", "cam3")}
    assert pairs[("cam1", "cam2")]["t_ij_s"] == pytest.approx(80.0)            # 100 m / 1.25 m/s
    assert pairs[("cam1", "cam2")]["sigma_s"] == pytest.approx(0.7 * 80.0)     # lambda * t_ij
    assert pairs[("cam1", "cam3")]["sigma_s"] == pytest.approx(5.0)            # floored
    assert pairs[("cam2", "cam3")]["t_ij_s"] == pytest.approx(30.0)
    assert view["str"] == {"enabled": True, "lambda": 0.7, "exponent": "gaussian", "sigma_floor_s": 5.0, "dt": "gap"}
    assert view["horizon_s"] > 80.0
    json.dumps(view)  # JSON-able as served


class _NoLookups:
    """HttpApi's lookup dependency; these tests only exercise pages and /api/network."""

    def handle(self, body, with_thumbnails=True):
        return {"ok": False, "error": f"unknown op {body.get('op')!r}"}


@pytest.fixture
def api():
    servers = []

    def make(**kw) -> str:
        server = HttpApi(_NoLookups(), lambda tid: None, port=0, **kw).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield make
    for s in servers:
        s.close()


def test_http_api_serves_page_and_network(api):
    view = network_view(three_cameras(), StrPrior())
    base = api(pages=load_pages(), network=view)
    with urllib.request.urlopen(base + "/", timeout=5) as resp:
        assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
        assert b"<title>tastr-stream live</title>" in resp.read()
    with urllib.request.urlopen(base + "/app.js", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/javascript")
    with urllib.request.urlopen(base + "/api/network", timeout=5) as resp:
        body = json.loads(resp.read())
    assert body["ok"] and body["pairs"] == view["pairs"] and body["cameras"] == view["cameras"]


def test_http_api_without_network_answers_404(api):
    base = api()
    for path in ("/api/network", "/"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + path, timeout=5)
        assert err.value.code == 404, path

"""The live page in a real headless Chromium against a real associator fed over the real wire.

Guards against: a page that loads but draws nothing (a JS error, a renamed API field), a camera
graph missing cameras or transfer times (configured, or learned from confident links), identities
not rendered from /api/recent, a search box wired to the wrong endpoint, and an operator left
without the evidence: no candidates for a searched tracklet, or sightings that do not say why
they belong to their identity. Skips when Debian's chromium is not installed
(``apt-get install -y --no-install-recommends chromium``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from tastr_stream.errors import TastrError
from tastr_stream.serve.http_api import HttpApi
from tastr_stream.serve.lookup import LookupService
from tastr_stream.serve.web import load_pages, network_view, transfer_now

from ..associate.world import CAMERAS, TRANSFER_S
from .conftest import POSITIONS_M, get_json, person_jpeg
from .linked_world import build_linked_world

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium "
                                       "(apt-get install -y --no-install-recommends chromium)")
NODE_BGR = (0x76, 0x76, 0x0F)   # --node: #0f766e, the camera circles
SAME_BGR = (0xD0, 0xF7, 0xBB)   # --same: #bbf7d0, a candidate row of the searched tracklet's identity


def chromium(tmp_path: Path, url: str, *mode: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,900",
           "--virtual-time-budget=5000", *mode, url]
    env = {**os.environ, "HOME": str(tmp_path)}   # chromium writes caches under $HOME
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    assert proc.returncode == 0, f"chromium exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


def test_api_network_serves_the_configured_graph(live_associator):
    body = get_json(f"{live_associator.base_url}/api/network")
    assert [c["id"] for c in body["cameras"]] == list(CAMERAS)
    assert {c["id"]: tuple(c["position_m"]) for c in body["cameras"]} == POSITIONS_M
    for p in body["pairs"]:
        t = TRANSFER_S.get((p["a"], p["b"]), TRANSFER_S.get((p["b"], p["a"])))
        assert p["t_ij_s"] == pytest.approx(t) and p["sigma_s"] == pytest.approx(0.7 * t)
    assert len(body["pairs"]) == len(TRANSFER_S)


def test_image_upload_endpoint_the_page_posts_to(live_associator):
    req = urllib.request.Request(f"{live_associator.base_url}/api/search?k=3", data=person_jpeg(4),
                                 headers={"Content-Type": "image/jpeg"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = json.loads(resp.read())
    assert body["ok"] and len(body["results"]) == 3
    assert [r["distance"] for r in body["results"]] == sorted(r["distance"] for r in body["results"])


def test_page_renders_graph_and_recent_identities_in_chromium(live_associator, tmp_path):
    recent = get_json(f"{live_associator.base_url}/api/recent?limit=12")["identities"]
    assert recent
    dom = chromium(tmp_path, live_associator.base_url + "/", "--dump-dom").stdout

    for cam in CAMERAS:
        assert f'data-camera="{cam}"' in dom, f"camera {cam} not drawn"
    labels = re.findall(r'class="edge-label"[^>]*>([\d.]+) s<', dom)
    assert sorted(float(x) for x in labels) == sorted(TRANSFER_S.values()), labels
    assert "site-map layout" in dom
    shown = {int(i) for i in re.findall(r'<div class="identity" data-identity="(\d+)"', dom)}
    assert {r["identity_id"] for r in recent} <= shown, "every recent identity is rendered by the JS"
    assert re.search(r'<img src="/api/thumbnail/[^"]+"', dom)
    stats = get_json(f"{live_associator.base_url}/api/stats")
    assert f"{stats['tracklets']} tracklets" in dom

    png = tmp_path / "page.png"
    chromium(tmp_path, live_associator.base_url + "/", f"--screenshot={png}")
    img = cv2.imread(str(png), cv2.IMREAD_COLOR)
    assert img is not None and img.shape == (900, 1280, 3)
    assert img.std() > 20, "screenshot is blank"
    node = np.all(np.abs(img.astype(int) - NODE_BGR) <= 12, axis=2)
    assert node.sum() > 4 * 900, "camera nodes (4 circles of r=22 px) not visible in the screenshot"
    # Thumbnails: the figures' saturated colours appear somewhere on the page.
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    assert (hsv[..., 1] > 120).sum() > 500


def test_search_box_looks_up_a_tracklet_in_chromium(live_associator, tmp_path):
    probe = next(m.tracklet_id for m in live_associator.world
                 if get_json(f"{live_associator.base_url}/api/tracklet/{m.tracklet_id}")["identity_id"] is not None)
    answer = get_json(f"{live_associator.base_url}/api/tracklet/{probe}")
    dom = chromium(tmp_path, f"{live_associator.base_url}/#q={probe}", "--dump-dom").stdout
    results = dom.split('id="search-results"', 1)[1].split('id="candidates-panel"', 1)[0]
    assert f'data-identity="{answer["identity_id"]}"' in results
    for s in answer["sightings"]:
        assert f'data-tracklet="{s["tracklet_id"]}"' in results
    assert f"results for {probe}" in dom

    # "camera track" and identity id queries go to their own endpoints.
    first = answer["sightings"][0]
    dom = chromium(tmp_path, f"{live_associator.base_url}/#q={first['camera_id']}%20{first['local_track_id']}",
                   "--dump-dom").stdout
    results = dom.split('id="search-results"', 1)[1].split('id="candidates-panel"', 1)[0]
    assert f'data-identity="{answer["identity_id"]}"' in results and f'data-tracklet="{first["tracklet_id"]}"' in results
    dom = chromium(tmp_path, f"{live_associator.base_url}/#q={answer['identity_id']}", "--dump-dom").stdout
    results = dom.split('id="search-results"', 1)[1].split('id="candidates-panel"', 1)[0]
    assert sorted(re.findall(r'<span class="thumb[^"]*"[^>]*data-tracklet="([^"]+)"', results)) == \
        sorted(s["tracklet_id"] for s in answer["sightings"])

    dom = chromium(tmp_path, f"{live_associator.base_url}/#q=nobody-here", "--dump-dom").stdout
    assert "unknown tracklet" in dom and 'class="status error"' in dom


@pytest.fixture(scope="module")
def linked_page(tmp_path_factory):
    """The page served by a real HttpApi over a real core's window and store, links decided."""
    lw = build_linked_world(tmp_path_factory.mktemp("linked-page") / "store")

    def thumbnail(tid):
        try:
            crops = lw.store.crops(tid)
        except TastrError:
            return None
        return crops[0] if crops else None

    lookup = LookupService(lw.store, candidates=lw.core.candidates, current_version=lambda: lw.core.model_version)
    api = HttpApi(lookup, thumbnail, port=0, pages=load_pages(),
                  network=network_view(lw.config.network, lw.config.associator.association.str_prior),
                  transfer_view=lambda: transfer_now(lw.core.transfer.pairs())).start()
    yield lw, f"http://127.0.0.1:{api.port}"
    api.close()
    lw.store.close()


def test_candidates_panel_and_why_of_every_sighting_in_chromium(linked_page, tmp_path):
    lw, base = linked_page
    tid = next(l.explain["tracklet_a"] for l in lw.store.identity_links() if l.kind == "cross")
    cands = get_json(f"{base}/api/candidates?tracklet_id={tid}&k=8")
    answer = get_json(f"{base}/api/tracklet/{tid}")
    dom = chromium(tmp_path, f"{base}/#q={tid}", "--dump-dom").stdout

    section = re.search(r'<section id="candidates-panel"[^>]*>', dom).group(0)
    assert "hidden" not in section, "a searched tracklet shows its candidates"
    panel = dom.split('id="candidates-panel"', 1)[1].split('id="recent-panel"', 1)[0]
    assert f"for {tid} ({cands['camera_id']}, identity {cands['identity_id']}, model v{cands['model_version']})" in panel
    rows = re.findall(r'<tr class="(same)?" data-tracklet="([^"]+)" data-rank="(\d+)"', panel)
    assert [(t, int(r)) for _, t, r in rows] == [(c["tracklet_ids"][0], c["rank"]) for c in cands["candidates"]]
    for (same, _, _), c in zip(rows, cands["candidates"]):
        assert bool(same) == (c["identity_id"] == cands["identity_id"])
        assert f"<td>{c['feature_distance']:.3f}</td>" in panel and f"<td>{c['r']:.3f}</td>" in panel
        assert f"({c['prior']})</td>" in panel
        for t in c["tracklet_ids"]:
            assert f'<img src="/api/thumbnail/{t}"' in panel.replace("%3A", ":")
    assert any(same for same, _, _ in rows), "the visit it is linked to is marked as the same identity"

    # Under every sighting's thumbnail: the shown links that put it in its identity.
    results = dom.split('id="search-results"', 1)[1].split('id="candidates-panel"', 1)[0]
    drawn_why = {}
    for thumb in results.split('<span class="thumb ')[1:]:
        sighting = re.search(r'data-tracklet="([^"]+)"', thumb).group(1)
        for other, text in re.findall(r'<span class="why (?:provisional|final)" data-other="([^"]+)">(.*?)</span></span>',
                                      thumb):
            drawn_why[(sighting, other)] = text
    expected = {(s["tracklet_id"], w["other"]): w for s in answer["sightings"] for w in s["why"]}
    assert expected and set(drawn_why) == set(expected)
    for key, w in expected.items():
        text = drawn_why[key]
        assert f"D {w['feature_distance']:.3f}" in text and f"model v{w['model_version']}" in text
        assert f"conf {w['confidence']:.2f}" in text
        assert ("dt " in text) == (w["kind"] == "cross")

    # The graph: configured times on every edge, the learned ones next to them where they moved.
    net = get_json(f"{base}/api/network")
    moved = {f"{p['a']}-{p['b']}": p["transfer"] for p in net["pairs"] if p["transfer"]["source"] != "configured"}
    assert moved, "this world teaches the transfer model"
    drawn = dict(re.findall(r'class="edge-label-now"[^>]*data-pair="([^"]+)" data-source="(\w+)"', dom))
    assert drawn == {pair: t["source"] for pair, t in moved.items()}
    labels = re.findall(r'class="edge-label"[^>]*>([\d.]+) s<', dom)
    assert sorted(float(x) for x in labels) == sorted(TRANSFER_S.values())

    png = tmp_path / "candidates.png"
    chromium(tmp_path, f"{base}/#q={tid}", f"--screenshot={png}", "--window-size=1280,2400")
    img = cv2.imread(str(png), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[1] == 1280
    same = np.all(np.abs(img.astype(int) - SAME_BGR) <= 6, axis=2)
    assert same.sum() > 20_000, "the same-identity candidate row is not visible in the screenshot"

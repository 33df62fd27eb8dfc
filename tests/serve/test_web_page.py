"""The live page in a real headless Chromium against a real associator fed over the real wire.

Guards against: a page that loads but draws nothing (a JS error, a renamed API field), a camera
graph missing cameras or transfer times, identities not rendered from /api/recent, and a
search box wired to the wrong endpoint. Skips when Debian's chromium is not installed
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

from ..associate.world import CAMERAS, TRANSFER_S
from .conftest import POSITIONS_M, get_json, person_jpeg

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium "
                                       "(apt-get install -y --no-install-recommends chromium)")
NODE_BGR = (0x76, 0x76, 0x0F)   # --node: #0f766e, the camera circles


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
    results = dom.split('id="search-results"', 1)[1].split('id="recent-panel"', 1)[0]
    assert f'data-identity="{answer["identity_id"]}"' in results
    for s in answer["sightings"]:
        assert f'data-tracklet="{s["tracklet_id"]}"' in results
    assert f"results for {probe}" in dom

    # "camera track" and identity id queries go to their own endpoints.
    first = answer["sightings"][0]
    dom = chromium(tmp_path, f"{live_associator.base_url}/#q={first['camera_id']}%20{first['local_track_id']}",
                   "--dump-dom").stdout
    results = dom.split('id="search-results"', 1)[1].split('id="recent-panel"', 1)[0]
    assert f'data-identity="{answer["identity_id"]}"' in results and f'data-tracklet="{first["tracklet_id"]}"' in results
    dom = chromium(tmp_path, f"{live_associator.base_url}/#q={answer['identity_id']}", "--dump-dom").stdout
    results = dom.split('id="search-results"', 1)[1].split('id="recent-panel"', 1)[0]
    assert sorted(re.findall(r'<span class="thumb[^"]*"[^>]*data-tracklet="([^"]+)"', results)) == \
        sorted(s["tracklet_id"] for s in answer["sightings"])

    dom = chromium(tmp_path, f"{live_associator.base_url}/#q=nobody-here", "--dump-dom").stdout
    assert "unknown tracklet" in dom and 'class="status error"' in dom

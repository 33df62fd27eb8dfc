"""``tastr-stream lookup`` as users run it: candidates as a table, and a finished run read-only.

Guards against: an inspection that needs the daemons up (a finished run could not be explained),
one that writes to the store it inspects, a candidates table that loses the ranking or the
figures, image search silently answering nothing without a model, and the daemon's lookups
missing the candidates op or the transfer times in use.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import pytest

from tastr_stream.config.toml_writer import write_toml
from tastr_stream.store.schema import DB_NAME
from tastr_stream.wire.rpc import RpcClient

from ..services.daemons import REPO
from .conftest import get_json
from .linked_world import build_linked_world


def lookup(*args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli", "lookup", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout_s)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A store written by a real associator core, closed: the run is over, no daemon is up."""
    tmp = tmp_path_factory.mktemp("finished")
    lw = build_linked_world(tmp / "store")
    expected = {"cross": next(l.explain["tracklet_a"] for l in lw.store.identity_links() if l.kind == "cross")}
    expected["candidates"] = lw.core.candidates(expected["cross"], 4)
    lw.store.close()
    config = write_toml(tmp / "run.toml", lw.raw_config)
    return config, tmp / "store", expected


def table_rows(stdout: str) -> list[list[str]]:
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("rank"))
    return [re.split(r"\s{2,}", line.strip()) for line in lines[header + 1:]]


def test_store_mode_answers_without_a_daemon_and_writes_nothing(finished_run):
    config, store_dir, expected = finished_run
    db = store_dir / DB_NAME
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    tid, want = expected["cross"], expected["candidates"]

    proc = lookup("--config", str(config), "--store", str(store_dir), "candidates", tid, "--k", "4")
    assert proc.returncode == 0, proc.stderr
    assert f"candidates for {tid} ({want['camera_id']}, identity {want['identity_id']}" in proc.stdout
    assert "dt vs t̄±σ (prior)" in proc.stdout and "D/R" in proc.stdout
    rows = table_rows(proc.stdout)
    assert [r[0] for r in rows] == [str(c["rank"]) for c in want["candidates"]]
    for row, c in zip(rows, want["candidates"]):
        assert row[1] == c["camera_id"] and row[2] == ",".join(c["tracklet_ids"])
        assert float(row[3]) == pytest.approx(c["feature_distance"], abs=1e-3)
        sign = "+" if c["direction"] == "after" else "-"
        assert row[4] == f"{sign}{c['dt_s']:.1f} s vs {c['transfer_mean_s']:.1f}±{c['transfer_std_s']:.1f} s ({c['prior']})"
        assert float(row[5]) == pytest.approx(c["r"], abs=1e-3)
        same = c["identity_id"] == want["identity_id"]
        assert row[-1] == f"{c['identity_id']}{' (same)' if same else ''}"
    assert any(r[-1].endswith("(same)") for r in rows), "the visit it was linked to is marked the same identity"

    proc = lookup("--config", str(config), "--store", str(store_dir), "tracklet", tid)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["ok"] and any(w["kind"] == "cross" for s in answer["sightings"] for w in s["why"])

    proc = lookup("--config", str(config), "--store", str(store_dir), "candidates", "cam9:nobody:1", "--json")
    assert proc.returncode == 1 and json.loads(proc.stdout)["error"] == "unknown tracklet 'cam9:nobody:1'"
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before, "inspecting a run must not write to its store"


def test_store_mode_refuses_image_search_and_needs_a_config(finished_run, tmp_path):
    config, store_dir, _ = finished_run
    image = tmp_path / "person.jpg"
    image.write_bytes(b"\xff\xd8\xff\xd9")
    proc = lookup("--config", str(config), "--store", str(store_dir), "image", str(image))
    assert proc.returncode == 2 and "image search needs the associator's model" in proc.stderr
    proc = lookup("--store", str(store_dir), "stats")
    assert proc.returncode == 2 and "--store needs --config" in proc.stderr


def test_daemon_serves_candidates_over_zeromq_cli_and_http(live_associator):
    """The associator daemon wires the candidates op (under its window lock) and the transfer view."""
    tid = live_associator.world[len(live_associator.world) // 2].tracklet_id
    client = RpcClient(live_associator.ready["lookup"])
    try:
        reply = client.call({"op": "candidates", "tracklet_id": tid, "k": 3}, timeout_s=10)
        bad = client.call({"op": "candidates", "tracklet_id": tid, "k": 0}, timeout_s=10)
    finally:
        client.close()
    assert reply["ok"] and reply["tracklet_id"] == tid and 0 < len(reply["candidates"]) <= 3
    assert [c["rank"] for c in reply["candidates"]] == list(range(1, len(reply["candidates"]) + 1))
    assert bad["ok"] is False and "'k'" in bad["error"]

    proc = lookup("--endpoint", live_associator.ready["lookup"], "candidates", tid, "--k", "3")
    assert proc.returncode == 0, proc.stderr
    assert [r[2] for r in table_rows(proc.stdout)] == [",".join(c["tracklet_ids"]) for c in reply["candidates"]]

    body = get_json(f"{live_associator.base_url}/api/candidates?tracklet_id={tid}&k=3")
    assert [c["tracklet_ids"] for c in body["candidates"]] == [c["tracklet_ids"] for c in reply["candidates"]]
    net = get_json(f"{live_associator.base_url}/api/network")
    for p in net["pairs"]:
        assert p["transfer"]["configured_s"] == pytest.approx(p["t_ij_s"])
        assert p["transfer"]["source"] in ("configured", "site", "learned")

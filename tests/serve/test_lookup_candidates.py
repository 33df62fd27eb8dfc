"""Candidates and the "why" of every sighting, over ZeroMQ and HTTP, from a real AssociatorCore.

Guards against: a ranking that is not by the joint distance D/R (the prior's effect hidden from
the operator), figures that do not add up (D/R not D over R),
sightings that do not say which shown link put them in their identity, a store query per
sighting (the recent panel polls every 2 s), an unknown tracklet or a bad k that raises out of
the handler (and kills the daemon's loop) instead of answering with an error, and HTTP errors
that are not JSON or carry the wrong status.
"""

from __future__ import annotations

import json
import math
import threading
import urllib.error
import urllib.request

import pytest
import zmq

from tastr_stream.serve.http_api import HttpApi
from tastr_stream.serve.lookup import LookupService
from tastr_stream.serve.web import network_view, transfer_now
from tastr_stream.wire.rpc import RpcClient, RpcServer

from ..associate.world import TRANSFER_S
from .linked_world import LinkedWorld, build_linked_world

CANDIDATE_FIELDS = {"tracklet_ids", "camera_id", "t_enter_s", "t_exit_s", "direction", "feature_distance", "dt_s",
                    "r", "joint_distance", "transfer_mean_s", "transfer_std_s", "prior", "stranger_share",
                    "confidence", "identity_id", "appearance_rank", "rank"}
WHY_FIELDS = {"feature_distance", "r", "joint_distance", "dt_s", "transfer_mean_s", "transfer_std_s", "prior",
              "confidence", "model_version", "status", "kind", "other", "tracklet_a", "tracklet_b", "rivals"}


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    lw = build_linked_world(tmp_path_factory.mktemp("linked") / "store")
    yield lw
    lw.store.close()


@pytest.fixture(scope="module")
def lookup(linked: LinkedWorld) -> LookupService:
    return LookupService(linked.store, candidates=linked.core.candidates,
                         current_version=lambda: linked.core.model_version)


@pytest.fixture(scope="module")
def rpc(lookup):
    """The daemon's lookup loop on a random loopback port, and a client of it."""
    ctx = zmq.Context()
    server = RpcServer("tcp://127.0.0.1:0", context=ctx)
    client = RpcClient(server.endpoint, context=ctx)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            for req in server.receive(50):
                server.reply(req, lookup.handle(req.body) if req.error is None
                             else {"ok": False, "error": str(req.error)})

    th = threading.Thread(target=serve, name="test-rpc", daemon=True)
    th.start()
    yield lambda body: client.call(body, timeout_s=10)
    stop.set()
    th.join(5)
    client.close()
    server.close()
    ctx.destroy(linger=0)


@pytest.fixture(scope="module")
def http(linked: LinkedWorld, lookup):
    def thumbnail(tid):
        crops = linked.store.crops(tid)
        return crops[0] if crops else None

    api = HttpApi(lookup, thumbnail, port=0, network=network_view(linked.config.network,
                                                                  linked.config.associator.association.str_prior),
                  transfer_view=lambda: transfer_now(linked.core.transfer.pairs())).start()
    yield f"http://127.0.0.1:{api.port}"
    api.close()


def http_get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        assert e.headers["Content-Type"] == "application/json", "errors are JSON like every other route"
        return e.code, json.loads(e.read())


def cross_linked(linked: LinkedWorld) -> tuple[str, list]:
    """A tracklet with a shown cross link, and its links."""
    links = linked.store.identity_links()
    tid = next(l.explain["tracklet_a"] for l in links if l.kind == "cross")
    return tid, [l for l in links if tid in (l.a, l.b)]


def check_ranking(reply: dict, linked: LinkedWorld, k: int) -> None:
    query = reply["tracklet_id"]
    assert reply["ok"] and reply["op"] == "candidates"
    assert reply["camera_id"] == query.split(":")[0]
    assert reply["identity_id"] == linked.store.identity_of(query)
    assert reply["model_version"] == linked.core.model_version
    rows = reply["candidates"]
    assert 0 < len(rows) <= k
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    joint = [math.inf if r["joint_distance"] is None else r["joint_distance"] for r in rows]
    assert joint == sorted(joint), "ranked by the joint distance D/R"
    for r in rows:
        assert set(r) >= CANDIDATE_FIELDS
        assert r["camera_id"] != reply["camera_id"] and all(t.startswith(r["camera_id"] + ":") for t in r["tracklet_ids"])
        assert r["identity_id"] == linked.store.identity_of(r["tracklet_ids"][0])
        # The figures add up: the rank's D/R is D over R (R itself is the linker's: Gaussian and more).
        assert 0.0 <= r["r"] <= 1.0 and r["dt_s"] >= 0.0 and r["transfer_std_s"] > 0.0
        if r["r"] > 0:
            assert r["joint_distance"] == pytest.approx(r["feature_distance"] / r["r"], rel=2e-3, abs=1e-3)
        assert r["prior"] in ("configured", "site", "learned")
        assert 0.0 <= r["confidence"] <= 1.0


# ---------------------------------------------------------------------------------- ZeroMQ

def test_candidates_over_zeromq_ranked_with_figures(linked, rpc):
    tid, links = cross_linked(linked)
    reply = rpc({"op": "candidates", "tracklet_id": tid, "k": 5})
    check_ranking(reply, linked, 5)
    assert reply == {"ok": True, "op": "candidates", **linked.core.candidates(tid, 5)}
    # The visit a shown link joined it to is a candidate of the same identity.
    everything = rpc({"op": "candidates", "tracklet_id": tid, "k": 100})["candidates"]
    for link in (l for l in links if l.kind == "cross"):
        other = link.b if link.a == tid else link.a
        row = next(r for r in everything if other in r["tracklet_ids"])
        assert row["identity_id"] == reply["identity_id"]
    default = rpc({"op": "candidates", "tracklet_id": tid})
    assert len(default["candidates"]) == min(10, len(everything))


@pytest.mark.parametrize("k", [0, 101, "5", True, 2.5])
def test_candidates_bad_k_is_an_error_reply(rpc, linked, k):
    reply = rpc({"op": "candidates", "tracklet_id": linked.world[0].tracklet_id, "k": k})
    assert reply["ok"] is False and "'k' must be an int in 1..100" in reply["error"]


def test_candidates_unknown_or_missing_tracklet_is_an_error_reply(rpc, linked):
    reply = rpc({"op": "candidates", "tracklet_id": "cam9:nobody:1"})
    assert reply == {"ok": False, "op": "candidates", "error": "unknown tracklet 'cam9:nobody:1'"}
    assert "missing field 'tracklet_id'" in rpc({"op": "candidates"})["error"]
    assert "candidates" in rpc({"op": "nope"})["error"], "the unknown-op message lists the new op"


def test_candidates_not_available_without_a_window(linked):
    reply = LookupService(linked.store).handle({"op": "candidates", "tracklet_id": linked.world[0].tracklet_id})
    assert reply["ok"] is False and "not available" in reply["error"]


def test_every_sighting_says_why_over_zeromq(linked, rpc):
    tid, _ = cross_linked(linked)
    answer = rpc({"op": "tracklet", "tracklet_id": tid})
    ids = {s["tracklet_id"] for s in answer["sightings"]}
    stored = {l.pair: l for l in linked.store.identity_links(tracklet_ids=sorted(ids))}
    assert stored, "the probe's identity is made of shown links"
    seen = set()
    for s in answer["sightings"]:
        assert "why" in s
        for why in s["why"]:
            assert set(why) >= WHY_FIELDS
            pair = tuple(sorted((s["tracklet_id"], why["other"])))
            row = stored[pair]
            assert why["other"] in ids, "a shown link joins sightings of one identity"
            assert (why["status"], why["kind"], why["model_version"]) == (row.status, row.kind, row.model_version)
            for key in ("feature_distance", "r", "dt_s", "transfer_mean_s", "transfer_std_s", "prior"):
                assert why[key] == row.explain[key]
            assert why["confidence"] == pytest.approx(row.confidence, abs=1e-4)
            seen.add(pair)
    assert seen == set(stored), "every stored link of the identity explains both of its sightings"
    for op in ({"op": "identity", "identity_id": answer["identity_id"]},
               {"op": "camera_track", "camera_id": tid.split(":")[0],
                "local_track_id": linked.store.get_tracklet(tid).local_track_id},
               {"op": "recent", "limit": 5}):
        reply = rpc(op)
        groups = reply.get("results") or reply.get("identities") or [reply]
        sightings = [s for g in groups for s in g["sightings"]]
        assert sightings and all("why" in s for s in sightings), op


def test_why_is_one_store_query_per_answer(linked, monkeypatch):
    calls = []
    real = linked.store.identity_links

    def counted(*a, **kw):
        calls.append(kw.get("tracklet_ids"))
        return real(*a, **kw)

    monkeypatch.setattr(linked.store, "identity_links", counted)
    service = LookupService(linked.store)
    reply = service.handle({"op": "recent", "limit": 20})
    assert sum(len(i["sightings"]) for i in reply["identities"]) > len(reply["identities"]) > 1
    assert len(calls) == 1
    reply = service.handle({"op": "identity", "identity_id": reply["identities"][0]["identity_id"]})
    assert len(calls) == 2


# ---------------------------------------------------------------------------------- HTTP

def test_candidates_over_http(linked, rpc, http):
    tid, _ = cross_linked(linked)
    code, body = http_get(f"{http}/api/candidates?tracklet_id={tid}&k=4")
    assert code == 200
    check_ranking(body, linked, 4)
    zmq_rows = rpc({"op": "candidates", "tracklet_id": tid, "k": 4})["candidates"]
    assert [{k: v for k, v in r.items() if k != "thumbnail_urls"} for r in body["candidates"]] == zmq_rows
    for r in body["candidates"]:
        assert len(r["thumbnail_urls"]) == len(r["tracklet_ids"])
        with urllib.request.urlopen(http + r["thumbnail_urls"][0], timeout=10) as resp:
            assert resp.headers["Content-Type"] == "image/jpeg" and resp.read()[:2] == b"\xff\xd8"
    assert body["thumbnail_url"].startswith("/api/thumbnail/")


@pytest.mark.parametrize("query, code, error", [
    ("tracklet_id=cam9:nobody:1", 404, "unknown tracklet"),
    ("tracklet_id=cam1:p000:v00&k=0", 400, "'k' must be an int in 1..100"),
    ("tracklet_id=cam1:p000:v00&k=many", 400, "'k' must be an int in 1..100"),
    ("k=3", 400, "missing field 'tracklet_id'"),
])
def test_candidates_http_errors_are_json_with_status(http, query, code, error):
    got, body = http_get(f"{http}/api/candidates?{query}")
    assert got == code and body["ok"] is False and error in body["error"]


def test_http_sightings_carry_why_and_network_the_transfer_in_use(linked, http):
    tid, _ = cross_linked(linked)
    code, body = http_get(f"{http}/api/tracklet/{tid}")
    assert code == 200 and any(s["why"] for s in body["sightings"])
    assert all("thumbnail_jpeg" not in s and s["thumbnail_url"] for s in body["sightings"])
    code, net = http_get(f"{http}/api/network")
    assert code == 200
    now = linked.core.transfer.pairs()
    for p in net["pairs"]:
        t = p["transfer"]
        prior = now[tuple(sorted((p["a"], p["b"])))]
        assert t["configured_s"] == pytest.approx(p["t_ij_s"]) == pytest.approx(TRANSFER_S[(p["a"], p["b"])])
        assert (t["source"], t["samples"]) == (prior.source, prior.samples)
        assert t["mean_s"] == pytest.approx(prior.mean_s, abs=1e-3) and t["std_s"] == pytest.approx(prior.std_s, abs=1e-3)
    assert {p["transfer"]["source"] for p in net["pairs"]} - {"configured"}, \
        "this world teaches the transfer model: some pair is no longer at its configured time"

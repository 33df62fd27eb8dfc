"""A store written by a real AssociatorCore over a seeded world, with the links users see decided.

The daemon's loop calls ``finalize`` once a second while tracklets arrive and then lets the event
clock follow the wall clock; this does the same with explicit clock values, so every link whose
context is complete is shown and final, without sleeping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tastr_stream.config import AppConfig, config_from_dict
from tastr_stream.pipeline.associator import AssociatorCore
from tastr_stream.store import Store

from ..associate.world import CAMERAS, TRANSFER_S, make_world
from .conftest import as_tracklet

# 30 people: enough impossible pairs (people seen at the same time) for cross links to be shown,
# and enough confident links that the transfer times move off the configured ones.
SEED, N_IDS = 3, 30


def linked_config(store_dir: Path) -> dict:
    return {
        "network": {"cameras": [{"id": c} for c in CAMERAS],
                    "paths": [{"a": a, "b": b, "transfer_s": t} for (a, b), t in TRANSFER_S.items()]},
        "associator": {"store_dir": str(store_dir),
                       "window": {"window_s": 100_000.0, "allowed_lateness_s": 80_000.0}},
        "ingest": {"embed": {"backbone": "tiny", "emb_dim": 16}},
        "trainer": {"backbone": "tiny", "emb_dim": 16},
    }


@dataclass
class LinkedWorld:
    config: AppConfig
    raw_config: dict
    store: Store
    core: AssociatorCore
    world: list


def build_linked_world(store_dir: Path) -> LinkedWorld:
    raw = linked_config(store_dir)
    cfg = config_from_dict(raw)
    world = sorted(make_world(seed=SEED, n_ids=N_IDS, emb_dim=16, noise=0.2), key=lambda m: m.t_end_s)
    store = Store.open(store_dir)
    core = AssociatorCore(cfg, store)
    for m in world:
        core.receive(as_tracklet(m))
        core.finalize()
    wall = time.monotonic()
    for step_s in range(0, 2000, 20):          # a quiet site: the event clock follows the wall clock
        core.finalize(wall_now_s=wall + step_s)
    return LinkedWorld(cfg, raw, store, core, world)

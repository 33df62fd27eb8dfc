"""A small rendered world shared by the daemon tests (rendered once per session)."""

from __future__ import annotations

import tomllib

import pytest

from tastr_stream.sim import ensure_world

SMALL = dict(cameras=3, people=10, distractors=2, minutes=0.5, resolution=(640, 360), seed=5,
             path_range_m=(12.0, 30.0))


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    return ensure_world(tmp_path_factory.mktemp("world") / "w", **SMALL, workers=2, progress=False)


def network_section(world_dir) -> dict:
    return tomllib.loads((world_dir / "network.toml").read_text())["network"]

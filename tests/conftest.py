"""Test-wide markers: ``slow`` runs only with TASTR_RUN_SLOW=1; ``gpu`` only with a CUDA device."""

from __future__ import annotations

import os
import tomllib

import pytest


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    run_slow = os.environ.get("TASTR_RUN_SLOW") == "1"
    has_gpu = None
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow test; set TASTR_RUN_SLOW=1 to run"))
        if "gpu" in item.keywords:
            if has_gpu is None:
                has_gpu = _cuda_available()
            if not has_gpu:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


# A small rendered world shared by the tracking and daemon tests (rendered once per session).
SMALL_WORLD = dict(cameras=3, people=10, distractors=2, minutes=0.5, resolution=(640, 360), seed=5,
                   path_range_m=(12.0, 30.0))


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    from tastr_stream.sim import ensure_world

    return ensure_world(tmp_path_factory.mktemp("world") / "w", **SMALL_WORLD, workers=2, progress=False)


def network_section(world_dir) -> dict:
    return tomllib.loads((world_dir / "network.toml").read_text())["network"]

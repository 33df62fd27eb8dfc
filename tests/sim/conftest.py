"""One tiny rendered world per test session: 3 cameras, 40 s, 320x180, short walkways.

The walkways are shortened (12-30 m instead of 40-250 m) so that people make it from one
camera to the next within 40 s and transfers can be checked.
"""

from __future__ import annotations

import pytest

from tastr_stream.sim import render_world

TINY = dict(cameras=3, people=10, distractors=3, minutes=40 / 60, resolution=(320, 180), seed=3,
            path_range_m=(12.0, 30.0))


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    return render_world(tmp_path_factory.mktemp("sim") / "world", **TINY, workers=2, progress=False)

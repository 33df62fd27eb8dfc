"""The camera network: cameras, walking paths between them and the STR prior's parameters.

The associator's spatio-temporal prior needs, for every camera pair, the mean transfer time
t_ij. Users know either the walking path length (metres, converted with the mean walking
speed) or a measured mean transfer time (seconds); a path gives exactly one of the two.
"""

from __future__ import annotations

import itertools
import re

from pydantic import Field, model_validator

from .base import Section

CAMERA_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,31}$"


class Camera(Section):
    """One camera. ``id`` is what every record and metric label carries (e.g. ``cam3``)."""

    id: str = Field(pattern=CAMERA_ID_PATTERN)
    name: str = ""
    source: str = Field(default="", description="file path or rtsp/tcp/udp URL; the CLI may override")
    position_m: tuple[float, float] | None = Field(default=None, description="site-map position, metres")


class Path(Section):
    """A walking path between two cameras, symmetric."""

    a: str = Field(pattern=CAMERA_ID_PATTERN)
    b: str = Field(pattern=CAMERA_ID_PATTERN)
    length_m: float | None = Field(default=None, gt=0, le=100_000)
    transfer_s: float | None = Field(default=None, gt=0, le=86_400)

    @model_validator(mode="after")
    def _exactly_one_measure(self) -> "Path":
        if (self.length_m is None) == (self.transfer_s is None):
            raise ValueError(
                f"path {self.a}-{self.b}: give exactly one of length_m or transfer_s "
                f"(got length_m={self.length_m}, transfer_s={self.transfer_s})"
            )
        if self.a == self.b:
            raise ValueError(f"path {self.a}-{self.b}: a path joins two different cameras")
        return self


class Network(Section):
    """Cameras plus a path for every unordered camera pair."""

    name: str = "network"
    walking_speed_mps: float = Field(default=1.25, gt=0.1, le=5.0)
    cameras: list[Camera] = Field(min_length=1, max_length=256)
    paths: list[Path] = Field(default_factory=list)

    @model_validator(mode="after")
    def _paths_cover_all_pairs(self) -> "Network":
        ids = [c.id for c in self.cameras]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate camera id(s): {dupes}")
        known = set(ids)
        seen: set[frozenset[str]] = set()
        for p in self.paths:
            for end in (p.a, p.b):
                if end not in known:
                    raise ValueError(f"path {p.a}-{p.b} names unknown camera {end!r}; cameras are {ids}")
            key = frozenset((p.a, p.b))
            if key in seen:
                raise ValueError(f"path {p.a}-{p.b} is given twice")
            seen.add(key)
        for a, b in itertools.combinations(ids, 2):
            if frozenset((a, b)) not in seen:
                raise ValueError(f"no path between cameras {a!r} and {b!r}; every camera pair needs one")
        return self

    @property
    def camera_ids(self) -> list[str]:
        return [c.id for c in self.cameras]

    def camera(self, camera_id: str) -> Camera:
        for c in self.cameras:
            if c.id == camera_id:
                return c
        raise KeyError(f"unknown camera {camera_id!r}; cameras are {self.camera_ids}")

    def mean_transfer_s(self, a: str, b: str) -> float:
        """Mean transfer time t_ab in seconds (path length / walking speed, or as measured)."""
        for p in self.paths:
            if {p.a, p.b} == {a, b}:
                if p.transfer_s is not None:
                    return p.transfer_s
                return p.length_m / self.walking_speed_mps
        raise KeyError(f"no path between {a!r} and {b!r}")

    def transfer_matrix_s(self) -> dict[tuple[str, str], float]:
        """t_ij for every ordered pair of distinct cameras."""
        ids = self.camera_ids
        return {(a, b): self.mean_transfer_s(a, b) for a in ids for b in ids if a != b}


def natural_camera_key(camera_id: str) -> tuple[str, int]:
    """Sort ``cam2`` before ``cam10``."""
    m = re.match(r"^(.*?)(\d+)$", camera_id)
    return (m.group(1), int(m.group(2))) if m else (camera_id, -1)

"""Which side of its picture a camera's people leave by towards each other camera (and enter by).

Walkways meet a camera's view at its sides: whoever walks from camera a to camera b leaves a's
picture on the side facing b and enters b's picture on the side facing a, and the way back uses
the same sides. Multi-camera trackers for city traffic (the AI City "zones") use exactly this;
here it is learned without labels, per camera and other camera, from the confident links the
linker finds: how often a link between a and b (either way) left or entered a's picture on the
left or on the right. Once (a, b) has ``min_count`` links with a known side, a candidate that
leaves or enters a's picture on the side those links almost never used is penalised by the ratio
of the two sides' (smoothed) shares. An
end that did not touch a side of the picture (a track lost in the middle of the view) says
nothing and costs nothing.

The picture width is not on the wire; the rightmost box edge a camera's tracklets reach stands in
for it, so the model needs no per-camera configuration.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..config.associator import LearnedZones
from .records import TrackletMeta

SIDES = ("left", "right")


def picture_widths(tracklets: Iterable[TrackletMeta]) -> dict[str, float]:
    """Per camera, the rightmost box edge its tracklets reach (the picture's width, near enough)."""
    out: dict[str, float] = {}
    for t in tracklets:
        for box in (t.first_box_xyxy, t.last_box_xyxy):
            if box is not None:
                out[t.camera_id] = max(out.get(t.camera_id, 0.0), box[2])
    return out


class ZoneModel:
    def __init__(self, cfg: LearnedZones):
        self.cfg = cfg
        # (camera, the other camera) -> {"left": n, "right": n}: the side of camera's picture used
        self._counts: dict[tuple[str, str], dict[str, int]] = {}

    def observe(self, cam_a: str, side_out: str | None, cam_b: str, side_in: str | None) -> None:
        """One confident link a -> b: it left a's picture by ``side_out``, entered b's by ``side_in``."""
        for key, side in (((cam_a, cam_b), side_out), ((cam_b, cam_a), side_in)):
            if side in SIDES:
                counts = self._counts.setdefault(key, {s: 0 for s in SIDES})
                counts[side] += 1
                total = sum(counts.values())
                if total > self.cfg.max_samples:         # keep the most recent habits (halve old counts)
                    for s in SIDES:
                        counts[s] //= 2

    def _end_factor(self, key: tuple[str, str], side: str | None) -> float:
        counts = self._counts.get(key)
        if not self.cfg.enabled or side not in SIDES or counts is None or sum(counts.values()) < self.cfg.min_count:
            return 1.0
        share = {s: (counts[s] + 1.0) / (sum(counts.values()) + 2.0) for s in SIDES}
        return share[side] / max(share.values())

    def factor(self, cam_a: str, side_out: str | None, cam_b: str, side_in: str | None) -> float:
        """1 for the sides this pair's people use (or when unknown), less for the other side."""
        return self._end_factor((cam_a, cam_b), side_out) * self._end_factor((cam_b, cam_a), side_in)

    def pairs(self) -> dict[str, dict[str, int]]:
        """``"a>b"``: how often links between a and b used each side of a's picture."""
        return {f"{a}>{b}": dict(c) for (a, b), c in sorted(self._counts.items())}

    def to_json(self) -> dict:
        return self.pairs()

    def load_json(self, data) -> int:
        self._counts.clear()
        if not isinstance(data, dict):
            return 0
        for k, v in data.items():
            parts = k.split(">") if isinstance(k, str) else []
            if len(parts) == 2 and isinstance(v, dict):
                self._counts[(parts[0], parts[1])] = {s: int(v[s]) if isinstance(v.get(s), int) else 0 for s in SIDES}
        return len(self._counts)

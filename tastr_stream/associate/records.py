"""Records the association library takes and returns.

``TrackletMeta`` is what the associator needs of a tracklet (not its crops): id, camera,
event-time span, the tracklet feature and the model version that made it. Outputs are
frozen dataclasses whose float fields are computed by one shared code path in both the
batch reference and the incremental associator, so equal inputs give bit-equal outputs and
the two can be compared with ``==``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import TastrError


class AssociationError(TastrError):
    """An input to the associator is invalid (bad feature, unknown camera, mixed model versions)."""


@dataclass(frozen=True)
class TrackletMeta:
    """A tracklet as the associator sees it. ``feature`` is stored as read-only float32."""

    tracklet_id: str
    camera_id: str
    t_start_s: float
    t_end_s: float
    feature: np.ndarray = field(repr=False)
    model_version: int = 0
    # What the user-facing linker (``trusted``) also reads; NN-CCTA ignores them.
    n_crops: int = 1                                       # weight of the feature in a visit's mean
    first_box_xyxy: tuple[float, float, float, float] | None = None   # where the track began
    last_box_xyxy: tuple[float, float, float, float] | None = None    # ... and where it ended

    def __post_init__(self) -> None:
        if not isinstance(self.tracklet_id, str) or not self.tracklet_id:
            raise AssociationError(f"tracklet_id must be a non-empty string, got {self.tracklet_id!r}")
        if not isinstance(self.camera_id, str) or not self.camera_id:
            raise AssociationError(f"camera_id must be a non-empty string, got {self.camera_id!r}")
        ts, te = float(self.t_start_s), float(self.t_end_s)
        if not (np.isfinite(ts) and np.isfinite(te)) or te < ts:
            raise AssociationError(
                f"tracklet {self.tracklet_id}: need finite t_start_s <= t_end_s, got {ts}, {te}")
        feat = np.array(self.feature, dtype=np.float32, copy=True)
        if feat.ndim != 1 or feat.shape[0] == 0:
            raise AssociationError(f"tracklet {self.tracklet_id}: feature must be 1-D, got shape {feat.shape}")
        if not np.all(np.isfinite(feat)):
            raise AssociationError(f"tracklet {self.tracklet_id}: feature contains NaN or infinity")
        feat.setflags(write=False)
        object.__setattr__(self, "t_start_s", ts)
        object.__setattr__(self, "t_end_s", te)
        object.__setattr__(self, "feature", feat)
        object.__setattr__(self, "model_version", int(self.model_version))
        object.__setattr__(self, "n_crops", max(1, int(self.n_crops)))
        for name in ("first_box_xyxy", "last_box_xyxy"):
            box = getattr(self, name)
            if box is not None:
                box = tuple(float(v) for v in box)
                if len(box) != 4 or not all(np.isfinite(box)):
                    raise AssociationError(f"tracklet {self.tracklet_id}: {name} must be 4 finite numbers, got {box}")
                object.__setattr__(self, name, box)


@dataclass(frozen=True)
class Match:
    """The top-1 of a query tracklet in another camera under D_joint."""

    tracklet_id: str
    feature_distance: float
    joint_distance: float
    r: float


@dataclass(frozen=True, order=True)
class AssociatedPair:
    """An accepted cross-camera link. ``camera_a < camera_b``; ``tracklet_a`` is in ``camera_a``."""

    tracklet_a: str
    tracklet_b: str
    camera_a: str
    camera_b: str
    feature_distance: float
    joint_distance: float
    r: float

    @property
    def key(self) -> tuple[str, str]:
        return (self.tracklet_a, self.tracklet_b)


@dataclass(frozen=True, order=True)
class Relink:
    """Two fragments of one track in one camera: ``tracklet_after`` starts ``gap_s`` after ``tracklet_before`` ends."""

    tracklet_before: str
    tracklet_after: str
    camera_id: str
    gap_s: float
    feature_distance: float

    @property
    def key(self) -> tuple[str, str]:
        return (self.tracklet_before, self.tracklet_after)

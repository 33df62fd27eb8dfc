"""Ground-truth "detections" from the synthetic world, with controlled imperfections.

Experiments on tracking, tracklet building or association want detection quality as a knob, not
as a confound. The oracle returns the world's ground-truth boxes and keypoints for the frame it is
told, degraded on purpose. ``frame_index`` is the decoder's 0-based frame number (as every
detector receives it); the world's MOT-style ground truth numbers frames from 1, so frame
``frame_index`` is looked up as ground-truth frame ``frame_index + 1``.

- box noise: each coordinate moves by N(0, ``box_noise`` * box width or height), keypoints by the
  same amount, so noise scales with the person's apparent size;
- misses: each person in each frame is dropped with probability ``miss_rate``;
- fragmentation: per person, the timeline is cut into blocks of ``fragment_block_frames``; in each
  block a dropout of 1..``fragment_max_frames`` consecutive frames starts with probability
  ``fragment_rate``, which splits that person's track as an occlusion would.

Ground-truth keypoint flags (0 outside the frame, 1 hidden, 2 visible) become scores 0, 0.4, 1.

All randomness is drawn from generators seeded by (seed, person, frame or block), never from
call order, so two runs, or one run read in any order, degrade exactly the same detections.
The oracle ignores pixels: its coordinates are those of the ground truth (full resolution), so
it is not wrapped in a :class:`~.base.DownscaledDetector`.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, DatasetError
from ..wire.records import Detection

HIDDEN_KEYPOINT_SCORE = 0.4
# SeedSequence entropy tags, so the three draws of one (person, frame) are independent.
_NOISE, _MISS, _FRAGMENT = 1, 2, 3


@dataclass(frozen=True)
class OracleOptions:
    box_noise: float = 0.02
    miss_rate: float = 0.0
    fragment_rate: float = 0.0
    fragment_block_frames: int = 90
    fragment_max_frames: int = 30
    min_visibility: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("box_noise", "miss_rate", "fragment_rate", "min_visibility"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"oracle {name}={value}: must be within [0, 1]")
        if not 1 <= self.fragment_max_frames <= self.fragment_block_frames:
            raise ConfigError(f"oracle fragment_max_frames={self.fragment_max_frames} must be within "
                              f"1..fragment_block_frames={self.fragment_block_frames}")


def keypoint_scores_from_flags(flags: np.ndarray) -> np.ndarray:
    """COCO visibility flags -> detector-like scores: 2 (visible) 1.0, 1 (hidden) 0.4, 0 (outside) 0.

    A real detector still places hidden joints (the far arm, a face turned away) but with low
    confidence; 0.4 keeps them above the default ``min_keypoint_score`` (0.3) for the box, while
    a pose cost that weighs by score trusts them less than visible ones.
    """
    return np.select([flags >= 1.5, flags >= 0.5], [1.0, HIDDEN_KEYPOINT_SCORE], 0.0)


def _pid_key(pid: Any) -> int:
    return zlib.crc32(str(pid).encode("utf-8"))


class OracleDetector:
    """Degraded ground truth of one camera: ``{1-based gt frame: [GtBox, ...]}`` -> detections."""

    def __init__(self, gt_frames: Mapping[int, Sequence[Any]], options: OracleOptions = OracleOptions()) -> None:
        self._gt = gt_frames
        self.options = options

    def _rng(self, tag: int, pid: Any, step: int) -> np.random.Generator:
        return np.random.default_rng([self.options.seed & 0xFFFFFFFF, tag, _pid_key(pid), step])

    def _in_dropout(self, pid: Any, gt_frame: int) -> bool:
        """Whether a fragmentation run covers this frame (runs may spill into the next block)."""
        opts = self.options
        if opts.fragment_rate <= 0.0:
            return False
        block = gt_frame // opts.fragment_block_frames
        for b in (block - 1, block):
            if b < 0:
                continue
            rng = self._rng(_FRAGMENT, pid, b)
            if rng.random() >= opts.fragment_rate:
                continue
            start = b * opts.fragment_block_frames + int(rng.integers(0, opts.fragment_block_frames))
            length = int(rng.integers(1, opts.fragment_max_frames + 1))
            if start <= gt_frame < start + length:
                return True
        return False

    def _degrade(self, gt: Any, gt_frame: int, image_wh: tuple[int, int] | None) -> Detection | None:
        opts = self.options
        pid = gt.pid
        if float(gt.visibility) < opts.min_visibility:
            return None
        if opts.miss_rate > 0.0 and self._rng(_MISS, pid, gt_frame).random() < opts.miss_rate:
            return None
        if self._in_dropout(pid, gt_frame):
            return None
        box = np.asarray(gt.box_xyxy, dtype=np.float64).reshape(4)
        kps = np.asarray(gt.keypoints, dtype=np.float64).reshape(17, 3).copy()
        w, h = max(box[2] - box[0], 1.0), max(box[3] - box[1], 1.0)
        if opts.box_noise > 0.0:
            rng = self._rng(_NOISE, pid, gt_frame)
            sigma = opts.box_noise * np.array([w, h, w, h])
            box = box + rng.normal(0.0, 1.0, 4) * sigma
            kps[:, :2] += rng.normal(0.0, 1.0, (17, 2)) * opts.box_noise * np.array([w, h])
        box = np.array([min(box[0], box[2]), min(box[1], box[3]), max(box[0], box[2]), max(box[1], box[3])])
        if image_wh is not None:
            box = np.clip(box, 0, [image_wh[0], image_wh[1], image_wh[0], image_wh[1]])
            if box[2] - box[0] < 1.0 or box[3] - box[1] < 1.0:
                return None
        kps[:, 2] = keypoint_scores_from_flags(kps[:, 2])
        score = float(np.clip(gt.visibility, 0.0, 1.0))
        return Detection(box_xyxy=box, keypoints=kps, score=score)

    def detect(self, image_bgr: np.ndarray | None = None, *, frame_index: int | None = None) -> list[Detection]:
        """Detections of 0-based frame ``frame_index``; ``image_bgr`` (optional) only bounds the boxes."""
        if frame_index is None or isinstance(frame_index, bool) or int(frame_index) < 0:
            raise DatasetError(f"oracle detector needs the decoder's frame_index >= 0, got {frame_index!r}")
        gt_frame = int(frame_index) + 1
        image_wh = None
        if image_bgr is not None:
            image_wh = (int(image_bgr.shape[1]), int(image_bgr.shape[0]))
        out = []
        for gt in self._gt.get(gt_frame, ()):
            det = self._degrade(gt, gt_frame, image_wh)
            if det is not None:
                out.append(det)
        return out

"""Online per-camera tracking: stateless Kalman motion, pose (OKS) + IoU cost, Hungarian assignment."""

from .tracker import PoseTracker, TrackerStep

__all__ = ["PoseTracker", "TrackerStep"]

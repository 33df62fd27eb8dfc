"""The synthetic camera world: a seeded multi-camera site with walking people, rendered to
H.264 videos with per-frame ground truth (boxes, visibility, COCO keypoints, identities).

``render_world`` renders one; ``ensure_world`` reuses a cached one rendered with the same
settings. Read a world back with :class:`tastr_stream.datasets.synthetic.SyntheticWorld`.
Rendering uses a spawn-based process pool: scripts that call it need the usual
``if __name__ == "__main__":`` guard.
"""

from .world import MAX_RESOLUTION, WorldSpec, ensure_world, render_world

__all__ = ["MAX_RESOLUTION", "WorldSpec", "ensure_world", "render_world"]

"""Write a rendered world's ground truth in the on-disk layout other engineers code against.

Visits and transfers are derived from the per-frame rows (what a camera actually shows), not
from the plan: a visit is a run of consecutive frames in which some of the person is inside
the frame, and a transfer is a person's move from one camera's visit to the next visit in a
different camera. Frame f (1-based) is at t = (f - 1) / fps.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from .render import CameraGt


def write_camera_gt(gt_dir: Path, gt: CameraGt) -> None:
    order = np.lexsort((gt.rows[:, 1], gt.rows[:, 0])) if len(gt.rows) else np.zeros(0, int)
    rows, kps = gt.rows[order], gt.keypoints[order]
    fmt = ["%d", "%d", "%.2f", "%.2f", "%.2f", "%.2f", "%.4f", "%d", "%d", "%d"]
    np.savetxt(gt_dir / f"{gt.camera_id}.txt", rows, fmt=fmt, delimiter=",")
    np.savetxt(gt_dir / f"{gt.camera_id}_keypoints.txt", kps, fmt=["%d", "%d"] + ["%.2f", "%.2f", "%d"] * 17,
               delimiter=",")


def visits_from_gt(gts: list[CameraGt], fps: int) -> list[dict]:
    """One row per continuous appearance, sorted by pid then time."""
    out = []
    for gt in gts:
        by_pid: dict[int, list[int]] = defaultdict(list)
        for frame, pid in gt.rows[:, :2].astype(int):
            by_pid[int(pid)].append(int(frame))
        for pid, frames in by_pid.items():
            f = np.unique(frames)
            breaks = np.flatnonzero(np.diff(f) > 1)
            for s, e in zip(np.r_[0, breaks + 1], np.r_[breaks, len(f) - 1]):
                out.append({"pid": pid, "camera_id": gt.camera_id, "t_enter_s": (f[s] - 1) / fps,
                            "t_exit_s": (f[e] - 1) / fps, "first_frame": int(f[s]), "last_frame": int(f[e])})
    out.sort(key=lambda v: (v["pid"], v["first_frame"], v["camera_id"]))
    return out


def transfers_from_visits(visits: list[dict]) -> list[dict]:
    by_pid: dict[int, list[dict]] = defaultdict(list)
    for v in visits:
        by_pid[v["pid"]].append(v)
    out = []
    for pid, vs in sorted(by_pid.items()):
        vs.sort(key=lambda v: v["t_enter_s"])
        for a, b in zip(vs, vs[1:]):
            if a["camera_id"] != b["camera_id"]:
                out.append({"pid": pid, "from_camera": a["camera_id"], "to_camera": b["camera_id"],
                            "t_exit_s": a["t_exit_s"], "t_enter_s": b["t_enter_s"]})
    return out


def transfer_stats(transfers: list[dict]) -> dict[str, dict]:
    """Observed exit->enter times per ordered camera pair (pairs never observed are absent)."""
    times: dict[str, list[float]] = defaultdict(list)
    for t in transfers:
        times[f"{t['from_camera']}->{t['to_camera']}"].append(t["t_enter_s"] - t["t_exit_s"])
    return {k: {"mean_s": round(float(np.mean(v)), 3), "std_s": round(float(np.std(v)), 3), "count": len(v)}
            for k, v in sorted(times.items())}


def write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{r[k]:.4f}" if isinstance(r[k], float) else r[k]) for k in header})


def network_toml(name: str, speed_mps: float, cameras: list[dict], paths: list[dict], note: str | None = None) -> str:
    """``[network]`` fragment; camera sources are relative to the world folder; ``note``: a comment line."""
    lines = ["# Camera network of a synthetic world; `source` paths are relative to this folder.",
             *([f"# {note}"] if note else []), "[network]", f'name = "{name}"', f"walking_speed_mps = {speed_mps}", ""]
    for c in cameras:
        x, y = c["position_m"]
        lines += ["[[network.cameras]]", f'id = "{c["id"]}"', f'source = "videos/{c["id"]}.mp4"',
                  f"position_m = [{x}, {y}]", ""]
    for p in paths:
        lines += ["[[network.paths]]", f'a = "{p["a"]}"', f'b = "{p["b"]}"', f"length_m = {p['length_m']}", ""]
    return "\n".join(lines)


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)

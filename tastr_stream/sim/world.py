"""Render a whole synthetic world to disk, or reuse one already rendered with the same settings.

A world is rendered into a sibling temporary folder and moved into place only when complete,
with ``world.json`` written last, so a crashed render is never mistaken for a finished world.
``world.json`` records a hash of the settings; :func:`ensure_world` reuses a folder whose hash
matches. Cameras render in parallel processes (one job per camera), each with its own encoder.
``network.toml`` holds the path lengths as configured (off from the truth when ``path_error`` is
set) and ``network_true.toml`` the true ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from queue import Empty

from ..errors import ConfigError, DatasetError
from . import files
from .plan import DETOUR_MEAN_S, SPEED_MEAN_MPS, SPEED_RANGE_MPS, SPEED_STD_MPS, WorldPlan, plan_world
from .render import CameraGt, CameraJob, render_camera

log = logging.getLogger(__name__)

FORMAT, VERSION = "tastr-synthetic-world", 1
RENDERER_VERSION = 2     # bump when the drawing or the plan changes, to invalidate cached worlds (2: optics, faces)
MAX_RESOLUTION = (3840, 2160)


# Realism options added after renderer version 2. At their defaults they are left out of the
# hash and of world.json's "args", so a default world hashes, draws and writes exactly as before.
_LATER_FIELDS = ("speed_std_mps", "speed_range_mps", "detour_prob", "detour_mean_s", "path_error",
                 "path_error_fraction")


def _pair(name: str, value) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a pair [min, max], got {name}={value!r}") from None
    return lo, hi


@dataclass(frozen=True)
class WorldSpec:
    """Everything that determines a world's content (and so its cache hash).

    Realism about time (all off by default): walking speeds spread by ``speed_std_mps`` and
    clipped to ``speed_range_mps`` around the mean 1.35 m/s; each hop between cameras has a
    ``detour_prob`` chance of an extra exponential stop of mean ``detour_mean_s``; the configured
    path lengths (``network.toml``) of a share ``path_error_fraction`` of the camera pairs are off
    from the truth by up to +-``path_error`` (0.3: 30 %).
    """

    cameras: int = 6
    people: int = 60
    distractors: int | None = None      # None: people // 6
    minutes: float = 5.0
    resolution: tuple[int, int] = (640, 360)
    seed: int = 0
    fps: int = 30
    path_range_m: tuple[float, float] = (40.0, 250.0)
    speed_std_mps: float = SPEED_STD_MPS
    speed_range_mps: tuple[float, float] = SPEED_RANGE_MPS
    detour_prob: float = 0.0
    detour_mean_s: float = DETOUR_MEAN_S
    path_error: float = 0.0
    path_error_fraction: float = 0.5

    def validated(self) -> "WorldSpec":
        w, h = self.resolution
        if self.cameras < 2:
            raise ConfigError(f"a network needs at least 2 cameras, got cameras={self.cameras}")
        if self.cameras > 64:
            raise ConfigError(f"at most 64 cameras, got cameras={self.cameras}")
        if not (0 < w <= MAX_RESOLUTION[0] and 0 < h <= MAX_RESOLUTION[1]):
            raise ConfigError(f"resolution {w}x{h} must be at most {MAX_RESOLUTION[0]}x{MAX_RESOLUTION[1]}")
        if w < 64 or h < 64 or w % 2 or h % 2:
            raise ConfigError(f"resolution {w}x{h} must be even and at least 64x64 (H.264 yuv420p)")
        if self.people < 0 or (self.distractors is not None and self.distractors < 0):
            raise ConfigError(f"people and distractors must be >= 0, got {self.people}, {self.distractors}")
        if not (0 < self.minutes <= 24 * 60):
            raise ConfigError(f"minutes must be in (0, 1440], got {self.minutes}")
        if not (1 <= self.fps <= 120):
            raise ConfigError(f"fps must be in [1, 120], got {self.fps}")
        lo, hi = _pair("path_range_m", self.path_range_m)
        if not (0 < lo < hi <= 100_000):
            raise ConfigError(f"path range must satisfy 0 < min < max, got {self.path_range_m}")
        self._check_realism()
        dist = self.people // 6 if self.distractors is None else self.distractors
        return replace(self, distractors=dist, minutes=float(self.minutes), resolution=(int(w), int(h)),
                       seed=int(self.seed), fps=int(self.fps), path_range_m=(float(lo), float(hi)),
                       speed_std_mps=float(self.speed_std_mps),
                       speed_range_mps=_pair("speed_range_mps", self.speed_range_mps),
                       detour_prob=float(self.detour_prob), detour_mean_s=float(self.detour_mean_s),
                       path_error=float(self.path_error), path_error_fraction=float(self.path_error_fraction))

    def _check_realism(self) -> None:
        checks = [
            ("speed_std_mps", self.speed_std_mps, lambda v: 0 <= v <= 1.0, "in [0, 1]"),
            ("detour_prob", self.detour_prob, lambda v: 0 <= v <= 1, "in [0, 1]"),
            ("detour_mean_s", self.detour_mean_s, lambda v: 0 < v <= 3600, "in (0, 3600]"),
            ("path_error", self.path_error, lambda v: 0 <= v <= 0.9, "in [0, 0.9]"),
            ("path_error_fraction", self.path_error_fraction, lambda v: 0 <= v <= 1, "in [0, 1]"),
        ]
        for name, value, ok, bounds in checks:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
                raise ConfigError(f"{name} must be a number {bounds}, got {name}={value!r}")
        lo, hi = _pair("speed_range_mps", self.speed_range_mps)
        if not (0 < lo <= SPEED_MEAN_MPS <= hi <= 4.0):
            raise ConfigError(f"speed_range_mps must satisfy 0 < min <= {SPEED_MEAN_MPS} (the mean walking speed) "
                              f"<= max <= 4, got speed_range_mps={self.speed_range_mps!r}")

    @property
    def duration_s(self) -> float:
        return self.minutes * 60.0

    @property
    def num_frames(self) -> int:
        return int(round(self.duration_s * self.fps))

    def settings(self) -> dict:
        """The spec as a dict (world.json's "args", hashed); the later realism options appear only
        when one of them is away from its default, and then all of them."""
        data = asdict(self)
        defaults = {f.name: f.default for f in fields(self) if f.name in _LATER_FIELDS}
        if all((tuple(data[k]) if isinstance(data[k], list) else data[k]) == v for k, v in defaults.items()):
            for k in defaults:
                del data[k]
        return data

    def args_hash(self) -> str:
        data = json.dumps({"spec": self.settings(), "renderer": RENDERER_VERSION}, sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:16]


def _world_json(spec: WorldSpec, plan: WorldPlan, stats: dict) -> dict:
    """world.json; keys for the realism options appear only when they are on (defaults: as before)."""
    lay = plan.layout
    ids = lay.camera_ids
    paths = []
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            path = {"a": ids[i], "b": ids[j], "length_m": float(lay.path_length_m[i, j])}
            if spec.path_error:
                path["configured_length_m"] = float(plan.configured_length_m[i, j])
            paths.append(path)
    people = []
    for p in plan.people:
        person = {"pid": p.pid, "kind": p.kind, "height_m": p.height_m, "speed_mps": p.speed_mps,
                  "appearance": p.appearance.to_json(), "route": [ids[c] for c in p.route]}
        if spec.detour_prob:
            person["detours_s"] = list(p.detours_s)
        people.append(person)
    return {
        "format": FORMAT, "version": VERSION, "seed": spec.seed, "fps": spec.fps, "resolution": list(spec.resolution),
        "duration_s": spec.duration_s, "num_frames": spec.num_frames, "walking_speed_mps": SPEED_MEAN_MPS,
        "args": spec.settings(), "args_hash": spec.args_hash(), "renderer_version": RENDERER_VERSION,
        "cameras": [{"id": c, "position_m": [float(x) for x in lay.positions_m[i]],
                     "walkways_to": [ids[j] for j in lay.neighbours[i]]} for i, c in enumerate(ids)],
        "paths": paths,
        "people": people,
        "transfer_stats": stats,
    }


def _network_toml(spec: WorldSpec, meta: dict, *, true: bool) -> str:
    """network.toml (configured path lengths) or network_true.toml (true ones)."""
    paths = meta["paths"] if true else [p | {"length_m": p.get("configured_length_m", p["length_m"])}
                                        for p in meta["paths"]]
    if true:
        note = "True path lengths (what people walk)."
    elif spec.path_error:
        note = (f"Path lengths as configured: {spec.path_error_fraction:.0%} of the pairs are off from the truth "
                f"by up to +-{spec.path_error:.0%}; network_true.toml holds the true ones.")
    else:
        note = None
    return files.network_toml(f"synthetic-seed{spec.seed}", SPEED_MEAN_MPS, meta["cameras"], paths, note)


def _jobs(spec: WorldSpec, plan: WorldPlan, video_dir: Path | None, threads: int) -> list[CameraJob]:
    people = {p.pid: p for p in plan.people}
    jobs = []
    for i, view in enumerate(plan.views):
        visits = tuple((v, people[v.pid]) for v in plan.visits if v.camera == i)
        path = str(video_dir / f"{view.camera_id}.mp4") if video_dir else None
        jobs.append(CameraJob(view, spec.resolution, spec.fps, spec.num_frames, visits, path, threads=threads))
    return jobs


def _render_job(job: CameraJob, queue) -> CameraGt:
    return render_camera(job, progress=queue.put if queue is not None else None)


def _run_jobs(jobs: list[CameraJob], workers: int, progress: bool) -> list[CameraGt]:
    from tqdm import tqdm

    total = sum(j.num_frames for j in jobs)
    with tqdm(total=total, unit="frame", desc="render", disable=not progress, leave=False) as bar:
        if workers <= 1:
            return [render_camera(j, progress=bar.update) for j in jobs]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Manager() as manager, ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            queue = manager.Queue() if progress else None
            futures = [pool.submit(_render_job, j, queue) for j in jobs]
            while queue is not None and not all(f.done() for f in futures):
                try:
                    bar.update(queue.get(timeout=0.2))
                except Empty:
                    continue
            return [f.result() for f in futures]


def _is_world(path: Path) -> dict | None:
    try:
        meta = json.loads((path / "world.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else None


def render_world(out_dir: str | os.PathLike, *, cameras: int = 6, people: int = 60, minutes: float = 5.0,
                 resolution: tuple[int, int] = (640, 360), seed: int = 0, distractors: int | None = None,
                 fps: int = 30, path_range_m: tuple[float, float] = (40.0, 250.0),
                 speed_std_mps: float = SPEED_STD_MPS, speed_range_mps: tuple[float, float] = SPEED_RANGE_MPS,
                 detour_prob: float = 0.0, detour_mean_s: float = DETOUR_MEAN_S, path_error: float = 0.0,
                 path_error_fraction: float = 0.5, workers: int | None = None, video: bool = True,
                 progress: bool = True) -> Path:
    """Render a world into ``out_dir`` (replacing a previous world there) and return its path.

    ``video=False`` writes everything except the videos (ground truth only; fast, for tests).
    The realism options are the :class:`WorldSpec` fields of the same names.
    """
    spec = WorldSpec(cameras=cameras, people=people, distractors=distractors, minutes=minutes,
                     resolution=tuple(resolution), seed=seed, fps=fps, path_range_m=tuple(path_range_m),
                     speed_std_mps=speed_std_mps, speed_range_mps=tuple(speed_range_mps), detour_prob=detour_prob,
                     detour_mean_s=detour_mean_s, path_error=path_error,
                     path_error_fraction=path_error_fraction).validated()
    out = Path(out_dir).absolute()
    if out.exists() and _is_world(out) is None and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out} exists and is not a synthetic world; refusing to replace it")
    plan = plan_world(cameras=spec.cameras, people=spec.people, distractors=spec.distractors,
                      duration_s=spec.duration_s, aspect=spec.resolution[0] / spec.resolution[1], seed=spec.seed,
                      path_range_m=spec.path_range_m, speed_std_mps=spec.speed_std_mps,
                      speed_range_mps=spec.speed_range_mps, detour_prob=spec.detour_prob,
                      detour_mean_s=spec.detour_mean_s, path_error=spec.path_error,
                      path_error_fraction=spec.path_error_fraction)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "gt").mkdir(parents=True)
    (tmp / "videos").mkdir()
    try:
        workers = workers or min(spec.cameras, os.cpu_count() or 1)
        threads = max(1, (os.cpu_count() or 1) // workers)
        log.info("rendering synthetic world", extra={"kv": {"dir": out, "hash": spec.args_hash(), "workers": workers}})
        gts = _run_jobs(_jobs(spec, plan, tmp / "videos" if video else None, threads), workers, progress)
        for gt in gts:
            files.write_camera_gt(tmp / "gt", gt)
        visits = files.visits_from_gt(gts, spec.fps)
        transfers = files.transfers_from_visits(visits)
        files.write_csv(tmp / "gt" / "visits.csv",
                        ["pid", "camera_id", "t_enter_s", "t_exit_s", "first_frame", "last_frame"], visits)
        files.write_csv(tmp / "gt" / "transfers.csv", ["pid", "from_camera", "to_camera", "t_exit_s", "t_enter_s"],
                        transfers)
        meta = _world_json(spec, plan, files.transfer_stats(transfers))
        (tmp / "network.toml").write_text(_network_toml(spec, meta, true=False))
        (tmp / "network_true.toml").write_text(_network_toml(spec, meta, true=True))
        files.write_json_atomic(tmp / "world.json", meta)   # completion mark
        _install(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _install(tmp: Path, out: Path) -> None:
    """Swap the finished render into place; the old world (if any) is removed afterwards."""
    old = out.with_name(f"{out.name}.old-{os.getpid()}")
    if out.exists():
        out.rename(old)
    try:
        tmp.rename(out)
    except OSError:
        if old.exists() and not out.exists():
            old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def ensure_world(out_dir: str | os.PathLike, *, force: bool = False, **settings) -> Path:
    """Return ``out_dir`` holding the world for ``settings``, rendering only when needed."""
    spec = WorldSpec(**{k: v for k, v in settings.items() if k in WorldSpec.__dataclass_fields__}).validated()
    meta = _is_world(Path(out_dir))
    if not force and meta is not None and meta.get("args_hash") == spec.args_hash() and _has_videos(out_dir, meta, settings):
        log.info("reusing synthetic world", extra={"kv": {"dir": out_dir, "hash": spec.args_hash()}})
        if not (Path(out_dir) / "network_true.toml").is_file():   # cached before network_true.toml existed
            (Path(out_dir) / "network_true.toml").write_text(_network_toml(spec, meta, true=True))
        return Path(out_dir).absolute()
    return render_world(out_dir, **settings)


def _has_videos(out_dir, meta: dict, settings: dict) -> bool:
    if not settings.get("video", True):
        return True
    return all((Path(out_dir) / "videos" / f"{c['id']}.mp4").is_file() for c in meta.get("cameras", []))

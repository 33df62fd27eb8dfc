"""``tastr-stream sim``: render (or reuse) a synthetic multi-camera world with ground truth."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import ConfigError
from ..sim.world import MAX_RESOLUTION, WorldSpec, render_world


def parse_resolution(text: str) -> tuple[int, int]:
    """``"640x360"`` -> (640, 360), with an error that shows the offending string."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(f"resolution {text!r} must look like WIDTHxHEIGHT, e.g. 640x360")
    w, h = int(parts[0]), int(parts[1])
    if w > MAX_RESOLUTION[0] or h > MAX_RESOLUTION[1]:
        raise ConfigError(f"resolution {text!r} exceeds the maximum {MAX_RESOLUTION[0]}x{MAX_RESOLUTION[1]}")
    return w, h


def parse_range(text: str, what: str = "path range", unit: str = "metres") -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"{what} {text!r} must look like MIN,MAX in {unit}, e.g. 40,250") from None
    return lo, hi


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="render a synthetic camera world (videos + ground truth)",
                       description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="output folder (rendered into OUT.tmp-PID, then moved)")
    p.add_argument("--cameras", type=int, default=6)
    p.add_argument("--people", type=int, default=60, help="walkers seen in 2-4 cameras")
    p.add_argument("--distractors", type=int, default=None, help="people seen in one camera only (default people/6)")
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--resolution", default="640x360", help="WIDTHxHEIGHT, up to 3840x2160")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--path-range", default="40,250", help="walking path lengths MIN,MAX in metres")
    # Realism about time (off by default; see configs/world_quality.toml for a realistic set).
    p.add_argument("--speed-std", type=float, default=None, help="walking speed spread, m/s (default 0.08)")
    p.add_argument("--speed-range", default=None, help="walking speeds MIN,MAX in m/s (default 1.2,1.5)")
    p.add_argument("--detour-prob", type=float, default=None, help="share of hops with a stop or detour")
    p.add_argument("--detour-mean", type=float, default=None, help="mean extra time of a detour, seconds")
    p.add_argument("--path-error", type=float, default=None,
                   help="configured path lengths off by up to this share (0.3 = 30 %%) on some pairs")
    p.add_argument("--path-error-fraction", type=float, default=None, help="share of camera pairs with that error")
    p.add_argument("--workers", type=int, default=None, help="render processes (default: one per core)")
    p.add_argument("--no-video", action="store_true", help="ground truth only (fast)")
    p.add_argument("--force", action="store_true", help="re-render even if OUT holds this world")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = dict(cameras=args.cameras, people=args.people, distractors=args.distractors, minutes=args.minutes,
                    resolution=parse_resolution(args.resolution), seed=args.seed, fps=args.fps,
                    path_range_m=parse_range(args.path_range))
    realism = {"speed_std_mps": args.speed_std, "detour_prob": args.detour_prob, "detour_mean_s": args.detour_mean,
               "path_error": args.path_error, "path_error_fraction": args.path_error_fraction,
               "speed_range_mps": None if args.speed_range is None else parse_range(args.speed_range, "speed range", "m/s")}
    settings.update({k: v for k, v in realism.items() if v is not None})
    spec = WorldSpec(**settings).validated()
    out = Path(args.out)
    meta = _finished_world(out)
    if meta is not None and not args.force:
        if meta.get("args_hash") == spec.args_hash() and (args.no_video or (out / "videos").is_dir()):
            print(f"reusing the finished world in {out} (same settings, hash {spec.args_hash()}); "
                  f"--force re-renders", file=sys.stderr)
            return 0
        raise ConfigError(f"{out} holds a world with other settings (hash {meta.get('args_hash')}, "
                          f"wanted {spec.args_hash()}); pass --force to replace it")
    path = render_world(out, **settings, workers=args.workers, video=not args.no_video,
                        progress=sys.stderr.isatty())
    print(f"wrote synthetic world to {path}", file=sys.stderr)
    return 0


def _finished_world(out: Path) -> dict | None:
    try:
        meta = json.loads((out / "world.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None

"""Which dataset a folder holds, and the experiment (train / query / gallery / network) it gives.

Kinds, recognised by layout:
- ``synthetic``: a rendered world (``world.json``); crops by oracle tracking, see ``world_crops``;
- ``campus4k``: ``tracklet/``, ``query/``, ``gallery/`` (optionally under ``campus4k/``);
- ``market``: Market-1501 / DukeMTMC-reID style (``bounding_box_test/`` + ``query/``); every
  crop is a one-image tracklet; no camera network, so it can be evaluated but not trained on;
- ``toy``: a TOML file with a ``[toy_world]`` table (``train/toyset.py``), e.g. the fixed-seed
  world in ``configs/`` that the Table IV direction test runs on;
- ``world-spec``: a TOML file with a ``[synthetic_world]`` table (the ``sim.WorldSpec`` fields):
  the world is rendered once into a cache folder (reused while the spec is unchanged) and then
  read as ``synthetic``. This is how a fixed-seed rendered world is checked into ``configs/``
  without checking in its videos.

A spec TOML may also carry ``[trainer]`` and ``[association]`` tables: the settings an experiment
on it was designed for (see :func:`experiment_settings`).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from ..errors import DatasetError
from .data import LazyImages, TrainTracklet, from_campus4k, from_campus4k_labelled
from .evaluation import ExperimentData

KINDS = ("synthetic", "campus4k", "market", "toy", "world-spec")
WORLD_CACHE_ENV = "TASTR_WORLD_CACHE"
DEFAULT_WORLD_CACHE = Path(".cache") / "worlds"


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read dataset spec: {exc}") from exc


def detect_kind(path: str | os.PathLike) -> str:
    p = Path(path)
    if p.suffix == ".toml":
        if not p.is_file():
            raise DatasetError(f"{p}: dataset spec file not found")
        return "world-spec" if "synthetic_world" in _read_toml(p) else "toy"
    if not p.is_dir():
        raise DatasetError(f"{p}: dataset folder not found")
    if (p / "world.json").is_file():
        return "synthetic"
    base = p / "campus4k" if (p / "campus4k").is_dir() else p
    if any((base / d).is_dir() for d in ("tracklet", "query", "gallery")) and not (p / "bounding_box_test").is_dir():
        return "campus4k"
    if (p / "bounding_box_test").is_dir() and (p / "query").is_dir():
        return "market"
    raise DatasetError(f"{p}: unknown dataset layout: expected world.json (synthetic world), tracklet/ + "
                       f"query/ + gallery/ (Campus-4K) or bounding_box_test/ + query/ (Market/Duke style)")


def _market(root: Path) -> ExperimentData:
    from ..datasets.market import read_split_dir

    def as_tracklets(folder: str) -> list[TrainTracklet]:
        out = []
        for r in read_split_dir(root / folder):
            t_s = r.frame / 25.0            # Market frames are 25 fps; time is unused for evaluation
            out.append(TrainTracklet(f"{folder}:{r.path.name}", r.camera_id, t_s, t_s, LazyImages([r.path]), r.pid))
        return out

    return ExperimentData(train=[], query=as_tracklets("query"), gallery=as_tracklets("bounding_box_test"),
                          network=None, name=f"market:{root.name}")


def _toy(path: Path) -> ExperimentData:
    from .toyset import ToyWorldSpec, make_toy_world

    table = _read_toml(path).get("toy_world")
    if not isinstance(table, dict):
        raise DatasetError(f"{path}: no [toy_world] table")
    fields = ToyWorldSpec.__dataclass_fields__
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise DatasetError(f"{path}: unknown [toy_world] key(s) {unknown}; known: {sorted(fields)}")
    spec = ToyWorldSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in table.items()})
    return make_toy_world(spec)


def world_spec_settings(path: str | os.PathLike) -> dict:
    """The ``[synthetic_world]`` table of a spec TOML as ``sim.WorldSpec`` keyword arguments.

    TOML arrays become tuples (``resolution``, ``path_range_m``, ``speed_range_mps``); a key that
    is not a ``WorldSpec`` field raises DatasetError listing the known ones.
    """
    from ..sim.world import WorldSpec

    p = Path(path)
    table = _read_toml(p).get("synthetic_world")
    if not isinstance(table, dict):
        raise DatasetError(f"{p}: no [synthetic_world] table")
    fields = set(WorldSpec.__dataclass_fields__)
    unknown = sorted(set(table) - fields)
    if unknown:
        raise DatasetError(f"{p}: unknown [synthetic_world] key(s) {unknown}; known: {sorted(fields)}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}


def render_world_spec(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """Render (or reuse) the world a ``[synthetic_world]`` spec describes; returns its folder.

    The folder is ``<cache>/<spec file stem>`` with ``<cache>`` from ``cache_dir``, else
    ``$TASTR_WORLD_CACHE``, else ``.cache/worlds``; ``sim.ensure_world`` re-renders only when the
    spec (or the renderer version) changed.
    """
    from ..sim.world import ensure_world

    p = Path(path)
    settings = world_spec_settings(p)
    cache = Path(cache_dir or os.environ.get(WORLD_CACHE_ENV) or DEFAULT_WORLD_CACHE)
    return ensure_world(cache / p.stem, **settings)


def experiment_settings(path: str | os.PathLike) -> dict[str, dict]:
    """The ``[trainer]`` and ``[association]`` tables of a spec TOML ({} for folders or when absent)."""
    p = Path(path)
    if p.suffix != ".toml" or not p.is_file():
        return {}
    table = _read_toml(p)
    return {k: table[k] for k in ("trainer", "association") if isinstance(table.get(k), dict)}


def load_experiment(path: str | os.PathLike, *, max_images: int = 60, seed: int = 0,
                    crop_hw: tuple[int, int] = (256, 128)) -> ExperimentData:
    """The experiment a dataset path gives; raises DatasetError naming the path when unusable."""
    p = Path(path)
    kind = detect_kind(p)
    if kind == "world-spec":
        p, kind = render_world_spec(p), "synthetic"
    if kind == "synthetic":
        from .world_crops import CropSettings, world_experiment

        return world_experiment(p, CropSettings(crop_hw=crop_hw, max_images=max_images, seed=seed))
    if kind == "campus4k":
        from ..datasets.campus4k import campus4k_network

        return ExperimentData(train=from_campus4k(p, max_images, seed),
                              query=from_campus4k_labelled(p, "query", max_images, seed),
                              gallery=from_campus4k_labelled(p, "gallery", max_images, seed),
                              network=campus4k_network(), name=f"campus4k:{p.name}")
    if kind == "market":
        return _market(p)
    return _toy(p)

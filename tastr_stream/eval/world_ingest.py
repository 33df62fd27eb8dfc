"""Run the real edge pipeline over every camera of a synthetic world once, into a store.

Quality benchmarks judge the associator on what ingest actually produces (detections, track
fragments, crops, embeddings), not on ground-truth tracklets. Ingest is by far the slow part,
so its output is cached: each camera's video goes through :class:`IngestPipeline` exactly as
the ingest daemon runs it (decode worker with back-pressure, detect, track, build, background
embedding), and every published tracklet is put in a :class:`Store` with its embedding. The
cache is complete only when ``ingest.json`` (written last) names the world hash and settings;
a partial cache is rebuilt. The associator can then replay the store in arrival order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

from ..config.ingest import IngestConfig
from ..config.model import ModelConfig
from ..errors import DatasetError
from ..store import Store
from ..wire.records import Tracklet

log = logging.getLogger(__name__)
MARK = "ingest.json"


def _settings_hash(world_hash: str, cfg: IngestConfig, model: ModelConfig) -> str:
    ingest = cfg.model_dump(mode="json")
    # The model where ingest.embed held it before [model] existed, so caches made then stay valid.
    ingest["embed"].update(backbone=model.backbone, emb_dim=model.emb_dim, weights_path=model.weights_path)
    if model.crops_per_tracklet < cfg.tracklet.max_crops:    # embeddings of fewer crops than are kept
        ingest["embed"]["crops_per_tracklet"] = model.crops_per_tracklet
    data = json.dumps({"world": world_hash, "ingest": ingest}, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def ingest_world(world, cfg: IngestConfig, out_dir, *, model: ModelConfig | None = None, root: Path | None = None,
                 progress: bool = True) -> Path:
    """Store of every tracklet the edge pipeline publishes on ``world``'s videos with ``model``
    (default: the shipped ``[model]``), cached."""
    from ..decode import DecodeWorker, FileSource
    from ..detect import make_detector
    from ..models.checkpoint import initial_model
    from ..pipeline.ingest import IngestPipeline
    from ..tracklet.extractor import BackgroundExtractor, Extractor

    out = Path(out_dir)
    model = model or ModelConfig()
    want = _settings_hash(world.meta.get("args_hash", ""), cfg, model)
    try:
        if json.loads((out / MARK).read_text()).get("hash") == want:
            return out
    except (OSError, ValueError):
        pass
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    reid, version = initial_model(model.backbone, model.emb_dim, model.weights_path)
    totals = {}
    with Store.open(out / "store") as store:
        for cam in world.camera_ids:
            published: list[Tracklet] = []
            detector = make_detector(cfg.detect, world=world, camera_id=cam, root=root)
            background = BackgroundExtractor(Extractor(lambda: reid, batch_size=cfg.embed.batch_size,
                                                       version=version)).start()
            pipe = IngestPipeline(cam, cfg, detector, background, published.append,
                                  crops_per_tracklet=model.crops_per_tracklet)
            worker = DecodeWorker(FileSource(world.video_path(cam), cam), 8, drop_oldest=False).start()
            t0 = time.monotonic()
            try:
                while True:
                    frame = worker.get(timeout_s=30.0)
                    if frame is None:
                        if worker.done:
                            break
                        raise DatasetError(f"decoding {world.video_path(cam)} stalled for 30 s")
                    pipe.process(frame)
                    if progress and pipe.frames % 500 == 0:
                        rate = pipe.frames / max(time.monotonic() - t0, 1e-9)
                        print(f"  [ingest {cam}] {pipe.frames}/{world.num_frames} frames, {rate:.1f} fps, "
                              f"ETA {(world.num_frames - pipe.frames) / max(rate, 1e-9):.0f} s", flush=True)
                pipe.finish()
            finally:
                worker.stop()
                background.stop()
            store.put_tracklets(published)
            for t in published:
                store.put_embedding(t.tracklet_id, t.model_version, t.embedding)
            totals[cam] = len(published)
            log.info("camera ingested", extra={"kv": {"camera": cam, "frames": pipe.frames,
                                                     "tracklets": len(published)}})
    (out / MARK).write_text(json.dumps({"hash": want, "tracklets": totals, "model_version": version}))
    return out

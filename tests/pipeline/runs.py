"""One camera's video through the real ``IngestPipeline``, as the ingest daemon runs a file:
a decode worker with back-pressure, every frame processed, then ``finish``. Shared by the
pipeline and daemon tests that compare against a single-camera ingest."""

from __future__ import annotations

from tastr_stream.config.ingest import IngestConfig
from tastr_stream.decode import DecodeWorker
from tastr_stream.models.checkpoint import initial_model
from tastr_stream.pipeline.ingest import IngestPipeline
from tastr_stream.tracklet.extractor import BackgroundExtractor, Extractor


def embedder(backbone: str = "tiny", emb_dim: int = 16, batch_size: int = 8) -> BackgroundExtractor:
    model, version = initial_model(backbone, emb_dim)
    return BackgroundExtractor(Extractor(lambda: model, batch_size=batch_size, version=version)).start()


def run_single(source, cam: str, cfg: IngestConfig, detector,
               background: BackgroundExtractor | None = None) -> tuple[IngestPipeline, int, list]:
    """(the pipeline, frames converted to a full BGR array, the tracklets it published)."""
    background = background or embedder()
    published, converted = [], 0
    pipe = IngestPipeline(cam, cfg, detector, background, published.append)
    worker = DecodeWorker(source, 8, drop_oldest=False).start()
    try:
        for frame in worker:
            pipe.process(frame)
            converted += frame.converted
        pipe.finish()
    finally:
        worker.stop()
        background.stop()
    return pipe, converted, published

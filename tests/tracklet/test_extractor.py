"""The batched extractor: equal to the per-image reference, batching across concurrent jobs.

Guards against: batching changing embeddings (layout/precision slips), crops of one job
returned to another, a lost or duplicated job under concurrent submitters, one corrupt crop
or one failing batch killing the extractor thread, and an unbounded queue eating memory.
"""

from __future__ import annotations

import queue
import threading

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from tastr_stream.errors import ModelError
from tastr_stream.models import build_reid_model
from tastr_stream.tracklet.extractor import BackgroundExtractor, Extractor

TIMEOUT_S = 30.0


def _images(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 256, 128, 3), dtype=np.uint8)


def _tiny_extractor(batch_size: int = 8, seed: int = 0) -> Extractor:
    return Extractor(lambda: build_reid_model("tiny", 32, seed=seed), device="cpu",
                     batch_size=batch_size, precision="auto")


class _Gate(nn.Module):
    """Blocks every forward until released; can be told to fail. Output: zeros (N, 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail = False

    def forward(self, x):
        self.entered.set()
        assert self.release.wait(TIMEOUT_S)
        if self.fail:
            raise RuntimeError("simulated device failure")
        return torch.zeros(x.shape[0], 4) + self.w


@pytest.mark.parametrize("backbone,n,batch,channels_last",
                         [("tiny", 13, 5, True), ("tiny", 13, 5, False), ("mobilenetv2", 4, 3, None)])
def test_batched_path_equals_per_image_reference(backbone, n, batch, channels_last):
    ex = Extractor(lambda: build_reid_model(backbone, 64, seed=0), device="cpu", batch_size=batch,
                   channels_last=channels_last)
    imgs = _images(n, seed=1)
    emb, version = ex.embed(imgs)
    ref, ref_version = ex.embed_reference(imgs)
    assert emb.shape == (n, 64) and emb.dtype == np.float32 and version == ref_version == 0
    np.testing.assert_allclose(emb, ref, rtol=1e-4, atol=1e-4)
    # Not trivially equal: different images give different embeddings.
    assert np.abs(emb[0] - emb[1]).max() > 1e-3


def test_cpu_runs_fp32_and_install_needs_a_newer_version():
    ex = Extractor(lambda: build_reid_model("tiny", 32), device="cpu", precision="bf16")
    assert ex.precision == "fp32"
    ex.install(ex.prepare(build_reid_model("tiny", 32, seed=1)), 3)
    assert ex.version == 3
    with pytest.raises(ModelError, match="must increase"):
        ex.install(ex.active[0], 3)
    with pytest.raises(ModelError, match="batch_size"):
        Extractor(lambda: build_reid_model("tiny", 32), device="cpu", batch_size=0)
    with pytest.raises(ModelError, match="not a torch Module"):
        Extractor(lambda: "model", device="cpu")


def test_concurrent_jobs_are_batched_and_each_gets_its_own_embeddings():
    ex = _tiny_extractor(batch_size=16)
    batches = []
    jobs = {f"cam{t}:{j}": _images(int(np.random.default_rng(t * 100 + j).integers(1, 16)), seed=t * 100 + j)
            for t in range(3) for j in range(6)}
    futures = {}
    lock = threading.Lock()

    def producer(t: int) -> None:
        for j in range(6):
            jid = f"cam{t}:{j}"
            fut = bg.submit(jobs[jid], job_id=jid, timeout_s=TIMEOUT_S)
            with lock:
                futures[jid] = fut

    with BackgroundExtractor(ex, max_queued_jobs=4, on_batch=batches.append) as bg:
        threads = [threading.Thread(target=producer, args=(t,)) for t in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(TIMEOUT_S)
        results = {jid: fut.result(TIMEOUT_S) for jid, fut in futures.items()}
    assert set(results) == set(jobs)
    for jid, res in results.items():
        ref, _ = ex.embed(jobs[jid])            # the synchronous path, itself held to the reference above
        assert res.job_id == jid and res.model_version == 0 and res.n_failed == 0
        np.testing.assert_allclose(res.crop_embeddings, ref, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(res.embedding, ref.mean(axis=0), rtol=1e-4, atol=1e-4)
        assert res.crop_index.tolist() == list(range(len(jobs[jid])))
    assert all(sum(b - a for _, a, b in info.parts) <= 16 for info in batches)
    assert any(len(info.parts) > 1 for info in batches)            # crops of several jobs share a batch
    total = sum(len(v) for v in jobs.values())
    assert sum(b - a for info in batches for _, a, b in info.parts) == total
    stats = bg.stats()
    assert stats["jobs"] == len(jobs) and stats["crops"] == total and stats["queued_jobs"] == 0


class _ShapeLog(nn.Module):
    """Records the batch size of every forward; each row's output depends on its own image only."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.sizes: list[int] = []

    def forward(self, x):
        self.sizes.append(int(x.shape[0]))
        return torch.stack([x.mean(dim=(1, 2, 3)), x[:, 0, 0, 0]], dim=1) * self.w


def test_model_sees_only_the_fixed_batch_sizes_whatever_the_jobs():
    """Guards against the ingest's memory growing for as long as it runs (issue 13, +42 MB/min):
    the CPU backend keeps one plan per batch shape, so jobs of every crop count from 1 to 2x the
    batch size must reach the model only as batches of 8, 4, 2 or 1, each crop still in its own job."""
    model = _ShapeLog()
    ex = Extractor(lambda: model, device="cpu", batch_size=8)
    jobs = {n: _images(n, seed=n) for n in range(1, 17)}
    with BackgroundExtractor(ex) as bg:
        futures = {n: bg.submit(imgs, job_id=n) for n, imgs in jobs.items()}
        results = {n: fut.result(TIMEOUT_S) for n, fut in futures.items()}
    served = ex.active[0]
    assert set(served.sizes) <= {8, 4, 2, 1} and sum(served.sizes) == sum(jobs)
    served.sizes.clear()
    for n in range(1, 17):
        ex.embed(jobs[n])
    assert set(served.sizes) <= {8, 4, 2, 1} and sum(served.sizes) == sum(jobs)
    for n, res in results.items():
        ref, _ = ex.embed_reference(jobs[n])
        np.testing.assert_allclose(res.crop_embeddings, ref, rtol=1e-5, atol=1e-5)


def test_jpeg_jobs_with_bad_crops_are_served_and_counted():
    ex = _tiny_extractor()
    imgs = _images(5, seed=2)
    good = [cv2.imencode(".jpg", cv2.cvtColor(im, cv2.COLOR_RGB2BGR))[1].tobytes() for im in imgs]
    crops = [good[0], b"\xff\xd8garbage", good[1], good[2], b"", good[3], good[4]]
    with BackgroundExtractor(ex) as bg:
        res = bg.submit(crops, job_id="a").result(TIMEOUT_S)
        none = bg.submit([b"junk"], job_id="b").result(TIMEOUT_S)
        empty = bg.submit([], job_id="c").result(TIMEOUT_S)
    assert res.crop_index.tolist() == [0, 2, 3, 5, 6] and res.n_failed == 2
    assert res.crop_embeddings.shape == (5, 32)
    assert none.embedding is None and none.n_failed == 1 and len(none.crop_embeddings) == 0
    assert empty.embedding is None and empty.n_failed == 0
    assert bg.stats()["failed_crops"] == 3


def test_bounded_queue_blocks_then_raises_full():
    gate = _Gate()
    ex = Extractor(lambda: gate, device="cpu", batch_size=4)
    bg = BackgroundExtractor(ex, max_queued_jobs=2).start()
    try:
        first = bg.submit(_images(2, 0), job_id=0)
        assert gate.entered.wait(TIMEOUT_S)                   # job 0 is in the model, queue empty
        bg.submit(_images(1, 1), job_id=1)
        bg.submit(_images(1, 2), job_id=2)
        with pytest.raises(queue.Full):
            bg.submit(_images(1, 3), job_id=3, timeout_s=0.05)
        gate.release.set()
        assert first.result(TIMEOUT_S).crop_embeddings.shape == (2, 4)
    finally:
        gate.release.set()
        bg.stop()
    with pytest.raises(ModelError, match="stopped"):
        bg.submit(_images(1, 4))


def test_failing_batch_fails_its_jobs_and_the_thread_keeps_serving():
    gate = _Gate()
    gate.fail = True
    gate.release.set()
    ex = Extractor(lambda: gate, device="cpu", batch_size=4)
    with BackgroundExtractor(ex) as bg:
        bad = bg.submit(_images(3, 0), job_id="bad")
        with pytest.raises(ModelError, match="simulated device failure"):
            bad.result(TIMEOUT_S)
        gate.fail = False
        ok = bg.submit(_images(3, 1), job_id="ok").result(TIMEOUT_S)
    assert ok.crop_embeddings.shape == (3, 4) and bg.stats()["batch_errors"] == 1


def test_stop_drains_queued_jobs_and_cancelled_jobs_are_skipped():
    gate = _Gate()
    ex = Extractor(lambda: gate, device="cpu", batch_size=2)
    bg = BackgroundExtractor(ex).start()
    futs = [bg.submit(_images(3, i), job_id=i) for i in range(4)]
    assert gate.entered.wait(TIMEOUT_S)
    assert futs[3].cancel()
    gate.release.set()
    bg.stop(timeout_s=TIMEOUT_S)
    assert all(f.done() for f in futs)
    assert [f.result().job_id for f in futs[:3]] == [0, 1, 2] and futs[3].cancelled()


def test_extractor_from_config_serves_packaged_weights_or_a_checkpoint(tmp_path):
    from tastr_stream.config.ingest import EmbedConfig
    from tastr_stream.config.model import ModelConfig
    from tastr_stream.models import publish_checkpoint
    from tastr_stream.tracklet.extractor import extractor_from_config

    run = EmbedConfig(batch_size=4, device="cpu")
    ex = extractor_from_config(ModelConfig(backbone="tiny", emb_dim=16), run)
    assert ex.version == 0 and ex.batch_size == 4
    ann = publish_checkpoint(build_reid_model("tiny", 16, seed=4), tmp_path, 12)
    ex = extractor_from_config(ModelConfig(backbone="tiny", emb_dim=16, weights_path=ann.path), run)
    assert ex.version == 12
    with pytest.raises(ModelError, match="wrong architecture"):
        extractor_from_config(ModelConfig(backbone="tiny", emb_dim=32, weights_path=ann.path), run)


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cuda_reduced_precision_stays_close_to_fp32_reference(precision):
    ex = Extractor(lambda: build_reid_model("mobilenetv2", 128, seed=0), device="cuda", batch_size=16,
                   precision=precision)
    assert ex.precision == precision and ex.channels_last
    imgs = _images(20, seed=5)
    emb, _ = ex.embed(imgs)
    ref, _ = ex.embed_reference(imgs)
    cos = (emb * ref).sum(1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(ref, axis=1))
    assert emb.dtype == np.float32 and cos.min() > 0.99

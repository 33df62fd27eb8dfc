"""Fixed batch shapes for embedding.

Guards against: the ingest's memory growing for as long as it runs (issue 13: +42 MB/min over a
10-minute replay). oneDNN plans and keeps convolution primitives per input shape, ~28 MB each for
MobileNetV2, and a live extractor meets every batch size from 1 to ``batch_size``; the model must
only ever see the few sizes of ``fixed_batch_sizes``, and chunking must not change any row.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tastr_stream.errors import ModelError
from tastr_stream.models import build_reid_model, prepare_model
from tastr_stream.models.inference import embed_batch, embed_in_fixed_batches, fixed_batch_sizes, fixed_chunks


@pytest.mark.parametrize("max_batch", [1, 2, 5, 8, 24, 32])
def test_chunks_cover_every_crop_with_the_fixed_sizes_only(max_batch):
    allowed = set(fixed_batch_sizes(max_batch))
    assert max(allowed) == max_batch and len(allowed) <= max_batch.bit_length() + 1
    for n in range(0, 5 * max_batch + 3):
        chunks = fixed_chunks(n, max_batch)
        assert sum(chunks) == n, (n, chunks)
        assert set(chunks) <= allowed, (n, chunks)
        assert chunks == sorted(chunks, reverse=True), (n, chunks)
        # No more passes than full batches plus one per binary digit of the rest.
        assert len(chunks) <= n // max_batch + (n % max_batch).bit_length(), (n, chunks)


def test_chunk_examples_and_bad_arguments():
    assert fixed_batch_sizes(32) == (32, 16, 8, 4, 2, 1)
    assert fixed_batch_sizes(24) == (24, 16, 8, 4, 2, 1)
    assert fixed_chunks(23, 32) == [16, 4, 2, 1]
    assert fixed_chunks(70, 32) == [32, 32, 4, 2]
    for bad in (0, -1, 2.0):
        with pytest.raises(ModelError, match="max_batch"):
            fixed_batch_sizes(bad)
    with pytest.raises(ModelError, match="-1 crops"):
        fixed_chunks(-1, 8)


def test_fixed_batches_give_the_rows_of_one_pass():
    model = prepare_model(build_reid_model("tiny", 16, seed=0), torch.device("cpu"))
    imgs = np.random.default_rng(3).integers(0, 256, size=(13, 256, 128, 3), dtype=np.uint8)
    whole = embed_batch(model, imgs, torch.device("cpu"))
    chunked = embed_in_fixed_batches(model, imgs, torch.device("cpu"), max_batch=8)   # 8, 4, 1
    assert chunked.shape == (13, 16) and chunked.dtype == np.float32
    np.testing.assert_allclose(chunked, whole, rtol=1e-4, atol=1e-4)
    with pytest.raises(ModelError, match="empty batch"):
        embed_in_fixed_batches(model, imgs[:0], torch.device("cpu"), max_batch=8)

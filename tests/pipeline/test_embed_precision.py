"""``embed.precision`` reaches the Re-ID extractor: bf16 autocast on CUDA, fp32 on CPU whatever is asked.

Guards against: a GPU edge box embedding in a precision the config did not ask for (embeddings of
two precisions differ slightly and must not be mixed across boxes), and a CPU box failing on
a bf16 config written for a GPU box.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from tastr_stream.config.ingest import EmbedConfig
from tastr_stream.config.model import ModelConfig
from tastr_stream.tracklet.extractor import extractor_from_config


def test_cpu_runs_fp32_whatever_the_config_asks():
    for precision in ("fp32", "bf16"):
        ex = extractor_from_config(ModelConfig(backbone="tiny", emb_dim=16),
                                   EmbedConfig(device="cpu", precision=precision))
        assert ex.precision == "fp32" and ex.device.type == "cpu"


def test_precision_is_validated_at_the_config_boundary():
    with pytest.raises(ValidationError, match="precision"):
        EmbedConfig(precision="fp8")
    assert EmbedConfig().precision == "bf16"   # the extractor's CUDA default before the field existed


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_cuda_embeds_in_the_configured_precision(precision):
    ex = extractor_from_config(ModelConfig(backbone="mobilenetv2", emb_dim=128),
                               EmbedConfig(device="cuda", precision=precision))
    assert ex.device.type == "cuda" and ex.precision == precision
    images = np.random.default_rng(0).integers(0, 256, (8, 256, 128, 3), dtype=np.uint8)
    fast, _ = ex.embed(images)
    ref, _ = ex.embed_reference(images)
    cos = (fast * ref).sum(1) / np.linalg.norm(fast, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > (0.999 if precision == "bf16" else 0.99999)

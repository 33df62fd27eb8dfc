"""Embedding stored crops with the window's model: re-embedding, image search, model swaps.

The associator needs a model only when something arrives from another model version, when a
new version is announced, or when a user searches by image; the model is built lazily so an
associator that never needs it never pays for torch's start-up.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from ..models.preprocess import decode_crops
from ..tracklet.extractor import Extractor
from ..models.checkpoint import initial_model

log = logging.getLogger(__name__)


class CropEmbedder:
    def __init__(self, backbone: str, emb_dim: int, weights_path: str = "", device: str = "auto",
                 batch_size: int = 32, version: int | None = None):
        self.backbone, self.emb_dim, self.weights_path = backbone, emb_dim, weights_path
        self.device, self.batch_size = device, batch_size
        self._want_version = version
        self._extractor: Extractor | None = None
        self._lock = threading.Lock()

    def _get(self) -> Extractor:
        with self._lock:
            if self._extractor is None:
                model, version = initial_model(self.backbone, self.emb_dim, self.weights_path)
                self._extractor = Extractor(lambda: model, device=self.device, batch_size=self.batch_size,
                                            version=version)
            return self._extractor

    @classmethod
    def from_model(cls, model: Any, version: int, device: str = "auto", batch_size: int = 32) -> "CropEmbedder":
        out = cls(getattr(model, "backbone_name", "?"), getattr(model, "emb_dim", 0), device=device,
                  batch_size=batch_size)
        out._extractor = Extractor(lambda: model, device=device, batch_size=batch_size, version=version)
        return out

    @property
    def version(self) -> int:
        return self._get().version

    def __call__(self, crops_jpeg: list[bytes]) -> tuple[np.ndarray | None, int]:
        """Mean embedding of the decodable crops and the version that made it (None: nothing decodable)."""
        ex = self._get()
        decoded = decode_crops(crops_jpeg)
        if len(decoded.images) == 0:
            return None, ex.version
        emb, version = ex.embed(decoded.images)
        return emb.mean(axis=0).astype(np.float32), version

    def embed_image(self, data: bytes) -> tuple[np.ndarray | None, int]:
        return self([data])

"""Durable store: every tracklet received (metadata, crops, embeddings per model version),
every link and identity, in SQLite (WAL, synchronous=FULL) plus crop JPEG files.

A killed associator restarts and loses nothing it acknowledged (``schema.py`` has the
argument, ``crops.py`` the file ordering); retention by age and size never breaks an
identity's history (``retention.py``).
"""

from .forget import ForgetReport
from .identity_links import IdentityLinkRow
from .rows import EmbeddingSet, LinkRow, LoadedWindow, RetentionReport, Sighting, StoredContent, StoreStats
from .schema import SCHEMA_VERSION
from .reads import KV_MODEL_VERSION
from .store import Store

__all__ = [
    "KV_MODEL_VERSION", "SCHEMA_VERSION", "EmbeddingSet", "ForgetReport", "IdentityLinkRow", "LinkRow", "LoadedWindow", "RetentionReport",
    "Sighting", "Store", "StoredContent", "StoreStats",
]

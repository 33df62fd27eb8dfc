"""Inspect a finished run without live daemons: the linker's view rebuilt read-only from a store.

Lookups of tracklets, identities and their explanations are plain store reads and work on a
read-only store as they are. Ranking candidates needs the window (features, visits, the learned
transfer times, what was shown), so this rebuilds a :class:`LiveLinker` from the store exactly as
a restarted associator does, without writing anything, and answers ``candidates`` from it.
"""

from __future__ import annotations

from ..associate.live_linker import LiveLinker
from ..associate.records import AssociationError
from ..associate.transfer import TransferModel
from ..associate.trusted import TrustedLink
from ..config import AppConfig
from ..store import Store
from .associator import KV_TRANSFER, KV_ZONES, meta_of


class StoreInspector:
    """``candidates(tracklet_id, k)`` over a (read-only) store, like the live associator's."""

    def __init__(self, config: AppConfig, store: Store):
        acfg = config.associator
        newest = store.kv_get("newest_event_s", None)
        t_from = -1e18 if newest is None else float(newest) - acfg.window.window_s
        loaded = store.load_window(t_from)
        self.model_version = loaded.model_version
        transfer = TransferModel(config.network.transfer_matrix_s(), acfg.association.str_prior.lambda_,
                                 acfg.association.trust.learned_prior)
        transfer.load_json(store.kv_get(KV_TRANSFER, {}))
        self.linker = LiveLinker(transfer, acfg.association.trust)
        self.linker.zones.load_json(store.kv_get(KV_ZONES, {}))
        for t in sorted(loaded.tracklets, key=lambda t: (t.t_end_s, t.tracklet_id)):
            if t.embedding is not None and t.camera_id in config.network.camera_ids:
                self.linker.add(meta_of(t, loaded.model_version))
        now = float(newest) if newest is not None else max((m.t_end_s for m in self.linker.metas.values()),
                                                            default=0.0)
        self.linker.restore([(TrustedLink.from_explain(r.explain), r.status == "final")
                             for r in store.identity_links()], now)
        self.identities = loaded.identities

    def candidates(self, tracklet_id: str, k: int = 10) -> dict:
        if tracklet_id not in self.linker.metas:
            raise AssociationError(f"tracklet {tracklet_id!r} is not in the stored window (or has no embedding "
                                   f"of model version {self.model_version})")
        rows = self.linker.candidates(tracklet_id, k)
        for row in rows:
            row["identity_id"] = self.identities.get(row["tracklet_ids"][0])
        return {"tracklet_id": tracklet_id, "camera_id": self.linker.metas[tracklet_id].camera_id,
                "identity_id": self.identities.get(tracklet_id), "model_version": self.model_version,
                "candidates": rows}

"""The camera graph as the page draws it: cameras, and every pair's STR transfer-time prior.

Computed once by the associator from the same config its association uses (mean transfer time
t_ij and sigma_ij from :class:`~tastr_stream.associate.str_prior.TransferPrior`), so what a user
sees on the page is the prior actually applied, not a second reading of the config. The transfer
times the linker uses now (configured, scaled by the site or learned per pair from confident
links, :class:`~tastr_stream.associate.transfer.TransferModel`) change as the run goes on and are
read on each request (:func:`transfer_now`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from ...associate.str_prior import TransferPrior
from ...associate.transfer import PairPrior
from ...config.associator import StrPrior
from ...config.network import Network


def network_view(network: Network, str_cfg: StrPrior) -> dict[str, Any]:
    """JSON-able ``{name, walking_speed_mps, str, cameras, pairs, horizon_s}``.

    ``cameras``: ``[{id, name, position_m}]`` in config order (``position_m`` is ``[x, y]`` or
    ``None``). ``pairs``: one per unordered camera pair, ``{a, b, t_ij_s, sigma_s}``.
    """
    prior = TransferPrior.from_network(network, str_cfg)
    ids = network.camera_ids
    cameras = [{"id": c.id, "name": c.name,
                "position_m": list(c.position_m) if c.position_m is not None else None}
               for c in network.cameras]
    pairs = [{"a": a, "b": b, "t_ij_s": prior.t_ij_s(a, b), "sigma_s": prior.sigma_s(a, b)}
             for a, b in itertools.combinations(ids, 2)]
    return {
        "name": network.name,
        "walking_speed_mps": network.walking_speed_mps,
        "str": {"enabled": str_cfg.enabled, "lambda": str_cfg.lambda_, "exponent": str_cfg.exponent,
                "sigma_floor_s": str_cfg.sigma_floor_s, "dt": str_cfg.dt},
        "cameras": cameras,
        "pairs": pairs,
        # Event-time horizon after which an association is final (0 when STR is off).
        "horizon_s": prior.horizon_s(fallback_s=0.0),
    }


def transfer_now(pairs: Mapping[tuple[str, str], PairPrior]) -> dict[str, dict[str, Any]]:
    """``{"a-b": {configured_s, mean_s, std_s, source, samples}}`` from ``TransferModel.pairs()``:
    the configured mean next to the mean and spread in use, and where those came from."""
    return {f"{a}-{b}": {"configured_s": round(p.configured_mean_s, 3), "mean_s": round(p.mean_s, 3),
                         "std_s": round(p.std_s, 3), "source": p.source, "samples": p.samples}
            for (a, b), p in pairs.items()}

"""The paper's Table IV (groups 2 and 3) on a seeded world: TASTR-S1, then each association variant.

From ONE round-0 model (TASTR-S1, TSCCC), every NN-CCTA variant (plain 1-reciprocal NN, +k-means,
+STR, +STR+k-means) runs its own progressive rounds of association -> TCCPC training. A row
reports the final rank-1 / mAP and the association precision / pair count of the last round,
so the table shows both of the paper's claims: cross-camera rounds beat within-camera
training, and STR + k-means gives the most precise pairs.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config.associator import Association
from ..config.trainer import TrainerConfig
from ..models import build_reid_model
from .evaluation import ExperimentData
from .recipe import EndToEnd, HeadOnly, make_recipe
from .rounds import ABLATIONS, run_rounds

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Table4Row:
    method: str
    rank1: float
    mAP: float
    pair_precision: float      # last round's association (NaN for TASTR-S1)
    num_pairs: int


def variant_config(base: Association, name: str) -> Association:
    sw = ABLATIONS[name]
    return base.model_copy(update={"str_prior": base.str_prior.model_copy(update={"enabled": sw["str"]}),
                                   "kmeans_k": sw["kmeans_k"] or base.kmeans_k})


def run_table4(data: ExperimentData, cfg: TrainerConfig, base: Association, device: torch.device,
               out_dir: str | os.PathLike, *, round0_epochs: int | None = None,
               variants: tuple[str, ...] = tuple(ABLATIONS), recipe: EndToEnd | HeadOnly | None = None
               ) -> list[Table4Row]:
    """``recipe`` may come from the caller so that several seeds share the head recipe's descriptors."""
    model = build_reid_model(cfg.backbone, cfg.emb_dim, cfg.init_weights or None, seed=cfg.seed)
    recipe = recipe or make_recipe(cfg, device, model, progress=False)   # one descriptor pass serves every variant
    s1 = run_rounds(model, data, cfg, base, device, Path(out_dir) / "s1", rounds=0,
                    round0_epochs=round0_epochs, progress=False, recipe=recipe)[0]
    rows = [Table4Row("TASTR-S1 (TSCCC)", s1.rank1, s1.mAP, float("nan"), 0)]
    for name in variants:
        m = copy.deepcopy(model)
        res = run_rounds(m, data, cfg, variant_config(base, name), device, Path(out_dir) / name,
                         first_round=1, progress=False, recipe=recipe)
        last = res[-1]
        rows.append(Table4Row(f"NN-CCTA {name}", last.rank1, last.mAP, last.pair_precision, last.num_pairs))
        log.info("table4 variant", extra={"kv": {"variant": name, "rank1": round(last.rank1, 3),
                                                 "mAP": round(last.mAP, 3)}})
    return rows


def format_table(rows_by_seed: list[list[Table4Row]]) -> str:
    """Markdown table, means over seeds (and the per-seed values in brackets)."""
    lines = ["| method | rank-1 % | mAP % | pair precision % (last round) | pairs |", "|---|---|---|---|---|"]
    for i, first in enumerate(rows_by_seed[0]):
        col = [rs[i] for rs in rows_by_seed]

        def fmt(vals):
            vals = [100 * v for v in vals]
            if any(v != v for v in vals):
                return "-"
            return f"{sum(vals) / len(vals):.1f} ({', '.join(f'{v:.1f}' for v in vals)})"

        lines.append(f"| {first.method} | {fmt([r.rank1 for r in col])} | {fmt([r.mAP for r in col])} | "
                     f"{fmt([r.pair_precision for r in col])} | {sum(r.num_pairs for r in col) / len(col):.0f} |")
    return "\n".join(lines)

"""``tastr-stream train``: the offline progressive TASTR schedule on a dataset folder."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

BACKBONE_CHOICES = ("resnet50", "mobilenetv2", "efficientnet-lite0", "tiny", "resnet50+partcolour",
                    "mobilenetv2+partcolour", "efficientnet-lite0+partcolour", "tiny+partcolour")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="unsupervised progressive training (round 0 TSCCC, then association + TCCPC)",
                       description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True,
                   help="synthetic world folder, Campus-4K folder, or a TOML spec with a [toy_world] or "
                        "[synthetic_world] table (the latter is rendered once and cached)")
    p.add_argument("--config", help="TOML config file; its [trainer] and [associator] sections are used "
                                    "(default: the [trainer]/[association] tables of a spec TOML, if any)")
    p.add_argument("--table4", action="store_true",
                   help="run the paper's Table IV ablation instead: TASTR-S1, then progressive rounds with each "
                        "association variant (1-reciprocal NN, +k-means, +STR, +STR+k-means)")
    p.add_argument("--rounds", type=int, help="cross-camera rounds after round 0 (default: trainer.rounds)")
    p.add_argument("--epochs", type=int, help="epochs per round (default: trainer.epochs_per_round)")
    p.add_argument("--round0-epochs", type=int, help="epochs of round 0 (default: --epochs)")
    # Literal, so `--help` does not import torch; tests check it equals models.backbones.BACKBONES.
    p.add_argument("--backbone", choices=BACKBONE_CHOICES)
    p.add_argument("--out", help="checkpoint folder (default: trainer.checkpoint_dir)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: trainer.device")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _pct(x: float) -> str:
    return "   -  " if math.isnan(x) else f"{100 * x:5.1f}%"


def format_row(row) -> str:
    return (f"round {row.round} ({row.kind:6s}) rank-1 {_pct(row.rank1)}  mAP {_pct(row.mAP)}  "
            f"pairs {row.num_pairs:5d}  precision {_pct(row.pair_precision)}  recall {_pct(row.pair_recall)}  "
            f"loss {row.loss_last:.3f}  {row.images_per_s:.0f} img/s")


def trainer_overrides(args: argparse.Namespace) -> dict:
    upd = {"rounds": args.rounds, "epochs_per_round": args.epochs, "backbone": args.backbone,
           "checkpoint_dir": args.out, "device": args.device}
    return {k: v for k, v in upd.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    from ..config.associator import Association
    from ..config.loader import load_config
    from ..config.trainer import TrainerConfig
    from ..errors import ConfigError, DatasetError
    from ..models import build_reid_model, resolve_device
    from ..train.recipe import resolve_recipe
    from ..train.rounds import run_rounds
    from ..train.sources import experiment_settings, load_experiment

    if args.config:
        app = load_config(args.config)
        trainer, association = app.trainer, app.associator.association
    else:
        spec = experiment_settings(args.dataset)
        try:
            trainer = TrainerConfig.model_validate(spec.get("trainer", {}))
            association = Association.model_validate(spec.get("association", {}))
        except ValueError as exc:
            raise ConfigError(f"{args.dataset}: bad [trainer] or [association] table: {exc}") from None
    try:
        trainer = TrainerConfig.model_validate({**trainer.model_dump(), **trainer_overrides(args)})
    except ValueError as exc:
        raise ConfigError(f"bad command-line override: {exc}") from None
    if args.round0_epochs is not None and args.round0_epochs < 1:
        raise ConfigError(f"--round0-epochs must be >= 1, got {args.round0_epochs}")
    data = load_experiment(args.dataset, max_images=trainer.max_images_per_tracklet, seed=trainer.seed,
                           crop_hw=(trainer.image_height, trainer.image_width))
    if data.network is None:
        raise DatasetError(f"{args.dataset}: no camera network (Market/Duke style); cross-camera training "
                           f"needs cameras and walking paths. Use it with `tastr-stream evaluate`.")
    device = resolve_device(trainer.device)
    model = build_reid_model(trainer.backbone, trainer.emb_dim, trainer.init_weights or None, seed=trainer.seed)
    print(f"dataset {data.name}: {len(data.train)} training tracklets, {len(data.query)} queries, "
          f"{len(data.gallery)} gallery; backbone {trainer.backbone}, recipe {resolve_recipe(trainer, model)}, "
          f"on {device}", flush=True)
    if args.table4:
        return _table4(data, trainer, association, device, args)
    rows = run_rounds(model, data, trainer, association, device, trainer.checkpoint_dir,
                      round0_epochs=args.round0_epochs, progress=not args.no_progress,
                      on_round=lambda row: print(format_row(row), flush=True))
    summary = Path(trainer.checkpoint_dir) / "rounds.json"
    summary.write_text(json.dumps([r.as_dict() for r in rows], indent=2))
    print(f"checkpoints and frozen configs in {trainer.checkpoint_dir}; per-round results in {summary}")
    return 0


def _table4(data, trainer, association, device, args: argparse.Namespace) -> int:
    from ..train.table4 import format_table, run_table4

    rows = run_table4(data, trainer, association, device, Path(trainer.checkpoint_dir) / "table4",
                      round0_epochs=args.round0_epochs)
    text = format_table([rows])
    out = Path(trainer.checkpoint_dir) / "table4.md"
    out.write_text(f"dataset {data.name}, backbone {trainer.backbone}, {trainer.rounds} rounds, "
                   f"seed {trainer.seed}\n\n{text}\n")
    print(text)
    print(f"table written to {out}")
    return 0

"""``tastr-stream evaluate``: CMC and mAP of a checkpoint on a dataset's test split."""

from __future__ import annotations

import argparse
import math


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="rank-1/5/10/20 and mAP of a checkpoint on a dataset's test split",
                       description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, help="synthetic world, Campus-4K, Market/Duke-style folder, "
                                                    "or a [toy_world] TOML file")
    p.add_argument("--weights", required=True, help="checkpoint file written by tastr-stream train")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--associate", action="store_true",
                   help="also score association on the training split: 1-NN vs +STR vs +STR+k-means")
    p.set_defaults(func=run)


def _input_hw(header: dict) -> tuple[int, int]:
    """The input size the checkpoint was trained at (frozen config), else the models' default."""
    from ..models import INPUT_HW

    trainer = (header.get("config") or {}).get("trainer") or {}
    return int(trainer.get("image_height", INPUT_HW[0])), int(trainer.get("image_width", INPUT_HW[1]))


def run(args: argparse.Namespace) -> int:
    from ..config.associator import Association
    from ..errors import DatasetError
    from ..models import model_from_checkpoint, resolve_device
    from ..train.evaluation import evaluate_reid
    from ..train.rounds import association_ablation
    from ..train.sources import load_experiment

    model, header = model_from_checkpoint(args.weights)
    h, w = _input_hw(header)
    device = resolve_device(args.device)
    data = load_experiment(args.dataset, crop_hw=(h, w))
    rank = evaluate_reid(model, data, device, h, w)
    if rank is None:
        raise DatasetError(f"{args.dataset}: no query/gallery test split to evaluate on")
    ks = [k for k in (1, 5, 10, 20) if k <= len(rank.cmc)]
    print(f"{data.name}: {rank.num_valid_queries} queries ({rank.num_skipped_queries} without a match skipped), "
          f"{len(data.gallery)} gallery; weights {args.weights} (v{header.get('version')}, {header.get('backbone')})")
    print("  ".join(f"rank-{k} {100 * rank.rank(k):.1f}%" for k in ks) + f"  mAP {100 * rank.mAP:.1f}%")
    if args.associate:
        if data.network is None or not data.train:
            raise DatasetError(f"{args.dataset}: association needs training tracklets and a camera network")
        for name, q in association_ablation(model, data, Association(), device, h, w).items():
            prec = "-" if math.isnan(q["precision"]) else f"{100 * q['precision']:.1f}%"
            rec = "-" if math.isnan(q["recall"]) else f"{100 * q['recall']:.1f}%"
            print(f"  {name:18s} pairs {q['num_pairs']:5d}  precision {prec}  recall {rec}")
    return 0

"""Trainer settings: the paper's section V-A defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section
from .model import DEFAULT_BACKBONE, DEFAULT_EMB_DIM, Backbone


class TrainerConfig(Section):
    # The architecture trained. Inside a loaded AppConfig these two are deprecated aliases of
    # [model] (config/model.py) and always equal model.backbone/emb_dim (read cfg.model); they
    # stay fields for experiment files that hold a [trainer] table alone (`tastr-stream train --dataset`).
    backbone: Backbone = DEFAULT_BACKBONE
    init_weights: str = ""
    emb_dim: int = Field(default=DEFAULT_EMB_DIM, ge=8, le=4096)
    margin: float = Field(default=0.3, gt=0, le=10)
    lr: float = Field(default=3e-4, gt=0, le=1)
    p: int = Field(default=16, ge=2, le=1024, description="tracklets per batch")
    k: int = Field(default=4, ge=1, le=256, description="images per tracklet per batch")
    tsccc_gap_s: float = Field(default=30.0, ge=0, le=86_400, description="T: min time between tracklets of a batch")
    max_images_per_tracklet: int = Field(default=60, ge=1, le=10_000)
    # The training recipe (train/head.py, train/trainer.py; evidence in RESULTS.md, "Training recipe"):
    # "head" freezes the trunk, computes each crop's descriptor (and its mirror) once and trains the
    # projection on them -- a round costs one forward pass per crop, which a CPU affords; "full"
    # trains trunk and head end to end on augmented images (for a GPU); "auto" is "head" for the
    # models that have such a projection (every "+partcolour" backbone) and "full" for the others.
    recipe: Literal["auto", "head", "full"] = "auto"
    warmup_steps: int = Field(default=20, ge=0, le=100_000, description="linear learning-rate warm-up")
    freeze_bn: bool = Field(default=True, description="keep BatchNorm running statistics fixed in training")
    trunk_lr_scale: float = Field(default=0.1, ge=0, le=10, description="trunk learning rate / head learning rate")
    erase_p: float = Field(default=0.5, ge=0, le=1, description="random erasing probability (full recipe)")
    head_epochs: int = Field(default=20, ge=1, le=10_000, description="epochs per round of the head recipe")
    head_lr_scale: float = Field(default=3.0, gt=0, le=1000, description="head recipe learning rate / lr")
    l2sp: float = Field(default=1e-3, ge=0, le=10, description="head recipe pull towards the round's start weights")
    rounds: int = Field(default=5, ge=0, le=100)
    epochs_per_round: int = Field(default=2, ge=1, le=1000)
    # The live trainer's cap on batches per round (all epochs together), so a round's duration stays
    # bounded however large the store grows; 0 = no cap (epochs_per_round alone decides).
    max_batches_per_round: int = Field(default=200, ge=0, le=10_000_000)
    image_height: int = Field(default=256, ge=32, le=1024)
    image_width: int = Field(default=128, ge=16, le=512)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # The round's thread runs at this niceness (tastr_stream/background.py): on a box shared with
    # ingest, training takes the CPU only when decoding and detection leave it; 0 = as the daemon.
    niceness: int = Field(default=10, ge=0, le=19)
    checkpoint_dir: str = "runs/checkpoints"
    seed: int = 0
    metrics_port: int = Field(default=9611, ge=0, le=65535)
    # Loopback by default; "0.0.0.0" (or this box's address) lets a Prometheus elsewhere scrape it.
    metrics_host: str = Field(default="127.0.0.1", min_length=1, max_length=253)

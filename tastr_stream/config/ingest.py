"""Per-camera ingest settings: decode, detect, track, tracklet building, embedding, spooling."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Section
from .model import Backbone


class DecodeConfig(Section):
    threads: int = Field(default=0, ge=0, le=64, description="0 = let FFmpeg choose")
    queue_frames: int = Field(default=8, ge=1, le=1024)
    # Replay clock: a file is paced against a shared epoch, ``speed`` times real time.
    replay_speed: float = Field(default=1.0, gt=0, le=1000)
    reconnect_initial_s: float = Field(default=0.5, gt=0, le=60)
    reconnect_max_s: float = Field(default=10.0, gt=0, le=600)
    stall_timeout_s: float = Field(default=5.0, gt=0, le=600)
    # Hardware decode through PyAV's hwaccel API: "cuda" is NVDEC (an error when this PyAV/FFmpeg
    # has no CUDA device), "auto" uses it when present and decodes in software otherwise (one log
    # line). Frames come out as the same lazy BGR frames either way.
    hwaccel: Literal["none", "auto", "cuda"] = "none"


class DetectConfig(Section):
    backend: Literal["yolo-pose", "hog", "oracle"] = "yolo-pose"
    # Detection on a schedule, tracking in between (Frigate's answer to a camera faster than its
    # detector): run the detector at most rate_hz times per second of stream time (0 = on every
    # frame); the tracker's motion model carries tracks over the frames in between, and crops are
    # cut only where a fresh detection exists. When frames queue up (the box cannot keep up), the
    # rate backs off towards min_rate_hz before any frame is dropped.
    rate_hz: float = Field(default=0.0, ge=0, le=1000, description="detections per second of stream time; 0 = every frame")
    min_rate_hz: float = Field(default=1.0, gt=0, le=1000, description="floor of the back-off under overload")
    model_path: str = ".cache/models/yolo11n-pose.onnx"
    # Several cameras in one ingest share one detector that runs their due frames as one batch:
    # a model exported with a free batch axis ("" = model_path with "-batch" before ".onnx",
    # which tools/setup_pose_model.sh makes), at most max_batch frames per session.run.
    batch_model_path: str = ""
    max_batch: int = Field(default=8, ge=1, le=64, description="frames per detector run (multi-camera ingest)")
    # onnxruntime execution provider: "auto" takes CUDA when the installed onnxruntime offers it
    # (onnxruntime-gpu on a GPU box) and CPU otherwise; "cuda" and "tensorrt" are required.
    device: Literal["auto", "cpu", "cuda", "tensorrt"] = "auto"
    input_width: int = Field(default=1280, ge=160, le=3840)
    input_height: int = Field(default=736, ge=96, le=2160)
    score_threshold: float = Field(default=0.35, ge=0, le=1)
    # Detections between low_score_threshold and score_threshold only keep existing tracks alive
    # (ByteTrack's second pass); equal thresholds turn the second pass off.
    low_score_threshold: float = Field(default=0.1, ge=0, le=1)
    nms_iou: float = Field(default=0.6, gt=0, le=1)
    min_keypoint_score: float = Field(default=0.3, ge=0, le=1)
    # oracle backend: ground-truth boxes with noise, misses and fragmentation
    oracle_box_noise: float = Field(default=0.02, ge=0, le=1)
    oracle_miss_rate: float = Field(default=0.0, ge=0, le=1)
    oracle_fragment_rate: float = Field(default=0.0, ge=0, le=1, description="share of blocks a person drops out")
    oracle_fragment_frames: int = Field(default=30, ge=1, le=10_000, description="longest drop-out, frames")
    oracle_seed: int = 0

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> DetectConfig:
        if self.low_score_threshold > self.score_threshold:
            raise ValueError(f"low_score_threshold={self.low_score_threshold} must be <= "
                             f"score_threshold={self.score_threshold}")
        if self.rate_hz and self.min_rate_hz > self.rate_hz:
            raise ValueError(f"min_rate_hz={self.min_rate_hz} must be <= rate_hz={self.rate_hz}")
        return self


class TrackConfig(Section):
    match_threshold: float = Field(default=0.85, gt=0, le=10)
    # Boxes grown by this share of their size before IoU (C-BIoU): keeps a match when people
    # move further between two detections than the motion model guessed (sparse detection).
    iou_buffer: float = Field(default=0.3, ge=0, le=2)
    min_hits: int = Field(default=3, ge=1, le=100)
    max_misses: int = Field(default=30, ge=0, le=10_000)
    iou_weight: float = Field(default=0.5, ge=0, le=1)
    pose_weight: float = Field(default=0.5, ge=0, le=1)
    # ByteTrack's second pass: a detection under detect.score_threshold (but at least
    # detect.low_score_threshold) keeps an unmatched track alive when its box overlaps the
    # track's predicted box at least this much.
    low_score_min_iou: float = Field(default=0.5, gt=0, le=1)
    # A track leaving by a side of the picture (its last box touches the side, it moves out) that
    # is matched to a detection back inside by more than this share of the box's width has met
    # someone walking in there, not a person turning round at the very edge: the track ends and
    # the detection starts a new one. One track holding two people joins them in every link made
    # through it; two tracks of one person are a fragment the associator re-links. 0 turns it off.
    side_reversal: float = Field(default=0.2, ge=0, le=10)
    # How close to a side (share of the picture's width) a box counts as touching it.
    side_margin: float = Field(default=0.03, ge=0, le=0.5)


class TrackletConfig(Section):
    crop_every_n_frames: int = Field(default=3, ge=1, le=300)
    max_crops: int = Field(default=60, ge=1, le=1000)
    crop_height: int = Field(default=256, ge=32, le=1024)
    crop_width: int = Field(default=128, ge=16, le=512)
    jpeg_quality: int = Field(default=90, ge=10, le=100)
    max_duration_s: float = Field(default=60.0, gt=0, le=3600)
    min_frames: int = Field(default=5, ge=1, le=10_000)
    # Blur the head in every crop as it is cut (pose keypoints, else the top of the box), before it is
    # embedded, sent, stored or shown: every embedding ever compared comes from the same kind of crop
    # (DESIGN.md, "People's privacy"; image search blurs uploads the same way). Set it the same on every box.
    blur_heads: bool = True


class EmbedConfig(Section):
    # Deprecated aliases of [model] (config/model.py): read only to fill or check [model]; inside a
    # loaded AppConfig they always equal model.backbone/emb_dim/weights_path. Read cfg.model instead.
    backbone: Backbone | None = None
    weights_path: str | None = None
    emb_dim: int | None = Field(default=None, ge=8, le=4096)
    batch_size: int = Field(default=32, ge=1, le=1024)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Autocast precision of the Re-ID forward pass on CUDA (CPU always runs fp32). Every
    # embedding compared must come from one precision: set it the same on every box.
    precision: Literal["fp32", "bf16"] = "bf16"
    # An announced checkpoint this box cannot read at its announced path is fetched from
    # endpoints.checkpoints into this folder (the newest few versions are kept).
    checkpoint_cache_dir: str = "runs/checkpoint-cache"
    checkpoint_fetch_timeout_s: float = Field(default=10.0, gt=0, le=600,
                                              description="longest wait for one chunk of a fetched checkpoint")


class SpoolConfig(Section):
    """On-disk queue of tracklets waiting for the associator."""

    dir: str = "runs/spool"
    max_bytes: int = Field(default=2 * 1024**3, ge=1024**2)


class IngestConfig(Section):
    decode: DecodeConfig = DecodeConfig()
    detect: DetectConfig = DetectConfig()
    track: TrackConfig = TrackConfig()
    tracklet: TrackletConfig = TrackletConfig()
    embed: EmbedConfig = EmbedConfig()
    spool: SpoolConfig = SpoolConfig()
    metrics_port_base: int = Field(default=9620, ge=0, le=65535,
                                   description="camera i (0-based) exposes metrics on base + i; 0 = random")
    # Loopback by default; "0.0.0.0" (or this box's address) lets a Prometheus elsewhere scrape it.
    metrics_host: str = Field(default="127.0.0.1", min_length=1, max_length=253)

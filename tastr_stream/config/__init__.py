"""Typed, validated configuration. ``load_config(path)`` is the one entry point daemons use."""

from .associator import AssociatorConfig, Association, StrPrior, Window
from .endpoints import Endpoints
from .ingest import IngestConfig
from .loader import config_from_dict, load_config
from .model import ModelConfig
from .network import Camera, Network, Path
from .root import AppConfig
from .security import Curve, SecurityConfig, load_token
from .trainer import TrainerConfig

__all__ = [
    "AppConfig", "Association", "AssociatorConfig", "Camera", "Curve", "Endpoints", "IngestConfig",
    "ModelConfig", "Network", "Path", "SecurityConfig", "StrPrior", "TrainerConfig", "Window", "config_from_dict",
    "load_config", "load_token",
]

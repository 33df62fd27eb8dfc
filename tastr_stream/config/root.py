"""The whole configuration file: one section per daemon, the model they share, and their network."""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from .associator import AssociatorConfig
from .base import Section
from .endpoints import Endpoints
from .ingest import IngestConfig
from .model import ModelConfig, merge_model_aliases
from .network import Network
from .security import SecurityConfig
from .trainer import TrainerConfig


class AppConfig(Section):
    network: Network
    endpoints: Endpoints = Endpoints()
    # One model for every daemon (ingest embeds with it, the associator re-embeds with it, the
    # trainer trains it); [ingest.embed] and [trainer] backbone/emb_dim are deprecated aliases.
    model: ModelConfig = ModelConfig()
    ingest: IngestConfig = IngestConfig()
    associator: AssociatorConfig = AssociatorConfig()
    trainer: TrainerConfig = TrainerConfig()
    security: SecurityConfig = SecurityConfig()

    @model_validator(mode="before")
    @classmethod
    def _one_model(cls, data: Any) -> Any:
        return merge_model_aliases(data)

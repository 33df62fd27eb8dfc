"""The whole configuration file: one section per daemon plus the network they share."""

from __future__ import annotations

from pydantic import model_validator

from .associator import AssociatorConfig
from .base import Section
from .endpoints import Endpoints
from .ingest import IngestConfig
from .network import Network
from .security import SecurityConfig
from .trainer import TrainerConfig


class AppConfig(Section):
    network: Network
    endpoints: Endpoints = Endpoints()
    ingest: IngestConfig = IngestConfig()
    associator: AssociatorConfig = AssociatorConfig()
    trainer: TrainerConfig = TrainerConfig()
    security: SecurityConfig = SecurityConfig()

    @model_validator(mode="after")
    def _embedding_dims_agree(self) -> "AppConfig":
        if self.ingest.embed.emb_dim != self.trainer.emb_dim:
            raise ValueError(
                f"ingest.embed.emb_dim={self.ingest.embed.emb_dim} differs from "
                f"trainer.emb_dim={self.trainer.emb_dim}; extractors load the trainer's weights"
            )
        return self

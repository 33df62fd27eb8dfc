"""Where the daemons meet. Defaults are loopback; edge deployments point these at the centre."""

from __future__ import annotations

from pydantic import Field, field_validator

from .base import Section

_SCHEMES = ("tcp://", "ipc://", "inproc://")


class Endpoints(Section):
    # Ingest PUSHes tracklets here; the associator binds it.
    tracklets: str = "tcp://127.0.0.1:5701"
    # Associator REP socket for live lookups.
    lookup: str = "tcp://127.0.0.1:5702"
    # Trainer PUBlishes weight announcements; extractors and associator subscribe.
    weights: str = "tcp://127.0.0.1:5703"
    # Associator PUSHes train-round requests to the trainer.
    train_requests: str = "tcp://127.0.0.1:5704"
    # Trainer ROUTER serving checkpoint bytes by version, for boxes that do not share its disk.
    checkpoints: str = "tcp://127.0.0.1:5705"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)

    @field_validator("tracklets", "lookup", "weights", "train_requests", "checkpoints")
    @classmethod
    def _zmq_endpoint(cls, v: str) -> str:
        if not v.startswith(_SCHEMES):
            raise ValueError(f"endpoint {v!r} must start with one of {_SCHEMES}")
        if v.startswith("tcp://"):
            host, _, port = v[len("tcp://"):].rpartition(":")
            if not host or not (port == "*" or (port.isdigit() and 0 < int(port) <= 65535)):
                raise ValueError(f"endpoint {v!r} must look like tcp://HOST:PORT with PORT in 1..65535 (or *)")
        return v

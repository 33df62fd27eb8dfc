"""Who may talk to the daemons: a shared token for lookups (HTTP and ZeroMQ), CURVE between boxes.

What is exposed: the associator's HTTP API and ZeroMQ lookups (people's sightings and
thumbnails, and ``forget``), its tracklet intake, the trainer's weight announcements, checkpoint
server and train-request intake. All bind loopback by default.

- ``token_file`` (or the environment variable named by ``token_env``): a shared secret every
  lookup must carry (HTTP ``Authorization: Bearer``, a ``tastr_token`` cookie for the web page,
  a ``token`` field in a ZeroMQ lookup). Optional on loopback; a lookup listener bound beyond
  loopback without one refuses to start. The token itself is never logged or printed.
- ``curve``: ZeroMQ CURVE (encryption and client keys) on the edge <-> centre sockets (tracklets,
  weights, checkpoints, train requests); keys from ``tastr-stream keys --out DIR``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Mapping

from pydantic import Field

from ..errors import ConfigError
from .base import Section

MIN_TOKEN_CHARS = 16
MAX_TOKEN_CHARS = 4096


class Curve(Section):
    """ZeroMQ CURVE between edge boxes and the central box, keys in ``keys_dir``.

    ``tastr-stream keys --out DIR`` writes ``server.key``/``server.key_secret`` (the central box:
    associator and trainer), ``client.key``/``client.key_secret`` (every box that connects) and
    ``authorized_clients/client.key``. A box reads only the files its sockets need: an edge box
    never needs ``server.key_secret``.
    """

    enabled: bool = False
    keys_dir: str = Field(default="keys", min_length=1, max_length=4096)
    # Only clients whose public key is in keys_dir/authorized_clients may connect; false lets in any
    # client that knows the server's public key (traffic is still encrypted).
    authorize_clients: bool = True


class SecurityConfig(Section):
    # A file whose first line is the shared token (e.g. keys/token from `tastr-stream keys`);
    # when empty, the environment variable named by token_env is read instead.
    token_file: str = Field(default="", max_length=4096)
    token_env: str = Field(default="TASTR_STREAM_TOKEN", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    curve: Curve = Curve()


def load_token(security: SecurityConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The shared token, or None when none is configured. Errors name the file or variable, never
    the token."""
    environ = os.environ if environ is None else environ
    if security.token_file:
        where = f"security.token_file={security.token_file!r}"
        try:
            text = Path(security.token_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: cannot read the token: {getattr(exc, 'strerror', None) or exc}") from None
        lines = text.splitlines()
        token = lines[0].strip() if lines else ""
    else:
        where = f"environment variable {security.token_env} (security.token_env)"
        token = environ.get(security.token_env, "").strip()
        if not token:
            return None
    if not MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS:
        raise ConfigError(f"{where}: the token has {len(token)} characters; use {MIN_TOKEN_CHARS}.."
                          f"{MAX_TOKEN_CHARS} (`tastr-stream keys --out DIR` writes one to DIR/token)")
    return token


def _loopback(host: str) -> bool | None:
    """True/False whether ``host`` names only loopback; None when the name does not resolve."""
    host = host.strip("[]")
    if host in ("", "*"):
        return False
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return None
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def is_loopback_host(host: str) -> bool:
    """True when ``host`` names only this machine's loopback (127.0.0.0/8, ::1, localhost).
    ``0.0.0.0``, ``*``, ``::``, other addresses and names that do not resolve are not."""
    return bool(_loopback(host))


def endpoint_host(endpoint: str) -> str | None:
    """The host of a ``tcp://HOST:PORT`` endpoint; None for ipc:// and inproc:// (this machine only,
    guarded by file permissions)."""
    if not endpoint.startswith("tcp://"):
        return None
    host = endpoint[len("tcp://"):].rpartition(":")[0]
    return host.split(";")[-1]          # "tcp://src;dst:port" connects from src to dst


def require_token_beyond_loopback(field: str, host: str | None, token: str | None,
                                  token_env: str = "TASTR_STREAM_TOKEN") -> None:
    """One-line ConfigError when a lookup listener binds beyond loopback without a token."""
    # A name that does not resolve cannot be bound: the bind says so in its own line.
    if token is None and host is not None and _loopback(host) is False:
        raise ConfigError(f"{field}={host!r} is reachable beyond this machine and no lookup token is set: "
                          f"set security.token_file (or the {token_env} environment variable; "
                          f"`tastr-stream keys --out DIR` writes one) or bind 127.0.0.1")

"""ZeroMQ CURVE between edge boxes and the central box (``security.curve``).

CURVE (CurveZMQ) encrypts a connection and authenticates both ends by key pairs: a client must
know the server's public key to connect at all, and with ``authorize_clients`` (the default) the
server's ZAP handler admits only clients whose public key is in ``keys_dir/authorized_clients``.
A connection that fails either check never completes, so nothing is delivered over it.

Roles: the associator's tracklet intake and the trainer's announcements, checkpoint server and
train-request intake bind and are CURVE *servers*; ingest daemons (and the associator when it
subscribes to weights or asks for a round) connect and are *clients*. Each socket is given its
role's :class:`CurveServer` / :class:`CurveClient` (``apply(sock)`` before bind/connect); the
daemon builds them once from the config with :func:`curve_server` / :func:`curve_client`.

Keys: ``tastr-stream keys --out DIR`` (:func:`write_keys`) writes the server and client
certificates (ZeroMQ's own ZPL format, ``zmq.auth``), the authorized client list and a lookup token.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from ..config.security import Curve
from ..errors import ConfigError

log = logging.getLogger(__name__)
SERVER, CLIENT, AUTHORIZED, TOKEN = "server", "client", "authorized_clients", "token"


def _load(path: Path, need_secret: bool) -> tuple[bytes, bytes | None]:
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"security.curve.keys_dir: cannot read {path} ({exc}); "
                          f"make keys with `tastr-stream keys --out DIR`") from None
    if need_secret and not secret:
        raise ConfigError(f"security.curve.keys_dir: {path} holds no secret key")
    return public, secret


class CurveServer:
    """A binding socket's side: this box's server key pair, and (with ``authorized_dir``) a ZAP
    handler on ``context`` that admits only the listed client keys. ``close`` stops the handler."""

    def __init__(self, public: bytes, secret: bytes, authorized_dir: Path | None, context: zmq.Context):
        self.public, self._secret = public, secret
        self.authorized_dir = authorized_dir
        self._auth: ThreadAuthenticator | None = None
        if authorized_dir is not None:
            self._auth = ThreadAuthenticator(context, log=logging.getLogger(__name__ + ".zap"))
            self._auth.start()
            self._auth.configure_curve(domain="*", location=str(authorized_dir))

    def apply(self, sock: zmq.Socket) -> None:
        sock.curve_secretkey = self._secret
        sock.curve_publickey = self.public
        sock.curve_server = True

    def close(self) -> None:
        if self._auth is not None:
            self._auth.stop()
            self._auth = None

    def __repr__(self) -> str:          # never the secret
        return f"CurveServer(public={self.public.decode()!r}, authorized_dir={self.authorized_dir})"


@dataclass(frozen=True, repr=False)
class CurveClient:
    """A connecting socket's side: this box's client key pair and the server's public key."""

    public: bytes
    secret: bytes
    server_public: bytes

    def apply(self, sock: zmq.Socket) -> None:
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_serverkey = self.server_public

    def __repr__(self) -> str:
        return f"CurveClient(public={self.public.decode()!r}, server={self.server_public.decode()!r})"


def curve_server(cfg: Curve, context: zmq.Context | None = None) -> CurveServer | None:
    """The server side from config (None when CURVE is off). Reads ``server.key_secret`` and,
    with ``authorize_clients``, needs at least one key in ``authorized_clients``."""
    if not cfg.enabled:
        return None
    root = Path(cfg.keys_dir)
    public, secret = _load(root / f"{SERVER}.key_secret", need_secret=True)
    authorized = None
    if cfg.authorize_clients:
        authorized = root / AUTHORIZED
        if not authorized.is_dir() or not any(authorized.glob("*.key")):
            raise ConfigError(f"security.curve.authorize_clients: no client key (*.key) in {authorized}; copy each "
                              f"box's client.key there, or set authorize_clients = false")
    return CurveServer(public, secret, authorized, context or zmq.Context.instance())


def curve_client(cfg: Curve) -> CurveClient | None:
    """The client side from config (None when CURVE is off): ``client.key_secret`` and ``server.key``."""
    if not cfg.enabled:
        return None
    root = Path(cfg.keys_dir)
    public, secret = _load(root / f"{CLIENT}.key_secret", need_secret=True)
    server_public, _ = _load(root / f"{SERVER}.key", need_secret=False)
    return CurveClient(public, secret, server_public)


def write_keys(out_dir: str | os.PathLike, force: bool = False) -> dict[str, Path]:
    """Write a new key set into ``out_dir``; refuse to overwrite one unless ``force``.

    ``server.key`` + ``server.key_secret``: central box only (associator, trainer).
    ``client.key`` + ``client.key_secret``: every box that connects (edge boxes; the central box too).
    ``authorized_clients/client.key``: the client keys the central box admits.
    ``token``: the shared lookup token (HTTP and ZeroMQ lookups). Secrets are mode 0600.
    """
    out = Path(out_dir)
    if (out / f"{SERVER}.key_secret").exists() and not force:
        raise ConfigError(f"keys --out {out}: a key set is already there (server.key_secret); "
                          f"pass --force to replace it (every box then needs the new files)")
    out.mkdir(parents=True, exist_ok=True)
    (out / AUTHORIZED).mkdir(exist_ok=True)
    written: dict[str, Path] = {}
    for name in (SERVER, CLIENT):
        public, secret = zmq.auth.create_certificates(out, name)
        os.chmod(secret, 0o600)
        written[f"{name}.key"], written[f"{name}.key_secret"] = Path(public), Path(secret)
    written[AUTHORIZED] = Path(shutil.copyfile(written["client.key"], out / AUTHORIZED / "client.key"))
    token_path = out / TOKEN
    fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
    written[TOKEN] = token_path
    return written

"""``tastr-stream keys --out DIR``: make the keys that lock a deployment down.

Writes a CURVE key set for the ZeroMQ sockets between edge boxes and the central box and a
shared lookup token (see ``config/security.py`` and ``wire/curve.py``)::

  DIR/server.key, DIR/server.key_secret     central box only (associator and trainer)
  DIR/client.key, DIR/client.key_secret     every box (edge boxes; the central box subscribes too)
  DIR/authorized_clients/client.key         client keys the central box admits
  DIR/token                                 lookup token (HTTP and ZeroMQ lookups)

Then set ``[security] token_file = "DIR/token"`` and ``[security.curve] enabled = true,
keys_dir = "DIR"`` in every box's config and copy the files each box needs (secrets are 0600).
Nothing secret is printed; an existing key set is kept unless ``--force``.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("keys", help="write CURVE keys for edge <-> central sockets and a lookup token")
    p.add_argument("--out", required=True, help="folder to write the keys into (created if missing)")
    p.add_argument("--force", action="store_true", help="replace a key set already in --out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..wire.curve import write_keys

    written = write_keys(args.out, force=args.force)
    for name, path in written.items():
        print(f"{name:24s} {path}")
    print("central box: server.key, server.key_secret, client.key, client.key_secret, authorized_clients/, token\n"
          "edge boxes:  server.key, client.key, client.key_secret (and token for lookups from there)\n"
          "config:      [security] token_file = \".../token\"; [security.curve] enabled = true, keys_dir = \"...\"")
    return 0

"""A bounded on-disk queue of encoded messages waiting for acknowledgement.

Ingest writes every tracklet here before sending it and deletes it only when the associator
acknowledges it (after the associator's store committed it). A missing associator therefore
never blocks ingest and never loses a tracklet within the bound; beyond the bound the OLDEST
messages are dropped and counted: on a live network fresh tracklets are worth more than old
ones, and an operator sees the drop counter rise. Files are written to a temp name, fsynced
and renamed, so a crash leaves either a whole message or none.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from pathlib import Path

from ..errors import TastrError

log = logging.getLogger(__name__)
_NAME = re.compile(r"^(\d{12})-([A-Za-z0-9_.:-]{1,160})\.msg$")


def _safe(msg_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", msg_id)[:160]


class DiskSpool:
    def __init__(self, directory: str | Path, max_bytes: int):
        self.dir = Path(directory)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TastrError(f"spool dir {self.dir}: cannot create: {e.strerror}") from None
        self.max_bytes = max_bytes
        self.dropped = 0
        for tmp in self.dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        self._entries: dict[str, tuple[int, Path, int]] = {}   # msg_id -> (seq, path, size)
        seq = 0
        for p in sorted(self.dir.glob("*.msg")):
            m = _NAME.match(p.name)
            if not m:
                log.warning("ignoring foreign file in spool", extra={"kv": {"path": p}})
                continue
            seq = max(seq, int(m.group(1)))
            self._entries[m.group(2)] = (int(m.group(1)), p, p.stat().st_size)
        self._next_seq = seq + 1
        self._bytes = sum(size for _, _, size in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, msg_id: str) -> bool:
        return _safe(msg_id) in self._entries

    @property
    def bytes(self) -> int:
        return self._bytes

    def put(self, msg_id: str, payload: bytes) -> None:
        """Persist one message (replacing an unsent one with the same id), then enforce the bound."""
        key = _safe(msg_id)
        if key in self._entries:
            self.ack(key)
        seq = self._next_seq
        self._next_seq += 1
        path = self.dir / f"{seq:012d}-{key}.msg"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self._entries[key] = (seq, path, len(payload))
        self._bytes += len(payload)
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            oldest = min(self._entries, key=lambda k: self._entries[k][0])
            self.ack(oldest)
            self.dropped += 1
            log.warning("spool full: dropped oldest message", extra={"kv": {"msg_id": oldest, "dropped": self.dropped}})

    def ack(self, msg_id: str) -> bool:
        entry = self._entries.pop(_safe(msg_id), None)
        if entry is None:
            return False
        entry[1].unlink(missing_ok=True)
        self._bytes -= entry[2]
        return True

    def ids(self, limit: int | None = None) -> list[str]:
        """Oldest first, without reading any payload (the sender looks at these every few ms).
        Entries are kept in sequence order (loaded sorted, appended as put), so no sort is needed."""
        return list(itertools.islice(self._entries, limit))

    def read(self, msg_id: str) -> bytes | None:
        """One payload; None when it is gone (acknowledged, or dropped by the bound)."""
        entry = self._entries.get(_safe(msg_id))
        if entry is None:
            return None
        try:
            return entry[1].read_bytes()
        except FileNotFoundError:
            self._entries.pop(_safe(msg_id), None)
            return None

    def pending(self, limit: int | None = None) -> list[tuple[str, bytes]]:
        """Oldest first: (msg_id, payload)."""
        keys = sorted(self._entries, key=lambda k: self._entries[k][0])[:limit]
        out = []
        for k in keys:
            try:
                out.append((k, self._entries[k][1].read_bytes()))
            except FileNotFoundError:
                self._entries.pop(k, None)
        return out

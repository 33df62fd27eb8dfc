"""Persistent identity ids on top of the associator's in-memory identity book.

The :class:`IdentityBook` numbers identities from 0 every time an associator starts. Users see
identity ids in lookups and dashboards, so they must survive restarts and never reuse an id an
evicted history still shows. This map translates book ids to persistent ids: after a restart a
rebuilt identity takes the stored id most of its members had (when no other identity claimed
it), and every new identity draws the next id past the largest ever stored.
"""

from __future__ import annotations

from collections import Counter


class IdentityIds:
    def __init__(self, next_id: int = 0):
        self._to_persistent: dict[int, int] = {}
        self._taken: set[int] = set()
        self._next = int(next_id)

    def persistent(self, book_id: int) -> int:
        pid = self._to_persistent.get(book_id)
        if pid is None:
            pid = self._fresh()
            self._to_persistent[book_id] = pid
        return pid

    def _fresh(self) -> int:
        while self._next in self._taken:
            self._next += 1
        pid = self._next
        self._taken.add(pid)
        self._next += 1
        return pid

    def adopt(self, book_identities: dict[str, int], stored: dict[str, int]) -> None:
        """After a rebuild: give each book identity the stored id most of its members carried."""
        members: dict[int, list[str]] = {}
        for tid, bid in book_identities.items():
            members.setdefault(bid, []).append(tid)
        # Largest components choose first, so a split hands the old id to its bigger part.
        for bid, tids in sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            votes = Counter(stored[t] for t in tids if t in stored)
            for pid, _count in votes.most_common():
                if pid not in self._taken:
                    self._taken.add(pid)
                    self._to_persistent[bid] = pid
                    break

    def translate(self, book_identities: dict[str, int]) -> dict[str, int]:
        return {tid: self.persistent(bid) for tid, bid in book_identities.items()}

"""Global identities: connected components of accepted cross-camera links and re-links.

Batch: union-find over the edges; labels 0, 1, ... in order of each component's earliest
member (smallest (t_start_s, tracklet_id)), so the labelling is deterministic.

Incremental (``IdentityBook``): links can also disappear (k-means moves its threshold, a
nearest neighbour changes, a tracklet leaves the window), which union-find cannot undo, so the
book re-walks only the components around the touched tracklets. Identity ids are stable:
- a new tracklet gets a fresh id (ids count up per book, so a smaller id was seen first);
- when components merge, the oldest id (smallest, i.e. first seen) survives;
- when a component splits, the part holding the identity's longest-standing member (the one
  that arrived first) keeps the id and every other part gets a fresh id.
Given the same sequence of calls the ids are deterministic; across different arrival orders
the partition into identities is the same as the batch one (ids are equal up to relabelling).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .records import TrackletMeta


def batch_identities(tracklets: Sequence[TrackletMeta], edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    """tracklet id -> component label, by union-find with path halving."""
    parent = {t.tracklet_id: t.tracklet_id for t in tracklets}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in edges:
        ru, rv = find(u), find(v)
        if ru != rv:
            parent[max(ru, rv)] = min(ru, rv)
    order = sorted(tracklets, key=lambda t: (t.t_start_s, t.tracklet_id))
    labels: dict[str, int] = {}
    out: dict[str, int] = {}
    for t in order:
        root = find(t.tracklet_id)
        out[t.tracklet_id] = labels.setdefault(root, len(labels))
    return out


def same_partition(a: dict[str, int], b: dict[str, int]) -> bool:
    """True when two labellings group the same keys the same way (labels may differ)."""
    if a.keys() != b.keys():
        return False
    fwd: dict[int, int] = {}
    back: dict[int, int] = {}
    for k, la in a.items():
        lb = b[k]
        if fwd.setdefault(la, lb) != lb or back.setdefault(lb, la) != la:
            return False
    return True


class IdentityBook:
    """Stable identity ids over a changing graph of tracklets (nodes) and links (edges)."""

    def __init__(self) -> None:
        self._adj: dict[str, set[str]] = {}
        self._seq: dict[str, int] = {}          # arrival order of each node
        self._ident: dict[str, int] = {}        # node -> identity id
        self._members: dict[int, set[str]] = {}
        self._next_seq = 0
        self._next_id = 0

    def identity_of(self, node: str) -> int:
        return self._ident[node]

    def identities(self) -> dict[str, int]:
        return dict(self._ident)

    def members(self, identity: int) -> frozenset[str]:
        return frozenset(self._members.get(identity, ()))

    def _fresh(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def apply(self, added_nodes: Iterable[str] = (), removed_nodes: Iterable[str] = (),
              added_edges: Iterable[tuple[str, str]] = (), removed_edges: Iterable[tuple[str, str]] = (),
              ) -> dict[str, tuple[int | None, int | None]]:
        """Apply one batch of graph changes; return {node: (old id, new id)} for every node whose id changed.

        Removed edges and nodes are applied before added ones; an edge must join present nodes.
        """
        touched: set[str] = set()
        changes: dict[str, tuple[int | None, int | None]] = {}
        for u, v in removed_edges:
            for x, y in ((u, v), (v, u)):
                if x in self._adj:
                    self._adj[x].discard(y)
                    touched.add(x)
        for node in removed_nodes:
            for nb in self._adj.pop(node, set()):
                if nb in self._adj:
                    self._adj[nb].discard(node)
                    touched.add(nb)
            old = self._ident.pop(node, None)
            if old is not None:
                self._members[old].discard(node)
                touched.update(self._members[old])
                if not self._members[old]:
                    del self._members[old]
                changes[node] = (old, None)
            self._seq.pop(node, None)
        for node in added_nodes:
            if node in self._adj:
                continue
            self._adj[node] = set()
            self._seq[node] = self._next_seq
            self._next_seq += 1
            ident = self._fresh()
            self._ident[node] = ident
            self._members[ident] = {node}
            changes[node] = (None, ident)
        for u, v in added_edges:
            self._adj[u].add(v)
            self._adj[v].add(u)
            touched.update((u, v))
        touched &= self._adj.keys()
        for node, (old, new) in self._relabel(touched).items():
            prev = changes.get(node, (old, new))[0]
            changes[node] = (prev, new)
        return {n: c for n, c in changes.items() if c[0] != c[1]}

    def _component(self, start: str) -> set[str]:
        seen, stack = {start}, [start]
        while stack:
            for nb in self._adj[stack.pop()]:
                if nb not in seen:
                    seen.add(nb)
                    stack.append(nb)
        return seen

    def _relabel(self, touched: set[str]) -> dict[str, tuple[int, int]]:
        comps: list[set[str]] = []
        covered: set[str] = set()
        for node in sorted(touched, key=self._seq.__getitem__):
            if node not in covered:
                comp = self._component(node)
                covered |= comp
                comps.append(comp)
        old_ids = {self._ident[n] for n in covered}
        pending = [m for i in old_ids for m in self._members[i] if m not in covered]
        while pending:  # every part of a touched identity is re-walked, so none keeps a stale id
            comp = self._component(pending.pop())
            if not comp <= covered:
                covered |= comp
                comps.append(comp)
                new_ids = {self._ident[n] for n in comp} - old_ids
                old_ids |= new_ids
                pending.extend(m for i in new_ids for m in self._members[i] if m not in covered)
            pending = [m for m in pending if m not in covered]
        anchor = {i: min(self._members[i], key=self._seq.__getitem__) for i in old_ids}
        out: dict[str, tuple[int, int]] = {}
        new_members: dict[int, set[str]] = {}
        for comp in comps:
            claims = [i for i in old_ids if anchor[i] in comp]
            ident = min(claims) if claims else self._fresh()
            new_members[ident] = comp
            for n in comp:
                if self._ident[n] != ident:
                    out[n] = (self._ident[n], ident)
        for i in old_ids:
            self._members.pop(i, None)
        for ident, comp in new_members.items():
            self._members[ident] = comp
            for n in comp:
                self._ident[n] = ident
        return out

"""Subprocess for the crash tests: writes to a store and prints each acknowledgement.

``loop [start]``: puts tracklets start, start+1, ... forever (a restart redelivers from the
first unacknowledged one, as ingest does); after put_tracklet returns it prints ``T <id>``, and every
third tracklet it links it to the previous one and assigns identities, printing ``L <a> <b>``
and ``I <id> <identity>`` once those calls return. The test SIGKILLs it mid-stream.
``die_before_commit``: stores tracklet 0, then SIGKILLs itself after the crops of tracklet 1
are on disk but before its row commits (the window a real crash can hit).
``die_during_eviction``: stores 4 old tracklets of identity 5, then SIGKILLs itself after the
retention transaction commits but before the evicted crop packs are deleted.
"""

from __future__ import annotations

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from synth import make_tracklet  # noqa: E402

from tastr_stream.store import LinkRow, Store  # noqa: E402
from tastr_stream.config.associator import Retention  # noqa: E402
from tastr_stream.store import writes  # noqa: E402
from tastr_stream.store.crops import CropFiles  # noqa: E402


def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


def main(store_dir: str, mode: str, start: int) -> int:
    with Store.open(store_dir, Retention(max_age_s=50)) as store:
        if mode == "die_during_eviction":
            ts = [make_tracklet(i) for i in range(4)]
            store.put_tracklets(ts)
            store.set_identities({t.tracklet_id: 5 for t in ts})
            CropFiles.remove = die
            store.enforce_retention(now_s=10_000.0)
            return 1  # not reached
        if mode == "die_before_commit":
            store.put_tracklet(make_tracklet(0))
            print("T", make_tracklet(0).tracklet_id, flush=True)
            writes.insert_tracklet = die
            store.put_tracklet(make_tracklet(1))
            return 1  # not reached
        i = start
        prev = None
        while True:
            t = make_tracklet(i, camera_id=f"cam{i % 3}", n_crops=4)
            store.put_tracklet(t)
            print("T", t.tracklet_id, flush=True)
            if prev is not None and i % 3 == 0:
                store.upsert_links([LinkRow(prev, t.tracklet_id, 0.5, 0.7, 0.9, "provisional", 0)])
                print("L", *sorted((prev, t.tracklet_id)), flush=True)
                store.set_identities({prev: i, t.tracklet_id: i})
                print("I", prev, i, flush=True)
                print("I", t.tracklet_id, i, flush=True)
            prev = t.tracklet_id
            i += 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0))

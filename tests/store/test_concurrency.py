"""Lookups run while the associator writes (WAL: readers never block the writer).

Guards against: a lookup thread seeing a tracklet the associator already acknowledged as
missing, a lookup raising "database is locked" under write load, and a reader process (the
trainer) blocking the writer.
"""

from __future__ import annotations

import threading

from tastr_stream.store import Store

from .synth import make_tracklet

N = 40


def test_readers_see_every_acknowledged_write_while_writer_writes(tmp_path):
    writer = Store.open(tmp_path)
    other_process_view = Store.open(tmp_path, read_only=True)   # as the trainer opens it
    acked: list[str] = []
    acked_lock = threading.Lock()
    done = threading.Event()
    errors: list[BaseException] = []
    reads = [0, 0]

    def write() -> None:
        try:
            for i in range(N):
                t = make_tracklet(i, camera_id=f"cam{i % 4}")
                writer.put_tracklet(t)
                writer.set_identities({t.tracklet_id: i // 4})
                with acked_lock:
                    acked.append(t.tracklet_id)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            done.set()

    def read(store: Store, slot: int) -> None:
        try:
            last_count = 0
            while not done.is_set() or reads[slot] == 0:
                with acked_lock:
                    seen = list(acked)
                for tid in seen[-5:]:
                    assert store.get_tracklet(tid) is not None, f"acknowledged {tid} not visible"
                    assert store.identity_of(tid) is not None
                    assert store.crops(tid)
                count = store.stats().tracklets
                assert count >= max(last_count, len(seen))
                last_count = count
                if seen:
                    assert store.sightings(store.identity_of(seen[-1]))
                reads[slot] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write), threading.Thread(target=read, args=(writer, 0)),
               threading.Thread(target=read, args=(other_process_view, 1))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not any(th.is_alive() for th in threads), "a thread hung"
    assert not errors, errors[0]
    assert reads[0] > 0 and reads[1] > 0
    assert other_process_view.stats().tracklets == N
    other_process_view.close()
    writer.close()

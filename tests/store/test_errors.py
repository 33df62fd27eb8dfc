"""Bad stores fail at open with StoreError naming the file, never with a raw sqlite3 error.

Guards against: an associator silently starting on a corrupt or foreign file, two
associators writing one store, a downgrade rewriting a newer schema, and a lookup process
writing by accident.
"""

from __future__ import annotations

import sqlite3

import pytest

from tastr_stream.errors import StoreError, TastrError
from tastr_stream.store import SCHEMA_VERSION, Store
from tastr_stream.store.schema import DB_NAME

from .synth import make_tracklet


def test_store_error_is_a_tastr_error():
    assert issubclass(StoreError, TastrError)


def test_corrupt_database_file(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"this is not a database, just garbage bytes" * 100)
    with pytest.raises(StoreError, match=f"{DB_NAME}.*(corrupt|not a)"):
        Store.open(tmp_path)
    with pytest.raises(StoreError, match=DB_NAME):
        Store.open(tmp_path, read_only=True)
    # The lock was released: after the file is fixed the store opens.
    (tmp_path / DB_NAME).unlink()
    Store.open(tmp_path).close()


def test_store_dir_not_writable(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="not writable"):
        Store.open(blocker / "store")


def test_newer_schema_is_refused(tmp_path):
    Store.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}"):
        Store.open(tmp_path)
    with pytest.raises(StoreError, match="schema version"):
        Store.open(tmp_path, read_only=True)


def test_second_writer_is_refused_and_lock_freed_on_close(tmp_path):
    first = Store.open(tmp_path)
    with pytest.raises(StoreError, match="another writer"):
        Store.open(tmp_path)
    first.close()
    Store.open(tmp_path).close()


def test_read_only_and_closed_stores_refuse_writes(tmp_path):
    with pytest.raises(StoreError, match="no store database"):
        Store.open(tmp_path, read_only=True)
    with Store.open(tmp_path) as writer:
        writer.put_tracklet(make_tracklet(0))
        with Store.open(tmp_path, read_only=True) as reader:
            assert reader.get_tracklet(make_tracklet(0).tracklet_id) is not None
            with pytest.raises(StoreError, match="read-only"):
                reader.put_tracklet(make_tracklet(1))
            with pytest.raises(StoreError, match="read-only"):
                reader.kv_set("k", 1)
        with pytest.raises(StoreError, match="Tracklet"):
            writer.put_tracklet({"tracklet_id": "x"})
    with pytest.raises(StoreError, match="closed"):
        writer.get_tracklet("x")
    with pytest.raises(StoreError, match="closed"):
        writer.put_tracklet(make_tracklet(2))

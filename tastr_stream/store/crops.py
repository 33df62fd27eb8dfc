"""Crop JPEGs on disk: one pack file per tracklet, ``<store_dir>/crops/<camera>/<hash>.crops``.

Why one pack per tracklet and not ``<i>.jpg`` files or SQLite BLOBs (measured on the
development VM's ext4, 60 crops of ~10 KB each): a durable write needs an fsync per file, so
60 files cost 17-270 ms per tracklet (4-60 tracklets/s), a single pack ~2 ms; BLOBs in the
row's transaction cost 12-17 ms, but make the database as large as the retention budget (GBs), which then
needs VACUUM to give space back and makes ``integrity_check`` and backups slow. A pack also
keeps the inode count at one per tracklet instead of 60 (millions at the default 20 GB).
The JPEG bytes are stored unchanged; ``read_one`` reads one crop without the others
(the trainer samples K crops per tracklet).

Pack layout (little-endian): ``b"TSCP"``, u32 format version (1), u32 count, count x u32
lengths, then the JPEGs back to back. It is self-describing, so a reader checks a pack
without the database and a torn file is detected, not misread.

Crash safety: a pack is written to a temporary name, fsync'ed, renamed to its final name and
the folder fsync'ed, all BEFORE the row that points at it commits. So a committed row never
points at a missing file; a crash leaves at most a pack that no row names, which ``sweep``
deletes when the writer opens the store.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import struct
import uuid
from pathlib import Path

from ..errors import StoreError

log = logging.getLogger(__name__)

CROPS_DIR = "crops"
PACK_SUFFIX = ".crops"
TMP_PREFIX = ".tmp-"
MAGIC = b"TSCP"
FORMAT_VERSION = 1
_HEAD = struct.Struct("<4sII")
_SAFE_CAMERA = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _camera_dir_name(camera_id: str) -> str:
    if _SAFE_CAMERA.fullmatch(camera_id):
        return camera_id
    return "x-" + hashlib.sha256(camera_id.encode()).hexdigest()[:16]


def encode_pack(crops_jpeg: tuple[bytes, ...]) -> bytes:
    lengths = struct.pack(f"<{len(crops_jpeg)}I", *map(len, crops_jpeg))
    return b"".join((_HEAD.pack(MAGIC, FORMAT_VERSION, len(crops_jpeg)), lengths, *crops_jpeg))


def _lengths(head: bytes, where: str) -> tuple[int, list[int]]:
    """(offset of the first JPEG, lengths) from the first bytes of a pack; StoreError if torn."""
    if len(head) < _HEAD.size:
        raise StoreError(f"crop pack {where} is truncated ({len(head)} bytes)")
    magic, version, count = _HEAD.unpack_from(head)
    if magic != MAGIC or version != FORMAT_VERSION:
        raise StoreError(f"crop pack {where}: bad magic/version {magic!r}/{version}")
    end = _HEAD.size + 4 * count
    if len(head) < end:
        raise StoreError(f"crop pack {where}: header of {count} crops is truncated")
    return end, list(struct.unpack_from(f"<{count}I", head, _HEAD.size))


class CropFiles:
    """Reads, writes and sweeps the crop packs under one store folder."""

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = Path(store_dir)
        self.root = self.store_dir / CROPS_DIR

    def rel_path(self, camera_id: str, tracklet_id: str) -> str:
        """Pack of a tracklet's crops, relative to the store folder (what the row keeps)."""
        digest = hashlib.sha256(tracklet_id.encode()).hexdigest()[:32]
        return f"{CROPS_DIR}/{_camera_dir_name(camera_id)}/{digest}{PACK_SUFFIX}"

    def write(self, camera_id: str, tracklet_id: str, crops_jpeg: tuple[bytes, ...],
              sync_dir: bool = True) -> tuple[str, int]:
        """Durably place the crops; returns (relative path, bytes on disk). With
        ``sync_dir=False`` the caller must call ``sync_dirs`` before committing rows (a batch
        then pays one folder fsync per camera instead of one per tracklet).

        Only the single writer calls this, and only for a tracklet with no committed row, so
        a pack already at the final name is an orphan of an earlier crash and is replaced.
        """
        rel = self.rel_path(camera_id, tracklet_id)
        final = self.store_dir / rel
        cam_dir = final.parent
        tmp = cam_dir / f"{TMP_PREFIX}{final.name}-{uuid.uuid4().hex[:8]}"
        data = encode_pack(crops_jpeg)
        try:
            if not cam_dir.is_dir():
                cam_dir.mkdir(parents=True, exist_ok=True)
                _fsync_dir(self.root)
                _fsync_dir(self.store_dir)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
            if sync_dir:
                _fsync_dir(cam_dir)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write crops of tracklet {tracklet_id!r} to {final}: {exc}") from exc
        return rel, len(data)

    def sync_dirs(self, rel_paths: list[str]) -> None:
        """fsync the folders holding these packs, so their renames are durable."""
        try:
            for folder in sorted({(self.store_dir / p).parent for p in rel_paths}):
                _fsync_dir(folder)
        except OSError as exc:
            raise StoreError(f"cannot fsync crop folders under {self.root}: {exc}") from exc

    def read(self, rel_path: str, tracklet_id: str) -> list[bytes]:
        """All crops of one tracklet, in order; StoreError naming the file when missing or torn."""
        path = self.store_dir / rel_path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"crops of tracklet {tracklet_id!r} unreadable at {path}: {exc}") from exc
        pos, lengths = _lengths(data, str(path))
        if pos + sum(lengths) != len(data):
            raise StoreError(f"crop pack {path}: {len(data)} bytes, header says {pos + sum(lengths)}")
        out = []
        for n in lengths:
            out.append(data[pos:pos + n])
            pos += n
        return out

    def read_one(self, rel_path: str, index: int, tracklet_id: str) -> bytes:
        """One crop, reading only the header and that crop."""
        path = self.store_dir / rel_path
        try:
            with open(path, "rb") as f:
                head = f.read(_HEAD.size)
                count = _HEAD.unpack_from(head)[2] if len(head) == _HEAD.size else 0
                head += f.read(4 * count)
                pos, lengths = _lengths(head, str(path))
                if not 0 <= index < len(lengths):
                    raise StoreError(f"tracklet {tracklet_id!r} has {len(lengths)} crops, no index {index}")
                f.seek(pos + sum(lengths[:index]))
                crop = f.read(lengths[index])
        except OSError as exc:
            raise StoreError(f"crop {index} of tracklet {tracklet_id!r} unreadable at {path}: {exc}") from exc
        if len(crop) != lengths[index]:
            raise StoreError(f"crop pack {path} is truncated at crop {index}")
        return crop

    def check(self, rel_path: str, n_crops: int) -> str | None:
        """A problem with one pack (missing, torn, wrong count), or None when it is sound."""
        path = self.store_dir / rel_path
        try:
            size = path.stat().st_size
            with open(path, "rb") as f:
                head = f.read(_HEAD.size + 4 * n_crops)
            pos, lengths = _lengths(head, str(path))
        except (OSError, StoreError) as exc:
            return f"{path}: {exc}"
        if len(lengths) != n_crops or pos + sum(lengths) != size:
            return f"{path}: {len(lengths)} crops / {size} bytes, row says {n_crops} crops"
        return None

    def remove(self, rel_path: str) -> bool:
        """Delete one tracklet's pack after its row is gone; a failure is logged, and the file
        becomes an orphan that the next sweep retries."""
        path = self.store_dir / rel_path
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("cannot delete evicted crop pack; next open retries",
                        extra={"kv": {"path": str(path), "error": exc}})
            return False
        return True

    def sweep(self, referenced: set[str]) -> int:
        """Delete every file under crops/ that no committed row names (crash leftovers)."""
        if not self.root.is_dir():
            return 0
        removed = 0
        for cam_dir in self.root.iterdir():
            if not cam_dir.is_dir():
                continue
            for entry in cam_dir.iterdir():
                if f"{CROPS_DIR}/{cam_dir.name}/{entry.name}" in referenced:
                    continue
                if entry.is_dir():
                    log.warning("unexpected folder among crop packs left in place", extra={"kv": {"path": entry}})
                    continue
                entry.unlink()
                removed += 1
        if removed:
            log.info("swept orphan crop packs", extra={"kv": {"count": removed, "root": str(self.root)}})
        return removed

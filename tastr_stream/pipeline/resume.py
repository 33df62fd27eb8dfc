"""Where an ingest reading a recorded file stopped, so that a restart continues there.

Guards against: an ingest restarted on a file re-read it from frame 0 and published every person
it had already published, again, under a new session (issue 13).

Each camera that reads a file (never a live network stream) keeps ``source.json`` in its spool
folder (``<spool.dir>/<camera>/``), replaced atomically (temp file, fsync, rename, fsync of the
folder). It holds:

- ``source``: the file's fingerprint: absolute path, size, mtime, sha256 of its first and last
  MiB. The same size and hashes are the same file, also moved or touched;
- ``resume_frame`` R and ``resume_t_s``, the stream time there (of frame R, or of the last frame
  read before it; for people): every tracklet that closed on a frame before R has been
  *committed*: written to the disk spool, from which the sender delivers it until the associator
  acknowledges it (a crash keeps the spool), or dropped for a counted reason (no decodable crop);
- ``finished``: the whole file was read and every tracklet of it committed.

The position counts a tracklet when it enters the spool rather than when the associator
acknowledges it: a tracklet still in the spool at a crash is delivered by the restarted sender,
and reading its frames again would publish that visit a second time under another id.
R is written *before* the tracklet enters the spool (write-ahead): a crash between the two loses
that one tracklet and never publishes it twice.

A restart on the same file skips the frames before R (decoded, never converted or detected) and
continues with a fresh tracker under a new session tag. By design nothing is published twice;
what a crash costs is:

- a track open at the crash is **restarted from R**: its frames before R are lost, and the person's
  frames from R on become a new tracklet;
- a tracklet that had closed but was still waiting for its embedding is lost (all its frames are
  before R).

Tracklets are committed in the order they closed (one FIFO embedding thread), which is what makes
"every tracklet that closed before R" hold. A finished file is not read again (the restart only
delivers the spool); another file after a finished one starts at frame 0 (a camera's next
recording). A state for another file whose reading was not finished, or one that cannot be read,
refuses the start with one line naming the files, the position and ``--from-start``, which
discards the position; the spool is delivered either way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ..decode.frame import DecodeStats, Frame, FrameSource
from ..errors import StreamError

log = logging.getLogger(__name__)
STATE_NAME = "source.json"
FORMAT = 1
HASH_BYTES = 1 << 20


class ResumeRefused(StreamError):
    """A file source cannot continue from its saved position (another file, unreadable state)."""


@dataclass(frozen=True)
class Fingerprint:
    """What identifies a recorded file: size and the hashes decide, path and mtime are for people."""

    path: str
    size: int
    mtime_ns: int
    head_sha256: str
    tail_sha256: str

    @classmethod
    def of(cls, path: str | os.PathLike) -> Fingerprint:
        path = os.path.abspath(os.fspath(path))
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            head = hashlib.sha256(f.read(HASH_BYTES)).hexdigest()
            f.seek(max(0, st.st_size - HASH_BYTES))
            tail = hashlib.sha256(f.read(HASH_BYTES)).hexdigest()
        return cls(path, st.st_size, st.st_mtime_ns, head, tail)

    def same_file(self, other: Fingerprint) -> bool:
        return (self.size, self.head_sha256, self.tail_sha256) == (other.size, other.head_sha256, other.tail_sha256)


@dataclass(frozen=True)
class Position:
    resume_frame: int = 0
    resume_t_s: float | None = None
    finished: bool = False
    committed: int = 0        # tracklets committed over every run on this file
    runs: int = 1             # starts on this file (1 = never resumed)


def state_path(spool_dir: str | os.PathLike) -> Path:
    return Path(spool_dir) / STATE_NAME


def write_state(path: Path, camera_id: str, source: Fingerprint, position: Position) -> None:
    """Replace ``path`` atomically and durably."""
    body = {"format": FORMAT, "camera_id": camera_id, "source": asdict(source), **asdict(position),
            "written_at_unix_s": round(time.time(), 3)}
    tmp = path.with_name(path.name + ".new")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(body, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_state(path: Path) -> tuple[str, Fingerprint, Position]:
    """(camera_id, fingerprint, position) of a state file; ValueError/OSError when unusable."""
    body = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError(f"format {body.get('format') if isinstance(body, dict) else body!r} is not {FORMAT}")
    src = body["source"]
    fp = Fingerprint(str(src["path"]), int(src["size"]), int(src["mtime_ns"]), str(src["head_sha256"]),
                     str(src["tail_sha256"]))
    t_s = body.get("resume_t_s")
    pos = Position(int(body["resume_frame"]), None if t_s is None else float(t_s), bool(body["finished"]),
                   int(body["committed"]), int(body["runs"]))
    if pos.resume_frame < 0 or pos.committed < 0 or pos.runs < 1:
        raise ValueError(f"negative position {pos}")
    return str(body["camera_id"]), fp, pos


def _where(fp: Fingerprint, pos: Position) -> str:
    at = f"frame {pos.resume_frame}" + (f" (t={pos.resume_t_s:.2f} s)" if pos.resume_t_s is not None else "")
    return f"{fp.path} was read to the end" if pos.finished else f"{fp.path} was read up to {at}"


class ResumeLedger:
    """One file source's position, kept as tracklets close and are committed (module docstring).

    The pipeline calls ``closed`` for each tracklet as it closes (before it is embedded) and
    ``advanced`` after each frame (its closed tracklets registered): both on the frame thread.
    ``committing`` (right before the tracklet enters the spool) and ``dropped`` come from the
    embedding thread. The position R = the earliest frame a still uncommitted tracklet closed on,
    else the frame after the last advanced one; it is written at every commit (before the spool
    write) and otherwise every ``every_s`` of stream time.
    """

    def __init__(self, path: Path, camera_id: str, source: Fingerprint, start: Position, every_s: float = 1.0):
        self.path, self.camera_id, self.source = path, camera_id, source
        self.start = start
        self.every_s = float(every_s)
        self._lock = threading.Lock()
        self._open: dict[str, tuple[int, float]] = {}    # uncommitted closed tracklet -> (frame, t_s)
        self._next = (start.resume_frame, start.resume_t_s)
        self._committed = start.committed
        self._last_t_s: float | None = None       # stream time of the last advanced frame
        self._written_at_t_s: float | None = None  # ... when the state was last written
        self.writes = 0
        with self._lock:
            self._write(start.finished)

    @property
    def resume_frame(self) -> int:
        with self._lock:
            return self._position(False).resume_frame

    def closed(self, tracklet_id: str, frame_index: int, t_s: float) -> None:
        with self._lock:
            self._open[tracklet_id] = (frame_index, t_s)

    def advanced(self, frame_index: int, t_s: float) -> None:
        with self._lock:
            self._next = (frame_index + 1, t_s)
            self._last_t_s = t_s
            if self._written_at_t_s is None or t_s - self._written_at_t_s >= self.every_s:
                self._write(False)

    def committing(self, tracklet_id: str) -> None:
        """Write-ahead: the position after this tracklet, before it enters the spool."""
        with self._lock:
            self._open.pop(tracklet_id, None)
            self._committed += 1
            self._write(False)

    def dropped(self, tracklet_id: str) -> None:
        with self._lock:
            self._open.pop(tracklet_id, None)

    def close(self, end_of_file: bool) -> bool:
        """Write the final position; ``finished`` only at the end of the file with nothing
        uncommitted. Returns whether the file counts as finished."""
        with self._lock:
            finished = end_of_file and not self._open
            self._write(finished)
            return finished

    def _position(self, finished: bool) -> Position:
        frame, t_s = min(self._open.values()) if self._open else self._next
        return Position(frame, t_s, finished, self._committed, self.start.runs)

    def _write(self, finished: bool) -> None:
        pos = self._position(finished)
        write_state(self.path, self.camera_id, self.source, pos)
        self._written_at_t_s = self._last_t_s
        self.writes += 1


def open_ledger(spool_dir: str | os.PathLike, camera_id: str, source_path: str | os.PathLike,
                from_start: bool = False) -> ResumeLedger:
    """The ledger of ``camera_id`` reading ``source_path``: where a previous run on the same file
    stopped, a fresh one at frame 0 (no state, or ``from_start``), or ``ResumeRefused``."""
    path = state_path(spool_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        source = Fingerprint.of(source_path)
    except OSError as exc:
        raise ResumeRefused(f"camera {camera_id!r}: {exc.filename}: {exc.strerror}") from None
    override = f"pass --from-start to read {source.path} from frame 0"
    if from_start or not path.exists():
        if from_start and path.exists():
            log.warning("--from-start: saved position discarded", extra={"kv": {"camera": camera_id, "state": path}})
        return ResumeLedger(path, camera_id, source, Position())
    try:
        cam, saved, pos = read_state(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResumeRefused(f"camera {camera_id!r}: cannot read the saved position {path} "
                            f"({getattr(exc, 'strerror', None) or exc}); {override}") from None
    if cam != camera_id:
        raise ResumeRefused(f"camera {camera_id!r}: the saved position {path} belongs to camera {cam!r} "
                            f"({_where(saved, pos)}); {override}")
    if not saved.same_file(source) and pos.finished:
        # Nothing of the old file is left to read: the next recording of this camera starts at 0.
        log.info("saved position is of another file, read to its end; this file starts at frame 0",
                 extra={"kv": {"camera": camera_id, "source": source.path, "previous": saved.path}})
        return ResumeLedger(path, camera_id, source, Position())
    if not saved.same_file(source):
        what = f"size {saved.size} != {source.size}" if saved.size != source.size else "content differs"
        raise ResumeRefused(f"camera {camera_id!r}: {_where(saved, pos)} (saved in {path}), but the source "
                            f"{source.path} is another file ({what}); {override} (the rest of {saved.path} "
                            f"is then never read)")
    runs = pos.runs + 1
    log.info("file source resumes", extra={"kv": {
        "camera": camera_id, "source": source.path, "resume_frame": pos.resume_frame, "resume_t_s": pos.resume_t_s,
        "finished": pos.finished, "committed": pos.committed, "run": runs,
        **({"saved_path": saved.path} if saved.path != source.path else {})}})
    return ResumeLedger(path, camera_id, source, Position(pos.resume_frame, pos.resume_t_s, pos.finished,
                                                          pos.committed, runs))


class SkipBefore:
    """A frame source without the frames before ``start_frame`` (none at all when ``nothing``).

    Skipped frames are still decoded (a file is read from its start) but never converted to BGR,
    queued or detected; they are counted in ``skipped``.
    """

    def __init__(self, source: FrameSource, start_frame: int, nothing: bool = False):
        self.source, self.start_frame, self.nothing = source, int(start_frame), nothing
        self.camera_id = source.camera_id
        self.skipped = 0

    @property
    def stats(self) -> DecodeStats:
        return self.source.stats

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        if self.nothing:
            return
        for frame in self.source.frames(stop):
            if frame.index < self.start_frame:
                self.skipped += 1
                continue
            yield frame

    def close(self) -> None:
        self.source.close()

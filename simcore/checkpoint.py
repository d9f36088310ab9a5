"""Checkpoints: everything needed to continue a run bit for bit, written off the main thread.

Contract (REBOUND's SimulationArchive): a checkpoint holds the raw state
exactly as the driver holds it, the counters, the run's config text and its
hash, the simcore version and a format version.  Random numbers are
counter-based (``rng.py``), so no generator state is stored: a stream's
position follows from the counters.  Files hold arrays, numbers and text only.

Layout::

    /              attrs: filetype="simcore-checkpoint", format_version,
                   simcore_version, model, driver, config (TOML),
                   config_sha256, rng, sequence, status (running |
                   interrupted | finished), created, elapsed_seconds,
                   settings_* (workers, executor, checkpoint cadence),
                   counter_* (e.g. partitions_done), complete (written last)
    /state/<name>  state arrays, written whole each time; attr crc32
    /rows/<name>   an append-only array (completed batch tally rows): attrs
                   shape, dtype, mask (the /state array selecting its rows);
                   datasets segments (file names) and crc32 (one per segment)
                   list the row segments holding it (``segments.py``): each
                   row is written once, in the first checkpoint that has it

Files, in the run's directory ``<out>.ckpt/`` (``ckptdir.py``):
``checkpoint.h5`` is the newest, ``checkpoint.1.h5`` ... the older ones,
``seg-*.h5`` the row segments they list.  A write puts new segments in place
first, then the checkpoint goes to ``checkpoint.h5.tmp``, is closed, fsynced,
rotated in with ``os.replace`` and the directory is fsynced, so at every
instant each checkpoint file on disk is complete, and so is every segment it
lists (PITFALLS section 5).

Threading: the engine hands :class:`Snapshot` objects to a
:class:`CheckpointWriter`.  In ``async`` mode a background thread writes them
from a bounded queue; when the queue is full the engine waits (back-pressure,
logged).  In ``sync`` mode the caller writes in place.  Nothing else in the
process touches HDF5 while the thread runs: results are written after
:meth:`CheckpointWriter.close`.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import queue
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ._h5 import (RESULTS_FILETYPE, ForeignContent, built_in_memory, crc32_of, discard, filetype, first_line, fsync_path,
                  member, members, plain, read_dataset)
from .provenance import leg
from .storage import describe, storage_errno
from .ckptdir import (NEWEST, checkpoint_dir, checkpoint_path, created, existing_checkpoints, is_checkpoint_dir,
                      publish, results_path_of)
from .segments import (RowLedger, SegmentError, SegmentRef, existing_segments, load_segment, plain_file_name,
                       read_rows, remove_unlisted, segment_path, verified_segments, write_segment)

__all__ = ["CheckpointError", "CheckpointFileError", "Checkpoint", "CheckpointPlan", "CheckpointWriter", "EverySeconds",
           "Header", "RowLedger", "Snapshot", "WriterStats", "checkpoint_dir", "checkpoint_files", "checkpoint_path",
           "existing_checkpoints",
           "existing_segments", "latest_checkpoint", "load_segment", "read_checkpoint", "results_path_of", "write_checkpoint"]

FILETYPE = "simcore-checkpoint"
FORMAT_VERSION = "1.0"
RNG = "philox4x32-10 (key = seed, counter = (draw, stream))"
STATUSES = ("running", "interrupted", "finished")
MODES = ("async", "sync")
_QUEUE_DEPTH = 2

log = logging.getLogger(__name__)


class CheckpointError(OSError):
    """A checkpoint could not be written (disk full, read-only directory ...); ``errno`` says why."""

    def __str__(self) -> str:
        return str(self.strerror)


class CheckpointFileError(ValueError):
    """A file cannot be resumed from: not a checkpoint, truncated, corrupt, or incompatible."""


class EverySeconds:
    """Trigger that fires once ``seconds`` of wall time have passed since the last reset."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self._last = time.monotonic()

    def due(self) -> bool:
        """True when the interval has elapsed."""
        return time.monotonic() - self._last >= self.seconds

    def reset(self) -> None:
        """Start a new interval now."""
        self._last = time.monotonic()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EverySeconds) and other.seconds == self.seconds

    def __repr__(self) -> str:
        return f"EverySeconds({self.seconds:g})"


@dataclass(frozen=True)
class Snapshot:
    """The state of a run at a consistent point, ready to be written.

    ``arrays`` are written whole and must not change afterwards (copies of
    live state).  ``rows`` maps a name to ``(array, mask_name)``: an
    append-only array whose rows where ``arrays[mask_name]`` is true are
    final (completed batch rows in shared memory, written without a copy);
    each such row is written once, to a segment (module docstring), and the
    mask may only grow from one snapshot to the next.
    """

    status: str
    counters: Mapping[str, int]
    arrays: Mapping[str, np.ndarray]
    rows: Mapping[str, tuple[np.ndarray, str]] = field(default_factory=dict)
    elapsed_seconds: float = 0.0
    ran_on: tuple[str, int] = ("", 0)  # (executor, workers) of this leg


@dataclass(frozen=True)
class Header:
    """What every checkpoint of one run repeats: identity and how to continue it."""

    model: str
    driver: str
    config: str
    config_sha256: str
    settings: Mapping[str, Any]
    legs_before: tuple = ()  # the legs of the run before this one (simcore.provenance)
    started: float = 0.0  # when this leg began (Unix time [s])
    command: str = ""  # what started this leg


@dataclass
class Checkpoint:
    """A verified checkpoint read back by :func:`read_checkpoint`."""

    path: Path
    attrs: dict[str, Any]
    arrays: dict[str, np.ndarray]
    #: append-only arrays: name -> (name of their mask in ``arrays``, the segments listed)
    segments: dict[str, tuple[str, list[SegmentRef]]] = field(default_factory=dict)
    #: append-only arrays: name -> (shape, dtype) as the file declares them (verified against the segments)
    layouts: dict[str, tuple[tuple[int, ...], np.dtype]] = field(default_factory=dict)

    def rows(self, name: str, expected: tuple[int, ...]) -> np.ndarray:
        """The append-only array ``name``, assembled from its segments; rows not yet done are zero.

        ``expected`` is the shape the run's config gives it: a file declaring
        another (absurd sizes included) is refused with CheckpointFileError
        before anything is allocated.
        """
        if name not in self.layouts:
            raise CheckpointFileError(f"{str(self.path)!r} holds no {name!r} rows")
        shape, dtype = self.layouts[name]
        if shape != tuple(expected):
            raise CheckpointFileError(f"{str(self.path)!r}: its {name} rows have shape {list(shape)}, but its config "
                                      f"gives {list(expected)}; it does not belong to this run")
        mask_name, refs = self.segments[name]
        try:
            return read_rows(self.path.parent, refs, shape, dtype, self.arrays[mask_name])
        except SegmentError as exc:  # changed on disk since it was read
            raise CheckpointFileError(f"{str(self.path)!r} cannot be used: {exc}") from None

    @property
    def sequence(self) -> int:
        """Position in the run's series of checkpoints (0 = the one written at start)."""
        return int(self.attrs["sequence"])

    @property
    def status(self) -> str:
        """``running``, ``interrupted`` or ``finished``."""
        return str(self.attrs["status"])

    @property
    def model(self) -> str:
        """Model reference of the run."""
        return str(self.attrs["model"])

    @property
    def config(self) -> str:
        """Canonical TOML of what determines the results."""
        return str(self.attrs["config"])

    @property
    def settings(self) -> dict[str, Any]:
        """How the run was executed (workers, executor, checkpoint cadence)."""
        return {k[len("settings_"):]: v for k, v in self.attrs.items() if k.startswith("settings_")}

    @property
    def counters(self) -> dict[str, int]:
        """Progress counters (e.g. ``partitions_done``)."""
        return {k[len("counter_"):]: int(v) for k, v in self.attrs.items() if k.startswith("counter_")}

    @property
    def results_path(self) -> Path:
        """The results file this checkpoint belongs to."""
        return results_path_of(self.path)

    def ledger(self) -> RowLedger:
        """The row segments this checkpoint lists, for a writer that continues from it."""
        ledger = RowLedger()
        for name, (mask_name, refs) in self.segments.items():
            ledger.segments[name] = list(refs)
            ledger.stored[name] = self.arrays[mask_name].astype(bool)
        return ledger


def _write_file(path: Path, header: Header, sequence: int, snapshot: Snapshot,
                listings: Mapping[str, list[SegmentRef]]) -> None:
    from . import __version__

    with built_in_memory(path) as handle:
        attrs = handle.attrs
        attrs["filetype"] = FILETYPE
        attrs["format_version"] = FORMAT_VERSION
        attrs["simcore_version"] = __version__
        attrs["model"] = header.model
        attrs["driver"] = header.driver
        attrs["config"] = header.config
        attrs["config_sha256"] = header.config_sha256
        attrs["rng"] = RNG
        attrs["sequence"] = sequence
        attrs["status"] = snapshot.status
        attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        attrs["elapsed_seconds"] = snapshot.elapsed_seconds
        before = sum(previous["seconds"] for previous in header.legs_before)
        this_leg = leg(header.started, snapshot.elapsed_seconds - before, snapshot.ran_on[1], snapshot.ran_on[0],
                       snapshot.status, header.command)
        attrs["legs"] = json.dumps([*header.legs_before, this_leg])
        for key, value in header.settings.items():
            attrs[f"settings_{key}"] = value
        for key, value in snapshot.counters.items():
            attrs[f"counter_{key}"] = int(value)
        state = handle.create_group("state")
        for name, array in snapshot.arrays.items():
            dataset = state.create_dataset(name, data=array)
            dataset.attrs["crc32"] = crc32_of([array])
        rows = handle.create_group("rows")
        for name, (array, mask_name) in snapshot.rows.items():
            group = rows.create_group(name)
            group.attrs["shape"] = np.asarray(array.shape, dtype=np.int64)
            group.attrs["dtype"] = array.dtype.str
            group.attrs["mask"] = mask_name
            # fixed-length bytes, not variable-length strings: a damaged heap address in those makes HDF5
            # allocate gigabytes before it fails (seconds of a simcore info on a corrupt file)
            group.create_dataset("segments", data=np.array([ref.file.encode() for ref in listings[name]], dtype="S"))
            group.create_dataset("crc32", data=np.asarray([ref.crc32 for ref in listings[name]], dtype=np.uint32))
        attrs["complete"] = True


def write_checkpoint(out: Path, keep: int, header: Header, sequence: int, snapshot: Snapshot,
                     ledger: RowLedger | None = None) -> Path:
    """Write ``snapshot`` as the newest checkpoint of ``out`` atomically and durably; keep ``keep`` files.

    ``ledger`` says which append-only rows are on disk already (it is updated
    once the checkpoint is in place); without one, every selected row is
    written.  Raises CheckpointError (the older checkpoints and their
    segments untouched) if anything fails.
    """
    out = Path(out)
    ledger = ledger if ledger is not None else RowLedger()
    newest = checkpoint_path(out)
    new_segments: dict[str, tuple[np.ndarray, SegmentRef | None]] = {}
    directory, first = None, False
    try:
        directory, first = created(out)
        tmp = directory / f"{NEWEST}.tmp"
        for name, (array, mask_name) in snapshot.rows.items():
            mask = snapshot.arrays[mask_name].astype(bool)
            index = ledger.rows_to_write(name, mask)
            ref = (write_segment(segment_path(directory, name, sequence), name, sequence, index, array)
                   if len(index) else None)
            new_segments[name] = (mask, ref)
        listings = {name: ledger.listing(name, ref) for name, (_, ref) in new_segments.items()}
        _write_file(tmp, header, sequence, snapshot, listings)  # fsynced
        for index in range(keep - 1, 0, -1):
            older = checkpoint_path(out, index - 1, directory)
            if older.exists():
                os.replace(older, checkpoint_path(out, index, directory))
        os.replace(tmp, checkpoint_path(out, 0, directory))
        fsync_path(directory, directory=True)
        if first:
            publish(out, directory)
    except OSError as exc:
        if first:  # the run's directory never appeared: leave nothing of it
            shutil.rmtree(directory, ignore_errors=True)
        elif directory is not None:
            discard(tmp)
            for _, ref in new_segments.values():
                if ref is not None:
                    discard(directory / ref.file)
        previous = next((str(p) for p in existing_checkpoints(out)), None)
        kept = f"the previous checkpoint {previous} is intact" if previous else "no earlier checkpoint exists"
        raise CheckpointError(storage_errno(exc), f"checkpoint {sequence} not written to {newest}: "
                                                  f"{describe(exc, newest)}; {kept}") from exc
    for name, (mask, ref) in new_segments.items():
        ledger.record(name, mask, ref)
    _remove_unlisted_segments(out)
    return newest


def _listed_segments(path: Path) -> set[str]:
    import h5py

    with h5py.File(path, "r") as handle:
        return {plain(name) for group in handle.get("rows", {}).values() for name in group["segments"][()]}


def _remove_unlisted_segments(out: Path) -> None:
    """Delete segments no checkpoint on disk lists (left by a kill, or by checkpoints rotated out)."""
    listed: set[str] = set()
    for path in existing_checkpoints(out):
        try:
            listed |= _listed_segments(path)
        except (OSError, KeyError, ValueError):
            return  # an unreadable checkpoint: keep every segment rather than guess
    remove_unlisted(checkpoint_dir(out), listed)


def checkpoint_files(out: str | os.PathLike) -> list[Path]:
    """Every checkpoint and row segment of results file ``out`` on disk."""
    return existing_checkpoints(out) + existing_segments(checkpoint_dir(out))


@dataclass
class WriterStats:
    """What checkpointing cost a run (seconds of wall or CPU time, bytes)."""

    written: int = 0              #: checkpoints written
    bytes_written: int = 0        #: checkpoint files plus new row segments
    write_seconds: float = 0.0    #: wall time inside the writes
    cpu_seconds: float = 0.0      #: CPU time of the writing thread inside the writes
    loop_seconds: float = 0.0     #: wall time the run's loop spent on checkpoints (save, close; sync: the drain)
    failed: int = 0               #: checkpoints the disk refused (the run went on; warned at the 1st, 2nd, 4th ...)


@dataclass(frozen=True)
class CheckpointPlan:
    """Where, how often and how a run writes checkpoints (``every`` in seconds of wall time)."""

    out: Path
    header: Header
    every: float
    mode: str = "async"
    keep: int = 2
    first_sequence: int = 0
    elapsed_before: float = 0.0
    resumed: Checkpoint | None = None

    def trigger(self) -> EverySeconds:
        """A new trigger firing every ``every`` seconds."""
        return EverySeconds(self.every)

    def writer(self) -> "CheckpointWriter":
        """A started writer for this plan (continuing the row segments of ``resumed``)."""
        return CheckpointWriter(self.out, self.header, keep=self.keep, mode=self.mode,
                                first_sequence=self.first_sequence,
                                ledger=self.resumed.ledger() if self.resumed else None)


class CheckpointWriter:
    """Writes the snapshots of one run: from a background thread (``async``) or in place (``sync``).

    ``save`` hands over a snapshot; a checkpoint the disk refuses (full,
    read-only, I/O error) is one warning and the run goes on, the previous
    checkpoint intact; ``raise_if_failed`` re-raises any other failure of
    the thread (a bug) in the caller; ``close`` waits for queued writes
    (or drops them with ``abandon=True``) and joins the thread.  A context
    manager: leaving it by an error of the run (a failed partition, crashed
    workers) still writes the queued snapshots, since "checkpoints are kept"
    is what the user is told; leaving it by an abort (a second signal,
    KeyboardInterrupt) drops them, so the run ends at once.
    """

    def __init__(self, out: Path, header: Header, *, keep: int = 2, mode: str = "async",
                 first_sequence: int = 0, ledger: RowLedger | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"checkpoint mode must be one of {MODES} (got {mode!r})")
        self.out = Path(out)
        self.header = header
        self.keep = keep
        self.mode = mode
        self.last_written: Path | None = None
        self.stats = WriterStats()
        self._sequence = first_sequence
        self._refused_in_a_row = 0
        self._ledger = ledger if ledger is not None else RowLedger()
        self._error: BaseException | None = None
        self._queue: queue.Queue[Snapshot | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
        self._abandon = threading.Event()
        self._thread: threading.Thread | None = None
        if mode == "async":
            self._thread = threading.Thread(target=self._drain, name="simcore-checkpoint", daemon=False)
            self._thread.start()

    def save(self, snapshot: Snapshot) -> None:
        """Write ``snapshot`` (sync) or queue it for the writer thread (async, back-pressure if full)."""
        self.raise_if_failed()
        called = time.perf_counter()
        try:
            if self._thread is None:
                self._write(snapshot)
                self.raise_if_failed()
                return
            try:
                self._queue.put_nowait(snapshot)
            except queue.Full:
                log.warning("checkpoint queue full (%d snapshots): the run waits for the disk", _QUEUE_DEPTH)
                waited = time.perf_counter()
                self._queue.put(snapshot)
                log.warning("checkpoint back-pressure: waited %.2f s", time.perf_counter() - waited)
        finally:
            self.stats.loop_seconds += time.perf_counter() - called

    def raise_if_failed(self) -> None:
        """Raise the write failure, if there was one."""
        if self._error is not None:
            raise self._error

    def close(self, *, abandon: bool = False) -> None:
        """Finish (or with ``abandon`` drop) queued snapshots and stop the thread; idempotent."""
        if self._thread is None:
            return
        called = time.perf_counter()
        if abandon:
            self._abandon.set()
        self._queue.put(None)
        self._thread.join()
        self._thread = None
        self.stats.loop_seconds += time.perf_counter() - called

    def finish(self, *, keep_older: bool = False) -> Path | None:
        """Wait for every queued write and re-raise a failure; then, unless ``keep_older``, remove older checkpoints.

        Returns the newest checkpoint written.
        """
        self.close()
        self.raise_if_failed()
        if not keep_older:
            self.remove_older()
        return self.last_written

    def remove_older(self) -> None:
        """Delete every checkpoint but the newest (after the final one: they can no longer help)."""
        for path in existing_checkpoints(self.out)[1:]:
            path.unlink(missing_ok=True)
        _remove_unlisted_segments(self.out)

    def __enter__(self) -> "CheckpointWriter":
        return self

    def __exit__(self, exc_type, *rest) -> None:
        self.close(abandon=exc_type is not None and not issubclass(exc_type, Exception))

    def _drain(self) -> None:
        while True:
            snapshot = self._queue.get()
            if snapshot is None:
                return
            if self._error is None and not self._abandon.is_set():
                self._write(snapshot)

    def _write(self, snapshot: Snapshot) -> None:
        started, cpu_started = time.perf_counter(), time.thread_time()
        before = {ref for refs in self._ledger.segments.values() for ref in refs}
        try:
            self.last_written = write_checkpoint(self.out, self.keep, self.header, self._sequence, snapshot,
                                                 self._ledger)
        except CheckpointError as exc:  # the disk refused: the run goes on, and the next interval tries again
            self.stats.failed += 1
            self._refused_in_a_row += 1
            refused = self._refused_in_a_row
            if refused & (refused - 1) == 0:  # said at the 1st, 2nd, 4th, 8th ... refusal in a row
                again = "" if refused == 1 else f" ({refused} refusals in a row; said again at {2 * refused})"
                log.warning("%s%s; the run goes on and tries again at the next checkpoint", exc, again)
            return
        except BaseException as exc:  # noqa: BLE001 - a bug: re-raised in the caller, never a silent hang
            self._error = exc
            log.exception("checkpoint writer failed")
            return
        elapsed = time.perf_counter() - started
        new = {ref for refs in self._ledger.segments.values() for ref in refs} - before
        written = self.last_written.stat().st_size + sum((self.last_written.parent / r.file).stat().st_size
                                                         for r in new)
        if self._refused_in_a_row:
            log.warning("checkpoint %d written to %s after %d refused", self._sequence, self.last_written,
                        self._refused_in_a_row)
            self._refused_in_a_row = 0
        self.stats.written += 1
        self.stats.bytes_written += written
        self.stats.write_seconds += elapsed
        self.stats.cpu_seconds += time.thread_time() - cpu_started
        log.info("checkpoint %d (%s) written to %s in %.3f s (%.1f MiB)", self._sequence, snapshot.status,
                 self.last_written, elapsed, written / 2**20)
        self._sequence += 1


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Open and verify one checkpoint file; raise CheckpointFileError with one sentence if unusable.

    Checks the filetype, the major format version, the ``complete`` mark, the
    config hash, the crc32 of every state array, and every row segment it
    lists (a plain file name beside it, present, its crc32 as listed, rows
    of the declared shape and type, exactly the rows of its mask).  Nothing
    is allocated that the file does not store (:func:`~simcore._h5.read_dataset`),
    links and external or virtual storage are refused, and the append-only
    arrays are not assembled here: :meth:`Checkpoint.rows` does that, for
    the shape the run's config expects.
    """
    import h5py

    path = Path(path)
    if is_checkpoint_dir(path):  # its newest
        path = path / NEWEST
    if not path.is_file():
        raise CheckpointFileError(f"{str(path)!r} does not exist or is not a file")
    try:
        with h5py.File(path, "r") as handle:
            attrs = {key: plain(value) for key, value in handle.attrs.items()}
            if attrs.get("filetype") == FILETYPE and attrs.get("complete"):
                state = members(member(handle, "state"))
                arrays = {name: read_dataset(dataset) for name, dataset in state}
                crcs = {name: int(dataset.attrs["crc32"]) for name, dataset in state}
                rows = members(member(handle, "rows")) if "rows" in handle else []
                listed = {name: _listing(group) for name, group in rows}
    except ForeignContent as exc:
        raise CheckpointFileError(f"{str(path)!r} is refused: {exc}") from None
    except (OSError, KeyError, ValueError, TypeError, SegmentError) as exc:
        raise CheckpointFileError(f"{str(path)!r} is truncated or corrupt: {first_line(exc)}") from None
    if attrs.get("filetype") != FILETYPE:
        raise CheckpointFileError(f"{str(path)!r} is not a simcore checkpoint")
    version = str(attrs.get("format_version", "0"))
    if version.split(".")[0] != FORMAT_VERSION.split(".")[0]:
        raise CheckpointFileError(f"{str(path)!r} has checkpoint format {version}; this simcore reads {FORMAT_VERSION}")
    if not attrs.get("complete"):
        raise CheckpointFileError(f"{str(path)!r} is an incomplete checkpoint")
    _verify(path, attrs, arrays, crcs)
    checkpoint = Checkpoint(path, attrs, arrays)
    for name, (shape, dtype, mask_name, refs) in listed.items():
        mask = arrays.get(mask_name)
        if mask is None or mask.ndim != 1 or len(mask) != shape[0]:
            raise CheckpointFileError(f"{str(path)!r} is corrupt: the row mask of {name!r} is missing")
        try:
            for _ in verified_segments(path.parent, refs, shape, dtype, mask):
                pass
        except SegmentError as exc:
            raise CheckpointFileError(f"{str(path)!r} cannot be used: {exc}") from None
        checkpoint.segments[name] = (mask_name, refs)
        checkpoint.layouts[name] = (shape, dtype)
    return checkpoint


#: Most elements an append-only array of a checkpoint may declare in one row, and in all.
_MAX_ROW_ELEMENTS, _MAX_ELEMENTS = 2**31, 2**40


def _listing(group) -> tuple[tuple[int, ...], np.dtype, str, list[SegmentRef]]:
    files = [plain_file_name(plain(name)) for name in read_dataset(member(group, "segments"), "OSU")]
    crcs = [int(crc) for crc in read_dataset(member(group, "crc32"), "iu")]
    if len(files) != len(crcs):
        raise ValueError("segment list and checksums differ in length")
    refs = [SegmentRef(file, crc) for file, crc in zip(files, crcs)]
    shape = np.asarray(group.attrs["shape"])
    if shape.ndim != 1 or not len(shape) or shape.dtype.kind not in "iu" or (shape < 0).any() \
            or math.prod(int(n) for n in shape[1:]) > _MAX_ROW_ELEMENTS \
            or math.prod(int(n) for n in shape) > _MAX_ELEMENTS:
        raise ValueError(f"{group.name} declares an impossible shape {shape.tolist()}")
    dtype = np.dtype(plain(group.attrs["dtype"]))
    if dtype.kind not in "biuf":
        raise ValueError(f"{group.name} declares dtype {dtype}, not numbers")
    return tuple(int(n) for n in shape), dtype, str(plain(group.attrs["mask"])), refs


def _verify(path: Path, attrs: dict, arrays: dict, crcs: dict) -> None:
    import hashlib

    if hashlib.sha256(str(attrs.get("config", "")).encode()).hexdigest() != attrs.get("config_sha256"):
        raise CheckpointFileError(f"{str(path)!r} is corrupt: its config does not match its config_sha256")
    if attrs.get("status") not in STATUSES:
        raise CheckpointFileError(f"{str(path)!r} is corrupt: unknown status {attrs.get('status')!r}")
    for name, crc in crcs.items():
        if crc32_of([arrays[name]]) != crc:
            raise CheckpointFileError(f"{str(path)!r} is corrupt: checksum of state/{name} does not match")


def latest_checkpoint(target: str | os.PathLike) -> Checkpoint:
    """The checkpoint to resume from for ``target``: a checkpoint file, a checkpoint directory, or a results path.

    A checkpoint file is used as given (and must be valid).  For a run's
    checkpoint directory or results path (which need not exist), the newest
    valid checkpoint in ``<out>.ckpt/`` is chosen by sequence number (for a
    finished run's results: its final checkpoint); damaged ones are skipped
    with a warning.
    """
    target = Path(target)
    if target.is_file() and filetype(target) != RESULTS_FILETYPE:
        return read_checkpoint(target)
    candidates = existing_checkpoints(results_path_of(target))
    if not candidates:
        raise CheckpointFileError(f"{str(target)!r} does not exist and has no checkpoints "
                                  f"(in {checkpoint_dir(results_path_of(target))}/)")
    good: list[Checkpoint] = []
    damaged: list[CheckpointFileError] = []
    for candidate in candidates:
        try:
            good.append(read_checkpoint(candidate))
        except CheckpointFileError as exc:
            damaged.append(exc)
    if not good:  # one line: why each is unusable
        raise CheckpointFileError(f"no usable checkpoint for {str(target)!r}: {'; '.join(map(str, damaged))}")
    for exc in damaged:
        log.warning("skipping %s", exc)
    return max(good, key=lambda c: c.sequence)

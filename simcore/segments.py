"""Append-only row segments: rows that never change again are written to disk once.

A batch run's completed tally rows are final, so rewriting all of them in
every checkpoint would cost the whole state's I/O each time (measured: 11.5 %
of the wall time on 2 cores for a 586 MiB state every 3 s).  Instead each
checkpoint writes the rows completed since the previous one to a new segment
file and lists every segment it needs with their CRC-32s; the checkpoint file
itself stays small (this is REBOUND's SimulationArchive idea, with HDF5 files
instead of an appended blob).  Segments are written like checkpoints
(temporary file, fsync, ``os.replace``, fsync of the directory) before the
checkpoint that lists them, and a segment that no checkpoint on disk lists
any more is removed.

Segment file ``<out>.ckpt/seg-<array>-<sequence>.h5`` (``ckptdir.py``)::

    /        attrs: filetype="simcore-checkpoint-rows", array, sequence, crc32, complete
    /index   int64 row numbers, ascending
    /rows    the rows, in the order of /index

``crc32`` covers the bytes of /index then /rows.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._h5 import built_in_memory, crc32_of, discard, first_line, fsync_path, member, plain, read_dataset

FILETYPE = "simcore-checkpoint-rows"


class SegmentError(ValueError):
    """A segment listed by a checkpoint is missing, damaged or does not match its listing."""


@dataclass(frozen=True)
class SegmentRef:
    """One segment as a checkpoint lists it: file name (in the checkpoint's directory) and CRC-32."""

    file: str
    crc32: int


@dataclass
class RowLedger:
    """Which rows of each append-only array are on disk already, and in which segments."""

    segments: dict[str, list[SegmentRef]] = field(default_factory=dict)
    stored: dict[str, np.ndarray] = field(default_factory=dict)

    def rows_to_write(self, name: str, mask: np.ndarray) -> np.ndarray:
        """Row numbers selected by ``mask`` that no segment holds yet.

        Raises ValueError if a row already on disk is no longer selected: rows
        are append-only.
        """
        stored = self.stored.get(name, np.zeros(len(mask), dtype=bool))
        if len(stored) < len(mask):  # an extended run: its array has grown by rows none of which is on disk
            stored = np.concatenate([stored, np.zeros(len(mask) - len(stored), dtype=bool)])
        if len(stored) != len(mask) or (stored & ~mask).any():
            raise ValueError(f"rows of {name!r} already checkpointed left the mask: rows are append-only")
        return np.flatnonzero(mask & ~stored)

    def listing(self, name: str, new: SegmentRef | None = None) -> list[SegmentRef]:
        """The segments a checkpoint of array ``name`` lists: those on disk, plus ``new``."""
        return self.segments.get(name, []) + ([new] if new is not None else [])

    def record(self, name: str, mask: np.ndarray, new: SegmentRef | None) -> None:
        """Note that the rows of ``mask`` are on disk, ``new`` holding those that were not."""
        self.segments[name] = self.listing(name, new)
        self.stored[name] = mask.astype(bool)


def segment_path(directory: Path, name: str, sequence: int) -> Path:
    """Path of the segment of array ``name`` written with checkpoint ``sequence``, in checkpoint ``directory``."""
    return directory / f"seg-{name}-{sequence:06d}.h5"


def existing_segments(directory: Path) -> list[Path]:
    """Segment files in checkpoint ``directory`` (complete ones; a legacy run's ``*.ckpt.seg-*`` too)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if (p.name.startswith("seg-") or ".ckpt.seg-" in p.name)
                  and not p.name.endswith(".tmp"))


def _runs(index: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ranges [a, b) of consecutive values in the ascending ``index``."""
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    firsts = np.concatenate(([0], breaks))
    lasts = np.concatenate((breaks, [len(index)])) - 1
    return [(int(index[f]), int(index[e]) + 1) for f, e in zip(firsts, lasts)] if len(index) else []


def write_segment(path: Path, name: str, sequence: int, index: np.ndarray, array: np.ndarray) -> SegmentRef:
    """Write rows ``index`` (ascending) of ``array`` to ``path`` atomically and durably; return its listing.

    Rows go from ``array`` to the file run by run of consecutive rows (the
    file is built in memory, :func:`~simcore._h5.built_in_memory`).  Raises
    OSError (nothing left behind) if the disk refuses.
    """
    tmp = path.with_name(path.name + ".tmp")
    index = index.astype(np.int64)
    runs = _runs(index)
    crc = crc32_of([index] + [array[a:b] for a, b in runs])
    try:
        with built_in_memory(tmp) as handle:  # fsynced
            handle.attrs["filetype"] = FILETYPE
            handle.attrs["array"] = name
            handle.attrs["sequence"] = sequence
            handle.attrs["crc32"] = crc
            handle.create_dataset("index", data=index)
            rows = handle.create_dataset("rows", shape=(len(index),) + array.shape[1:], dtype=array.dtype)
            at = 0
            for a, b in runs:
                rows[at:at + b - a] = array[a:b]
                at += b - a
            handle.attrs["complete"] = True
        os.replace(tmp, path)
        fsync_path(path.parent, directory=True)
    except OSError:
        discard(tmp)
        raise
    return SegmentRef(path.name, crc)


def load_segment(path: Path, row_shape: tuple[int, ...] | None = None,
                 dtype: np.dtype | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Read and verify one segment file: (row numbers, rows, crc32); raise SegmentError if unusable.

    With ``row_shape`` and ``dtype`` (what the listing checkpoint declares),
    rows of another shape or type are refused before they are read.
    """
    import h5py

    if not path.is_file():
        raise SegmentError(f"row segment {path.name} is missing")
    try:
        with h5py.File(path, "r") as handle:
            kind, complete = plain(handle.attrs.get("filetype")), bool(handle.attrs.get("complete"))
            crc = int(handle.attrs.get("crc32", -1))
            stored = member(handle, "rows")
            if row_shape is not None and (stored.shape[1:] != tuple(row_shape) or stored.dtype != dtype):
                raise SegmentError(f"row segment {path.name} holds rows of shape {stored.shape[1:]} and type "
                                   f"{stored.dtype}, not the {tuple(row_shape)} {dtype} its checkpoint lists")
            index = read_dataset(member(handle, "index"), "iu")
            rows = read_dataset(stored)
    except SegmentError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise SegmentError(f"row segment {path.name} is truncated or corrupt: {first_line(exc)}") from None
    if kind != FILETYPE or not complete:
        raise SegmentError(f"{path.name} is not a complete row segment")
    if index.ndim != 1 or len(index) != len(rows) or crc32_of([index, rows]) != crc:
        raise SegmentError(f"checksum of row segment {path.name} does not match")
    return index, rows, crc


def verified_segments(directory: Path, refs: list[SegmentRef], shape: tuple[int, ...], dtype: np.dtype,
                      mask: np.ndarray):
    """Yield ``(row numbers, rows)`` of each listed segment, verified, one segment in memory at a time.

    Checks each segment (:func:`load_segment`), that its CRC-32 is the one
    listed, and, once all are read, that together they hold exactly the rows
    of ``mask``; raises SegmentError otherwise.
    """
    seen = np.zeros(shape[0], dtype=bool)
    for ref in refs:
        index, rows, crc = load_segment(directory / ref.file, shape[1:], dtype)
        if crc != ref.crc32:
            raise SegmentError(f"row segment {ref.file} is not the one listed (its checksum differs)")
        if len(index) and (index.min() < 0 or index.max() >= shape[0] or seen[index].any()):
            raise SegmentError(f"row segment {ref.file} holds rows out of range or twice")
        seen[index] = True
        yield index, rows
    if not np.array_equal(seen, mask.astype(bool)):
        raise SegmentError("the row segments do not hold exactly the rows its mask selects")


def read_rows(directory: Path, refs: list[SegmentRef], shape: tuple[int, ...], dtype: np.dtype,
              mask: np.ndarray) -> np.ndarray:
    """Assemble an array of ``shape`` from its segments (:func:`verified_segments`); rows outside ``mask`` are zero."""
    out = np.zeros(shape, dtype=dtype)
    for index, rows in verified_segments(directory, refs, shape, dtype, mask):
        out[index] = rows
    return out


def plain_file_name(name: str) -> str:
    """``name`` if it is a plain file name (no directory part, not ``.`` or ``..``); else SegmentError."""
    if not name or "/" in name or "\\" in name or "\0" in name or name in (".", ".."):
        raise SegmentError(f"segment name {name!r} is not a plain file name in the checkpoint's directory")
    return name


def remove_unlisted(directory: Path, listed: set[str]) -> None:
    """Delete segment files in checkpoint ``directory`` that no checkpoint lists (best effort)."""
    for path in existing_segments(directory):
        if path.name not in listed:
            discard(path)

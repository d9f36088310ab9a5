"""Small helpers shared by the HDF5 readers and writers (results, checkpoints, row segments)."""
from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any, Iterable

import numpy as np


def plain(value: Any) -> Any:
    """An HDF5 attribute as a plain Python value (bytes -> str, numpy scalar -> int/float/bool)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (h5py's are multi-line), or its type name."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def filetype(path) -> str | None:
    """The root ``filetype`` attribute of an HDF5 file, or None if it is not readable HDF5 or has none."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            value = handle.attrs.get("filetype")
    except (OSError, ValueError):
        return None
    return None if value is None else str(plain(value))


def crc32_of(chunks: Iterable[np.ndarray]) -> int:
    """CRC-32 of the bytes of ``chunks`` taken in order (zlib's polynomial)."""
    crc = 0
    for chunk in chunks:
        crc = zlib.crc32(np.ascontiguousarray(chunk).view(np.uint8), crc)
    return crc


def fsync_path(path: Path, directory: bool = False) -> None:
    """Flush a file (or a directory's entries) to the disk."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def discard(path: Path) -> None:
    """Remove ``path`` if it exists, ignoring a failing disk (best-effort cleanup)."""
    try:
        path.unlink(missing_ok=True)
    except OSError:  # pragma: no cover - nothing more can be done on a failing disk
        pass

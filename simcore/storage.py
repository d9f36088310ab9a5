"""Storage failures: a refusing disk, said in one line.

A full disk, a quota, a read-only or failing filesystem, or a file size limit
(ENOSPC, EDQUOT, EROFS, EIO, EFBIG) reach simcore as ``OSError``: HDF5 files are built in
memory and written by simcore itself (:func:`simcore._h5.built_in_memory`), so
h5py never meets the disk's refusal (it would raise it as ``RuntimeError``,
and keep the file open).  :func:`describe` names the cause (``os.strerror``)
and the space left.
"""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

#: Exit code of a run whose results could not be written (BSD sysexits' EX_IOERR).
EXIT_STORAGE = 74


class StorageError(OSError):
    """A file of the run could not be written; the message says what to do next."""

    def __str__(self) -> str:
        return str(self.strerror)


def storage_errno(exc: OSError) -> int:
    """The errno of an I/O failure (EIO if it carries none)."""
    return exc.errno or errno.EIO


def free_bytes(path: Path) -> int | None:
    """Bytes free for this user on the filesystem holding ``path`` (None if it cannot be asked)."""
    try:
        return shutil.disk_usage(Path(path).parent if not Path(path).is_dir() else path).free
    except OSError:
        return None


def human_bytes(count: int) -> str:
    """``count`` bytes as ``12 KiB``, ``3.4 MiB`` ..."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit in ("B", "KiB") else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def describe(exc: OSError, path: Path) -> str:
    """The cause of ``exc`` in words and the space left where ``path`` lives: ``No space left on device (0 B free)``."""
    code = storage_errno(exc)
    free = free_bytes(path)
    return os.strerror(code) + (f" ({human_bytes(free)} free)" if free is not None else "")

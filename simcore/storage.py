"""Storage failures: recognise a refusing disk in whatever form it is raised, and say it in one line.

A full disk, a quota, a read-only or failing filesystem, or a file size limit
reach simcore as ``OSError`` from Python, or as ``RuntimeError`` from h5py when
HDF5 hits them while flushing or closing a file (its message then carries
``errno = 28`` and the like).  :func:`storage_errno` tells both apart from
bugs; :func:`describe` names the cause (``os.strerror``) and the space left.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

#: What a refusing disk raises (``errno``): full, over quota, read-only, I/O error, file too large.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG})
#: Exit code of a run whose results could not be written (BSD sysexits' EX_IOERR).
EXIT_STORAGE = 74

_H5_ERRNO = re.compile(r"errno = (\d+)")


class StorageError(OSError):
    """A file of the run could not be written; the message says what to do next."""

    def __str__(self) -> str:
        return str(self.strerror)


def storage_errno(exc: BaseException) -> int | None:
    """The errno of an I/O failure (an OSError, or h5py's RuntimeError wrapping one); None for anything else."""
    if isinstance(exc, OSError):
        return exc.errno or errno.EIO
    if isinstance(exc, RuntimeError):
        found = _H5_ERRNO.search(str(exc))
        if found:
            return int(found.group(1))
    return None


def is_storage_failure(exc: BaseException) -> bool:
    """True if ``exc`` is an I/O failure of the disk rather than a bug."""
    return storage_errno(exc) is not None


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


def describe(exc: BaseException, path: Path) -> str:
    """The cause of ``exc`` in words and the space left where ``path`` lives: ``No space left on device (0 B free)``."""
    code = storage_errno(exc) or errno.EIO
    free = free_bytes(path)
    return os.strerror(code) + (f" ({human_bytes(free)} free)" if free is not None else "")

"""Small helpers shared by the HDF5 readers (results and checkpoints)."""
from __future__ import annotations

from typing import Any

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

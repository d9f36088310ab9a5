"""Small helpers shared by the HDF5 readers and writers (results, checkpoints, row segments)."""
from __future__ import annotations

import itertools
import os
import zlib
from contextlib import contextmanager
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


#: The ``filetype`` attribute of a results file (simcore.results); checkpoints tell them apart by it.
RESULTS_FILETYPE = "simcore-results"


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


_images = itertools.count()


@contextmanager
def built_in_memory(path: Path, **options):
    """An HDF5 file to fill (``with built_in_memory(path) as handle``), written to ``path`` and fsynced at the end.

    HDF5 builds the file in memory (its core driver) and never touches the
    disk; simcore then writes the bytes itself.  So a refusing disk (full,
    quota, read-only, I/O error, file size limit) raises a plain OSError from
    that write, and leaves nothing open: written in place, a close that
    fails to flush leaves the file open inside the HDF5 library, holding the
    space of a deleted file for the life of the process, and h5py reports it
    as RuntimeError, later again from deallocators.  The cost is one copy of
    the file in memory while it is written.
    """
    import h5py

    handle = h5py.File(f"simcore-image-{os.getpid()}-{next(_images)}", "w", driver="core", backing_store=False,
                       block_size=2**20, **options)
    try:
        yield handle
        handle.flush()
        image = handle.id.get_file_image()
    finally:
        handle.close()
    with open(path, "wb") as stream:
        stream.write(image)
        stream.flush()
        os.fsync(stream.fileno())


def discard(path: Path) -> None:
    """Remove ``path`` if it exists, ignoring a failing disk (best-effort cleanup)."""
    try:
        path.unlink(missing_ok=True)
    except OSError:  # pragma: no cover - nothing more can be done on a failing disk
        pass


class ForeignContent(ValueError):
    """An HDF5 file holds what simcore never writes and will not follow: a link, external or virtual storage."""


#: Most a compressed dataset may expand from the bytes it stores (deflate's limit is about 1032:1).
_MAX_EXPANSION = 1032


def member(group, name: str):
    """``group[name]``, refusing soft and external links (ForeignContent): simcore opens no file a file names."""
    import h5py

    link = group.get(name, getlink=True)
    if link is None:
        raise KeyError(f"{group.name.rstrip('/')}/{name} is missing")
    if not isinstance(link, h5py.HardLink):
        raise ForeignContent(f"{group.name.rstrip('/')}/{name} is a {type(link).__name__}, which simcore does not "
                             "follow")
    return group[name]


def members(group):
    """``(name, object)`` of every member of ``group``, in order, through :func:`member`."""
    return [(name, member(group, name)) for name in group]


def read_dataset(dataset, kinds: str = "biuf") -> np.ndarray:
    """The whole of ``dataset``, after checking it before anything is allocated.

    Refused (ForeignContent): external or virtual storage.  Refused
    (ValueError): a dtype whose kind is not in ``kinds`` (numbers by
    default), or a size the bytes stored cannot hold (a crafted header
    claiming terabytes, say).
    """
    if dataset.is_virtual or dataset.external:
        raise ForeignContent(f"{dataset.name} has external or virtual storage, which simcore does not follow")
    if dataset.dtype.kind not in kinds:
        raise ValueError(f"{dataset.name} has dtype {dataset.dtype}, not {_KIND_NAMES.get(kinds, kinds)}")
    stored = dataset.id.get_storage_size()
    limit = stored * (_MAX_EXPANSION if dataset.compression else 1)
    if dataset.size and dataset.nbytes > limit:
        raise ValueError(f"{dataset.name} claims {dataset.nbytes} bytes but the file stores {stored}")
    return dataset[()]


_KIND_NAMES = {"biuf": "numbers", "OSU": "text", "biufSO": "numbers or text"}

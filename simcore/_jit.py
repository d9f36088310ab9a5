"""Numba settings shared by every kernel, and a cache directory keyed by the kernel sources.

Numba's on-disk cache only watches the file of the decorated function, so a
change to ``rng.py`` would leave stale machine code in the models' caches.
Unless the user chose ``NUMBA_CACHE_DIR``, simcore points it at a directory
named after a digest of every kernel source file; an edit anywhere gives a
fresh cache.  This module must be imported before numba.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent

#: numba.njit options for every simcore kernel (PyMPDATA's ``jit_flags``).
#: ``fastmath`` stays off: kernel output must be bitwise reproducible.
JIT_FLAGS = {"cache": True, "nogil": True, "error_model": "numpy", "boundscheck": False}

#: Environment that keeps worker processes single-threaded.
SINGLE_THREAD_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def kernel_source_digest() -> str:
    """Return a short hex digest of all Python sources that hold kernels."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def configure_numba_cache() -> None:
    """Set ``NUMBA_CACHE_DIR`` to a per-source-digest folder unless the user set it."""
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    os.environ["NUMBA_CACHE_DIR"] = str(base / "simcore" / f"numba-{kernel_source_digest()}")


configure_numba_cache()


_cache_warned = False


def tolerate_unwritable_cache() -> None:
    """Let a kernel run when numba cannot save it to its cache (disk full, quota, read-only home): one warning.

    Numba raises the OSError of a failed cache write out of the call that
    compiled the kernel, so a full ``~/.cache`` would stop a run whose
    kernels are compiled and ready in memory.  Call after importing numba.
    """
    import logging

    from numba.core import caching

    if getattr(caching.Cache.save_overload, "_simcore_tolerant", False):
        return
    save = caching.Cache.save_overload

    def save_overload(self, sig, data):
        global _cache_warned
        try:
            save(self, sig, data)
        except OSError as exc:
            if not _cache_warned:
                _cache_warned = True
                logging.getLogger("simcore").warning(
                    "numba's cache cannot be written (%s: %s); the kernels run compiled in memory and compile "
                    "again in the next run", os.strerror(exc.errno or 5), os.environ.get("NUMBA_CACHE_DIR", "?"))

    save_overload._simcore_tolerant = True
    caching.Cache.save_overload = save_overload

"""SharedArena: named POSIX shared-memory blocks exposed as numpy arrays.

::

    main process (owner)                        worker process (attacher)
    --------------------                        -------------------------
    arena = SharedArena()
    arena.create("tallies", (P, K), float64)
      -> /dev/shm/simcore_<pid>_<run>_tallies
    pool(initializer=attach, arena.specs) ----> attach(specs): open by name,
                                                  np.frombuffer views, no tracker
    ... workers write rows, main reads ...
    pool shutdown  <--------------------------- close() on exit
    arena.close(); arena.unlink()

Rules (PITFALLS section 2):

1. Only the owner creates and unlinks; attachers open, ``close()`` and never
   touch the resource tracker (registration is suppressed while attaching).
2. The owner unlinks on every exit path: normal return, exception, SIGINT and
   SIGTERM (the engine turns both into exceptions that unwind through
   ``with SharedArena()``), and a second Ctrl-C (KeyboardInterrupt unwinds too).
3. SIGKILL or a killed process group leaves blocks behind: every ``simcore``
   start calls :func:`remove_orphans`, which unlinks ``simcore_<pid>_<start>...``
   blocks whose owner pid is gone or now belongs to a process started at
   another time.  Names of others are never touched.
4. Views are ``np.frombuffer`` (they keep a buffer export, so a premature
   ``close()`` raises instead of leaving dangling arrays) and are dropped
   before ``close()``.
5. Each block is ``posix_fallocate``d at creation, so a full /dev/shm is a
   clean error now rather than SIGBUS later.
"""
from __future__ import annotations

import atexit
import itertools
import os
import re
import resource
import sys
import threading
from multiprocessing import resource_tracker, shared_memory
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .interrupts import helpers_ignore_signals

SHM_DIR = Path("/dev/shm")
PREFIX = "simcore_"
_NAME_RE = re.compile(r"^simcore_(?P<pid>\d+)_(?P<start>[0-9a-f]+)r(?P<run>\d+)_(?P<name>[A-Za-z0-9]+)$")
_run_counter = itertools.count()
_tracker_lock = threading.Lock()

#: Arenas visible in this process by id: the owner's own arenas (serial and
#: thread executors) and the ones a worker attached in its pool initializer.
_REGISTRY: dict[str, dict[str, np.ndarray]] = {}


class SharedMemoryError(OSError):
    """Shared memory could not be created or attached (e.g. /dev/shm is full)."""


class BlockSpec(NamedTuple):
    """What an attacher needs to map a block: its OS name, shape and dtype."""

    name: str
    shm_name: str
    shape: tuple[int, ...]
    dtype: str


class ArenaSpec(NamedTuple):
    """Picklable description of an arena, handed to workers at pool start."""

    arena_id: str
    blocks: tuple[BlockSpec, ...]


def _process_start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or None if no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _owner_token() -> str:
    return f"{os.getpid()}_{_process_start_ticks(os.getpid()) or 0:x}"


class SharedArena:
    """Owner of a set of named shared-memory blocks for one run.

    Use as a context manager; leaving it (by any path) closes and unlinks
    every block.  ``specs`` describes the blocks for :func:`attach`.
    """

    def __init__(self) -> None:
        _start_resource_tracker()
        self.arena_id = f"{_owner_token()}r{next(_run_counter)}"
        self._blocks: dict[str, shared_memory.SharedMemory] = {}
        self._specs: list[BlockSpec] = []
        self.arrays: dict[str, np.ndarray] = {}
        _REGISTRY[self.arena_id] = self.arrays

    def create(self, name: str, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
        """Create block ``name`` of ``shape`` and ``dtype``, zero-filled; return its view."""
        if not name.isalnum():
            raise ValueError(f"block name must be alphanumeric (got {name!r})")
        dtype = np.dtype(dtype)
        nbytes = max(1, int(np.prod(shape)) * dtype.itemsize)
        shm_name = f"{PREFIX}{self.arena_id}_{name}"
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and nbytes > limit:  # CPython would fail inside, and its tracker warn
            raise SharedMemoryError(f"cannot create shared memory {shm_name!r} ({nbytes} bytes): the file size "
                                    f"limit (ulimit -f) is {limit} bytes")
        try:
            block = shared_memory.SharedMemory(name=shm_name, create=True, size=nbytes)
        except OSError as exc:
            raise SharedMemoryError(f"cannot create shared memory {shm_name!r} ({nbytes} bytes): {exc}") from exc
        self._blocks[name] = block
        try:
            os.posix_fallocate(block._fd, 0, nbytes)
        except OSError as exc:
            free = _shm_free_bytes()
            raise SharedMemoryError(
                f"/dev/shm has no room for {nbytes} bytes ({free} free); "
                "enlarge it (docker: --shm-size or --ipc=host) or reduce the problem size"
            ) from exc
        view = np.frombuffer(block.buf, dtype=dtype, count=int(np.prod(shape))).reshape(shape)
        view[...] = 0
        self.arrays[name] = view
        self._specs.append(BlockSpec(name, shm_name, tuple(shape), dtype.str))
        return view

    @property
    def specs(self) -> ArenaSpec:
        """Picklable description for :func:`attach` in worker processes."""
        return ArenaSpec(self.arena_id, tuple(self._specs))

    def close(self) -> None:
        """Drop the views and unlink every block.  Safe to call more than once; never raises.

        The name leaves /dev/shm at once.  If an array still refers to a block
        (say, a traceback frame being propagated), its mapping is kept until
        the next :func:`release_deferred` instead of failing the exit path.
        """
        _REGISTRY.pop(self.arena_id, None)
        self.arrays.clear()
        blocks, self._blocks = self._blocks, {}
        for block in blocks.values():
            try:
                block.unlink()
            except FileNotFoundError:
                pass
            _close_or_defer(block)
        release_deferred()

    def __enter__(self) -> "SharedArena":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


#: Passed to the resource tracker: its notice of what it cleans up after a SIGKILLed owner is no news.
_TRACKER_QUIET = "ignore::UserWarning:multiprocessing.resource_tracker"


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker now, ignoring SIGHUP and SIGUSR1 (it ignores SIGINT and SIGTERM itself).

    Started later, on the first block, it would die of a SIGHUP to the process
    group, and the unlink of every block would then warn of leaks.  When the
    owner is SIGKILLed, the tracker unlinks its blocks and semaphores, which
    is the cleanup wanted: it does so silently (``-W`` of the tracker).
    """
    with helpers_ignore_signals():
        added = _TRACKER_QUIET not in sys.warnoptions
        if added:
            sys.warnoptions.append(_TRACKER_QUIET)  # the tracker's command line copies the interpreter's -W
        try:
            resource_tracker.ensure_running()
        finally:
            if added:
                sys.warnoptions.remove(_TRACKER_QUIET)


_deferred: list[shared_memory.SharedMemory] = []


def _close_or_defer(block: shared_memory.SharedMemory) -> None:
    try:
        block.close()
    except BufferError:
        _deferred.append(block)


def release_deferred() -> None:
    """Unmap blocks whose last array has gone since they were unlinked."""
    pending = list(_deferred)
    _deferred.clear()
    for block in pending:
        _close_or_defer(block)


@atexit.register
def _leave_the_rest_to_the_exit() -> None:
    """At exit, blocks an array still maps (an uncaught exception's frames) go with the process.

    Their names left /dev/shm when they were unlinked; without this, each
    one's ``__del__`` would print ``BufferError: cannot close exported
    pointers exist`` under the user's traceback.
    """
    release_deferred()
    for block in _deferred:
        block.close = lambda: None


def _shm_free_bytes() -> int:
    try:
        return os.statvfs(SHM_DIR).f_bavail * os.statvfs(SHM_DIR).f_frsize
    except OSError:
        return -1


class AttachedArena:
    """A worker's mapping of an owner's arena; never unlinks anything."""

    def __init__(self, spec: ArenaSpec) -> None:
        self.arena_id = spec.arena_id
        self._blocks: list[shared_memory.SharedMemory] = []
        self.arrays: dict[str, np.ndarray] = {}
        for block_spec in spec.blocks:
            block = _attach_untracked(block_spec.shm_name)
            self._blocks.append(block)
            count = int(np.prod(block_spec.shape))
            self.arrays[block_spec.name] = np.frombuffer(
                block.buf, dtype=np.dtype(block_spec.dtype), count=count
            ).reshape(block_spec.shape)
        _REGISTRY[self.arena_id] = self.arrays

    def close(self) -> None:
        """Drop the views and close (not unlink) every block."""
        _REGISTRY.pop(self.arena_id, None)
        self.arrays.clear()
        for block in self._blocks:
            _close_or_defer(block)
        self._blocks.clear()


def _attach_untracked(shm_name: str) -> shared_memory.SharedMemory:
    """Open an existing block without registering it with this process's resource tracker."""
    with _tracker_lock:
        original = resource_tracker.register
        resource_tracker.register = lambda *args, **kwargs: None
        try:
            return shared_memory.SharedMemory(name=shm_name, create=False)
        except FileNotFoundError as exc:
            raise SharedMemoryError(f"shared memory {shm_name!r} is gone (its owner exited?)") from exc
        finally:
            resource_tracker.register = original


def arrays_of(arena_id: str) -> dict[str, np.ndarray]:
    """The arrays of arena ``arena_id`` as seen in this process (owner or attached)."""
    try:
        return _REGISTRY[arena_id]
    except KeyError:
        raise SharedMemoryError(f"arena {arena_id!r} is not attached in process {os.getpid()}") from None


def owner_is_alive(pid: int, start_ticks: int) -> bool:
    """True if process ``pid`` exists and started at ``start_ticks`` (not a reused pid)."""
    ticks = _process_start_ticks(pid)
    return ticks is not None and (start_ticks == 0 or ticks == start_ticks)


def list_segments() -> list[str]:
    """Names of all simcore blocks currently in /dev/shm."""
    try:
        return sorted(p.name for p in SHM_DIR.iterdir() if p.name.startswith(PREFIX))
    except FileNotFoundError:
        return []


def remove_orphans() -> list[str]:
    """Unlink simcore blocks whose owner process is dead; return the names removed.

    Only names of the form ``simcore_<pid>_<start>r<run>_<name>`` are
    considered, and only when ``<pid>`` is gone or was reused by a process with
    another start time.  Live owners' blocks and foreign names are left alone.
    """
    removed = []
    for name in list_segments():
        match = _NAME_RE.match(name)
        if match is None:
            continue
        if owner_is_alive(int(match["pid"]), int(match["start"], 16)):
            continue
        try:
            (SHM_DIR / name).unlink()
            removed.append(name)
        except FileNotFoundError:
            pass
    return removed

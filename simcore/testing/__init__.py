"""Tools for testing simcore and what is built on it: comparing results bit for bit, and the fault campaign.

``python -m simcore.testing.faults --cases 200`` injects faults at random
moments into real runs and counts what they did (RELIABILITY.md).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

#: The groups of a results file that the same seed and partitions must reproduce bit for bit.
EXACT_GROUPS = ("results", "series", "tallies", "particles")


def results_snapshot(path: Path) -> dict:
    """Everything under /results, /series, /tallies and /particles, as bytes and attributes, for exact comparison."""
    import h5py

    snapshot = {}

    def take(name, item):
        if isinstance(item, h5py.Dataset):
            data = item[()]
            snapshot[name] = (data.dtype.str, data.shape, np.ascontiguousarray(data).tobytes(),
                              {k: _attr(v) for k, v in item.attrs.items()})

    with h5py.File(path, "r") as handle:
        for group in EXACT_GROUPS:
            if group in handle:
                handle[group].visititems(lambda name, item, group=group: take(f"{group}/{name}", item))
    return snapshot


def _attr(value):
    return value.tobytes() if isinstance(value, np.ndarray) else value


def processes_with(variable: str, value: str, wait: float = 10.0) -> list[int]:
    """PIDs whose environment holds ``variable=value``, after waiting up to ``wait`` s for them to end.

    A test tags the processes it starts with such a marker; whatever still
    carries it after the run (workers, a forkserver) is an orphan.
    """
    import time

    needle = f"{variable}={value}".encode()
    deadline = time.monotonic() + wait
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if needle in (entry / "environ").read_bytes():
                        found.append(int(entry.name))
                except OSError:
                    continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def forkserver_of(main_pid: int) -> int | None:
    """PID of the forkserver process ``main_pid`` started, if it runs."""
    for child in _children(main_pid):
        try:
            if b"forkserver" in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
        except OSError:
            continue
    return None


def pool_workers_of(main_pid: int) -> list[int]:
    """PIDs of the pool workers of process ``main_pid`` (children of its forkserver)."""
    server = forkserver_of(main_pid)
    return [] if server is None else _children(server)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []

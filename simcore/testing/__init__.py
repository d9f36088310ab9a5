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

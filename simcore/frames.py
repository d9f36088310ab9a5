"""Trajectory frames of a lockstep run: one file per frame while it runs, H5MD in the results at the end.

A particle model that declares a :class:`~simcore.models.base.Trajectory`
gets a frame of its positions every ``every`` steps, step 0 included.
While the run goes, frame k is ``<out>.frame-<step>.npy`` (plain arrays,
written to a temporary name and renamed, so a SIGKILL leaves whole frames
only).  A resumed run drops the frames after its checkpoint's step and
writes them again, so the trajectory is exact across kill and resume like
everything else.  At the end the frames go into the results file as H5MD
1.1 (``/h5md``, ``/particles/all/{box,position/{step,time,value}}``), and
the frame files are removed.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ._h5 import discard
from .storage import StorageError, describe, storage_errno

_FRAME = re.compile(r"\.frame-(\d+)\.npy$")


class FrameStore:
    """The frame files of results path ``out``."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)

    def _path(self, step: int) -> Path:
        return self.out.with_name(f"{self.out.name}.frame-{step:012d}.npy")

    def write(self, step: int, positions: np.ndarray) -> None:
        """Store the frame of step ``step`` (positions (N, 3)) under its final name; StorageError if the disk refuses."""
        path = self._path(step)
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "wb") as handle:
                np.save(handle, np.ascontiguousarray(positions), allow_pickle=False)
            os.replace(tmp, path)
        except OSError as exc:
            discard(tmp)
            raise StorageError(storage_errno(exc), f"cannot write trajectory frame {path}: {describe(exc, path)}") \
                from exc

    def existing(self) -> list[tuple[int, Path]]:
        """(step, path) of every frame on disk, by step."""
        prefix = self.out.name + ".frame-"
        parent = self.out.parent if str(self.out.parent) else Path(".")
        found = []
        for path in parent.glob(prefix + "*.npy"):
            match = _FRAME.search(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def keep_until(self, step: int) -> None:
        """Remove the frames after ``step`` (a resumed run writes them again)."""
        for frame_step, path in self.existing():
            if frame_step > step:
                path.unlink(missing_ok=True)

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Steps (F,) and positions (F, N, 3) of every frame on disk."""
        frames = self.existing()
        steps = np.array([step for step, _ in frames], dtype=np.int64)
        values = np.stack([np.load(path, allow_pickle=False) for _, path in frames]) if frames else np.empty(0)
        return steps, values

    def remove(self) -> None:
        """Remove every frame file (after the results hold them)."""
        for _, path in self.existing():
            path.unlink(missing_ok=True)

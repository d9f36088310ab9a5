"""Where a run's checkpoints live: one directory ``<out>.ckpt/`` beside its results.

Layout::

    <out>.ckpt/checkpoint.h5        the newest checkpoint
    <out>.ckpt/checkpoint.1.h5 ...  older ones (``checkpoint_keep``)
    <out>.ckpt/seg-<array>-<n>.h5   the row segments they list (``segments.py``)

The directory appears whole: the first checkpoint is written into
``<out>.ckpt.new/``, which is then renamed ``<out>.ckpt`` (and the parent
directory fsynced), so wherever a ``.ckpt`` directory exists it holds a
complete checkpoint.  After a run finishes only its final checkpoint and the
segments it lists are left: what extending the run needs.

Runs of simcore before this layout left ``<out>.ckpt``, ``<out>.ckpt.1`` and
``<out>.ckpt.seg-*`` as files beside the results; :func:`migrate_legacy`
moves them into the directory (names of segments kept, so the checkpoints'
listings still hold) before such a run is resumed or shown.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
from pathlib import Path

from ._h5 import fsync_path

NEWEST = "checkpoint.h5"
_CHECKPOINT = re.compile(r"checkpoint(?:\.(\d+))?\.h5")
_LEGACY_CHECKPOINT = re.compile(r"\.ckpt(?:\.(\d+))?")


def checkpoint_dir(out: str | os.PathLike) -> Path:
    """The checkpoint directory of results path ``out``: ``<out>.ckpt``."""
    out = Path(out)
    return out.with_name(f"{out.name}.ckpt")


def checkpoint_path(out: str | os.PathLike, index: int = 0, directory: Path | None = None) -> Path:
    """Path of the ``index``-th newest checkpoint of ``out`` (0 = newest), in ``directory`` if given."""
    return (directory or checkpoint_dir(out)) / (f"checkpoint.{index}.h5" if index else NEWEST)


def is_checkpoint_dir(path: str | os.PathLike) -> bool:
    """True if ``path`` is a run's checkpoint directory (``<out>.ckpt/``)."""
    path = Path(path)
    return path.is_dir() and path.name.endswith(".ckpt")


def existing_checkpoints(out: str | os.PathLike) -> list[Path]:
    """Checkpoint files of ``out`` on disk, newest first (an unmigrated legacy ``<out>.ckpt`` file included)."""
    directory = checkpoint_dir(out)
    if directory.is_file():
        return _legacy_checkpoints(Path(out))
    if not directory.is_dir():
        return []
    found = [(int(match.group(1) or 0), path) for path in directory.iterdir()
             if (match := _CHECKPOINT.fullmatch(path.name))]
    return [path for _, path in sorted(found)]


def results_path_of(checkpoint: str | os.PathLike) -> Path:
    """The results file a checkpoint (or checkpoint directory) belongs to: ``x.h5.ckpt/checkpoint.1.h5`` -> ``x.h5``."""
    path = Path(checkpoint)
    if path.name.endswith(".ckpt") and not path.is_file():
        return path.with_name(path.name[:-len(".ckpt")])
    if _CHECKPOINT.fullmatch(path.name) and path.parent.name.endswith(".ckpt"):
        return path.parent.with_name(path.parent.name[:-len(".ckpt")])
    stem, sep, tail = path.name.rpartition(".ckpt")  # a legacy file, or a checkpoint copied elsewhere
    if sep and _LEGACY_CHECKPOINT.fullmatch(sep + tail):
        return path.with_name(stem)
    return path


def resume_target(checkpoint: Path) -> Path:
    """What to tell ``simcore resume`` to continue from ``checkpoint``: its run's directory, or the file itself."""
    checkpoint = Path(checkpoint)
    if _CHECKPOINT.fullmatch(checkpoint.name) and checkpoint.parent.name.endswith(".ckpt"):
        return checkpoint.parent
    return checkpoint


def created(out: Path) -> tuple[Path, bool]:
    """The directory a checkpoint of ``out`` goes to: ``<out>.ckpt``, or for the first one ``<out>.ckpt.new``.

    Returns (directory, first); after writing the first checkpoint into it,
    call :func:`publish`.
    """
    directory = checkpoint_dir(out)
    if directory.is_dir():
        return directory, False
    return _fresh_staging(out), True


def publish(out: Path, staging: Path) -> None:
    """Rename the staging directory of ``out``'s first checkpoint into place, durably."""
    os.replace(staging, checkpoint_dir(out))
    fsync_path(checkpoint_dir(out).parent, directory=True)


def remove_all(out: Path) -> None:
    """Delete every checkpoint of ``out`` and its directory (``--force``; legacy files too)."""
    for directory in (checkpoint_dir(out), _staging(out)):
        if directory.is_dir():
            shutil.rmtree(directory)
    for path in _legacy_files(Path(out)):
        path.unlink(missing_ok=True)


def migrate_legacy(out: Path) -> bool:
    """Move a legacy run's ``<out>.ckpt*`` files into ``<out>.ckpt/``; True if there were any.

    Checkpoints are renamed (``<out>.ckpt.1`` -> ``checkpoint.1.h5``), segments
    keep their names, which their checkpoints list.
    """
    files = _legacy_files(out)
    if not files:
        return False
    staging = _fresh_staging(out)
    for path in files:
        match = _LEGACY_CHECKPOINT.fullmatch(path.name[len(out.name):])
        name = checkpoint_path(out, int(match.group(1) or 0)).name if match else path.name
        os.replace(path, staging / name)
    publish(out, staging)
    return True


def _staging(out: Path) -> Path:
    """Where the checkpoint directory of ``out`` is assembled before it appears: ``<out>.ckpt.new``."""
    return checkpoint_dir(out).with_name(checkpoint_dir(out).name + ".new")


def _fresh_staging(out: Path) -> Path:
    """An empty staging directory of ``out`` (one left by a run killed before it was in place is removed)."""
    staging = _staging(out)
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def _legacy_files(out: Path) -> list[Path]:
    """``<out>.ckpt``, ``<out>.ckpt.<k>`` and ``<out>.ckpt.seg-*`` files beside ``out`` (no temporary ones)."""
    prefix = f"{out.name}.ckpt"
    return sorted(path for path in out.parent.glob(f"{glob.escape(prefix)}*") if path.is_file()
                  and not path.name.endswith(".tmp")
                  and (_LEGACY_CHECKPOINT.fullmatch(path.name[len(out.name):])
                       or path.name.startswith(prefix + ".seg-")))


def _legacy_checkpoints(out: Path) -> list[Path]:
    found = [(int(match.group(1) or 0), path) for path in _legacy_files(out)
             if (match := _LEGACY_CHECKPOINT.fullmatch(path.name[len(out.name):]))]
    return [path for _, path in sorted(found)]

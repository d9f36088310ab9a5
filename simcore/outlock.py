"""An exclusive claim on a results path for the length of a run: ``flock`` on ``<out>.lock``.

Two runs (or a run and a resume) writing the same ``out`` would overwrite
each other's checkpoints.  A run therefore holds an exclusive, non-blocking
``flock`` on ``<out>.lock`` from before its first checkpoint until its
results are in place.  The kernel drops the lock when the holder dies, even
by SIGKILL, so a stale file never blocks anyone; the holder unlinks the file
before closing it, and a claimant that locked a file someone unlinked in
the meantime (another inode than the path's now) tries again.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path


def lock_path(out: Path) -> Path:
    """The lock file of results path ``out``."""
    return out.with_name(out.name + ".lock")


class OutLock:
    """A held claim on ``out``; release with :meth:`release` or ``with``."""

    def __init__(self, out: Path, fd: int) -> None:
        self.out = out
        self.path = lock_path(out)
        self._fd: int | None = fd

    def release(self) -> None:
        """Unlink the lock file, then drop the lock (idempotent)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "OutLock":
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def try_claim(out: Path) -> OutLock | int:
    """Claim ``out``: an :class:`OutLock`, or the pid of the run holding it (0 if unknown)."""
    path = lock_path(out)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            return int(holder) if holder.isdigit() else 0
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            return OutLock(out, fd)
        os.close(fd)  # the holder unlinked it between our open and flock: take the new file


def is_claimed(out: Path) -> bool:
    """True if a process holds the lock of ``out`` (looked up in /proc/locks, so it never disturbs a claimant).

    A lock file left by a killed run is not claimed, even if its recorded pid
    now belongs to another process.  Where /proc/locks cannot be read, the
    recorded pid's liveness is the best guess.
    """
    path = lock_path(out)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        holder = path.read_text(errors="replace").strip()
        return holder.isdigit() and Path(f"/proc/{holder}").exists()
    wanted = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    for line in table.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and _device_inode(fields[5]) == wanted:
            return True
    return False


def _device_inode(field: str) -> tuple[int, int, int] | None:
    """``fe:00:2146545`` (hex major, hex minor, inode) of /proc/locks -> (major, minor, inode)."""
    try:
        major, minor, inode = field.split(":")
        return int(major, 16), int(minor, 16), int(inode)
    except ValueError:
        return None

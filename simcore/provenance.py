"""Where a result came from: the command, simcore's source version, and every leg of a resumed run.

A run is one or more *legs*: the first ``simcore run`` (or ``simcore.run``)
and each ``resume`` after an interruption.  Every checkpoint carries the legs
so far (its own leg ending at the checkpoint), and the results file all of
them, as JSON in the root attribute ``legs``: ``start`` and ``end`` (UTC, ISO
8601), ``seconds`` of wall time, ``workers``, ``executor``, ``host``,
``command`` and how the leg ``ended`` (finished, interrupted, or the status
of its last checkpoint when it was killed).  ``wall_seconds`` of a results
file is their sum, as REBOUND's SimulationArchive or OpenMC's statepoints
keep the whole history of a run, not only its last piece.
"""
from __future__ import annotations

import contextvars
import datetime as _dt
import functools
import json
import shlex
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

_COMMAND: contextvars.ContextVar[str | None] = contextvars.ContextVar("simcore_command", default=None)


@contextmanager
def invoked_as(command: str) -> Iterator[None]:
    """Record ``command`` (a command line or an API call) as what started the runs in this block."""
    token = _COMMAND.set(command)
    try:
        yield
    finally:
        _COMMAND.reset(token)


def api_call(function: str, *args: Any, **kwargs: Any) -> str:
    """``simcore.run('pi', samples=1000)`` (the call as text) and the program it was made from."""
    shown = [repr(a if isinstance(a, str) else getattr(a, "name", a)) for a in args]
    shown += [f"{name}={value!r}" for name, value in kwargs.items()]
    return f"{function}({', '.join(shown)}) in {shlex.join(['python', *sys.argv])}"


def command() -> str:
    """What started this run: the recorded command or API call, else this process's command line."""
    return _COMMAND.get() or shlex.join(["python", *sys.argv])


@functools.lru_cache(maxsize=1)
def source_version() -> dict[str, Any]:
    """``simcore_git_commit`` and ``simcore_git_dirty`` when simcore runs from a git checkout, else {}."""
    checkout = Path(__file__).resolve().parents[1]
    if not (checkout / ".git").exists():
        return {}
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True, timeout=10,
                                  check=True).stdout.strip()
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"simcore_git_commit": commit, "simcore_git_dirty": dirty}


def _iso(unix: float) -> str:
    return _dt.datetime.fromtimestamp(unix, _dt.timezone.utc).isoformat(timespec="seconds")


def leg(started: float, seconds: float, workers: int | str, executor: str, ended: str,
        by: str | None = None) -> dict[str, Any]:
    """One leg that began at ``started`` (Unix time [s]), ran ``seconds`` of wall time, started ``by`` a command.

    ``by`` defaults to :func:`command`; a thread other than the run's (the
    checkpoint writer) passes the command its run recorded.
    """
    return {"start": _iso(started), "end": _iso(time.time()), "seconds": seconds, "workers": workers,
            "executor": executor, "host": socket.gethostname(), "command": by or command(), "ended": ended}


def legs_of(attrs) -> list[dict[str, Any]]:
    """The legs a checkpoint or results file records (none for files older than the record)."""
    return json.loads(attrs["legs"]) if "legs" in attrs else []

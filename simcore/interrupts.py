"""Signals: how a run is asked to stop (or to checkpoint now), and the exit code each one ends with.

========  =====  ============================================================
signal    exit   what the run does
========  =====  ============================================================
SIGINT    130    finish the phase or partitions in flight, final checkpoint
SIGTERM   143    the same (Slurm's scancel, systemctl stop, a container stop)
SIGHUP    129    the same (the terminal went away)
SIGUSR1   --     write a checkpoint at once and go on (``on_usr1 = "checkpoint"``,
                 the default), or stop like SIGTERM with exit 138
                 (``on_usr1 = "stop"``): Slurm's ``--signal=B:USR1@120``
========  =====  ============================================================

A second stop signal aborts the work in flight at once.  Only the main
process decides: pool workers and the forkserver ignore SIGINT, SIGHUP and
SIGUSR1 (the main process stops them), and die of SIGTERM by default.

Outside a run's loop (while simcore imports, compiles kernels, writes the
results) the console script's :func:`install_early_handlers` makes each stop
signal raise :class:`Interrupted` at once; inside it, :func:`graceful_signals`
only records the request in a :class:`StopFlag`, which the drivers poll.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from pathlib import Path

#: The signals that stop a run, and the exit code of each.
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
#: Exit code of a run stopped by SIGUSR1 with ``on_usr1 = "stop"``.
USR1_EXIT_CODE = 128 + signal.SIGUSR1
#: What SIGUSR1 may ask (config ``on_usr1``).
ON_USR1 = ("checkpoint", "stop")
#: Signals a helper process (forkserver, pool worker) ignores: the main process acts on them.
IGNORED_BY_HELPERS = (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)


def stop_reason(signum: int | None) -> str:
    """What stopped a run, in words: ``SIGINT``, ``SIGTERM``, ``SIGHUP``, ``SIGUSR1``, or ``cancellation``."""
    return "cancellation" if signum is None else signal.Signals(signum).name


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (``exit_code`` 130, 143, 129 or 138), or cancelled (``signum`` None).

    ``checkpoint`` is the newest checkpoint on disk on the way out, if any;
    ``results`` the results file, if the signal came after it was written.
    Cancellation is what :mod:`simcore.aio` asks for when its task is cancelled.
    """

    def __init__(self, signum: int | None, checkpoint: Path | None = None) -> None:
        super().__init__(f"interrupted by {stop_reason(signum)}")
        self.signum = signum
        self.checkpoint = checkpoint
        self.results: Path | None = None  #: the results file, if it was complete when the signal came
        self.exit_code = 130 if signum is None else EXIT_CODES.get(signum, 128 + signum)


class StopFlag:
    """Set by the signal handlers (or a cancelled :mod:`simcore.aio` task); the drivers check it
    between partitions (or rounds).

    The first request asks for a graceful stop; a second one asks to abort,
    which the drivers honour at their next poll (at most ``POLL_SECONDS``).
    A request may come from any thread.  Separately, a checkpoint may be asked
    for now (SIGUSR1), which the drivers take at their next poll.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._checkpoint_now = threading.Event()
        self.signum: int | None = None
        self.aborted = False

    def request(self, signum: int | None) -> None:
        """Ask the run to stop after the partitions in flight; asked twice, to abort them.

        ``signum`` is the signal that asks, or None for a cancellation.
        """
        if self._event.is_set():
            self.aborted = True
        self.signum = signum
        self._event.set()

    def is_set(self) -> bool:
        """True once a stop was requested."""
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a stop request; True if there is one."""
        return self._event.wait(timeout)

    def raise_if_aborted(self) -> None:
        """Raise Interrupted if a second signal came: abandon the work in flight now."""
        if self.aborted:
            raise Interrupted(self.signum)

    def request_checkpoint(self) -> None:
        """Ask for a checkpoint at the next consistent point (SIGUSR1)."""
        self._checkpoint_now.set()

    def checkpoint_requested(self) -> bool:
        """True once per request for a checkpoint now (the request is taken)."""
        if self._checkpoint_now.is_set():
            self._checkpoint_now.clear()
            return True
        return False


@contextmanager
def graceful_signals(stop: StopFlag, on_usr1: str = "checkpoint"):
    """Route SIGINT/SIGTERM/SIGHUP (and SIGUSR1) to ``stop`` for the duration of the block.

    The handler only records the request: raising from it could interrupt the
    pool while it hands a new worker its arguments, and that worker would fail
    with a traceback.  A second signal makes the driver raise Interrupted at
    its next poll, well under a second later (Interrupted is a
    KeyboardInterrupt: it unwinds every ``finally``, so shared memory is
    still unlinked).  Only the main thread can install handlers; elsewhere
    this is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        stop.request(signum)

    def usr1(signum, frame):
        if on_usr1 == "stop":
            stop.request(signum)
        else:
            stop.request_checkpoint()

    previous = {sig: signal.signal(sig, handler) for sig in EXIT_CODES
                if sig != signal.SIGHUP or signal.getsignal(sig) is not signal.SIG_IGN}  # nohup's SIG_IGN stays
    previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, usr1)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def install_early_handlers() -> None:
    """From process start on: a stop signal raises Interrupted at once, SIGUSR1 does nothing until a run loops.

    For the console script only (a library must not take over signals): it
    turns a signal during start-up or the final write into one line and the
    signal's exit code instead of a traceback or a silent death.
    """
    for sig in EXIT_CODES:
        if signal.getsignal(sig) is not signal.SIG_IGN:  # nohup's SIG_IGN stays
            signal.signal(sig, _raise_interrupted)
    signal.signal(signal.SIGUSR1, lambda signum, frame: None)


@contextmanager
def helpers_ignore_signals():
    """Ignore :data:`IGNORED_BY_HELPERS` while a helper process starts, so it inherits SIG_IGN (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in IGNORED_BY_HELPERS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)

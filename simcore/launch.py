"""The console script (``simcore``, ``python -m simcore``): signal handlers first, then the command line.

The handlers go in before anything heavy is imported, so a signal at any
instant from process start to exit ends in one line and the signal's exit
code (:mod:`simcore.interrupts`), never in a traceback or a silent death.
"""
from __future__ import annotations

import os
import signal
import sys
from typing import Sequence

from .interrupts import EXIT_CODES, Interrupted, install_early_handlers


def _exit_at_once(signum, frame) -> None:
    os.write(2, f"simcore: interrupted by {signal.Signals(signum).name} on the way out\n".encode())
    os._exit(EXIT_CODES[signum])


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``simcore`` with ``argv`` (default: the command line); return the exit code."""
    install_early_handlers()
    try:
        from .cli import main as command_line

        return command_line(argv)
    except Interrupted as exc:  # while importing, before the command line could catch it
        sys.stderr.write(f"simcore: {exc} while starting; nothing was run or written\n")
        return exc.exit_code
    finally:  # from here on only interpreter shutdown runs: nothing to stop or checkpoint
        for sig in EXIT_CODES:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, _exit_at_once)
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # not a Python handler: CPython's finalization keeps it

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


#: Environment variables through which MPI launchers give a rank its job's size
#: (MPICH/Hydra and Slurm's PMI, Open MPI, MVAPICH).
WORLD_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def _mpi_world():
    """MPI's world if an MPI launcher started simcore as each of its ranks (:func:`simcore.mpi.spmd_world`)."""
    if not any(name in os.environ for name in WORLD_SIZE_VARIABLES):
        return None  # not under an MPI launcher: nothing of MPI is imported
    from .mpi import spmd_world

    return spmd_world()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``simcore`` with ``argv`` (default: the command line); return the exit code."""
    install_early_handlers()
    world = _mpi_world()
    if world is not None and world.rank > 0:
        from .mpi import serve_as_rank

        return serve_as_rank(world)
    code = 1
    try:
        from .cli import main as command_line

        code = command_line(argv)
        return code
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        raise
    except Interrupted as exc:  # while importing, before the command line could catch it
        sys.stderr.write(f"simcore: {exc} while starting; nothing was run or written\n")
        code = exc.exit_code
        return code
    finally:  # from here on only interpreter shutdown runs: nothing to stop or checkpoint
        if world is not None:
            from .distributed import release

            release(world, code)  # the other ranks exit with simcore's code
        for sig in EXIT_CODES:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, _exit_at_once)
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # not a Python handler: CPython's finalization keeps it

"""A spinning barrier for lockstep process workers, on counters in shared memory.

``multiprocessing.Barrier`` costs about 0.3 ms a wait (a condition variable
over several semaphores and a wake-up of each sleeping process), more than a
checkerboard half-sweep of a 1024^2 lattice on one core.  Here party ``k``
owns slot ``k`` of an int64 array in the run's shared arena and stores the
number of waits it has begun there; it passes once every slot has reached
that number.  Each slot has a single writer, so no atomic operation is
needed; the last slot is an abort flag.  A waiter spins, then yields, then
naps, so an oversubscribed machine is not starved.

The memory ordering this relies on (a worker's writes to the state are seen
by the others before its counter, and the state is read only after the
counters) is what x86-64's total store order gives; :data:`SUPPORTED` is
False elsewhere and the driver then uses ``multiprocessing.Barrier``.
"""
from __future__ import annotations

import platform
import threading
import time

import numpy as np

#: True where plain stores and loads are ordered as the spinning barrier needs (x86-64).
SUPPORTED = platform.machine().lower() in ("x86_64", "amd64")

_SPINS_BEFORE_YIELD = 2_000
_YIELDS_BEFORE_NAP = 2_000
_NAP_SECONDS = 50e-6


def counters(parties: int) -> tuple[tuple[int, ...], type]:
    """Shape and dtype of the shared array a barrier of ``parties`` needs."""
    return (parties + 1,), np.int64


class SpinBarrier:
    """Party ``party`` of the barrier on ``slots`` (shape (parties + 1,), shared, zeroed at the start)."""

    def __init__(self, slots: np.ndarray, party: int | None = None) -> None:
        self.slots = slots
        self.party = party

    def wait(self) -> None:
        """Block until every party has begun as many waits as this one; BrokenBarrierError once aborted."""
        generation = self.slots[self.party] + 1
        self.slots[self.party] = generation
        parties = self.slots[:-1]
        tries = 0
        while parties.min() < generation:
            if self.slots[-1]:
                raise threading.BrokenBarrierError
            tries += 1
            if tries > _SPINS_BEFORE_YIELD + _YIELDS_BEFORE_NAP:
                time.sleep(_NAP_SECONDS)
            elif tries > _SPINS_BEFORE_YIELD:
                time.sleep(0)

    def abort(self) -> None:
        """Release every waiting party with BrokenBarrierError (any process may call it)."""
        self.slots[-1] = 1

    def reset(self) -> None:
        """Zero every counter and the abort flag, for a new set of parties (no party may be waiting)."""
        self.slots[:] = 0

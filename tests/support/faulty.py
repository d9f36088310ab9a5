"""User models whose partitions fail: ``tests.support.faulty:MODEL`` (batch: partition 3 raises,
or with ``fault=kill`` SIGKILLs its own worker, with ``fault=hang`` never returns, with
``fault=log`` logs a warning and succeeds) and
``tests.support.faulty:LOCKSTEP`` (ising, the first partition raises at a given step).

It exercises the worker-error path exactly as a researcher's buggy model
would: the engine must report the worker traceback and exit 1, never hang.
"""
import dataclasses
import logging
import os
import signal
import time

from simcore.models import ising, pi
from simcore.models.base import BatchModel, Param

FAILING_PARTITION = 3


def _run_partition(p, seed, partition, partitions, row):
    if partition == FAILING_PARTITION:
        if p["fault"] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if p["fault"] == "hang":
            time.sleep(3600)
        if p["fault"] == "log":
            logging.getLogger("tests.faulty").warning("partition %d says hello", partition)
            return pi.MODEL.run_partition(p, seed, partition, partitions, row)
        raise ValueError(f"deliberate failure in partition {partition}")
    pi.MODEL.run_partition(p, seed, partition, partitions, row)


MODEL = BatchModel(
    name="faulty",
    doc="pi, except that partition 3 raises",
    params=(Param("samples", int, 100_000, ge=1),
            Param("fault", str, "raise", choices=("raise", "kill", "hang", "log"), doc="what partition 3 does")),
    results=pi.MODEL.results,
    default_partitions=lambda p: 8,
    work=lambda p: p["samples"],
    work_unit="darts",
    tally_width=pi.MODEL.tally_width,
    run_partition=_run_partition,
    reduce=pi.MODEL.reduce,
    warm=pi.MODEL.warm,
)


def _failing_phase(p, seed, step, phase, state, row_start, row_stop):
    if step == p["failing_step"] and row_start == 0:
        if p["fault"] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise ValueError(f"deliberate failure at step {step}")
    ising.MODEL.phase(p, seed, step, phase, state, row_start, row_stop)


#: The ising model, except that the partition holding row 0 raises (or, with ``fault=kill``,
#: SIGKILLs its worker) at step ``failing_step`` while the other workers wait at the barrier.
LOCKSTEP = dataclasses.replace(
    ising.MODEL, name="faulty_lockstep",
    params=ising.MODEL.params + (Param("failing_step", int, 5, ge=0),
                                 Param("fault", str, "raise", choices=("raise", "kill"))),
    phase=_failing_phase,
)

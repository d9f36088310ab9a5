"""A user model (run as ``tests.support.faulty:MODEL``) whose partition 3 raises.

It exercises the worker-error path exactly as a researcher's buggy model
would: the engine must report the worker traceback and exit 1, never hang.
"""
from simcore.models import pi
from simcore.models.base import BatchModel, Param

FAILING_PARTITION = 3


def _run_partition(p, seed, partition, partitions, row):
    if partition == FAILING_PARTITION:
        raise ValueError(f"deliberate failure in partition {partition}")
    pi.MODEL.run_partition(p, seed, partition, partitions, row)


MODEL = BatchModel(
    name="faulty",
    doc="pi, except that partition 3 raises",
    params=(Param("samples", int, 100_000, ge=1),),
    results=pi.MODEL.results,
    default_partitions=lambda p: 8,
    work=lambda p: p["samples"],
    work_unit="darts",
    tally_width=pi.MODEL.tally_width,
    run_partition=_run_partition,
    reduce=pi.MODEL.reduce,
    warm=pi.MODEL.warm,
)

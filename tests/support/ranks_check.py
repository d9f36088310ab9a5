"""Run under ``mpiexec -n 4``: every lockstep case on 1, 2, 3 and 4 of the ranks, against one process.

For each case and rank count R, the first R ranks (a communicator of their own) run the steps in
uneven rounds, lead by their rank 0 as simcore's leader does, then gather the state; halfway, the
state is gathered and the second half runs from it on another rank count (a resume).  World rank 0
compares the per-step sums over partitions and the final state with :func:`simcore.lockstep.simulate`
and a serial copy of the state, byte for byte, and prints one line a comparison: ``same`` or
``DIFFERENT``.  Cases come as JSON on the command line: ``[[model, params, partitions], ...]``.
"""
import json
import sys

import numpy as np
from mpi4py import MPI

from simcore.config import build_config
from simcore.distributed import Rank, serve
from simcore.lockstep import advance, partition_rows
from simcore.models import get_model

world = MPI.COMM_WORLD


def serial(model, params: dict, seed: int, partitions: int):
    """(per-step sums over partitions, final state) of the run in this one process."""
    rows = partition_rows(model.rows(params), partitions)
    state = np.empty(model.state_shape(params), model.state_dtype)
    for first, last in rows:
        model.init(params, seed, state, first, last)
    steps, measured_from = model.steps(params), model.measured_from(params)
    sums = np.zeros((steps - measured_from, partitions, len(model.observables)))
    advance(model, params, seed, [(k, *r) for k, r in enumerate(rows)], 0, steps, measured_from, state, sums,
            lambda: None)
    return sums.sum(axis=1), state


def on_ranks(ranks: int, reference: str, params: dict, seed: int, partitions: int, steps: tuple[int, int],
             start: np.ndarray | None):
    """Steps [steps[0], steps[1]) on the first ``ranks`` ranks from ``start`` (None: the initial state):
    on world rank 0, (the (measured steps, P, K) measurements, the final state); None elsewhere."""
    comm = world.Split(0 if world.rank < ranks else MPI.UNDEFINED, world.rank)
    if comm == MPI.COMM_NULL:
        return None
    if comm.rank != 0:
        serve(comm)
        comm.Free()
        return None
    lead = Rank(comm)
    lead.start_from = start
    lead.lead("start", reference, params, seed, partitions, list(sys.path), start is not None)
    model = get_model(reference)
    measured_from, pieces, first = model.measured_from(params), [], steps[0]
    for length in (1, 3, 7, 50, 10**9):  # uneven rounds, the last to the end
        last = min(steps[1], first + length)
        if last > first:
            pieces.append(lead.lead("round", first, last, measured_from))
        first = last
    state = lead.lead("state")
    lead.lead("exit", 0)
    comm.Free()
    return np.concatenate(pieces), state


def main() -> None:
    seed = 5
    for reference, values, partitions in json.loads(sys.argv[1]):
        model = get_model(reference)
        params = dict(build_config(model, values).params)
        expected = serial(model, params, seed, partitions) if world.rank == 0 else None
        steps = model.steps(params)
        half = steps // 2
        for ranks in (1, 2, 3, 4):
            whole = on_ranks(ranks, reference, params, seed, partitions, (0, steps), None)
            first = on_ranks(ranks, reference, params, seed, partitions, (0, half), None)
            later = 1 + ranks % 4  # the second half on another rank count
            second = on_ranks(later, reference, params, seed, partitions, (half, steps),
                              first[1] if first is not None else None)
            if world.rank == 0:
                sums, state = expected
                resumed = np.concatenate([first[0], second[0]]).sum(axis=1)
                for what, got in ((f"{ranks} ranks", whole[0].sum(axis=1)), (f"{ranks} then {later} ranks", resumed)):
                    same = got.tobytes() == sums.tobytes()
                    print(f"{reference} {what}: sums {'same' if same else 'DIFFERENT'}")
                for what, got in ((f"{ranks} ranks", whole[1]), (f"{ranks} then {later} ranks", second[1])):
                    print(f"{reference} {what}: state {'same' if got.tobytes() == state.tobytes() else 'DIFFERENT'}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()

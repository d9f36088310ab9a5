"""A lockstep run on MPI ranks that share no memory: each rank holds its partitions' rows and their halo.

Layout: the P partitions go to the R ranks in R contiguous groups, as they
go to the workers of a pool, so rank r owns the rows [first_r, stop_r) of
the state's first axis.  What it holds depends on the model's
:class:`~simcore.models.base.Halo`:

* ``rows = k`` (ising): a *window*, its own rows and k halo rows on either
  side (periodically), (stop_r - first_r + 2k) rows in all.  Before every
  phase and measurement each rank sends its first k own rows to the rank
  before it and its last k to the rank after it (``Sendrecv``), which
  store them as their halo.
* ``every_row`` (nbody): the whole state, of which it updates its own rows;
  before every phase and measurement the changing columns (the positions)
  of every rank's rows are all-gathered (``Allgatherv``).
* ``domain`` (lj): the atoms of a slab of the box and their ghosts, in
  :mod:`simcore.slabs`.

Rank 0 leads: it broadcasts each command (start, a round of steps, gather
the state, stop) and every rank carries it out.  A round's measurements of
each partition are gathered to rank 0 as (steps, P, K) in partition order,
so rank 0 sums them over partitions exactly as the shared-memory driver
does, and the state, gathered for a checkpoint, is the same bytes: the
results are byte-identical to the process executor's for any rank count.
Arrays move as buffers of bytes, never as pickles; only the small commands
are pickled.

Two ways to start (:mod:`simcore.mpi`): under ``mpiexec -n R python -m
simcore run ...`` every rank runs simcore, rank 0 the run itself and the
others :func:`serve`; with ``--executor mpi --workers R`` simcore starts a
coordinator, an MPI singleton that spawns R - 1 ranks, leads them as rank 0
and answers simcore's calls (:class:`LeaderProxy`) over a pipe.
"""
from __future__ import annotations

import sys
import traceback
from typing import Any, NamedTuple

import numpy as np

from .lockstep import advance, partition_rows
from .models import get_model
from .models.base import LockstepModel


class Footprint(NamedTuple):
    """What one rank held and sent: its share of the state (in words), the state's bytes it held (at most),
    the bytes of halo it sent a step (the measurements and sums it sends, a few bytes an observable and
    partition a measured step, not counted)."""

    rank: int
    share: str
    state_bytes: int
    sent_bytes_per_step: float


def rank_rows(rows: list[tuple[int, int]], ranks: int) -> list[tuple[list[int], int, int]]:
    """(partitions, first row, stop row) of each rank: the partitions in ``ranks`` contiguous groups."""
    groups = np.array_split(np.arange(len(rows)), ranks)
    return [([int(k) for k in group], rows[group[0]][0], rows[group[-1]][1]) for group in groups]


class RankState:
    """One rank's share of a distributed lockstep run: its window of the state, its partitions, its halo."""

    def __init__(self, comm, model: LockstepModel, params: dict, seed: int, partitions: int) -> None:
        self.comm, self.model, self.params, self.seed = comm, model, params, seed
        model.warm()
        shape = model.state_shape(params)
        self.total_rows = shape[0]
        rows = partition_rows(model.rows(params), partitions)
        layout = rank_rows(rows, comm.size)
        self.row_counts = [stop - first for _, first, stop in layout]
        self.part_counts = [len(group) for group, _, _ in layout]
        mine, first, stop = layout[comm.rank]
        self.halo = model.halo(params)
        if self.halo.every_row:
            self.window = np.zeros(shape, model.state_dtype)
            offset, self.origin = 0, None
        else:
            depth = self.halo.rows
            self.window = np.zeros((stop - first + 2 * depth, *shape[1:]), model.state_dtype)
            offset, self.origin = first - depth, (first - depth) % self.total_rows
        self.own = self.window[first - offset:stop - offset]
        self.rows = (first, stop)
        self.parts = [(k, rows[k][0] - offset, rows[k][1] - offset) for k in mine]
        self.sent = 0
        self.steps = 0

    # ------------------------------------------------------------------ the state

    def init(self) -> None:
        """The initial state of this rank's partitions, then the halo."""
        window = () if self.origin is None else (self.origin,)
        for _, start, stop in self.parts:
            self.model.init(self.params, self.seed, self.window, start, stop, *window)
        self._complete()

    def load(self, state: np.ndarray | None) -> None:
        """Rank 0's whole ``state`` (None on the other ranks) scattered into each rank's rows, then the halo."""
        self.comm.Scatterv(None if state is None else self._by_rank(state), _bytes(self.own), root=0)
        self._complete()

    def gather(self) -> np.ndarray | None:
        """The whole state on rank 0 (None on the others), each rank's own rows in row order."""
        whole = np.empty((self.total_rows, *self.window.shape[1:]), self.window.dtype) if self.comm.rank == 0 else None
        self.comm.Gatherv(_bytes(np.ascontiguousarray(self.own)), None if whole is None else self._by_rank(whole),
                          root=0)
        return whole

    def _by_rank(self, whole: np.ndarray):
        """``whole`` as an MPI buffer of bytes cut into the ranks' rows."""
        return _cut(_bytes(whole), [n * whole[0].nbytes for n in self.row_counts])

    def _complete(self) -> None:
        """After a start: the halo, or (every row) each rank's whole rows once; not counted as sent by steps."""
        if self.halo.every_row:
            self._allgather_rows(0, self.window.shape[-1])
        else:
            self.exchange()
        self.sent = 0

    # ------------------------------------------------------------------ the halo

    def exchange(self) -> None:
        """Bring the halo up to date (module docstring)."""
        if self.halo.every_row:
            self._allgather_rows(*self.halo.columns)
            return
        depth, size, rank = self.halo.rows, self.comm.size, self.comm.rank
        before, after = (rank - 1) % size, (rank + 1) % size
        window, own = self.window, len(self.own)
        self.comm.Sendrecv(window[own:own + depth], dest=after, sendtag=1, recvbuf=window[:depth], source=before,
                           recvtag=1)
        self.comm.Sendrecv(window[depth:2 * depth], dest=before, sendtag=2, recvbuf=window[own + depth:],
                           source=after, recvtag=2)
        self.sent += 2 * window[:depth].nbytes

    def _allgather_rows(self, column_start: int, column_stop: int) -> None:
        """Columns [column_start, column_stop) of every rank's own rows, into every rank's whole state."""
        mine = np.ascontiguousarray(self.own[..., column_start:column_stop])
        gathered = np.empty((self.total_rows, *mine.shape[1:]), mine.dtype)
        self.comm.Allgatherv(_bytes(mine), self._by_rank(gathered))
        self.window[..., column_start:column_stop] = gathered
        self.sent += mine.nbytes

    # ------------------------------------------------------------------ steps

    def run_round(self, first: int, last: int, measured_from: int) -> np.ndarray | None:
        """Steps [first, last) on this rank's partitions; rank 0 gets the (measured steps, P, K) measurements."""
        measured = max(0, last - max(first, measured_from))
        sums = np.zeros((measured, len(self.parts), len(self.model.observables)))
        advance(self.model, self.params, self.seed, self.parts, first, last, measured_from, self.window, sums,
                self.exchange, origin=self.origin, first_part=self.parts[0][0])
        self.steps += last - first
        return self._gather_measurements(sums)

    def _gather_measurements(self, sums: np.ndarray) -> np.ndarray | None:
        pieces = gathered_bytes(self.comm, sums)
        if pieces is None:
            return None
        shaped = [piece.view(np.float64).reshape(len(sums), parts, sums.shape[2])
                  for piece, parts in zip(pieces, self.part_counts)]
        return np.concatenate(shaped, axis=1)

    def footprint(self) -> Footprint:
        """What this rank holds and has sent (a :class:`Footprint`)."""
        first, stop = self.rows
        return Footprint(self.comm.rank, f"rows [{first}, {stop}) of the state", self.window.nbytes,
                         self.sent / max(1, self.steps))


def _slab_rank_state():
    """:class:`simcore.slabs.SlabRankState` (imported here: it builds on this module)."""
    from .slabs import SlabRankState

    return SlabRankState


def _bytes(array: np.ndarray) -> np.ndarray:
    """A C-contiguous array's memory as bytes (a buffer MPI sends as it is)."""
    return array.reshape(-1).view(np.uint8)


def gathered_bytes(comm, array: np.ndarray) -> list[np.ndarray] | None:
    """Every rank's C-contiguous ``array`` (of any size) on rank 0, as each rank's bytes; None elsewhere."""
    counts = comm.gather(array.nbytes, root=0)
    whole = np.empty(sum(counts), np.uint8) if comm.rank == 0 else None
    comm.Gatherv(_bytes(array), None if whole is None else _cut(whole, counts), root=0)
    return None if whole is None else np.split(whole, np.cumsum(counts)[:-1])


def _cut(buffer: np.ndarray, counts: list[int]):
    """An MPI buffer of bytes cut into consecutive pieces of ``counts`` bytes (for the v-collectives)."""
    from mpi4py import MPI

    return [buffer, counts, [int(x) for x in np.cumsum([0, *counts[:-1]])], MPI.BYTE]


class Rank:
    """Carries out rank 0's commands on any rank; on rank 0 :meth:`lead` broadcasts each first."""

    def __init__(self, comm) -> None:
        self.comm = comm
        self.state: RankState | None = None
        self.start_from: np.ndarray | None = None  # rank 0: the whole state a resumed run starts from

    def lead(self, command: str, *args) -> Any:
        """On rank 0: broadcast ``command`` and carry it out here too; its result (rank 0's share)."""
        self.comm.bcast((command, *args), root=0)
        return self.carry_out(command, *args)

    def carry_out(self, command: str, *args) -> Any:
        """Do ``command`` (one of start, round, state, footprints, exit) with its arguments."""
        if command == "start":
            model_ref, params, seed, partitions, path, resumed = args
            sys.path[:0] = [entry for entry in path if entry not in sys.path]
            model = get_model(model_ref)
            share = RankState if model.halo(params).domain is None else _slab_rank_state()
            self.state = share(self.comm, model, dict(params), seed, partitions)
            if resumed:
                self.state.load(self.start_from)
            else:
                self.state.init()
            self.start_from = None
            return None
        if command == "round":
            return self.state.run_round(*args)
        if command == "state":
            return self.state.gather()
        if command == "footprints":
            return self.comm.gather(self.state.footprint(), root=0)
        if command == "exit":
            return args[0]
        raise ValueError(f"unknown command {command!r}")


def serve(comm) -> int:
    """A rank other than 0: carry out rank 0's commands until it says exit; return the exit code it gives.

    A command that fails here aborts the whole MPI job (rank 0 waits in a
    collective that would never end): its traceback goes to stderr first,
    tagged with the rank.
    """
    rank = Rank(comm)
    while True:
        command, *args = comm.bcast(None, root=0)
        try:
            result = rank.carry_out(command, *args)
        except Exception:  # noqa: BLE001 - nothing can continue: the job ends, with the cause said first
            sys.stderr.write(f"[rank {comm.rank}] simcore: {command} failed:\n{traceback.format_exc()}")
            sys.stderr.flush()
            comm.Abort(1)
        if command == "exit":
            return int(result)


class Leader:
    """Rank 0's side of a distributed lockstep run, called in the process that runs simcore (mpiexec)."""

    kind = "mpi"

    def __init__(self, comm) -> None:
        self.rank = Rank(comm)
        self.workers = comm.size

    def start(self, model_ref: str, params: dict, seed: int, partitions: int, state: np.ndarray | None) -> None:
        """Every rank makes its share, from the model's initial state or from rank 0's whole ``state``."""
        self.rank.start_from = state
        self.rank.lead("start", model_ref, dict(params), seed, partitions, list(sys.path), state is not None)

    def round(self, first: int, last: int, measured_from: int) -> np.ndarray:
        """Steps [first, last) on every rank: the (measured steps, P, K) measurements."""
        return self.rank.lead("round", first, last, measured_from)

    def state(self) -> np.ndarray:
        """The whole state, gathered from the ranks."""
        return self.rank.lead("state")

    def footprints(self) -> list[Footprint]:
        """Each rank's :class:`Footprint`."""
        return self.rank.lead("footprints")


def release(comm, code: int) -> None:
    """On rank 0 at exit: the other ranks' serve loops end with exit code ``code``."""
    comm.bcast(("exit", code), root=0)

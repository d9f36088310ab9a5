"""A lockstep run of a particle model on MPI ranks that own the atoms of slabs of the box (lj).

Layout (the model's :class:`~simcore.models.base.Domain`): the periodic box
is cut along x into R slabs of equal width, at least the model's ``reach``
(cutoff + skin), one a rank, as LAMMPS and HOOMD-blue cut theirs.  Rank r
holds the columns of the state of the atoms whose reference positions lie
in its slab, sorted by atom, then its *ghosts*: the positions of the atoms
of the slabs on either side within ``reach`` of its own, sorted by atom.
Every force on an atom it owns comes from those, so its neighbour list is
the one the whole system gives (:mod:`simcore.models.lj_lists`), the same
atoms in the same order, and so are the forces, bit for bit.

* Before each phase that reads the ghosts (the forces), each rank sends its
  neighbours the current positions of their ghosts (``Alltoallv``).
* The phase that sets the reference positions (a list build) says so
  (``moved``): then each atom whose new reference position lies in another
  slab moves there, its whole column with it (velocity, thermostat, ...),
  and every rank picks its ghosts anew.
* Sums over atoms are exact (:mod:`simcore.exactsum`): a maximum and an
  accumulator are all-reduced where the model asks (the list-build test,
  the Nose-Hoover chain); after a measured step each rank adds up its atoms
  of each partition and rank 0 rounds the reduced accumulators, which gives
  the process executor's per-partition bits.

Rank 0 makes the initial state (or reads a checkpoint's) whole and scatters
each rank its atoms; for a checkpoint it gathers them back, so at those
moments it holds the whole state once more.  Arrays move as bytes.
"""
from __future__ import annotations

import math

import numpy as np

from . import exactsum
from .distributed import Footprint, _bytes, _cut, gathered_bytes
from .lockstep import partition_rows
from .models.base import LockstepModel


def slab_width_error(model: LockstepModel, params, ranks: int) -> str | None:
    """Why ``ranks`` slabs of ``model``'s box are too thin for its ghosts (one line), or None."""
    domain = model.halo(params).domain
    box, reach = domain.box(params), domain.reach(params)
    if box / ranks >= reach:
        return None
    return (f"{ranks} MPI ranks cut the box of {model.name} (side {box:.4g}) into slabs {box / ranks:.4g} thick, "
            f"thinner than cutoff + skin = {reach:.4g}: use at most {max(1, math.floor(box / reach))} ranks, "
            "or a larger system")


def _alltoall(comm, pieces: list[np.ndarray], dtype, width: int) -> list[np.ndarray]:
    """Send ``pieces[s]`` ((n_s, width) of ``dtype``) to rank s; the (m, width) piece from each rank."""
    send = np.concatenate([np.ascontiguousarray(piece, dtype).reshape(-1) for piece in pieces])
    counts = np.array([piece.size * np.dtype(dtype).itemsize for piece in pieces], dtype=np.int64)
    incoming = np.empty_like(counts)
    comm.Alltoall(counts, incoming)
    received = np.empty(int(incoming.sum()), np.uint8)
    comm.Alltoallv(_cut(_bytes(send), counts.tolist()), _cut(received, incoming.tolist()))
    return [piece.view(dtype).reshape(-1, width) for piece in np.split(received, np.cumsum(incoming)[:-1])]


class LocalAtoms:
    """What a rank's model phases see of its atoms (the ``local`` argument of a Domain model's phase)."""

    def __init__(self, comm, ids: np.ndarray) -> None:
        self.comm = comm
        self.ids = ids  #: the atom of each column: the rank's own, then its ghosts
        self.lists: list = []  #: the model's neighbour lists of these columns, once built
        self.moved_now = False

    def largest(self, value: float) -> float:
        """The largest ``value`` of every rank."""
        from mpi4py import MPI

        out = np.empty(1)
        self.comm.Allreduce(np.array([value], dtype=np.float64), out, op=MPI.MAX)
        return float(out[0])

    def total(self, acc: np.ndarray) -> np.ndarray:
        """The exact accumulators ``acc`` of every rank, added up."""
        from mpi4py import MPI

        out = np.empty_like(acc)
        self.comm.Allreduce(acc, out, op=MPI.SUM)
        return out

    def moved(self) -> None:
        """The reference positions were set: the atoms go to their owners and the ghosts are renewed after
        this phase."""
        self.moved_now = True


class SlabRankState:
    """One rank's share of a run of a Domain model: the atoms of its slab and their ghosts (module docstring)."""

    def __init__(self, comm, model: LockstepModel, params: dict, seed: int, partitions: int) -> None:
        self.comm, self.model, self.params, self.seed = comm, model, params, seed
        model.warm()
        self.domain = model.halo(params).domain
        error = slab_width_error(model, params, comm.size)
        if error:
            raise ValueError(error)
        self.quantities, self.atoms = model.state_shape(params)
        self.box, self.reach = self.domain.box(params), self.domain.reach(params)
        self.bounds = np.array(partition_rows(self.atoms, partitions), dtype=np.int64)
        size, rank = comm.size, comm.rank
        self.slab = (rank * self.box / size, (rank + 1) * self.box / size)
        self.neighbours = sorted({(rank - 1) % size, (rank + 1) % size} - {rank})
        self.local = np.zeros((self.quantities, 0))
        self.owned = 0
        self.view = LocalAtoms(comm, np.zeros(0, dtype=np.int64))
        self.send_columns: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * size
        self.ghost_columns = np.zeros(0, dtype=np.int64)
        self.peak_bytes = self.peak_ghosts = 0
        self.sent = 0
        self.steps = 0

    # ------------------------------------------------------------------ where atoms are

    def _owner(self, x: np.ndarray) -> np.ndarray:
        """The rank whose slab holds each x coordinate (folded into the box)."""
        size = self.comm.size
        return np.minimum(size - 1, (np.mod(x, self.box) * (size / self.box)).astype(np.int64))

    def _near(self, x: np.ndarray, rank: int) -> np.ndarray:
        """Whether each x coordinate is within ``reach`` of ``rank``'s slab (periodically; a hair more)."""
        size, reach = self.comm.size, self.reach * (1 + 1e-9)
        low, high = rank * self.box / size - reach, (rank + 1) * self.box / size + reach
        x = np.mod(x, self.box)
        return ((x >= low) & (x < high)) | (x + self.box < high) | (x - self.box >= low)

    def _reference_x(self) -> np.ndarray:
        return self.local[self.domain.reference][0, :self.owned]

    # ------------------------------------------------------------------ the state

    def init(self) -> None:
        """The model's initial state, made whole on rank 0, each rank's atoms scattered to it."""
        whole = None
        if self.comm.rank == 0:
            whole = np.empty((self.quantities, self.atoms), self.model.state_dtype)
            for first, last in self.bounds:
                self.model.init(self.params, self.seed, whole, int(first), int(last))
        self.load(whole)

    def load(self, state: np.ndarray | None) -> None:
        """Rank 0's whole ``state`` (None on the other ranks): each rank gets its atoms, then its ghosts."""
        columns = np.zeros((0, self.quantities))
        pieces_ids = [np.zeros((0, 1), dtype=np.int64)] * self.comm.size
        pieces = [columns] * self.comm.size
        if state is not None:
            owners = self._owner(state[self.domain.reference][0])
            picked = [np.flatnonzero(owners == rank) for rank in range(self.comm.size)]
            pieces_ids = [ids.reshape(-1, 1) for ids in picked]
            pieces = [state[:, ids].T for ids in picked]
        ids = self._scatter(pieces_ids, np.int64, 1)
        self._own(self._scatter(pieces, np.float64, self.quantities).T, ids.ravel())
        self._renew_ghosts()
        self.sent = 0

    def _scatter(self, pieces: list[np.ndarray], dtype, width: int) -> np.ndarray:
        """Rank 0's ``pieces[s]`` to each rank s: this rank's (n, width)."""
        counts = self.comm.bcast([piece.size * np.dtype(dtype).itemsize for piece in pieces], root=0)
        mine = np.empty(counts[self.comm.rank], np.uint8)
        send = None
        if self.comm.rank == 0:
            send = _cut(_bytes(np.concatenate([np.ascontiguousarray(p, dtype).reshape(-1) for p in pieces])), counts)
        self.comm.Scatterv(send, mine, root=0)
        return mine.view(dtype).reshape(-1, width)

    def gather(self) -> np.ndarray | None:
        """The whole state on rank 0 (None on the others), each atom's column where its number says."""
        ids = self._gather(self.view.ids[:self.owned].reshape(-1, 1), np.int64, 1)
        columns = self._gather(self.local[:, :self.owned].T, np.float64, self.quantities)
        if ids is None:
            return None
        whole = np.empty((self.quantities, self.atoms), self.model.state_dtype)
        whole[:, ids.ravel()] = columns.T
        return whole

    def _gather(self, piece: np.ndarray, dtype, width: int) -> np.ndarray | None:
        """Every rank's (n, width) ``piece``, one after the other, on rank 0."""
        pieces = gathered_bytes(self.comm, np.ascontiguousarray(piece, dtype))
        return None if pieces is None else np.concatenate(pieces).view(dtype).reshape(-1, width)

    def _own(self, columns: np.ndarray, ids: np.ndarray) -> None:
        """Hold ``columns`` (quantities, n) of atoms ``ids`` as this rank's own, sorted by atom; no ghosts yet."""
        order = np.argsort(ids, kind="stable")
        self.local = np.ascontiguousarray(columns[:, order])
        self.owned = len(ids)
        self.view = LocalAtoms(self.comm, ids[order].astype(np.int64))

    # ------------------------------------------------------------------ ghosts and moves

    def _renew_ghosts(self) -> None:
        """Pick the ghosts of every rank anew: send each neighbour the reference and current positions of the
        atoms near its slab; hold those received, sorted by atom, after the own atoms."""
        x = self._reference_x()
        size = self.comm.size
        self.send_columns = [np.flatnonzero(self._near(x, rank)) if rank in self.neighbours
                             else np.zeros(0, dtype=np.int64) for rank in range(size)]
        ref, pos = self.domain.reference, self.domain.positions
        ids = _alltoall(self.comm, [self.view.ids[c].reshape(-1, 1) for c in self.send_columns], np.int64, 1)
        rows = np.concatenate([self.local[ref], self.local[pos]])
        sent = _alltoall(self.comm, [rows[:, c].T for c in self.send_columns], np.float64, len(rows))
        ghost_ids, ghost_rows = np.concatenate(ids).ravel(), np.concatenate(sent).T
        order = np.argsort(ghost_ids, kind="stable")
        local = np.zeros((self.quantities, self.owned + len(ghost_ids)), self.local.dtype)
        local[:, :self.owned] = self.local[:, :self.owned]
        ghosts, split = slice(self.owned, None), len(self.local[ref])
        local[ref, ghosts] = ghost_rows[:split, order]
        local[pos, ghosts] = ghost_rows[split:, order]
        self.local = local
        self.ghost_columns = self.owned + np.argsort(order, kind="stable")  # the column of each ghost received
        self.view = LocalAtoms(self.comm, np.concatenate([self.view.ids[:self.owned], ghost_ids[order]]))
        self.sent += sum(len(c) for c in self.send_columns) * (8 + 8 * len(rows))
        self.peak_bytes = max(self.peak_bytes, self.local.nbytes)
        self.peak_ghosts = max(self.peak_ghosts, len(ghost_ids))

    def _refresh_ghosts(self) -> None:
        """Send the neighbours the current positions of their ghosts (the set picked at the last move)."""
        pos = self.domain.positions
        rows = self.local[pos]
        received = _alltoall(self.comm, [rows[:, c].T for c in self.send_columns], np.float64, len(rows))
        self.local[pos, self.ghost_columns] = np.concatenate(received).T
        self.sent += sum(len(c) for c in self.send_columns) * 8 * len(rows)

    def _migrate(self) -> None:
        """Each own atom whose reference position left the slab goes, its whole column, to its new owner."""
        owners = self._owner(self._reference_x())
        rank = self.comm.rank
        leaving = [np.flatnonzero(owners == other) if other != rank else np.zeros(0, dtype=np.int64)
                   for other in range(self.comm.size)]
        ids = _alltoall(self.comm, [self.view.ids[c].reshape(-1, 1) for c in leaving], np.int64, 1)
        columns = _alltoall(self.comm, [self.local[:, c].T for c in leaving], np.float64, self.quantities)
        self.sent += sum(len(c) for c in leaving) * 8 * (1 + self.quantities)
        stay = np.flatnonzero(owners == rank)
        self._own(np.concatenate([self.local[:, stay], np.concatenate(columns).T], axis=1),
                  np.concatenate([self.view.ids[stay], np.concatenate(ids).ravel()]))
        self._renew_ghosts()

    # ------------------------------------------------------------------ steps

    def run_round(self, first: int, last: int, measured_from: int) -> np.ndarray | None:
        """Steps [first, last) on this rank's atoms; rank 0 gets the (measured steps, P, K) measurements."""
        first_row = max(first, measured_from)
        sums = np.zeros((max(0, last - first_row), len(self.bounds), len(self.model.observables)))
        for step in range(first, last):
            for phase in range(self.model.phase_count(self.params)):
                if phase in self.domain.ghost_phases:
                    self._refresh_ghosts()
                self.model.phase(self.params, self.seed, step, phase, self.local, 0, self.owned, self.view)
                if self.view.moved_now:
                    self._migrate()
            if step >= measured_from:
                self._measure(sums[step - first_row])
        self.steps += last - first
        return sums if self.comm.rank == 0 else None

    def _measure(self, out: np.ndarray) -> None:
        """Each partition's observables, exact sums over every rank's atoms of it, into ``out`` (P, K) on rank 0."""
        from mpi4py import MPI

        acc = exactsum.accumulator(*out.shape)
        spans = np.searchsorted(self.view.ids[:self.owned], self.bounds)
        for k, (start, stop) in enumerate(spans):
            self.domain.accumulate(self.params, self.local, int(start), int(stop), acc[k])
        total = np.empty_like(acc) if self.comm.rank == 0 else None
        self.comm.Reduce(acc, total, op=MPI.SUM, root=0)
        if total is not None:
            for k in range(out.shape[0]):
                for j in range(out.shape[1]):
                    out[k, j] = exactsum.rounded(total[k, j])

    def footprint(self) -> Footprint:
        """What this rank holds and has sent (a :class:`~simcore.distributed.Footprint`)."""
        low, high = self.slab
        share = (f"the atoms with x in [{low:.4g}, {high:.4g}): {self.owned} own, at most {self.peak_ghosts} "
                 "ghosts")
        return Footprint(self.comm.rank, share, self.peak_bytes, self.sent / max(1, self.steps))

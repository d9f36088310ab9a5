"""Verlet neighbour lists of the Lennard-Jones model, laid out for a vectorised force loop.

A partition's list covers its own atoms (the *locals*) and is *full*: every
pair within the list radius ``rlist`` is listed at both of its atoms, so a
force loop writes only its own atoms and needs no scatter to neighbours.

The atoms a list refers to are *entries*: the atoms, and the periodic
images of atoms near the box (LAMMPS' ghost atoms), of the cells within
reach of the partition's atoms, numbered in cell order.  Entry ``m`` is atom ``atom[m]``
shifted by image ``image[m]`` (see :func:`image_shifts`), so the force loop
reads plain positions, with no minimum-image arithmetic.  Each step gathers
the positions of the entries the partition needs (its locals and their
neighbours, listed in ``gathered``); two more entries past the last lie far
from every atom: the *dummy* neighbour and the *padding* local.

The lists are stored in blocks of ``LANES`` locals, transposed: the k-th
neighbours of a block's locals are contiguous (a lane shorter than the
block's longest list is padded with the dummy), so the force loop runs over
a block's lanes as SIMD vectors.

Everything is a function of the reference positions and [a, b): cells,
sort orders and scans run in a fixed order, so any worker rebuilds the same
list; and an atom's list is the same sequence of atoms (a cell's in the
order of their numbers) whichever other atoms far from it are binned too,
so an MPI rank that holds only its atoms and their ghosts lists the same.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from .._jit import JIT_FLAGS

#: Locals per block: the force loop's vector length (8 AVX-512 vectors of doubles).
LANES = 64
#: Image code ``(sx + 1) * 9 + (sy + 1) * 3 + (sz + 1)`` of a shift by (sx, sy, sz) boxes; 13 is none.
NO_SHIFT = 13
#: Image codes of the dummy neighbour and of the padding local: far from every atom and from each other.
DUMMY, PADDING = 27, 28
#: Cells have a side of at least rlist / SPAN, so the neighbours of an atom lie within SPAN cells of it.
SPAN = 2


class NeighbourLists(NamedTuple):
    """A partition's full neighbour lists (see the module docstring); ``entries`` + 2 positions are gathered."""

    entries: int  #: atoms and images binned; entry ``entries`` is the dummy, ``entries + 1`` the padding
    gathered: np.ndarray  #: entries whose positions a step needs, the dummy and the padding included
    gathered_atom: np.ndarray  #: atom of each gathered entry
    gathered_image: np.ndarray  #: uint8 image code of each gathered entry
    local_atom: np.ndarray  #: the partition's atoms, in lane order
    local_entry: np.ndarray  #: entry of each lane (blocks * LANES; the padding past the last local)
    block_start: np.ndarray  #: (blocks + 1,) start of each block in ``neighbours``
    neighbours: np.ndarray  #: int32 entries: block b's k-th neighbour of lane l at block_start[b] + k LANES + l


@numba.njit(**JIT_FLAGS)
def image_shifts(box, rlist):
    """(29, 3) shift of each image code [sigma]: codes 0..26 periodic images, PADDING and DUMMY far away."""
    far = 10.0 * (box + rlist)
    shifts = np.empty((29, 3))
    for code in range(27):
        shifts[code, 0] = (code // 9 - 1) * box
        shifts[code, 1] = (code // 3 % 3 - 1) * box
        shifts[code, 2] = (code % 3 - 1) * box
    shifts[PADDING, :] = far
    shifts[DUMMY, :] = -far
    return shifts


@numba.njit(inline="always", **JIT_FLAGS)
def _cell_of(p, box, ncell):
    """Cell (0..ncell-1) of a coordinate in [0, box); clamped, so rounding or a NaN cannot index outside."""
    return max(0, min(int(p / box * ncell), ncell - 1))


@numba.njit(**JIT_FLAGS)
def _sort_by_cell(xref, box, ncell, order):
    """(start, atoms, cell): the atoms sorted by cell (counting sort: a cell's atoms in ``order``), cell c
    holding ``atoms[start[c]:start[c + 1]]``, and each atom's cell, numbered ``(x ncell + y) ncell + z``."""
    n = xref.shape[1]
    cell = np.empty(n, dtype=np.int64)
    start = np.zeros(ncell**3 + 1, dtype=np.int64)
    for i in range(n):
        cell[i] = ((_cell_of(xref[0, i], box, ncell) * ncell + _cell_of(xref[1, i], box, ncell)) * ncell
                   + _cell_of(xref[2, i], box, ncell))
        start[cell[i] + 1] += 1
    for c in range(ncell**3):
        start[c + 1] += start[c]
    atoms = np.empty(n, dtype=np.int64)
    fill = start[:-1].copy()
    for i in order:
        atoms[fill[cell[i]]] = i
        fill[cell[i]] += 1
    return start, atoms, cell


@numba.njit(**JIT_FLAGS)
def _region(cell, ncell, a, b):
    """The extended cells within SPAN cells (per axis) of a cell of an atom of [a, b): (width^3,) flags.

    Extended cells (gx, gy, gz), each in [-SPAN, ncell + SPAN), are numbered
    ``((gx + SPAN) W + gy + SPAN) W + gz + SPAN`` with W = ncell + 2 SPAN.
    """
    width = ncell + 2 * SPAN
    flags = np.zeros((width, width, width), dtype=np.uint8)
    for i in range(a, b):
        c = cell[i]
        flags[c // (ncell * ncell) + SPAN, c // ncell % ncell + SPAN, c % ncell + SPAN] = 1
    for axis in range(3):  # dilate by SPAN along each axis in turn
        grown = np.zeros_like(flags)
        for x in range(width):
            for y in range(width):
                for z in range(width):
                    if flags[x, y, z]:
                        for o in range(-SPAN, SPAN + 1):
                            if axis == 0 and 0 <= x + o < width:
                                grown[x + o, y, z] = 1
                            elif axis == 1 and 0 <= y + o < width:
                                grown[x, y + o, z] = 1
                            elif axis == 2 and 0 <= z + o < width:
                                grown[x, y, z + o] = 1
        flags = grown
    return flags.ravel()


@numba.njit(inline="always", **JIT_FLAGS)
def _source(g, width, ncell):
    """Extended cell ``g``: (its cell in the box, and its shift sx, sy, sz in boxes)."""
    gx, gy, gz = g // (width * width) - SPAN + ncell, g // width % width - SPAN + ncell, g % width - SPAN + ncell
    return (gx % ncell * ncell + gy % ncell) * ncell + gz % ncell, gx // ncell - 1, gy // ncell - 1, gz // ncell - 1


@numba.njit(**JIT_FLAGS)
def _bin_region(xref, box, ncell, cell_start, cell_atoms, region):
    """The entries of the extended cells flagged in ``region``: (start, atom, image, position).

    Extended cell g holds the atoms of the box's cell g mod ncell, shifted
    by floor(g / ncell) boxes: every atom, and each image within SPAN cells
    of the box.  Entries of extended cell c are ``start[c]:start[c + 1]``, in
    atom order, so a run of cells along z is one contiguous run of entries.
    """
    width = ncell + 2 * SPAN
    start = np.zeros(width**3 + 1, dtype=np.int64)
    for g in range(width**3):
        if region[g]:
            c = _source(g, width, ncell)[0]
            start[g + 1] = cell_start[c + 1] - cell_start[c]
    for g in range(width**3):
        start[g + 1] += start[g]
    atom = np.empty(start[-1], dtype=np.int64)
    image = np.empty(start[-1], dtype=np.uint8)
    position = np.empty((3, start[-1]))
    for g in range(width**3):
        if not region[g]:
            continue
        c, sx, sy, sz = _source(g, width, ncell)
        for k in range(cell_start[c + 1] - cell_start[c]):
            m, i = start[g] + k, cell_atoms[cell_start[c] + k]
            atom[m], image[m] = i, (sx + 1) * 9 + (sy + 1) * 3 + sz + 1
            position[0, m] = xref[0, i] + sx * box
            position[1, m] = xref[1, i] + sy * box
            position[2, m] = xref[2, i] + sz * box
    return start, atom, image, position


@numba.njit(**JIT_FLAGS)
def _locals(start, atom, image, a, b):
    """Entries of the atoms of [a, b) (unshifted), in entry (cell) order, and the cell of each."""
    entries = np.nonzero((atom >= a) & (atom < b) & (image == NO_SHIFT))[0]
    return entries, np.searchsorted(start, entries, side="right") - 1


@numba.njit(inline="always", **JIT_FLAGS)
def _run(cell, width, ox, oy):
    """Run (ox, oy) of the stencil around extended cell ``cell``: its (2 SPAN + 1) cells along z, as the
    first and one past the last cell."""
    centre = cell + (ox * width + oy) * width
    return centre - SPAN, centre + SPAN + 1


@numba.njit(**JIT_FLAGS)
def _candidates(start, position, cell, width, ids, xyz, used):
    """Copy the entries around extended cell ``cell`` (ids, positions) into ``ids`` and ``xyz``; their count.

    They are the (2 SPAN + 1)^2 runs of cells along z around it, each a
    contiguous run of entries (unsigned indices: no wraparound test, so
    LLVM vectorises the copy), and are marked ``used``: a step gathers
    their positions.
    """
    count = numba.uint64(0)
    for ox in range(-SPAN, SPAN + 1):
        for oy in range(-SPAN, SPAN + 1):
            first, end = _run(cell, width, ox, oy)
            lo, hi = numba.uint64(start[first]), numba.uint64(start[end])
            for m in range(lo, hi):
                q = count + (m - lo)
                ids[q] = m
                used[m] = 1
                xyz[0, q] = position[0, m]
                xyz[1, q] = position[1, m]
                xyz[2, q] = position[2, m]
            count += hi - lo
    return numba.int64(count)


@numba.njit(**JIT_FLAGS)
def _neighbours_of(entry, position, rlist2, ids, xyz, count, near, rows, lane):
    """Candidates within ``rlist`` of ``entry`` (itself excluded) into ``rows[:, lane]``, in candidate order;
    their count.

    The distances are tested in one loop over contiguous arrays (LLVM
    vectorises it), then the kept candidates are appended branch-free.
    """
    px, py, pz = position[0, entry], position[1, entry], position[2, entry]
    for q in range(count):
        dx = px - xyz[0, q]
        dy = py - xyz[1, q]
        dz = pz - xyz[2, q]
        near[q] = (dx * dx + dy * dy + dz * dz < rlist2) & (ids[q] != entry)
    k = 0
    for q in range(count):
        rows[k, lane] = ids[q]
        k += near[q]
    return k


@numba.njit(**JIT_FLAGS)
def _widest(start, width, local_cells):
    """Most entries in the stencil of any local's cell: a bound on any list's length."""
    widest = 1
    for s in range(local_cells.shape[0]):
        if s > 0 and local_cells[s] == local_cells[s - 1]:
            continue
        total = 0
        for ox in range(-SPAN, SPAN + 1):
            for oy in range(-SPAN, SPAN + 1):
                first, end = _run(local_cells[s], width, ox, oy)
                total += start[end] - start[first]
        widest = max(widest, total)
    return widest


@numba.njit(**JIT_FLAGS)
def _scan_blocks(start, position, width, locals_, local_cells, rlist, density, used):
    """(block_start, neighbours): the lists of the locals, a block of LANES at a time, transposed.

    A cell's candidates are copied once for all its locals; a block's lists
    are written into ``rows`` (one column a lane), padded with the dummy to
    the longest, and appended row by row.
    """
    own, dummy = locals_.shape[0], position.shape[1]
    widest = _widest(start, width, local_cells)
    ids, xyz, near = np.empty(widest, dtype=np.int64), np.empty((3, widest)), np.empty(widest, dtype=np.uint8)
    rows = np.empty((widest + 1, LANES), dtype=np.int32)
    counts = np.zeros(LANES, dtype=np.int64)
    blocks = (own + LANES - 1) // LANES
    block_start = np.zeros(blocks + 1, dtype=np.int64)
    expected = 1.2 * 4.0 / 3.0 * math.pi * rlist**3 * density * own  # the array grows if that is short
    neighbours = np.empty(max(LANES, int(expected)), dtype=np.int32)
    buffered = -1  # the cell whose candidates are in ids and xyz
    candidates = 0
    for block in range(blocks):
        for lane in range(min(LANES, own - block * LANES)):
            s = block * LANES + lane
            if local_cells[s] != buffered:
                buffered = local_cells[s]
                candidates = _candidates(start, position, buffered, width, ids, xyz, used)
            counts[lane] = _neighbours_of(locals_[s], position, rlist * rlist, ids, xyz, candidates, near, rows,
                                          lane)
        longest = counts.max()
        end = block_start[block] + longest * LANES
        block_start[block + 1] = end
        if end > neighbours.shape[0]:
            grown = np.empty(2 * end, dtype=np.int32)
            grown[:block_start[block]] = neighbours[:block_start[block]]
            neighbours = grown
        for lane in range(LANES):
            rows[counts[lane]:longest, lane] = dummy
        neighbours[block_start[block]:end] = rows[:longest].ravel()
        counts[:] = 0
    return block_start, neighbours[:block_start[-1]]


@numba.njit(**JIT_FLAGS)
def _gathered(used, atom, image):
    """The entries marked ``used``, then the dummy and the padding: (entry, atom, image code) of each."""
    entries = atom.shape[0]
    gathered = np.empty(used.sum() + 2, dtype=np.int64)
    gathered_atom = np.zeros(gathered.shape[0], dtype=np.int64)  # dummy and padding: atom 0, shifted far
    gathered_image = np.empty(gathered.shape[0], dtype=np.uint8)
    q = 0
    for m in range(entries):
        if used[m]:
            gathered[q], gathered_atom[q], gathered_image[q] = m, atom[m], image[m]
            q += 1
    gathered[q], gathered_image[q] = entries, DUMMY
    gathered[q + 1], gathered_image[q + 1] = entries + 1, PADDING
    return gathered, gathered_atom, gathered_image


@numba.njit(**JIT_FLAGS)
def _lists(start, atom, image, position, width, rlist, density, a, b):
    """NeighbourLists' fields for atoms [a, b), from the binned entries (:func:`_bin_region`)."""
    locals_, local_cells = _locals(start, atom, image, a, b)
    used = np.zeros(atom.shape[0], dtype=np.uint8)
    block_start, neighbours = _scan_blocks(start, position, width, locals_, local_cells, rlist, density, used)
    gathered, gathered_atom, gathered_image = _gathered(used, atom, image)
    own = locals_.shape[0]
    local_entry = np.full(block_start.shape[0] * LANES - LANES, atom.shape[0] + 1, dtype=np.int64)  # padding
    local_entry[:own] = locals_
    return (atom.shape[0], gathered, gathered_atom, gathered_image, atom[locals_], local_entry, block_start,
            neighbours)


class Bins(NamedTuple):
    """Every atom sorted by cell (:func:`bin_atoms`): what the lists of all partitions start from."""

    box: float  #: box side [sigma]
    rlist: float  #: the list radius [sigma]
    ncell: int  #: cells a side, each at least rlist / SPAN wide
    cell_start: np.ndarray  #: atoms of cell c: cell_atoms[cell_start[c]:cell_start[c + 1]]
    cell_atoms: np.ndarray  #: the atoms, sorted by cell
    atom_cell: np.ndarray  #: the cell of each atom


def bin_atoms(xref: np.ndarray, box: float, rlist: float, order: np.ndarray | None = None) -> Bins:
    """Sort every atom of ``xref`` (3, N), in [0, box), by cell of side at least ``rlist`` / SPAN.

    A cell's atoms keep their index order, or ``order`` (a permutation of
    the columns: a rank's atoms sorted by their number in the whole
    system), which the order of every list follows.  The same for every
    partition: a process that builds the lists of several partitions from
    the same positions sorts once.
    """
    ncell = int(math.floor(box * SPAN / rlist))
    order = np.arange(xref.shape[1]) if order is None else order
    return Bins(box, rlist, ncell, *_sort_by_cell(xref, box, ncell, order))


def build(xref: np.ndarray, bins: Bins, a: int, b: int) -> NeighbourLists:
    """Full neighbour lists of atoms [a, b) of ``xref`` within the list radius (at most box / 2).

    Only the cells within reach of the partition's atoms are binned, so a
    partition's build costs in proportion to its region, not to the whole
    system.  The images stay right while no atom is wrapped into the box, so
    positions are wrapped only when a list is built.
    """
    region = _region(bins.atom_cell, bins.ncell, a, b)
    start, atom, image, position = _bin_region(xref, bins.box, bins.ncell, bins.cell_start, bins.cell_atoms,
                                               region)
    return NeighbourLists(*_lists(start, atom, image, position, bins.ncell + 2 * SPAN, bins.rlist,
                                  xref.shape[1] / bins.box**3, a, b))

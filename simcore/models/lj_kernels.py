"""Numba kernels of the Lennard-Jones model: lattice, velocities, forces, integration.

Reduced units (sigma = epsilon = m = k_B = 1).  The pair potential is
``4 (r^-12 - r^-6)`` truncated at ``rc`` (LAMMPS ``pair_style lj/cut``),
optionally shifted to zero there (``pair_modify shift yes``).  Boxes are cubic and periodic, side ``box``;
the list radius ``rc + skin`` must not exceed ``box / 2``.

The forces use the full neighbour lists of :mod:`.lj_lists`: each pair is
listed at both atoms, each atom sums its own list in a fixed order, so a
partition writes only its own atoms and the forces are bitwise the same for
any worker count and any partition count.

Per-atom arrays (positions ``x``, ``xref``, velocities ``v``, ``force``) are
(3, N), one row per coordinate: each coordinate of all atoms is contiguous,
which halves the memory a step touches compared with a row per atom.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .. import exactsum
from .._jit import JIT_FLAGS
from ..rng import uniform_pair
from .lj_lists import LANES, image_shifts

#: Philox stream of the initial velocities and of the Langevin noise (the counter is the atom / step).
VELOCITY_STREAM = 0x4C4A_0001
LANGEVIN_STREAM = 0x4C4A_0002


@numba.njit(**JIT_FLAGS)
def fcc_lattice(cells, spacing):
    """Positions (4 cells^3, 3) of an fcc lattice of ``cells`` unit cells a side, lattice constant ``spacing``."""
    basis = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])
    out = np.empty((4 * cells**3, 3))
    n = 0
    for i in range(cells):
        for j in range(cells):
            for k in range(cells):
                for b in range(4):
                    out[n, 0] = (i + basis[b, 0]) * spacing
                    out[n, 1] = (j + basis[b, 1]) * spacing
                    out[n, 2] = (k + basis[b, 2]) * spacing
                    n += 1
    return out


@numba.njit(**JIT_FLAGS)
def gaussian_velocities(seed, atoms):
    """(atoms, 3) standard normal deviates (Box-Muller on Philox, keyed by (seed, atom))."""
    out = np.empty((atoms, 3))
    for i in range(atoms):
        u0, u1 = uniform_pair(seed, VELOCITY_STREAM, 2 * i)
        u2, u3 = uniform_pair(seed, VELOCITY_STREAM, 2 * i + 1)
        r0 = math.sqrt(-2.0 * math.log1p(-u0))
        r1 = math.sqrt(-2.0 * math.log1p(-u2))
        out[i, 0] = r0 * math.cos(2.0 * math.pi * u1)
        out[i, 1] = r0 * math.sin(2.0 * math.pi * u1)
        out[i, 2] = r1 * math.cos(2.0 * math.pi * u3)
    return out


@numba.njit(**JIT_FLAGS)
def gather_entries(x, shifts, entries, gathered, gathered_atom, gathered_image):
    """(3, entries + 2) positions of the gathered list entries: ``x`` of each one's atom plus its image shift.

    Entries no list of the partition refers to are left unset.
    """
    xe = np.empty((3, entries + 2))
    for q in range(gathered.shape[0]):
        m, i, code = gathered[q], gathered_atom[q], gathered_image[q]
        xe[0, m] = x[0, i] + shifts[code, 0]
        xe[1, m] = x[1, i] + shifts[code, 1]
        xe[2, m] = x[2, i] + shifts[code, 2]
    return xe


#: Rows of the force loop's scratch vector, LANES wide each: the locals' positions, their neighbours'
#: positions, and the sums (force, pair energy, virial).
_XI, _XJ, _SUMS, _ROWS = 0, 3 * LANES, 6 * LANES, 11 * LANES


@numba.njit(inline="always", **JIT_FLAGS)
def _block_pairs(xe, neighbours, first_row, end_row, rc2, shift, energies, scratch):
    """Add the pair terms of one block's rows ``first_row:end_row`` of ``neighbours`` to its sums in ``scratch``.

    Each row's neighbour positions are gathered into the scratch vector (a
    scalar loop with unsigned indices: no wraparound tests), then the pair
    terms of all lanes are computed from it: LLVM vectorises that loop, as
    it only touches the scratch vector, at constant offsets.  Pairs beyond
    the cutoff and padding add zeros: no branch.  ``energies`` (a constant
    after inlining) adds the pair energy and the virial.
    """
    for row in range(numba.uint64(first_row), numba.uint64(end_row), LANES):
        for lane in range(LANES):
            j = numba.uint64(neighbours[row + numba.uint64(lane)])
            scratch[_XJ + lane] = xe[0, j]
            scratch[_XJ + LANES + lane] = xe[1, j]
            scratch[_XJ + 2 * LANES + lane] = xe[2, j]
        for lane in range(LANES):
            dx = scratch[_XI + lane] - scratch[_XJ + lane]
            dy = scratch[_XI + LANES + lane] - scratch[_XJ + LANES + lane]
            dz = scratch[_XI + 2 * LANES + lane] - scratch[_XJ + 2 * LANES + lane]
            r2 = dx * dx + dy * dy + dz * dz
            inside = r2 < rc2
            inv2 = (1.0 if inside else 0.0) / r2
            inv6 = inv2 * inv2 * inv2
            scale = 48.0 * inv6 * (inv6 - 0.5) * inv2
            scratch[_SUMS + lane] += scale * dx
            scratch[_SUMS + LANES + lane] += scale * dy
            scratch[_SUMS + 2 * LANES + lane] += scale * dz
            if energies:
                scratch[_SUMS + 3 * LANES + lane] += 4.0 * inv6 * (inv6 - 1.0) - (shift if inside else 0.0)
                scratch[_SUMS + 4 * LANES + lane] += scale * r2


@numba.njit(**JIT_FLAGS)
def forces(x, box, rc, rlist, shift, energies, lists, force, energy, virial):
    """LJ force on a partition's atoms; if ``energies``, their pair energies and virials r.f too.

    ``lists`` are :func:`lj_lists.build`'s (list radius ``rlist``), full:
    every pair is listed at both of its atoms, so only the partition's atoms
    are written, and a pair energy or virial counts half at each atom.
    ``shift`` is subtracted from each pair energy inside the cutoff (0, or
    the potential at ``rc``).  ``force`` is (3, N), ``energy`` and
    ``virial`` (N,).  An atom's force is summed in its list's order, so the
    result is a function of the positions and the list alone.  A block's
    locals are LANES SIMD lanes (:func:`_block_pairs`).
    """
    entries, gathered, gathered_atom, gathered_image, local_atom, local_entry, block_start, neighbours = lists
    rc2 = rc * rc
    xe = gather_entries(x, image_shifts(box, rlist), entries, gathered, gathered_atom, gathered_image)
    own = local_atom.shape[0]
    scratch = np.empty(_ROWS)
    for block in range(block_start.shape[0] - 1):
        first = block * LANES
        for lane in range(LANES):
            for d in range(3):
                scratch[_XI + d * LANES + lane] = xe[d, local_entry[first + lane]]
        scratch[_SUMS:] = 0.0
        if energies:
            _block_pairs(xe, neighbours, block_start[block], block_start[block + 1], rc2, shift, True, scratch)
        else:
            _block_pairs(xe, neighbours, block_start[block], block_start[block + 1], rc2, shift, False, scratch)
        for lane in range(min(LANES, own - first)):
            i = local_atom[first + lane]
            for d in range(3):
                force[d, i] = scratch[_SUMS + d * LANES + lane]
            if energies:
                energy[i] = 0.5 * scratch[_SUMS + 3 * LANES + lane]
                virial[i] = 0.5 * scratch[_SUMS + 4 * LANES + lane]


@numba.njit(**JIT_FLAGS)
def langevin(v, force, a, b, ids, atoms, seed, step, gamma, temperature, dt):
    """Add the Langevin drag -gamma v and a uniform random force of variance 2 gamma T / dt to columns [a, b).

    The noise is keyed by (seed, atom, step): column i is atom ``ids[i]``
    of the ``atoms`` in the system (``ids`` empty: atom i).
    """
    amplitude = math.sqrt(24.0 * gamma * temperature / dt)  # uniform on [-1/2, 1/2) has variance 1/12
    for i in range(a, b):
        atom = ids[i] if ids.shape[0] else i
        u0, u1 = uniform_pair(seed, LANGEVIN_STREAM, 2 * (step * atoms + atom))
        u2, _ = uniform_pair(seed, LANGEVIN_STREAM, 2 * (step * atoms + atom) + 1)
        force[0, i] += -gamma * v[0, i] + amplitude * (u0 - 0.5)
        force[1, i] += -gamma * v[1, i] + amplitude * (u1 - 0.5)
        force[2, i] += -gamma * v[2, i] + amplitude * (u2 - 0.5)


@numba.njit(**JIT_FLAGS)
def kick_drift(x, v, force, xref, displacement, a, b, dt):
    """Half kick and drift of atoms [a, b) (not wrapped into the box); squared displacement since the last build."""
    for i in range(a, b):
        d2 = 0.0
        for c in range(3):
            v[c, i] += 0.5 * dt * force[c, i]
            x[c, i] += dt * v[c, i]
            d = x[c, i] - xref[c, i]
            d2 += d * d
        displacement[i] = d2


@numba.njit(**JIT_FLAGS)
def kick(v, force, a, b, dt):
    """Half kick of atoms [a, b)."""
    for i in range(a, b):
        for c in range(3):
            v[c, i] += 0.5 * dt * force[c, i]


@numba.njit(inline="always", **JIT_FLAGS)
def _speed2(v, i):
    """v^2 of column i (twice its kinetic energy, m = 1)."""
    return v[0, i] * v[0, i] + v[1, i] * v[1, i] + v[2, i] * v[2, i]


@numba.njit(**JIT_FLAGS)
def speeds_squared(v, a, b, out):
    """out[i] = v^2 of columns [a, b)."""
    for i in range(a, b):
        out[i] = _speed2(v, i)


@numba.njit(**JIT_FLAGS)
def add_twice_kinetic(acc, v, a, b):
    """Add v^2 of columns [a, b) to the exact accumulator ``acc`` (:mod:`simcore.exactsum`)."""
    for i in range(a, b):
        exactsum.add(acc, _speed2(v, i))


@numba.njit(**JIT_FLAGS)
def column_max(values):
    """Largest entry of ``values``."""
    top = values[0]
    for i in range(1, values.shape[0]):
        if values[i] > top:
            top = values[i]
    return top

"""Numba kernels of the Lennard-Jones model: lattice, velocities, neighbour lists, forces, integration.

Reduced units (sigma = epsilon = m = k_B = 1).  The pair potential is
``4 (r^-12 - r^-6)`` truncated at ``rc`` (LAMMPS ``pair_style lj/cut``),
optionally shifted to zero there (``pair_modify shift yes``).  Boxes are cubic and periodic, side ``box``;
distances use the minimum image, so the list radius ``rc + skin`` must not
exceed ``box / 2``.

Neighbour lists are half inside a partition (Newton's third law: each pair
of its atoms computed once, applied to both) and full across partitions (a
pair with an atom of another partition is computed by both, each keeping
its own side), so a partition never writes another's atoms.  The forces are
therefore a function of the positions and the partition boundaries: bitwise
the same for any worker count, not for another partition count.  A list is built from the
reference positions ``xref`` of the last rebuild, by a cell list when the
box holds at least 3 cells a side, else by checking all pairs.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .._jit import JIT_FLAGS
from ..rng import uniform_pair

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


@numba.njit(inline="always", **JIT_FLAGS)
def _skip(i, j, a, b):
    """True if pair (i, j) is not listed at atom i: j is i, or j is an atom of [a, b) below i (listed there)."""
    return j == i or (a <= j < i)


@numba.njit(inline="always", **JIT_FLAGS)
def _image(d, box):
    """Minimum image of a difference ``d`` of two coordinates in [0, box)."""
    if d > 0.5 * box:
        return d - box
    if d < -0.5 * box:
        return d + box
    return d


@numba.njit(**JIT_FLAGS)
def _bin_atoms(xref, box, ncell):
    """Cell of each atom and the atoms of each cell in index order (counting sort): (start, members)."""
    n = xref.shape[0]
    cell = np.empty(n, dtype=np.int64)
    start = np.zeros(ncell**3 + 1, dtype=np.int64)
    for i in range(n):
        cx = int(math.floor(xref[i, 0] / box * ncell)) % ncell
        cy = int(math.floor(xref[i, 1] / box * ncell)) % ncell
        cz = int(math.floor(xref[i, 2] / box * ncell)) % ncell
        cell[i] = (cx * ncell + cy) * ncell + cz
        start[cell[i] + 1] += 1
    for c in range(ncell**3):
        start[c + 1] += start[c]
    members = np.empty(n, dtype=np.int64)
    fill = start[:-1].copy()
    for i in range(n):
        members[fill[cell[i]]] = i
        fill[cell[i]] += 1
    return cell, start, members


@numba.njit(**JIT_FLAGS)
def _cell_pairs(xref, box, rlist2, a, b, ncell, cell, start, members, capacity, slots, counts):
    """Neighbours of atoms [a, b) from the 27 cells around each (or the one cell, if ``ncell`` is 1),
    up to ``capacity`` an atom, into ``slots``.

    Returns False if some atom has more (then ``counts`` holds the true counts).
    """
    span = 1 if ncell >= 3 else 0
    fits = True
    for i in range(a, b):
        c = cell[i]
        cx, cy, cz = c // (ncell * ncell), (c // ncell) % ncell, c % ncell
        first = (i - a) * capacity
        k = 0
        for ox in range(-span, span + 1):
            for oy in range(-span, span + 1):
                for oz in range(-span, span + 1):
                    other = (((cx + ox) % ncell) * ncell + (cy + oy) % ncell) * ncell + (cz + oz) % ncell
                    for m in range(start[other], start[other + 1]):
                        j = members[m]
                        if _skip(i, j, a, b):
                            continue
                        dx = _image(xref[i, 0] - xref[j, 0], box)
                        dy = _image(xref[i, 1] - xref[j, 1], box)
                        dz = _image(xref[i, 2] - xref[j, 2], box)
                        if dx * dx + dy * dy + dz * dz < rlist2:
                            if k < capacity:
                                slots[first + k] = j
                            k += 1
        counts[i - a] = k
        fits = fits and k <= capacity
    return fits


@numba.njit(**JIT_FLAGS)
def build_neighbours(xref, box, rlist, a, b):
    """Neighbour list of atoms [a, b) within ``rlist`` of ``xref``: CSR (offsets (b-a+1), neighbours).

    Half inside the partition, full across it: a pair of atoms of [a, b) is
    listed once, at its lower index (its force is applied to both, Newton's
    third law); a pair with an atom of another partition is listed at the
    atom of [a, b) (the other partition lists it too).  Each atom's
    neighbours are in the order the 27 cells around it (or all atoms, in a
    box of fewer than 3 cells a side) are visited: a function of ``xref``,
    a and b alone.
    """
    rlist2 = rlist * rlist
    n = xref.shape[0]
    ncell = int(math.floor(box / rlist))
    if ncell < 3:  # one cell holding every atom: all pairs are candidates
        ncell = 1
    cell, start, members = _bin_atoms(xref, box, ncell)
    counts = np.zeros(b - a, dtype=np.int64)
    capacity = min(n, int(1.5 * 4.0 / 3.0 * math.pi * rlist**3 * n / box**3) + 16)
    slots = np.empty((b - a) * capacity, dtype=np.int32)
    if not _cell_pairs(xref, box, rlist2, a, b, ncell, cell, start, members, capacity, slots, counts):
        capacity = counts.max()
        slots = np.empty((b - a) * capacity, dtype=np.int32)
        _cell_pairs(xref, box, rlist2, a, b, ncell, cell, start, members, capacity, slots, counts)
    offsets = np.zeros(b - a + 1, dtype=np.int64)
    for i in range(b - a):
        offsets[i + 1] = offsets[i] + counts[i]
    neighbours = np.empty(offsets[b - a], dtype=np.int32)
    for i in range(b - a):
        neighbours[offsets[i]:offsets[i + 1]] = slots[i * capacity:i * capacity + counts[i]]
    return offsets, neighbours


@numba.njit(**JIT_FLAGS)
def forces(x, box, rc, shift, a, b, offsets, neighbours, force, energy, virial):
    """LJ force on atoms [a, b), their shares of the pair energies and of the pair virials r.f (half each).

    ``neighbours`` is a list of :func:`build_neighbours`: a pair inside
    [a, b) acts on both atoms once.  ``shift`` is subtracted from each pair
    energy inside the cutoff (0, or the potential at ``rc`` to shift it to
    zero there).  ``force`` is (N, 3); ``energy`` and ``virial`` are (N,);
    only rows a..b-1 are written.  Each atom's sum runs in a fixed order
    (the lists of the atoms below it, then its own), so the result is a
    function of the positions, the list and [a, b) alone.
    """
    rc2 = rc * rc
    half_shift = 0.5 * shift
    for i in range(a, b):
        force[i, 0] = force[i, 1] = force[i, 2] = 0.0
        energy[i] = virial[i] = 0.0
    for i in range(a, b):
        fx = fy = fz = 0.0
        e = w = 0.0
        xi, yi, zi = x[i, 0], x[i, 1], x[i, 2]
        for k in range(offsets[i - a], offsets[i - a + 1]):
            j = neighbours[k]
            dx = _image(xi - x[j, 0], box)
            dy = _image(yi - x[j, 1], box)
            dz = _image(zi - x[j, 2], box)
            r2 = dx * dx + dy * dy + dz * dz
            if r2 < rc2:
                inv2 = 1.0 / r2
                inv6 = inv2 * inv2 * inv2
                scale = 48.0 * inv6 * (inv6 - 0.5) * inv2
                half_energy = 2.0 * inv6 * (inv6 - 1.0) - half_shift
                half_virial = 0.5 * scale * r2
                fx += scale * dx
                fy += scale * dy
                fz += scale * dz
                e += half_energy
                w += half_virial
                if j < b and j >= a:
                    force[j, 0] -= scale * dx
                    force[j, 1] -= scale * dy
                    force[j, 2] -= scale * dz
                    energy[j] += half_energy
                    virial[j] += half_virial
        force[i, 0] += fx
        force[i, 1] += fy
        force[i, 2] += fz
        energy[i] += e
        virial[i] += w


@numba.njit(**JIT_FLAGS)
def langevin(v, force, a, b, seed, step, gamma, temperature, dt):
    """Add the Langevin drag -gamma v and a uniform random force of variance 2 gamma T / dt to atoms [a, b)."""
    amplitude = math.sqrt(24.0 * gamma * temperature / dt)  # uniform on [-1/2, 1/2) has variance 1/12
    n = v.shape[0]
    for i in range(a, b):
        u0, u1 = uniform_pair(seed, LANGEVIN_STREAM, 2 * (step * n + i))
        u2, _ = uniform_pair(seed, LANGEVIN_STREAM, 2 * (step * n + i) + 1)
        force[i, 0] += -gamma * v[i, 0] + amplitude * (u0 - 0.5)
        force[i, 1] += -gamma * v[i, 1] + amplitude * (u1 - 0.5)
        force[i, 2] += -gamma * v[i, 2] + amplitude * (u2 - 0.5)


@numba.njit(**JIT_FLAGS)
def kick_drift(x, v, force, xref, displacement, a, b, dt, box):
    """Half kick and drift of atoms [a, b); wrap into the box; squared displacement since the last build."""
    for i in range(a, b):
        d2 = 0.0
        for c in range(3):
            v[i, c] += 0.5 * dt * force[i, c]
            p = x[i, c] + dt * v[i, c]
            p -= box * math.floor(p / box)
            x[i, c] = p
            d = _image(p - xref[i, c], box)
            d2 += d * d
        displacement[i] = d2


@numba.njit(**JIT_FLAGS)
def kick(v, force, a, b, dt):
    """Half kick of atoms [a, b)."""
    for i in range(a, b):
        for c in range(3):
            v[i, c] += 0.5 * dt * force[i, c]


@numba.njit(**JIT_FLAGS)
def twice_kinetic(v, a, b):
    """Sum of v^2 over atoms [a, b) (twice their kinetic energy, m = 1)."""
    total = 0.0
    for i in range(a, b):
        total += v[i, 0] * v[i, 0] + v[i, 1] * v[i, 1] + v[i, 2] * v[i, 2]
    return total


@numba.njit(**JIT_FLAGS)
def column_sum(values, a, b):
    """Sum of values[a:b] in index order."""
    total = 0.0
    for i in range(a, b):
        total += values[i]
    return total


@numba.njit(**JIT_FLAGS)
def column_max(values):
    """Largest entry of ``values``."""
    top = values[0]
    for i in range(1, values.shape[0]):
        if values[i] > top:
            top = values[i]
    return top

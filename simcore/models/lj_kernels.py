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
reference positions ``xref`` of the last rebuild with a cell list, and holds
each neighbour's periodic image, so the force loop needs no minimum-image
arithmetic.

Per-atom arrays (positions ``x``, ``xref``, velocities ``v``, ``force``) are
(3, N), one row per coordinate: each coordinate of all atoms is contiguous,
which halves the memory a step touches compared with a row per atom.
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


#: A neighbour's image: code ``(sx + 1) * 9 + (sy + 1) * 3 + (sz + 1)`` for a shift of (sx, sy, sz) boxes.
NO_SHIFT = 13
#: The two segments of an atom's list, in order: pairs inside the partition (listed once, Newton's
#: third law), then pairs across partitions.
SEGMENTS = 2


@numba.njit(inline="always", **JIT_FLAGS)
def _cell_of(p, box, ncell):
    """Cell (0..ncell-1) of a coordinate in [0, box); clamped, so rounding or a NaN cannot index outside."""
    return max(0, min(int(p / box * ncell), ncell - 1))


@numba.njit(**JIT_FLAGS)
def _cells(xref, box, ncell):
    """Cell of every atom: cells (x, y, z) are numbered ``(x * ncell + y) * ncell + z``."""
    n = xref.shape[1]
    cell = np.empty(n, dtype=np.int64)
    for i in range(n):
        cx = _cell_of(xref[0, i], box, ncell)
        cy = _cell_of(xref[1, i], box, ncell)
        cz = _cell_of(xref[2, i], box, ncell)
        cell[i] = (cx * ncell + cy) * ncell + cz
    return cell


@numba.njit(**JIT_FLAGS)
def _bin_atoms(xref, cell, ncell, a, b, own):
    """The atoms of [a, b) (``own``) or the others, sorted by their ``cell``: (start, order, sorted_x).

    ``order`` holds the binned atoms sorted by cell (counting sort: a cell's
    atoms in index order), ``sorted_x`` their positions in that order,
    ``start[c]`` the first of cell c.  A run of cells along z is one
    contiguous run of sorted atoms.
    """
    n = xref.shape[1]
    start = np.zeros(ncell**3 + 1, dtype=np.int64)
    for i in range(n):
        if (a <= i < b) == own:
            start[cell[i] + 1] += 1
    for c in range(ncell**3):
        start[c + 1] += start[c]
    order = np.empty(start[-1], dtype=np.int64)
    sorted_x = np.empty((start[-1], 3))
    fill = start[:-1].copy()
    for i in range(n):
        if (a <= i < b) == own:
            m = fill[cell[i]]
            order[m] = i
            sorted_x[m, 0], sorted_x[m, 1], sorted_x[m, 2] = xref[0, i], xref[1, i], xref[2, i]
            fill[cell[i]] += 1
    return start, order, sorted_x


@numba.njit(inline="always", **JIT_FLAGS)
def _wrapped(g, ncell):
    """Cell coordinate ``g`` (one stencil step out of range at most) mapped into [0, ncell), and its shift in boxes."""
    if g < 0:
        return g + ncell, -1
    if g >= ncell:
        return g - ncell, 1
    return g, 0


@numba.njit(inline="always", **JIT_FLAGS)
def _scan(px, py, pz, lo, hi, rlist2, order, sorted_x, kind, slots, kinds, first, capacity, k):
    """Append the sorted atoms lo..hi within ``rlist`` of (px, py, pz) to an atom's slots from ``first``.

    Branch-free: every candidate is written, and kept only if the count
    ``k`` moves past it; slot ``first + capacity`` takes the overflow.
    Returns the new count.
    """
    for m in range(lo, hi):
        dx = px - sorted_x[m, 0]
        dy = py - sorted_x[m, 1]
        dz = pz - sorted_x[m, 2]
        slot = first + min(k, capacity)
        slots[slot] = order[m]
        kinds[slot] = kind
        k += dx * dx + dy * dy + dz * dz < rlist2
    return k


@numba.njit(**JIT_FLAGS)
def _cell_pairs(xref, box, rlist2, a, b, ncell, span, cell, own, others, capacity, slots, kinds, counts):
    """Neighbours of atoms [a, b) in the (2 span + 1)^3 cells around each, up to ``capacity`` an atom.

    ``cell`` is every atom's cell (:func:`_cells`); ``own`` and ``others``
    are :func:`_bin_atoms` of the atoms of [a, b) and of the rest.  The
    others are scanned in every cell of the stencil;
    the partition's own atoms in its forward half only (and, in the atom's
    own cell, those after it), so each pair inside the partition is found
    once.  Atom ``a + i`` owns ``capacity + 1`` slots from
    ``i (capacity + 1)``: ``slots`` receives neighbour ids, ``kinds`` their
    segment (see ``SEGMENTS``) times 32 plus their image code.  Returns
    False if some atom has more than ``capacity`` (``counts`` then holds the
    true counts).
    """
    start, order, sorted_x = own
    other_start, other_order, other_x = others
    rank = np.empty(b - a, dtype=np.int64)  # each own atom's place in the sorted order
    for m in range(order.shape[0]):
        rank[order[m] - a] = m
    fits = True
    for i in range(a, b):
        c = cell[i]
        cx, cy, cz = c // (ncell * ncell), (c // ncell) % ncell, c % ncell
        xi, yi, zi = xref[0, i], xref[1, i], xref[2, i]
        first = (i - a) * (capacity + 1)
        k = 0
        for ox in range(-span, span + 1):
            gx, sx = _wrapped(cx + ox, ncell)
            for oy in range(-span, span + 1):
                gy, sy = _wrapped(cy + oy, ncell)
                forward = ox > 0 or (ox == 0 and oy > 0)
                centre = ox == 0 and oy == 0
                row = (gx * ncell + gy) * ncell
                z = cz - span
                while z <= cz + span:  # runs of cells along z with one shift: contiguous sorted atoms
                    gz, sz = _wrapped(z, ncell)
                    last = min(cz + span, z + ncell - 1 - gz)
                    code = (sx + 1) * 9 + (sy + 1) * 3 + (sz + 1)
                    px, py, pz = xi - sx * box, yi - sy * box, zi - sz * box
                    lo, hi = row + gz, row + gz + last - z + 1
                    k = _scan(px, py, pz, other_start[lo], other_start[hi], rlist2, other_order, other_x,
                              32 + code, slots, kinds, first, capacity, k)
                    if forward or (centre and last >= cz):
                        from_ = start[lo] if not centre or z > cz else rank[i - a] + 1
                        k = _scan(px, py, pz, from_, start[hi], rlist2, order, sorted_x, code, slots, kinds,
                                  first, capacity, k)
                    z = last + 1
        counts[i - a] = k
        fits = fits and k <= capacity
    return fits


@numba.njit(**JIT_FLAGS)
def build_neighbours(xref, box, rlist, a, b):
    """Neighbour list of atoms [a, b) within ``rlist`` (at most box / 2) of ``xref`` (coordinates in [0, box)).

    Returns (bounds, neighbours, images): atom ``a + i``'s segment ``s``
    (see ``SEGMENTS``) is ``neighbours[bounds[2 i + s]:bounds[2 i + s + 1]]``,
    and ``images`` holds each neighbour's periodic image (code, ``NO_SHIFT``
    for none): its position is ``x[j] + shift * box``.

    Half inside the partition, full across it: a pair of atoms of [a, b) is
    listed once (its force is applied to both, Newton's third law); a pair
    with an atom of another partition is listed at the atom of [a, b) (the
    other partition lists it too).  Atoms are binned in cells of side at
    least rlist / 2 and each atom's 5^3 cells are scanned in a fixed order,
    so the list is a function of ``xref``, a and b alone.  The images stay
    right while no atom is wrapped into the box, so positions are wrapped
    only when a list is built.
    """
    rlist2 = rlist * rlist
    n = xref.shape[1]
    span = 2
    ncell = int(math.floor(box * span / rlist))
    cell = _cells(xref, box, ncell)
    own = _bin_atoms(xref, cell, ncell, a, b, True)
    others = _bin_atoms(xref, cell, ncell, a, b, False)
    counts = np.zeros(b - a, dtype=np.int64)
    capacity = min(n, int(1.5 * 4.0 / 3.0 * math.pi * rlist**3 * n / box**3) + 16)
    slots = np.empty((b - a) * (capacity + 1), dtype=np.int32)
    kinds = np.empty((b - a) * (capacity + 1), dtype=np.uint8)
    if not _cell_pairs(xref, box, rlist2, a, b, ncell, span, cell, own, others, capacity, slots, kinds, counts):
        capacity = counts.max()
        slots = np.empty((b - a) * (capacity + 1), dtype=np.int32)
        kinds = np.empty((b - a) * (capacity + 1), dtype=np.uint8)
        _cell_pairs(xref, box, rlist2, a, b, ncell, span, cell, own, others, capacity, slots, kinds, counts)
    neighbours = np.empty(counts.sum(), dtype=np.int32)
    images = np.empty(counts.sum(), dtype=np.uint8)
    bounds = np.empty(SEGMENTS * (b - a) + 1, dtype=np.int64)
    k = 0
    for i in range(b - a):
        for segment in range(SEGMENTS):
            bounds[SEGMENTS * i + segment] = k
            for m in range(i * (capacity + 1), i * (capacity + 1) + counts[i]):
                if kinds[m] // 32 == segment:
                    neighbours[k] = slots[m]
                    images[k] = kinds[m] % 32
                    k += 1
    bounds[SEGMENTS * (b - a)] = k
    return bounds, neighbours, images


@numba.njit(inline="always", **JIT_FLAGS)
def _pairs(x, xi, yi, zi, lo, hi, neighbours, images, shifts, rc2, shift, newton, force, acc):
    """Add pairs ``lo..hi`` of an atom at (xi, yi, zi) to ``acc`` = its (fx, fy, fz, energy, virial).

    ``newton``: the pairs are inside the partition, so each also acts on
    its neighbour (force subtracted from its row) and counts whole in the
    energy and virial; else half.  A neighbour's position is its image,
    ``x[j] + shifts[images[k]]``.  No branch on the cutoff: a pair beyond
    it adds zeros (a mispredicted branch costs more than the arithmetic).
    """
    fx, fy, fz, e, w = acc
    weight = 1.0 if newton else 0.5
    for k in range(lo, hi):
        j, image = neighbours[k], images[k]
        dx = xi - x[0, j] - shifts[image, 0]
        dy = yi - x[1, j] - shifts[image, 1]
        dz = zi - x[2, j] - shifts[image, 2]
        r2 = dx * dx + dy * dy + dz * dz
        inside = r2 < rc2
        inv2 = (1.0 if inside else 0.0) / r2
        inv6 = inv2 * inv2 * inv2
        scale = 48.0 * inv6 * (inv6 - 0.5) * inv2
        fx += scale * dx
        fy += scale * dy
        fz += scale * dz
        e += weight * (4.0 * inv6 * (inv6 - 1.0) - (shift if inside else 0.0))
        w += weight * scale * r2
        if newton:
            force[0, j] -= scale * dx
            force[1, j] -= scale * dy
            force[2, j] -= scale * dz
    return fx, fy, fz, e, w


@numba.njit(**JIT_FLAGS)
def forces(x, box, rc, shift, a, b, bounds, neighbours, images, force, energy, virial):
    """LJ force on atoms [a, b), and their pair energies and virials r.f, summed to a partition total.

    The lists are :func:`build_neighbours`'s: a pair inside [a, b) acts on
    both atoms once and counts whole at its listing atom, a pair across
    partitions counts half (the other partition has the other half), so
    ``energy[a:b].sum()`` is the partition's share of the potential energy.
    ``shift`` is subtracted from each pair energy inside the cutoff (0, or
    the potential at ``rc`` to shift it to zero there).  ``force`` is
    (3, N); ``energy`` and ``virial`` are (N,); only atoms a..b-1 are
    written.  Each atom's force is summed in a fixed order (the lists of the
    atoms below it, then its own), so the result is a function of the
    positions, the list and [a, b) alone.

    """
    rc2 = rc * rc
    shifts = np.empty((27, 3))
    for code in range(27):
        shifts[code, 0] = (code // 9 - 1) * box
        shifts[code, 1] = (code // 3 % 3 - 1) * box
        shifts[code, 2] = (code % 3 - 1) * box
    for i in range(a, b):
        force[0, i] = force[1, i] = force[2, i] = 0.0
    for i in range(a, b):
        first, across, end = bounds[SEGMENTS * (i - a)], bounds[SEGMENTS * (i - a) + 1], bounds[SEGMENTS * (i - a + 1)]
        xi, yi, zi = x[0, i], x[1, i], x[2, i]
        acc = (0.0, 0.0, 0.0, 0.0, 0.0)
        acc = _pairs(x, xi, yi, zi, first, across, neighbours, images, shifts, rc2, shift, True, force, acc)
        acc = _pairs(x, xi, yi, zi, across, end, neighbours, images, shifts, rc2, shift, False, force, acc)
        force[0, i] += acc[0]
        force[1, i] += acc[1]
        force[2, i] += acc[2]
        energy[i] = acc[3]
        virial[i] = acc[4]


@numba.njit(**JIT_FLAGS)
def langevin(v, force, a, b, seed, step, gamma, temperature, dt):
    """Add the Langevin drag -gamma v and a uniform random force of variance 2 gamma T / dt to atoms [a, b)."""
    amplitude = math.sqrt(24.0 * gamma * temperature / dt)  # uniform on [-1/2, 1/2) has variance 1/12
    n = v.shape[1]
    for i in range(a, b):
        u0, u1 = uniform_pair(seed, LANGEVIN_STREAM, 2 * (step * n + i))
        u2, _ = uniform_pair(seed, LANGEVIN_STREAM, 2 * (step * n + i) + 1)
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


@numba.njit(**JIT_FLAGS)
def twice_kinetic(v, a, b):
    """Sum of v^2 over atoms [a, b) (twice their kinetic energy, m = 1)."""
    total = 0.0
    for i in range(a, b):
        total += v[0, i] * v[0, i] + v[1, i] * v[1, i] + v[2, i] * v[2, i]
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

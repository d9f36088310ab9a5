"""Numba kernels of the Ising model on a periodic square (2D) or cubic (3D) lattice.

Hamiltonian (J = 1, energies in units of J, temperatures in J/k_B)::

    E = - sum_<ij> s_i s_j - h sum_i s_i,      s_i = +1 or -1

Lattice layout
--------------
``spins`` is a C-contiguous int8 array of shape (L, L) or (L, L, L), L even and
>= 2.  A site's colour is the parity of the sum of its indices; all neighbours
of a site have the other colour, so the sites of one colour can be updated in
any order, by any number of workers, with the same result.  Kernels work on a
range ``[row_start, row_stop)`` of the first axis, so a lockstep worker updates
or measures its own strip (2D) or slab (3D), and partial sums add up.

Internally the lattice is seen as ``L**(dim-1)`` *lines*: the 1D rows along the
last axis.  Line ``n`` holds sites ``n*L .. n*L + L-1`` (C order).

Random numbers
--------------
One 32-bit uniform per site per half-sweep, a pure function of
``(seed, site, sweep)``: the sites ``8b .. 8b+7`` of a line share one Philox call
(:func:`simcore.rng.random_words`) with ``stream = n*L + 8b`` (the linear index
of the block's first site) and ``counter = 2*sweep + colour``; the four sites of
that colour in the block take words 0..3 in order, i.e. site ``j`` of the line
takes word ``j // 2``.  The hot start uses the reserved counter
:data:`HOT_START_COUNTER` and is thus independent of every sweep's numbers.

Acceptance
----------
A site with spin ``s`` and neighbour sum ``nsum`` flips with probability ``p``,
where ``dE = 2 s (nsum + h)`` is the energy change of the flip:

* Metropolis: ``p = min(1, exp(-beta dE))``;
* heat-bath (Glauber): ``p = 1 / (1 + exp(beta dE))``, which is the same as
  setting ``s' = +1`` with probability ``1 / (1 + exp(-2 beta (nsum + h)))``
  whatever the current spin.

The site flips if its word ``r <= ceil(2**32 p) - 1``, i.e. exactly if
``u < p`` for the uniform ``u = r / 2**32`` (that of
:func:`simcore.rng.uniform_quad32`).  The bounds come from a small table, a tuple
of 2*(2*dim+1) uint32 indexed by ``s`` and ``nsum`` (:func:`metropolis_bounds`,
:func:`heatbath_bounds`), so the kernel never calls ``exp``.

Example: one sweep of a 16 x 16 lattice at T = 2.269, in two halves of the rows
as two lockstep workers would do it:

>>> spins = np.empty((16, 16), dtype=np.int8)
>>> hot_start(spins, np.uint64(7), 0, 16)
>>> bounds = metropolis_bounds(1 / 2.269, 0.0, 2)
>>> for colour in (0, 1):
...     for start, stop in ((0, 8), (8, 16)):
...         half_sweep(spins, colour, start, stop, np.uint64(7), np.uint64(0), bounds)
>>> energy(spins, 0.0, 0, 8) + energy(spins, 0.0, 8, 16) == energy(spins, 0.0, 0, 16)
True

References: N. Metropolis et al., J. Chem. Phys. 21, 1087 (1953),
doi:10.1063/1.1699114; R. J. Glauber, J. Math. Phys. 4, 294 (1963),
doi:10.1063/1.1703954.
"""
from __future__ import annotations

import math
import sys

import numba
import numpy as np

from .._jit import JIT_FLAGS
from ..rng import random_words

#: Philox counter reserved for the hot start; sweeps use counters 2*sweep + colour < 2**64 - 1.
HOT_START_COUNTER = np.uint64(2**64 - 1)

_BLOCK = 8  # sites of a line that share one Philox call (4 of each colour)
_TWO_32 = 4294967296.0
_LITTLE_ENDIAN = sys.byteorder == "little"


# --------------------------------------------------------------------------- flip bounds


def _flip_bounds(beta, h, dim, probability):
    """The bounds ``ceil(2**32 p) - 1`` of :func:`half_sweep` for ``p = probability(beta dE)``."""
    width = 2 * dim + 1
    bounds = []
    for s in (-1, 1):
        for k in range(width):
            p = probability(2.0 * beta * s * (2 * k - 2 * dim + h))
            bounds.append(np.uint32(max(math.ceil(p * _TWO_32), 1) - 1))
    return tuple(bounds)


def _metropolis(beta_de):
    return 1.0 if beta_de <= 0.0 else math.exp(-beta_de)


def _heatbath(beta_de):
    if beta_de <= 0.0:
        return 1.0 / (1.0 + math.exp(beta_de))
    damped = math.exp(-beta_de)
    return damped / (1.0 + damped)


def metropolis_bounds(beta, h, dim):
    """Metropolis flip bounds for :func:`half_sweep`: ``p = min(1, exp(-beta dE))``.

    Parameters
    ----------
    beta : float, inverse temperature [1/J], > 0
    h : float, magnetic field [J]
    dim : int, 2 or 3

    Returns
    -------
    tuple of 2*(2*dim+1) np.uint32, ``ceil(2**32 p) - 1`` (at least 0) for
    s = -1 then s = +1 and the neighbour sum -2*dim, -2*dim+2, ..., 2*dim.
    """
    return _flip_bounds(beta, h, dim, _metropolis)


def heatbath_bounds(beta, h, dim):
    """Heat-bath (Glauber) flip bounds for :func:`half_sweep`: ``p = 1 / (1 + exp(beta dE))``.

    Same parameters and layout as :func:`metropolis_bounds`.
    """
    return _flip_bounds(beta, h, dim, _heatbath)


# --------------------------------------------------------------------------- lattice geometry


@numba.njit(inline="always", **JIT_FLAGS)
def _lines(spins, row_start, row_stop):
    """The lattice (or a window of its rows) as a (rows * L**(dim-2), L) array of lines, and the lines of
    rows [row_start, row_stop) of the first axis."""
    size = spins.shape[-1]
    if size < 2 or size % 2 or spins.shape[0] < 1 or spins.size != spins.shape[0] * size**(spins.ndim - 1):
        raise ValueError("the lattice must be L x L (x L) with L even and >= 2, or a window of its rows")
    if not 0 <= row_start <= row_stop <= spins.shape[0]:
        raise ValueError("the row range must lie within the lattice's rows")
    lines = spins.reshape((spins.size // size, size))
    per_row = lines.shape[0] // spins.shape[0]
    return lines, row_start * per_row, row_stop * per_row


@numba.njit(inline="always", **JIT_FLAGS)
def _line_neighbours(n, size, rows, origin, dim, out):
    """Write the lines next to line ``n`` into ``out`` as (+axis, -axis) for the axes but the last, the
    first axis last; return the parity of the sum of the line's coordinates in the whole lattice.

    The first axis has ``rows`` rows here, the first of them row ``origin`` of the lattice: the
    lattice itself (rows = L, origin = 0) wraps around; a window wraps within itself, which only its
    halo rows, never updated, see.
    """
    parity = origin
    stride = 1
    for a in range(dim - 1):
        extent = rows if a == dim - 2 else size
        x = (n // stride) % extent
        parity += x
        out[2 * a] = n + stride if x < extent - 1 else n - (extent - 1) * stride
        out[2 * a + 1] = n - stride if x > 0 else n + (extent - 1) * stride
        stride *= size
    return parity & 1


@numba.njit(inline="always", **JIT_FLAGS)
def _lattice_line(n, per_row, origin, size):
    """Line of the whole lattice that line ``n`` of a window starting at row ``origin`` is."""
    return ((origin + n // per_row) % size) * per_row + n % per_row


# --------------------------------------------------------------------------- sweeps


@numba.njit(inline="always", **JIT_FLAGS)
def _fill_words(seed, n, size, counter, words):
    """The 32-bit words of line ``n`` for ``counter``; site j of the line takes words[j // 2]."""
    first_site = np.uint64(n * size)
    for b in range(words.shape[0] // 4):
        r0, r1, r2, r3 = random_words(seed, first_site + np.uint64(_BLOCK * b), counter)
        words[4 * b] = r0
        words[4 * b + 1] = r1
        words[4 * b + 2] = r2
        words[4 * b + 3] = r3


@numba.njit(inline="always", **JIT_FLAGS)
def _perpendicular_sum(lines, neighbours, out):
    """Sum over the neighbour lines, site by site: the field from outside the line."""
    nearest = lines[neighbours[0]]
    for j in range(out.shape[0]):
        out[j] = nearest[j]
    for k in range(1, neighbours.shape[0]):
        other = lines[neighbours[k]]
        for j in range(out.shape[0]):
            out[j] += other[j]


@numba.njit(inline="always", **JIT_FLAGS)
def _flip_mask(s, nsum, word, bounds, dim):
    """-2 (as int8: the XOR that turns s into -s) if the site flips, else 0."""
    width = 2 * dim + 1
    x = np.int8(nsum)
    down = bounds[0]
    up = bounds[width]
    for k in range(1, width):
        if x == np.int8(2 * k - 2 * dim):
            down = bounds[k]
            up = bounds[width + k]
    return np.int8(-2) if word <= (up if s > 0 else down) else np.int8(0)


@numba.njit(inline="always", **JIT_FLAGS)
def _edge_mask(line, j, perp, words, bounds, dim):
    last = line.shape[0] - 1
    nsum = perp[j] + line[j - 1 if j > 0 else last] + line[j + 1 if j < last else 0]
    return _flip_mask(line[j], nsum, words[j >> 1], bounds, dim)


@numba.njit(inline="always", **JIT_FLAGS)
def _flip_masks(line, first, perp, words, bounds, dim, masks):
    """masks[i] for the site j = 2i + first of the line; the two ends wrap around."""
    half = line.shape[0] // 2
    centre = line[first + 1:]
    field = perp[first + 1:]
    inner_words = words[1:]
    inner = masks[1:]
    for i in range(half - 2):
        nsum = np.int8(field[2 * i + 1] + centre[2 * i] + centre[2 * i + 2])
        inner[i] = _flip_mask(centre[2 * i + 1], nsum, inner_words[i], bounds, dim)
    masks[0] = _edge_mask(line, first, perp, words, bounds, dim)
    masks[half - 1] = _edge_mask(line, 2 * half - 2 + first, perp, words, bounds, dim)


@numba.njit(inline="always", **JIT_FLAGS)
def _apply_masks(line, first, masks):
    """XOR masks[i] into site 2i + first, two sites (one uint16) at a time."""
    pairs = line.view(np.uint16)
    shift = 8 * (first if _LITTLE_ENDIAN else 1 - first)
    for i in range(pairs.shape[0]):
        pairs[i] ^= np.uint16(np.uint8(masks[i])) << shift


@numba.njit(**JIT_FLAGS)
def half_sweep(spins, colour, row_start, row_stop, seed, sweep, bounds, origin=0):
    """Update every site of one colour in rows [row_start, row_stop) of the first axis.

    Parameters
    ----------
    spins : int8 array (L, L) or (L, L, L), C-contiguous, L even; updated in place
    colour : int, 0 or 1: the sites with (sum of indices) % 2 == colour
    row_start, row_stop : int, range of the first axis [rows]
    seed : np.uint64, the run's seed (Philox key)
    sweep : np.uint64, sweep number, < 2**63 - 1; the Philox counter is 2*sweep + colour
    bounds : tuple of np.uint32 from :func:`metropolis_bounds` or :func:`heatbath_bounds`
      for the same dim
    origin : int, the row of the lattice that row 0 of ``spins`` is: ``spins`` may be a
      window of consecutive rows (periodically) of the lattice, its first and last rows a
      halo that is read, not updated; 0 for the whole lattice

    Raises ValueError if the lattice is not L x L (x L) with L even (or rows of one)
    or the rows are not within it.

    The result is a pure function of the lattice, seed, sweep and bounds: it
    does not depend on how the rows are split between calls.
    """
    lines, first_line, stop_line = _lines(spins, row_start, row_stop)
    size = lines.shape[1]
    dim = spins.ndim
    per_row = lines.shape[0] // spins.shape[0]
    counter = np.uint64(2) * np.uint64(sweep) + np.uint64(colour)
    neighbours = np.empty(2 * (dim - 1), dtype=np.int64)
    perp = np.empty(size, dtype=np.int8)
    words = np.empty(4 * ((size + _BLOCK - 1) // _BLOCK), dtype=np.uint32)
    masks = np.empty(size // 2, dtype=np.int8)
    for n in range(first_line, stop_line):
        parity = _line_neighbours(n, size, spins.shape[0], origin, dim, neighbours)
        _perpendicular_sum(lines, neighbours, perp)
        _fill_words(seed, _lattice_line(n, per_row, origin, size), size, counter, words)
        first = (colour + parity) & 1
        _flip_masks(lines[n], first, perp, words, bounds, dim, masks)
        _apply_masks(lines[n], first, masks)


# --------------------------------------------------------------------------- starts


@numba.njit(**JIT_FLAGS)
def cold_start(spins, row_start, row_stop):
    """Set every spin in rows [row_start, row_stop) of the first axis to +1 (the ground state for h >= 0)."""
    spins[row_start:row_stop] = 1


@numba.njit(**JIT_FLAGS)
def hot_start(spins, seed, row_start, row_stop, origin=0):
    """Set the spins in rows [row_start, row_stop) of the first axis to independent random +-1
    (the infinite-temperature state).

    Site j of line n is +1 if bit 31 - (j % 2) is set in word (j % 8) // 2 of the
    Philox call with key ``seed`` (uint64), ``stream = n*L + 8*(j // 8)`` and counter
    :data:`HOT_START_COUNTER`: a pure function of (seed, site), whatever the rows.
    ``origin``: the lattice's row that row 0 of ``spins`` is, as for :func:`half_sweep`.
    """
    lines, first_line, stop_line = _lines(spins, row_start, row_stop)
    size = lines.shape[1]
    per_row = lines.shape[0] // spins.shape[0]
    words = np.empty(4 * ((size + _BLOCK - 1) // _BLOCK), dtype=np.uint32)
    for n in range(first_line, stop_line):
        _fill_words(seed, _lattice_line(n, per_row, origin, size), size, HOT_START_COUNTER, words)
        line = lines[n]
        for j in range(size):
            bit = (words[j >> 1] >> (31 - (j & 1))) & 1
            line[j] = 2 * np.int8(bit) - 1


# --------------------------------------------------------------------------- measurements


@numba.njit(inline="always", **JIT_FLAGS)
def _dot(a, b):
    """sum_j a[j] * b[j] of two int8 arrays of at most 2**31 - 1 elements, as int64.

    Summed in int32 (exact for spins of +-1 up to that length), which packs
    twice the lanes of an int64 sum into a SIMD register.
    """
    total = np.int32(0)
    for j in range(a.shape[0]):
        total += np.int32(a[j]) * np.int32(b[j])
    return np.int64(total)


@numba.njit(inline="always", **JIT_FLAGS)
def _line_sum(line):
    """sum_j line[j] of an int8 line, summed in int32 as :func:`_dot`, as int64."""
    total = np.int32(0)
    for j in range(line.shape[0]):
        total += np.int32(line[j])
    return np.int64(total)


@numba.njit(**JIT_FLAGS)
def magnetization(spins, row_start, row_stop):
    """Sum of the spins in rows [row_start, row_stop) of the first axis [dimensionless], as int64."""
    lines, first_line, stop_line = _lines(spins, row_start, row_stop)
    total = 0
    for line in lines[first_line:stop_line]:
        total += _line_sum(line)
    return total


@numba.njit(**JIT_FLAGS)
def bonds_and_magnetization(spins, row_start, row_stop):
    """One pass over rows [row_start, row_stop) of the first axis: (sum of s_i s_(i+e_a) over the sites and
    every axis a, sum of s_i), both int64 [dimensionless].

    Each site counts its bonds in the + direction of every axis, so each bond
    is counted once and the parts of a partition of the rows add up.  In a
    window of the lattice's rows (see :func:`half_sweep`) the row after the
    last one summed is read: its halo.
    """
    lines, first_line, stop_line = _lines(spins, row_start, row_stop)
    size = lines.shape[1]
    dim = spins.ndim
    neighbours = np.empty(2 * (dim - 1), dtype=np.int64)
    bonds = 0
    total = 0
    for n in range(first_line, stop_line):
        _line_neighbours(n, size, spins.shape[0], 0, dim, neighbours)
        line = lines[n]
        bonds += _dot(line[:-1], line[1:]) + np.int64(line[size - 1]) * np.int64(line[0])
        for a in range(dim - 1):
            bonds += _dot(line, lines[neighbours[2 * a]])
        total += _line_sum(line)
    return bonds, total


@numba.njit(**JIT_FLAGS)
def energy(spins, h, row_start, row_stop):
    """Energy [J] of the sites in rows [row_start, row_stop) of the first axis, as float64.

    Each site contributes its bonds in the + direction of every axis and its
    field term, ``-s_i (sum_a s_(i+e_a) + h)``, so each bond is counted once and
    the energies of the parts of a partition of the rows add up to the total
    ``E = -sum_<ij> s_i s_j - h sum_i s_i``.  ``h`` is the field [J].
    """
    bonds, total = bonds_and_magnetization(spins, row_start, row_stop)
    return energy_of(bonds, total, h)


@numba.njit(inline="always", **JIT_FLAGS)
def energy_of(bonds, magnetization, h):
    """``-bonds - h magnetization`` [J] (the sums of :func:`bonds_and_magnetization`), as float64."""
    return -float(bonds) - h * float(magnetization)

"""Numba kernels of direct-summation gravity (G = 1; lengths, times, masses in N-body units).

State layout
------------
One C-contiguous float64 array ``state`` of shape (N, :data:`WIDTH`), a row a
body: position (columns 0-2), velocity (3-5), acceleration (6-8), mass (9)
and potential energy (10), ``m_i phi_i`` with

    a_i   = sum_{j != i} m_j (r_j - r_i) / (|r_j - r_i|^2 + eps^2)^1.5
    phi_i = - sum_{j != i} m_j / (|r_j - r_i|^2 + eps^2)^0.5

(``eps`` the Plummer softening), so the total potential energy is half the
sum of column 10.  The force, integration and measurement kernels work on
rows [row_start, row_stop): they read every body's position and mass but
write only those rows.

Determinism
-----------
The sums over j run in the order j = 0, 1, ..., N-1 for every body, and the
arithmetic of one pair (i, j) is the same wherever it happens, so the
accelerations do not depend on how the rows are split between calls; fastmath
stays off (no reassociation, no fused multiply-add).  For speed,
:func:`accelerations` takes the bodies :data:`TILE` at a time and loops over
j outside, over the tile inside: that inner loop has no reduction, so the
compiler vectorises it without reordering any sum.

Example: two halves of the rows give bitwise the accelerations of the whole:

>>> bodies = plummer(np.uint64(3), 100)
>>> halves = bodies.copy()
>>> accelerations(bodies, 0, 100, 0.0)
>>> accelerations(halves, 0, 37, 0.0); accelerations(halves, 37, 100, 0.0)
>>> np.array_equal(bodies, halves)
True
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .._jit import JIT_FLAGS
from ..rng import isotropic_direction, uniform_pair

#: Columns of the state array.
POSITION, VELOCITY, ACCELERATION, MASS, POTENTIAL, WIDTH = 0, 3, 6, 9, 10, 11

#: What :func:`partial_sums` writes, in order (momentum and angular momentum: x, y, z).
OBSERVABLES = ("kinetic_energy", "potential_energy", "momentum_x", "momentum_y", "momentum_z",
               "angular_momentum_x", "angular_momentum_y", "angular_momentum_z", "momentum_scale",
               "angular_momentum_scale")
KINETIC, POTENTIAL_ENERGY, MOMENTUM, ANGULAR_MOMENTUM, MOMENTUM_SCALE, ANGULAR_MOMENTUM_SCALE = 0, 1, 2, 5, 8, 9

#: Bodies whose accelerations :func:`accelerations` accumulates together.
TILE = 64

_PLUMMER_SCALE = 3.0 * math.pi / 16.0  # Plummer radius with E = -1/4 (G = M = 1)
_PLUMMER_MASS_CUT = 0.999  # largest enclosed-mass fraction drawn: radii below ~39 Plummer radii


# --------------------------------------------------------------------------- forces


@numba.njit(inline="always", **JIT_FLAGS)
def _add_pair(state, j, x, y, z, eps2, acc, skip):
    """Add body j's pull to every tile body l != skip: acc[0:3, l] (acceleration), acc[3, l] (potential)."""
    xj, yj, zj, mj = state[j, POSITION], state[j, POSITION + 1], state[j, POSITION + 2], state[j, MASS]
    for l in range(x.shape[0]):
        if l != skip:
            dx, dy, dz = xj - x[l], yj - y[l], zj - z[l]
            inv = 1.0 / math.sqrt(dx * dx + dy * dy + dz * dz + eps2)
            pull = mj * inv
            strength = pull * inv * inv
            acc[0, l] += strength * dx
            acc[1, l] += strength * dy
            acc[2, l] += strength * dz
            acc[3, l] -= pull


@numba.njit(**JIT_FLAGS)
def accelerations(state, row_start, row_stop, eps2):
    """Set the acceleration and potential energy columns of rows [row_start, row_stop).

    Parameters
    ----------
    state : float64 array (N, WIDTH), module layout; all positions and masses are read
    row_start, row_stop : int, 0 <= row_start <= row_stop <= N [bodies]
    eps2 : float, squared Plummer softening eps^2 >= 0 [length^2]

    Every sum over the other bodies runs j = 0 .. N-1 (module docstring).  Two
    bodies at the same place with ``eps2 == 0`` give infinite or NaN values.
    """
    bodies = state.shape[0]
    position = np.empty((3, TILE))
    acc = np.empty((4, TILE))
    for first in range(row_start, row_stop, TILE):
        size = min(TILE, row_stop - first)
        x, y, z = position[0, :size], position[1, :size], position[2, :size]
        for l in range(size):
            i = first + l
            x[l], y[l], z[l] = state[i, POSITION], state[i, POSITION + 1], state[i, POSITION + 2]
        acc[:, :size] = 0.0
        tile_acc = acc[:, :size]
        for j in range(first):
            _add_pair(state, j, x, y, z, eps2, tile_acc, -1)
        for j in range(first, first + size):
            _add_pair(state, j, x, y, z, eps2, tile_acc, j - first)
        for j in range(first + size, bodies):
            _add_pair(state, j, x, y, z, eps2, tile_acc, -1)
        for l in range(size):
            i = first + l
            for k in range(3):
                state[i, ACCELERATION + k] = tile_acc[k, l]
            state[i, POTENTIAL] = state[i, MASS] * tile_acc[3, l]


# --------------------------------------------------------------------------- integration


@numba.njit(**JIT_FLAGS)
def kick_drift(state, row_start, row_stop, kick, drift):
    """Rows [row_start, row_stop): ``v += kick * a`` then ``r += drift * v``, each skipped if its interval is 0.

    ``kick`` and ``drift`` are time intervals [time]; a leapfrog step is
    kick_drift(dt/2, dt), accelerations, kick_drift(dt/2, 0).
    """
    for i in range(row_start, row_stop):
        for k in range(3):
            if kick != 0.0:
                state[i, VELOCITY + k] += kick * state[i, ACCELERATION + k]
            if drift != 0.0:
                state[i, POSITION + k] += drift * state[i, VELOCITY + k]


@numba.njit(**JIT_FLAGS)
def partial_sums(state, row_start, row_stop, out):
    """Write the :data:`OBSERVABLES` of rows [row_start, row_stop) into ``out`` (float64, 10).

    Kinetic energy ``sum m v^2 / 2``, potential energy ``sum m phi / 2`` (each
    pair counted once over the whole system), momentum ``sum m v``, angular
    momentum ``sum m r x v`` about the origin, and the scales ``sum m |v|``
    and ``sum m |r x v|`` that the momentum errors are relative to.
    """
    out[:] = 0.0
    for i in range(row_start, row_stop):
        m = state[i, MASS]
        x, y, z = state[i, POSITION], state[i, POSITION + 1], state[i, POSITION + 2]
        vx, vy, vz = state[i, VELOCITY], state[i, VELOCITY + 1], state[i, VELOCITY + 2]
        speed2 = vx * vx + vy * vy + vz * vz
        lx, ly, lz = m * (y * vz - z * vy), m * (z * vx - x * vz), m * (x * vy - y * vx)
        out[KINETIC] += 0.5 * m * speed2
        out[POTENTIAL_ENERGY] += 0.5 * state[i, POTENTIAL]
        out[MOMENTUM] += m * vx
        out[MOMENTUM + 1] += m * vy
        out[MOMENTUM + 2] += m * vz
        out[ANGULAR_MOMENTUM] += lx
        out[ANGULAR_MOMENTUM + 1] += ly
        out[ANGULAR_MOMENTUM + 2] += lz
        out[MOMENTUM_SCALE] += m * math.sqrt(speed2)
        out[ANGULAR_MOMENTUM_SCALE] += math.sqrt(lx * lx + ly * ly + lz * lz)


# --------------------------------------------------------------------------- initial conditions


@numba.njit(**JIT_FLAGS)
def centre_of_mass_frame(state):
    """Shift positions and velocities so the centre of mass rests at the origin (sums in body order)."""
    total = 0.0
    centre = np.zeros(6)
    for i in range(state.shape[0]):
        total += state[i, MASS]
        for k in range(6):
            centre[k] += state[i, MASS] * state[i, POSITION + k]  # position then velocity
    centre /= total
    for i in range(state.shape[0]):
        for k in range(6):
            state[i, POSITION + k] -= centre[k]


@numba.njit(inline="always", **JIT_FLAGS)
def _place(state, i, column, length, seed, stream, counter):
    """Columns column .. column+2 of row i: a vector of ``length`` in the isotropic direction of ``counter``."""
    u0, u1 = uniform_pair(seed, stream, np.uint64(counter))
    dx, dy, dz = isotropic_direction(u0, u1)
    state[i, column], state[i, column + 1], state[i, column + 2] = length * dx, length * dy, length * dz


@numba.njit(**JIT_FLAGS)
def plummer(seed, bodies):
    """A Plummer sphere of ``bodies`` equal masses 1/N in N-body units (G = M = 1, E -> -1/4).

    Sampling of Aarseth, Henon & Wielen, A&A 37, 183 (1974): body i uses the
    Philox stream i of key ``seed`` (np.uint64), counter 0 for its enclosed
    mass fraction (cut at 0.999), 1 and 2 for the directions of its position
    and velocity, 3, 4, ... for the rejection sampling of its speed
    ``q v_esc``, ``q^2 (1 - q^2)^3.5 > 0.1 u``.  Radii are scaled by the Plummer
    radius 3 pi / 16 and speeds by its inverse square root, then the whole is
    moved to its centre-of-mass frame.  Returns a state array (module layout)
    with zero accelerations and potentials.
    """
    state = np.zeros((bodies, WIDTH))
    speed_scale = 1.0 / math.sqrt(_PLUMMER_SCALE)
    for i in range(bodies):
        stream = np.uint64(i)
        u_mass, _ = uniform_pair(seed, stream, np.uint64(0))
        radius = 1.0 / math.sqrt((_PLUMMER_MASS_CUT * (1.0 - u_mass)) ** (-2.0 / 3.0) - 1.0)
        escape = math.sqrt(2.0) * (1.0 + radius * radius) ** -0.25
        counter = np.uint64(3)
        while True:
            q, u = uniform_pair(seed, stream, counter)
            if 0.1 * u < q * q * (1.0 - q * q) ** 3.5:
                break
            counter += np.uint64(1)
        _place(state, i, POSITION, radius * _PLUMMER_SCALE, seed, stream, 1)
        _place(state, i, VELOCITY, q * escape * speed_scale, seed, stream, 2)
        state[i, MASS] = 1.0 / bodies
    centre_of_mass_frame(state)
    return state

"""Lennard-Jones molecular dynamics in reduced units, run in lockstep over partitions of atoms.

The system: ``4 cells^3`` atoms on an fcc lattice at ``density`` in a cubic
periodic box (or the atoms of a LAMMPS data file, ``start_file``),
Maxwell-Boltzmann velocities rescaled to exactly ``temperature`` with zero
total momentum (temperature counts 3N - 3 degrees of freedom, as LAMMPS
does), the pair potential truncated at ``cutoff`` (shifted to zero there only
if ``shift``, as LAMMPS ``lj/cut`` with ``pair_modify shift yes``), Verlet
lists of radius ``cutoff + skin`` rebuilt when any atom has moved more than
``skin / 2``, velocity Verlet with time step ``dt``; NVE, or NVT with a
Langevin thermostat or a Nose-Hoover chain (``chain`` thermostats, 3 as in LAMMPS) of time constant ``damping``.
Optional long-range tail corrections (homogeneous fluid beyond the cutoff)
to the energy and the pressure.

A step is three phases (four with Nose-Hoover), each ended by a barrier; a partition writes only
the rows of its atoms, and reads the others' only where no one writes them:

0. [Nose-Hoover half step] half kick, drift, squared displacement since the last list build
1. if the largest displacement of ALL atoms exceeds (skin/2)^2 (or, with ``neighbor_every`` N,
   every N steps): wrap the positions into the box, reference positions := positions
   (as LAMMPS remaps atoms only when it rebuilds its lists, an atom may be up to skin/2
   outside the box in between: the lists hold each neighbour's periodic image)
2. forces (list rebuilt from the reference positions when they changed), [Langevin], half kick
3. [Nose-Hoover half step, from the kinetic energy of all atoms]

Random numbers (velocities, Langevin noise) are keyed by (seed, atom, step),
so results are bitwise the same for any worker count and executor, and after
a resume: a worker that has no list (a new worker, a resumed run) rebuilds it
from the stored reference positions, which gives the same list.  The lists
are full (each pair listed at both atoms) and each atom sums its own in a
fixed order, so the forces and the trajectory are bitwise the same for any
partition count too.  The sums over atoms (the Nose-Hoover chain's kinetic
energy, each partition's thermo sums) are exact (:mod:`simcore.exactsum`):
the same bits whichever way the atoms are split, over partitions or over MPI
ranks that own the atoms of a slab of the box (:class:`~.base.Domain`,
:mod:`simcore.slabs`).  Pair energies and virials are computed only on
measured steps, as LAMMPS computes them only for its thermo output.

Results (per atom unless said): ``potential_energy_per_atom``,
``total_energy_per_atom``, ``temperature``, ``pressure`` with blocking
errors over the measured steps; ``/series/thermo`` holds T, PE/N, E/N and P
after every measured step.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .. import exactsum
from ..blocking import blocking
from . import lj_kernels as kernels
from . import lj_lists
from .base import (Domain, Halo, Intensity, LockstepModel, Param, Reduction, Result, ResultValue, SeriesValue,
                   Trajectory, fold_into_box)
from .lammps_data import read_data

#: Rows of the state array (WIDTH + chain - 1, N), one column per atom: each quantity of all atoms is contiguous.
#: XI and the rows from WIDTH on hold the Nose-Hoover chain's velocities (the same in every column).
X, F, V, XREF = slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 12)
DISPLACEMENT, ENERGY, VIRIAL, SPEED2, STAMP, XI, TWICE_KE = 12, 13, 14, 15, 16, 17, 18
WIDTH = 19
#: Observables each partition sums after a measured step.
_PE, _VIRIAL, _TWICE_KE = 0, 1, 2

#: Neighbour lists of the partitions this process worked on, possibly for several runs (a sweep's
#: points, threads): (row_start, row_stop, atoms, box, list radius) -> (stamp, reference
#: positions of the rows, lj_lists.NeighbourLists).
_LISTS: dict[tuple, tuple] = {}
#: The atoms sorted by cell for those lists, once for all the partitions of a process:
#: (atoms, box, list radius) -> (stamp, reference positions of all atoms, lj_lists.Bins).
_BINS: dict[tuple, tuple] = {}


@functools.lru_cache(maxsize=4)
def _system(cells: int, density: float, temperature: float, start_file: str, seed: int):
    """Positions (N, 3), velocities (N, 3) and box side of the start, for every atom."""
    if start_file:
        start = read_data(start_file)
        return start.positions, start.velocities, start.box
    spacing = (4.0 / density) ** (1.0 / 3.0)
    positions = kernels.fcc_lattice(cells, spacing)
    velocities = kernels.gaussian_velocities(np.uint64(seed), len(positions))
    velocities -= velocities.mean(axis=0)
    dof = 3 * len(positions) - 3
    velocities *= math.sqrt(temperature * dof / float(np.sum(velocities * velocities)))
    return positions, velocities, cells * spacing


def _start(p, seed: int = 0):
    return _system(p["cells"], p["density"], p["temperature"], p["start_file"], seed)


def atoms(p) -> int:
    """Number of atoms: 4 cells^3, or the start file's."""
    return len(read_data(p["start_file"]).positions) if p["start_file"] else 4 * p["cells"] ** 3


def box_side(p) -> float:
    """Side of the cubic periodic box [sigma]."""
    return read_data(p["start_file"]).box if p["start_file"] else p["cells"] * (4.0 / p["density"]) ** (1 / 3)


def tail_corrections(density: float, cutoff: float) -> tuple[float, float]:
    """Long-range corrections (energy per atom, pressure) of the LJ fluid beyond ``cutoff``."""
    inv3 = cutoff**-3
    energy = 8.0 / 3.0 * math.pi * density * (inv3**3 / 3.0 - inv3)
    pressure = 16.0 / 3.0 * math.pi * density**2 * (2.0 / 3.0 * inv3**3 - inv3)
    return energy, pressure


def _cached(cache: dict, key: tuple, stamp: float, xref: np.ndarray, make):
    """``cache[key]``'s value if it was made at ``stamp`` from these reference positions, else ``make()``,
    stored there."""
    cached = cache.get(key)
    if cached is not None and cached[0] == stamp and np.array_equal(cached[1], xref):
        return cached[2]
    value = make()
    cache[key] = (stamp, xref.copy(), value)
    return value


def _neighbours(p, state: np.ndarray, a: int, b: int, local=None) -> lj_lists.NeighbourLists:
    """This partition's list: the cached one if built from the same reference positions, else a new one.

    On an MPI rank (``local``) the columns are the rank's atoms and ghosts, listed in the order of their
    numbers, and the list is cached in ``local.lists`` until they move.
    """
    stamp, box, rlist = state[STAMP, a], box_side(p), p["cutoff"] + p["skin"]
    if local is not None:
        if not local.lists:
            bins = lj_lists.bin_atoms(state[XREF], box, rlist, np.argsort(local.ids, kind="stable"))
            local.lists.append(lj_lists.build(state[XREF], bins, a, b))
        return local.lists[0]

    def build() -> lj_lists.NeighbourLists:
        bins = _cached(_BINS, (state.shape[1], box, rlist), stamp, state[XREF],
                       lambda: lj_lists.bin_atoms(state[XREF], box, rlist))
        return lj_lists.build(state[XREF], bins, a, b)

    return _cached(_LISTS, (a, b, state.shape[1], box, rlist), stamp, state[XREF, a:b], build)


def _forces(p, state: np.ndarray, a: int, b: int, energies: bool, local=None) -> None:
    """Forces on atoms a..b, and their pair energies and virials if ``energies`` (a measured step)."""
    cutoff = p["cutoff"]
    shift = 4.0 * (cutoff**-12 - cutoff**-6) if p["shift"] else 0.0
    kernels.forces(state[X], box_side(p), cutoff, cutoff + p["skin"], shift, energies,
                   _neighbours(p, state, a, b, local), state[F], state[ENERGY], state[VIRIAL])


def _shape(p) -> tuple[int, int]:
    """Shape of the state: (rows, atoms)."""
    return WIDTH + max(0, len(_chain_rows(p)) - 1), atoms(p)


def _positions(state: np.ndarray) -> np.ndarray:
    """(N, 3) view of the positions in a state."""
    return state[X].T


def _init(p, seed, state, a, b) -> None:
    positions, velocities, _ = _start(p, seed)
    start = np.zeros(_shape(p))  # every atom's position: the forces on atoms a..b need them all
    start[X] = start[XREF] = positions.T
    start[V] = velocities.T
    _forces(p, start, a, b, True)
    start[TWICE_KE] = float(np.sum(velocities * velocities))
    state[:, a:b] = start[:, a:b]


def _chain_rows(p) -> list[int]:
    """State rows of the Nose-Hoover chain's velocities v_1 .. v_M [1/tau]."""
    return [XI] + list(range(WIDTH, WIDTH + p["chain"] - 1)) if p["thermostat"] == "nose-hoover" else []


def _nose_hoover_half(p, state, a: int, b: int, twice_ke: float) -> None:
    """Half a time step of the Nose-Hoover chain; scale the velocities of rows a..b.

    The Trotter splitting of Martyna, Tuckerman and Klein (Mol. Phys. 87, 1117 (1996); Frenkel and Smit,
    Understanding Molecular Simulation, algorithm 31) with thermostat masses Q_1 = N_f k T tau^2 and
    Q_j = k T tau^2 (``damping`` = tau), as LAMMPS fix nvt with tchain M.  ``twice_ke`` is 2 KE of all atoms
    [epsilon]; every partition computes the same chain from it and keeps it in each of its columns.
    """
    rows = _chain_rows(p)
    dt, kt, tau2, dof = p["dt"], p["temperature"], p["damping"] ** 2, 3 * atoms(p) - 3
    masses = [dof * kt * tau2] + [kt * tau2] * (len(rows) - 1)
    v = [float(state[row, a]) for row in rows]
    last = len(v) - 1

    def pull(j: int) -> float:  # the force on thermostat j, divided by its mass [1/tau^2]
        return (twice_ke - dof * kt) / masses[0] if j == 0 else (masses[j - 1] * v[j - 1] ** 2 - kt) / masses[j]

    def kick(j: int) -> None:  # a quarter step of v_j, damped by v_{j+1} for an eighth step on either side
        damped = math.exp(-0.125 * dt * v[j + 1]) if j < last else 1.0
        v[j] = (v[j] * damped + 0.25 * dt * pull(j)) * damped

    for j in range(last, -1, -1):
        kick(j)
    scale = math.exp(-0.5 * dt * v[0])
    twice_ke *= scale * scale
    for j in range(last + 1):
        kick(j)
    state[V, a:b] *= scale
    for row, value in zip(rows, v):
        state[row, a:b] = value
    state[TWICE_KE, a:b] = twice_ke


#: Columns of no atom: the Langevin noise of column i is atom i's (shared memory, every column there).
_EVERY_COLUMN = np.zeros(0, dtype=np.int64)


def _phase(p, seed, step, phase, state, a, b, local=None) -> None:
    """Phase ``phase`` of ``step`` for atoms [a, b); ``local``: an MPI rank's (:class:`~.base.Domain`)."""
    nose_hoover = p["thermostat"] == "nose-hoover"
    mine = b > a  # a rank may own no atom for a while
    if phase == 0:
        if nose_hoover and mine:
            _nose_hoover_half(p, state, a, b, state[TWICE_KE, a])
        kernels.kick_drift(state[X], state[V], state[F], state[XREF], state[DISPLACEMENT], a, b,
                           p["dt"])
    elif phase == 1:
        if _rebuild_due(p, step, state, a, b, local):
            state[X, a:b] = fold_into_box(state[X, a:b], box_side(p))
            state[XREF, a:b] = state[X, a:b]
            state[STAMP, a:b] = step + 1
            if local is not None:
                local.moved()
    elif phase == 2:
        if not mine:
            return
        _forces(p, state, a, b, step >= p["thermalize"], local)  # energies only where a measurement follows
        if not math.isfinite(np.sum(state[F, a:b])):
            raise FloatingPointError(f"the forces are not finite at step {step}: the simulation blew up "
                                     f"(dt = {p['dt']} too large, or atoms overlap)")
        if p["thermostat"] == "langevin":
            kernels.langevin(state[V], state[F], a, b, _EVERY_COLUMN if local is None else local.ids, atoms(p),
                             np.uint64(seed), step, 1.0 / p["damping"], p["temperature"], p["dt"])
        kernels.kick(state[V], state[F], a, b, p["dt"])
        if nose_hoover:
            kernels.speeds_squared(state[V], a, b, state[SPEED2])
    elif nose_hoover:
        twice_ke = _every_atoms_sum(state[SPEED2], a, b, local)
        if mine:
            _nose_hoover_half(p, state, a, b, twice_ke)


def _rebuild_due(p, step: int, state, a: int, b: int, local) -> bool:
    """Whether the lists are rebuilt after ``step``: an atom of ALL moved more than skin/2 (or every N steps)."""
    every = p["neighbor_every"]
    if every > 0:
        return (step + 1) % every == 0
    if local is None:
        largest = kernels.column_max(state[DISPLACEMENT])
    else:
        largest = local.largest(kernels.column_max(state[DISPLACEMENT, a:b]) if b > a else -math.inf)
    return largest > (0.5 * p["skin"]) ** 2


def _every_atoms_sum(values: np.ndarray, a: int, b: int, local) -> float:
    """The exact sum of ``values`` over every atom of the system: all columns, or the ranks' [a, b)."""
    acc = exactsum.accumulator()
    if local is None:
        exactsum.add_all(acc, values, 0, len(values))
    else:
        exactsum.add_all(acc, values, a, b)
        acc = local.total(acc)
    return exactsum.rounded(acc)


def _accumulate(p, state, a, b, acc) -> None:
    """Add the observables of atoms [a, b) to the accumulators ``acc`` (3, exactsum.LIMBS), exactly."""
    exactsum.add_all(acc[_PE], state[ENERGY], a, b)
    exactsum.add_all(acc[_VIRIAL], state[VIRIAL], a, b)
    kernels.add_twice_kinetic(acc[_TWICE_KE], state[V], a, b)


def _measure(p, state, a, b, out) -> None:
    """The observables of atoms [a, b): exact sums, the same bits whichever way the atoms are split."""
    acc = exactsum.accumulator(len(out))
    _accumulate(p, state, a, b, acc)
    for k in range(len(out)):
        out[k] = exactsum.rounded(acc[k])


def thermo(p, sums: np.ndarray) -> np.ndarray:
    """Columns T, PE/N, E/N, P of each measured step from the summed observables (tail included if asked)."""
    n = atoms(p)
    volume = box_side(p) ** 3
    tail_energy, tail_pressure = tail_corrections(n / volume, p["cutoff"]) if p["tail_correction"] else (0.0, 0.0)
    temperature = sums[:, _TWICE_KE] / (3 * n - 3)
    potential = sums[:, _PE] / n + tail_energy
    total = potential + 0.5 * sums[:, _TWICE_KE] / n
    pressure = (sums[:, _TWICE_KE] + sums[:, _VIRIAL]) / (3.0 * volume) + tail_pressure
    return np.column_stack([temperature, potential, total, pressure])


_THERMO_RESULTS = (("temperature", "epsilon/k_B"), ("potential_energy_per_atom", "epsilon"),
                   ("total_energy_per_atom", "epsilon"), ("pressure", "epsilon/sigma^3"))


def _reduce(p, sums: np.ndarray) -> Reduction:
    table = thermo(p, sums)
    results = {}
    for column, (name, units) in enumerate(_THERMO_RESULTS):
        analysis = blocking(table[:, column])
        results[name] = ResultValue.blocked(table[:, column], analysis, len(table), units)
    steps = np.arange(p["thermalize"] + 1, p["thermalize"] + 1 + len(table), dtype=np.int64)
    series = {"thermo": SeriesValue(table, None, "step", steps, "steps", "",
                                    "after each measured step: T [epsilon/k_B], PE/N, E/N [epsilon], "
                                    "P [epsilon/sigma^3]",
                                    columns=tuple(name for name, _ in _THERMO_RESULTS),
                                    column_units=tuple(units for _, units in _THERMO_RESULTS))}
    return Reduction(results, series)


def _check(p) -> None:
    if p["start_file"]:
        read_data(p["start_file"])  # ValueError naming the file if it is not usable
    n, box = atoms(p), box_side(p)
    if n < 2:
        raise ValueError(f"the system needs at least 2 atoms (got {n})")
    if p["cutoff"] + p["skin"] > box / 2:
        raise ValueError(f"cutoff + skin = {p['cutoff'] + p['skin']:g} must be at most half the box side "
                         f"({box / 2:.4g} for {n} atoms at density {n / box**3:.4g}): use more cells")


#: One measured atom-step of in.lj, checked list rebuilds included, one core [s] (BENCHMARKS.md: 220 ns,
#: 2-core machine).
SECONDS_PER_ATOM_STEP = 220e-9


def listed_pairs_per_atom(p) -> float:
    """Neighbours within cutoff + skin of an atom at the mean density: 4/3 pi (rc + skin)^3 rho (full lists)."""
    return 4.0 / 3.0 * math.pi * (p["cutoff"] + p["skin"]) ** 3 * p["density"]


#: A listed pair of the force loop: 3 differences, r^2 (5), the cutoff test, 1/r^2 (1), r^-6 (2), the force
#: factor (4) and 3 FMAs (6): 21 flops; the neighbour's index, 4 bytes, streamed from the list (its position is
#: gathered from cache: the neighbours of an atom are the neighbours of the atoms before it).
LISTED_PAIR = Intensity(flops=21, bytes=4)
#: An atom's velocity-Verlet update: two half kicks and a drift (about 18 flops, 96 bytes of x, v, f).
ATOM_UPDATE = Intensity(flops=18, bytes=96)


def _intensity(p) -> Intensity:
    """Per atom-step: the force loop over the listed pairs and the integrator (list builds not counted)."""
    pairs = LISTED_PAIR.scaled(listed_pairs_per_atom(p))
    return Intensity(flops=pairs.flops + ATOM_UPDATE.flops, bytes=pairs.bytes + ATOM_UPDATE.bytes)


def _cost(p) -> float:
    """Estimated seconds of the whole run on one core (for ``workers = auto``)."""
    return (p["thermalize"] + p["steps"]) * atoms(p) * SECONDS_PER_ATOM_STEP


def _warm() -> None:
    p = {"cells": 2, "density": 0.8442, "temperature": 1.0, "cutoff": 1.2, "skin": 0.3, "dt": 0.005,
         "thermostat": "langevin", "damping": 1.0, "start_file": "", "thermalize": 0, "tail_correction": False,
         "shift": True, "neighbor_every": 0, "trajectory_every": 0, "chain": 3}
    n = atoms(p)
    for thermostat in ("langevin", "nose-hoover"):
        q = {**p, "thermostat": thermostat}
        state = np.zeros(_shape(q))
        _init(q, 1, state, 0, n)
        for phase in range(4):
            _phase(q, 1, 0, phase, state, 0, n)
    _measure(p, state, 0, n, np.zeros(3))
    _LISTS.clear()
    _BINS.clear()


#: On MPI ranks: slabs of the box, ghosts within the list radius, forces reading them (phase 2).
_DOMAIN_HALO = Halo(domain=Domain(box=box_side, reach=lambda p: p["cutoff"] + p["skin"], reference=XREF, positions=X,
                                  ghost_phases=(2,), accumulate=_accumulate))


MODEL = LockstepModel(
    extended_by="steps",
    name="lj",
    doc="Lennard-Jones molecular dynamics (reduced units): fcc start, Verlet lists, velocity Verlet, NVE or NVT",
    params=(
        Param("cells", int, 5, ge=1, le=400, doc="fcc unit cells a side: 4 cells^3 atoms"),
        Param("density", float, 0.8442, gt=0, units="sigma^-3", doc="number density"),
        Param("temperature", float, 1.44, gt=0, units="epsilon/k_B",
              doc="initial temperature, and the thermostat's target"),
        Param("cutoff", float, 2.5, gt=0, units="sigma", doc="pair cutoff"),
        Param("skin", float, 0.3, ge=0, units="sigma", doc="neighbour-list skin"),
        Param("neighbor_every", int, 0, ge=0, le=10**6, units="steps",
              doc="0: rebuild the lists when an atom has moved skin/2 (always right); N: every N steps "
                  "unchecked, as LAMMPS 'neigh_modify every N check no' (can miss pairs)"),
        Param("dt", float, 0.005, gt=0, units="tau", doc="time step"),
        Param("steps", int, 1000, ge=16, le=2**40, units="steps",
              doc="measured steps (at least 16: the error bars come from blocking them)"),
        Param("thermalize", int, 0, ge=0, le=2**40, units="steps", doc="steps before measuring"),
        Param("thermostat", str, "none", choices=("none", "langevin", "nose-hoover"), doc="NVE or NVT"),
        Param("damping", float, 1.0, gt=0, units="tau",
              doc="thermostat time constant: Langevin 1/gamma, Nose-Hoover tau"),
        Param("chain", int, 3, ge=1, le=10,
              doc="Nose-Hoover chain length (LAMMPS tchain; 1 = a single Nose-Hoover thermostat)"),
        Param("shift", bool, False,
              doc="shift the pair energy to zero at the cutoff (LAMMPS pair_modify shift yes): no energy jumps"),
        Param("tail_correction", bool, False, doc="add the long-range corrections to energy and pressure"),
        Param("start_file", str, "", doc="LAMMPS data file with positions and velocities ('' = fcc lattice)"),
        Param("trajectory_every", int, 0, ge=0, le=2**40, units="steps",
              doc="record the positions every N steps (step 0 too) as H5MD in the results; 0 = none"),
    ),
    results=(
        Result("potential_energy_per_atom", "epsilon", "<PE>/N (with the tail correction if asked)"),
        Result("total_energy_per_atom", "epsilon", "<PE + KE>/N"),
        Result("temperature", "epsilon/k_B", "<2 KE / (3N - 3)>"),
        Result("pressure", "epsilon/sigma^3", "<(2 KE + virial) / 3V> (with the tail correction if asked)"),
    ),
    default_partitions=lambda p: max(1, min(16, atoms(p) // 2048)),
    rows=atoms,
    state_shape=_shape,
    state_dtype=np.float64,
    phases=lambda p: 4 if p["thermostat"] == "nose-hoover" else 3,
    steps=lambda p: p["thermalize"] + p["steps"],
    measured_from=lambda p: p["thermalize"],
    observables=("potential_energy", "virial", "twice_kinetic_energy"),
    init=_init,
    phase=_phase,
    measure=_measure,
    reduce=_reduce,
    warm=_warm,
    cost=_cost,
    intensity=_intensity,
    check=_check,
    rate=lambda p: ("atom-steps", atoms(p)),
    halo=lambda p: _DOMAIN_HALO,
    trajectory=lambda p: (Trajectory(p["trajectory_every"], p["dt"], np.full(3, box_side(p)), _positions)
                          if p["trajectory_every"] else None),
    references=(
        "LAMMPS bench/in.lj and its log (step-0 E/N = -4.6134356)",
        "NIST Standard Reference Simulation Website, Lennard-Jones fluid (data/nist_lj_srsw.csv)",
    ),
)

"""Direct-summation gravity, run in lockstep (G = 1; lengths, times, masses in N-body units).

The state is one row a body (layout in :mod:`.nbody_kernels`); partitions own
row ranges.  Each body's acceleration sums the pulls of all N-1 others in
body order, so the trajectory is bitwise the same for any partition count,
worker count and executor; no partition ever writes another's rows.

Integrators (symplectic, fixed step ``dt``): ``leapfrog`` is kick-drift-kick;
``yoshida4`` composes three leapfrog substeps of w1 dt, w0 dt, w1 dt with
w1 = 1 / (2 - 2^(1/3)), w0 = 1 - 2 w1 (fourth order; H. Yoshida, Phys. Lett. A
150, 262 (1990), doi:10.1016/0375-9601(90)90092-3; E. Forest & R. D. Ruth,
Physica D 43, 105 (1990)).  Substeps s = 1..S of weights w_s become 2S
phases separated by barriers:

    phase 0:       v += w_1 dt/2 a;  r += w_1 dt v
    phase 2s - 1:  a = a(r);  v += (w_s + w_(s+1)) dt/2 a           (0 < s < S)
    phase 2s:      r += w_(s+1) dt v
    phase 2S - 1:  a = a(r);  v += w_S dt/2 a

A phase that computes accelerations reads every body's position, so no phase
both computes accelerations and moves bodies.  Every step ends with positions,
velocities, accelerations and potentials of one instant.  A model has a fixed
phase count, 6; leapfrog leaves the last four empty (a barrier each).  Step 0
only measures the initial state (its phases do nothing), then steps 1..n
advance to t = n dt with n = ceil(t_end / dt) (to within 1e-9 of a step, so
t_end = 1, dt = 0.1 gives 10): the run ends at n dt >= t_end.

Presets: ``kepler`` (masses 1 and 1e-3, a = 1, e = 0.5, from pericentre, period
2 pi / sqrt(1.001)), ``pythagorean`` (Burrau's three-body problem: masses 3, 4,
5 at rest at (1, 3), (-2, -1), (1, -1), E = -769/60; V. Szebehely &
C. F. Peters, AJ 72, 876 (1967), doi:10.1086/110355) and ``plummer``
(``bodies`` equal masses, :func:`.nbody_kernels.plummer`).  All are in their
centre-of-mass frame.

Results, from the measurement after every step: ``energy_error``
max_t |E(t) - E(0)| / |E(0)|; ``momentum_error`` max_t |P(t) - P(0)| over the
momentum scale max_t sum m|v| (the largest over the run, as a start from rest
has scale 0); ``angular_momentum_error`` likewise with sum m |r x v|.  They are
exact functions of the run (stderr 0, estimator ``exact``).  ``/series/energy``
holds E(t) at every ``record_every``-th step from t = 0, axis ``time``.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..stats import Estimate
from . import nbody_kernels as kernels
from .base import Halo, Intensity, LockstepModel, Param, Reduction, Result, ResultValue, SeriesValue

#: Substep weights of each integrator (fractions of dt).
_W1 = 1.0 / (2.0 - 2.0 ** (1.0 / 3.0))
WEIGHTS = {"leapfrog": (1.0,), "yoshida4": (_W1, 1.0 - 2.0 * _W1, _W1)}

KEPLER_MASSES, KEPLER_SEMI_MAJOR_AXIS, KEPLER_ECCENTRICITY = (1.0, 1e-3), 1.0, 0.5
#: The presets that do not depend on the seed.
FIXED_PRESETS = ("kepler", "pythagorean")


def kepler_period() -> float:
    """Orbital period of the ``kepler`` preset, 2 pi sqrt(a^3 / (m1 + m2)) [time]."""
    return 2.0 * math.pi * math.sqrt(KEPLER_SEMI_MAJOR_AXIS**3 / sum(KEPLER_MASSES))


def _bodies(masses, positions, velocities) -> np.ndarray:
    state = np.zeros((len(masses), kernels.WIDTH))
    state[:, kernels.MASS] = masses
    state[:, kernels.POSITION:kernels.POSITION + 3] = positions
    state[:, kernels.VELOCITY:kernels.VELOCITY + 3] = velocities
    return state


def _kepler() -> np.ndarray:
    """Two bodies at pericentre, relative orbit a, e; each moves about the centre of mass."""
    (m1, m2), a, e = KEPLER_MASSES, KEPLER_SEMI_MAJOR_AXIS, KEPLER_ECCENTRICITY
    total = m1 + m2
    separation = a * (1.0 - e)
    speed = math.sqrt(total * (1.0 + e) / separation)  # vis-viva at pericentre
    shares = np.array([-m2 / total, m1 / total])[:, None]
    return _bodies([m1, m2], shares * [separation, 0.0, 0.0], shares * [0.0, speed, 0.0])


def _pythagorean() -> np.ndarray:
    """Burrau's problem: masses 3, 4, 5 at rest on the corners of a 3-4-5 triangle (centre of mass at 0)."""
    return _bodies([3.0, 4.0, 5.0], [[1.0, 3.0, 0.0], [-2.0, -1.0, 0.0], [1.0, -1.0, 0.0]], np.zeros((3, 3)))


def initial_bodies(p, seed: int) -> np.ndarray:
    """The preset's state (positions, velocities, masses; zero accelerations), the same for any partition."""
    if p["preset"] == "kepler":
        return _kepler()
    if p["preset"] == "pythagorean":
        return _pythagorean()
    return kernels.plummer(np.uint64(seed), p["bodies"])


def overlapping_pair(positions: np.ndarray) -> tuple[int, int] | None:
    """A pair (i, j), i < j, of rows of ``positions`` (N, 3) that coincide exactly, or None if all differ."""
    order = np.lexsort(positions.T[::-1])
    same = np.flatnonzero(np.all(positions[order[1:]] == positions[order[:-1]], axis=1))
    if not len(same):
        return None
    i, j = sorted((int(order[same[0]]), int(order[same[0] + 1])))
    return i, j


def _body_count(p) -> int:
    return {"kepler": 2, "pythagorean": 3}.get(p["preset"], p["bodies"])


def _steps(p) -> int:
    """1 (the initial state) + n = ceil(t_end / dt) integration steps."""
    return 1 + max(1, math.ceil(p["t_end"] / p["dt"] - 1e-9))


@functools.lru_cache(maxsize=16)
def _schedule(integrator: str, dt: float) -> tuple[tuple[bool, float, float], ...]:
    """(compute accelerations first?, kick, drift) of each phase (module docstring)."""
    w = WEIGHTS[integrator]
    phases = [(False, 0.5 * w[0] * dt, w[0] * dt)]
    for s in range(1, len(w)):
        phases += [(True, 0.5 * (w[s - 1] + w[s]) * dt, 0.0), (False, 0.0, w[s] * dt)]
    return tuple(phases) + ((True, 0.5 * w[-1] * dt, 0.0),)


def _init(p, seed, state, row_start, row_stop) -> None:
    bodies = initial_bodies(p, seed)
    kernels.accelerations(bodies, row_start, row_stop, p["softening"] ** 2)
    state[row_start:row_stop] = bodies[row_start:row_stop]


def _phase(p, seed, step, phase, state, row_start, row_stop) -> None:
    schedule = _schedule(p["integrator"], p["dt"])
    if step == 0 or phase >= len(schedule):
        return
    force, kick, drift = schedule[phase]
    if force:
        kernels.accelerations(state, row_start, row_stop, p["softening"] ** 2)
    kernels.kick_drift(state, row_start, row_stop, kick, drift)


def _measure(p, state, row_start, row_stop, out) -> None:
    kernels.partial_sums(state, row_start, row_stop, out)


def _largest_change(values: np.ndarray) -> float:
    """max_t |values[t] - values[0]| (Euclidean norm over a trailing axis of 3)."""
    change = (values - values[0]).reshape(len(values), -1)
    return float(np.sqrt((change * change).sum(axis=1)).max())


def _exact(value: float, n: int) -> ResultValue:
    return ResultValue(np.array([value]), Estimate(value, 0.0, n, ""), "exact")


def _reduce(p, sums: np.ndarray) -> Reduction:
    energy = sums[:, kernels.KINETIC] + sums[:, kernels.POTENTIAL_ENERGY]
    n = len(energy)
    errors = {
        "energy_error": (energy, abs(energy[0])),
        "momentum_error": (sums[:, kernels.MOMENTUM:kernels.MOMENTUM + 3], sums[:, kernels.MOMENTUM_SCALE].max()),
        "angular_momentum_error": (sums[:, kernels.ANGULAR_MOMENTUM:kernels.ANGULAR_MOMENTUM + 3],
                                   sums[:, kernels.ANGULAR_MOMENTUM_SCALE].max()),
    }
    results = {}
    for name, (values, scale) in errors.items():
        change = _largest_change(values)
        results[name] = _exact(change / scale if scale > 0 else change, n)
    kept = np.arange(0, n, p["record_every"])
    series = {"energy": SeriesValue(energy[kept], None, "time", kept * p["dt"], "N-body time", "N-body energy",
                                    "total energy E = kinetic + potential")}
    return Reduction(results, series)


def _check(p) -> None:
    if p["softening"] == 0 and p["preset"] in FIXED_PRESETS:
        pair = overlapping_pair(initial_bodies(p, 0)[:, kernels.POSITION:kernels.POSITION + 3])
        if pair is not None:
            raise ValueError(f"bodies {pair[0]} and {pair[1]} of preset {p['preset']} start at the same position; "
                             "with softening = 0 their force is infinite (set softening > 0)")


#: One ordered pair of the acceleration kernel, one core [s] (BENCHMARKS.md: 0.90 ns, 2-core machine).
SECONDS_PER_PAIR = 0.9e-9


#: An ordered pair (i, j): 3 differences, r^2 (5), a square root and a divide (1 each), r^-3 (2), the
#: mass (1), the acceleration (3 FMAs, 6).  No bytes from memory: the bodies, 32 bytes each, are reused
#: from L1/L2 by every i (4096 bodies are 128 KiB).
PAIR = Intensity(flops=19)


def _cost(p) -> float:
    """Estimated seconds of the whole run on one core (for ``workers = auto``): force evaluations only."""
    bodies = _body_count(p)
    evaluations = len(WEIGHTS[p["integrator"]])
    return _steps(p) * evaluations * bodies * (bodies - 1) * SECONDS_PER_PAIR


def _warm() -> None:
    bodies = kernels.plummer(np.uint64(1), 2)
    kernels.accelerations(bodies, 0, 2, 0.0)
    kernels.kick_drift(bodies, 0, 2, 0.5, 1.0)
    kernels.partial_sums(bodies, 0, 2, np.empty(len(kernels.OBSERVABLES)))


MODEL = LockstepModel(
    extended_by="t_end",
    name="nbody",
    doc="direct-summation gravity (G=1), leapfrog or 4th-order Yoshida, Plummer softening",
    params=(
        Param("preset", str, "plummer", choices=("kepler", "pythagorean", "plummer"),
              doc="initial conditions: Kepler orbit e=0.5, Pythagorean three-body, or a Plummer sphere"),
        Param("bodies", int, 1024, ge=2, le=2**20, units="bodies", doc="N of the plummer preset (others: 2, 3)"),
        Param("dt", float, 1e-3, gt=0, units="N-body time", doc="time step"),
        Param("t_end", float, 1.0, gt=0, units="N-body time", doc="end time; ceil(t_end/dt) steps"),
        Param("integrator", str, "leapfrog", choices=tuple(WEIGHTS),
              doc="leapfrog (kick-drift-kick, 2nd order) or yoshida4 (3 leapfrog substeps, 4th order)"),
        Param("softening", float, 0.0, ge=0, units="N-body length",
              doc="Plummer softening eps: potential -m_i m_j / sqrt(r^2 + eps^2)"),
        Param("record_every", int, 1, ge=1, units="steps", doc="steps between points of /series/energy"),
    ),
    results=(
        Result("energy_error", "", "max |E(t) - E(0)| / |E(0)|"),
        Result("momentum_error", "", "max |P(t) - P(0)| / max sum m|v|"),
        Result("angular_momentum_error", "", "max |L(t) - L(0)| / max sum m|r x v|"),
    ),
    default_partitions=lambda p: min(_body_count(p), 16),
    rows=_body_count,
    state_shape=lambda p: (_body_count(p), kernels.WIDTH),
    state_dtype=np.float64,
    phases=lambda p: 2 * len(WEIGHTS[p["integrator"]]),
    steps=_steps,
    measured_from=lambda p: 0,
    observables=kernels.OBSERVABLES,
    init=_init,
    phase=_phase,
    measure=_measure,
    reduce=_reduce,
    warm=_warm,
    cost=_cost,
    intensity=lambda p: PAIR,
    halo=lambda p: Halo(every_row=True, columns=(kernels.POSITION, kernels.POSITION + 3)),  # every position
    check=_check,
    rate=lambda p: ("pairs", _body_count(p) * (_body_count(p) - 1) * len(WEIGHTS[p["integrator"]])),
    references=("pythagorean: E = -769/60; kepler: period 2 pi / sqrt(1.001), energy bounded (symplectic)",),
)

"""Benchmark a model's kernels through pytest-benchmark, in natural units and as a fraction of the machine.

The ``simcore_benchmark`` fixture of the pytest plugin (:mod:`simcore.testing.plugin`)
is a :class:`SimcoreBenchmark`.  It times one of three things:

* a model, built-in or a user's (``package.module:NAME`` or the object):
  ``simcore_benchmark(model, params)`` runs a batch model's whole work as
  one partition, or ``steps`` steps of a lockstep model on all its rows, in
  one process, after one warm-up round (compilation, cache loading and the
  initial state are not timed);
* any kernel function: ``simcore_benchmark.kernel(function, args, unit=,
  per_call=)``;
* a baseline, timed in the same session without pytest-benchmark's fixture
  (a test can benchmark once): ``simcore_benchmark.baseline(...)``.

Each returns a :class:`Rate` in the model's natural units per second
(flips, darts, pairs, atom-steps, histories) and records them, with the
fractions of the machine's limits (:mod:`simcore.testing.limits`), in the
benchmark's ``extra_info``.  When benchmarks are disabled (pytest-benchmark's
``--benchmark-disable``) the body runs once as a smoke test and the timing
calls return None.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

from ..models import get_model
from ..models.base import BatchModel, Intensity, Model, progress_rate
from .limits import Roofline, fastest_seconds, machine_limits, roofline


class Rate(NamedTuple):
    """A measured speed: ``per_second`` natural ``unit`` s from the fastest round of ``seconds``."""
    unit: str
    per_second: float
    seconds: float
    roofline: Roofline | None = None

    def ns_per_unit(self) -> float:
        """Nanoseconds per unit (ns/pair, ns/atom-step)."""
        return 1e9 / self.per_second


class SimcoreBenchmark:
    """Time kernels and models through a pytest-benchmark ``benchmark`` fixture."""

    def __init__(self, benchmark, rounds: int = 5):
        self._benchmark = benchmark
        self.rounds = rounds

    @property
    def enabled(self) -> bool:
        """False under ``--benchmark-disable``: bodies run once and nothing is timed."""
        return not self._benchmark.disabled

    @property
    def extra_info(self) -> dict:
        """The benchmark's ``extra_info``, kept by ``--benchmark-json`` and ``--benchmark-autosave``."""
        return self._benchmark.extra_info

    def kernel(self, function: Callable, args: tuple = (), *, unit: str, per_call: float,
               intensity: Intensity | None = None, rounds: int | None = None) -> Rate | None:
        """Time ``function(*args)``, each call doing ``per_call`` ``unit`` s; fastest of ``rounds`` after one warm-up."""
        self._benchmark.pedantic(function, args=args, rounds=rounds or self.rounds, warmup_rounds=1)
        if not self.enabled:
            return None
        return self._record("", unit, per_call, self._benchmark.stats.stats.min, intensity)

    def __call__(self, model: str | Model, params: Mapping[str, Any] | None = None, *, steps: int = 1,
                 measure: bool = False, seed: int = 1, rounds: int | None = None) -> Rate | None:
        """Time ``model`` with ``params`` (a mapping of its parameters; defaults for the rest) on one core.

        A batch model runs its whole work as one partition per round; a
        lockstep model runs ``steps`` steps per round (every phase on all
        rows, and its measurement after each step if ``measure``), continuing
        from the previous round.  The rate is the model's natural unit
        (its ``rate``, else its ``work_unit``) per second, with the fractions of
        the model's declared ``intensity`` when it has one.
        """
        from ..config import build_config

        model = get_model(model) if isinstance(model, str) else model
        p = build_config(model, dict(params or {})).params
        unit, per_item = progress_rate(model, p)
        run, items = _batch_round(model, p, seed) if isinstance(model, BatchModel) else \
            _lockstep_rounds(model, p, seed, steps, measure)
        self._benchmark.pedantic(run, rounds=rounds or self.rounds, warmup_rounds=1)
        if not self.enabled:
            return None
        intensity = model.intensity(p) if model.intensity else None
        self.extra_info["model"] = model.name
        return self._record("", unit, items * per_item, self._benchmark.stats.stats.min, intensity)

    def baseline(self, function: Callable, args: tuple = (), *, unit: str, per_call: float,
                 rounds: int = 3, name: str = "baseline") -> Rate | None:
        """Time ``function(*args)`` with a clock, fastest of ``rounds`` after one warm-up call; record it as
        ``<name>_rate``.  For a reference (a plain njit loop, numpy) in the same session as the benchmark."""
        if not self.enabled:
            return None
        return self._record(f"{name}_", unit, per_call, fastest_seconds(function, *args, rounds=rounds), None)

    def _record(self, prefix: str, unit: str, per_call: float, seconds: float, intensity: Intensity | None) -> Rate:
        rate = Rate(unit, per_call / seconds, seconds,
                    roofline(per_call / seconds, intensity, machine_limits()) if intensity else None)
        self.extra_info.update({f"{prefix}unit": f"{unit}/s", f"{prefix}rate": rate.per_second})
        if rate.roofline is not None:
            self.extra_info.update(
                {f"{prefix}fraction_of_{name}": value for name, value in rate.roofline._asdict().items()
                 if getattr(intensity, name)},
                **{f"{prefix}binding_limit": rate.roofline.binding},
            )
        return rate


def assert_rate(measured: Rate | None, *, at_least: float | None = None, baseline: Rate | None = None,
                ratio: float = 1.0) -> None:
    """Assert ``measured.per_second >= at_least`` and/or ``>= ratio * baseline.per_second``; no-op when not timed.

    ``at_least`` is in the measured unit per second.  The message states both
    rates, so a failing benchmark says by how much it missed.
    """
    if measured is None:
        return
    if at_least is not None:
        assert measured.per_second >= at_least, \
            f"{measured.per_second:.4g} {measured.unit}/s, below the target {at_least:.4g}"
    if baseline is not None:
        achieved = measured.per_second / baseline.per_second
        assert achieved >= ratio, (f"{measured.per_second:.4g} {measured.unit}/s is {achieved:.3f} x the baseline's "
                                   f"{baseline.per_second:.4g}, below {ratio:.3f} x")


def _batch_round(model: BatchModel, p, seed: int):
    """A round: the whole work of ``p`` as partition 0 of 1; (round, work items per round)."""
    row = np.zeros(model.tally_width(p))

    def run():
        row[:] = 0.0
        model.run_partition(p, seed, 0, 1, row)

    return run, model.work(p)


def _lockstep_rounds(model, p, seed: int, steps: int, measure: bool):
    """Rounds of ``steps`` steps on all rows, the state and step count carried over; (round, steps per round)."""
    rows = model.rows(p)
    state = np.zeros(model.state_shape(p), dtype=model.state_dtype)
    model.init(p, seed, state, 0, rows)
    sums = np.zeros(len(model.observables))
    phases = model.phase_count(p)
    next_step = iter(range(2**62))

    def run():
        for _ in range(steps):
            step = next(next_step)
            for phase in range(phases):
                model.phase(p, seed, step, phase, state, 0, rows)
            if measure:
                model.measure(p, state, 0, rows, sums)

    return run, steps

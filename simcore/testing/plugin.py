"""pytest plugin (entry point ``pytest11: simcore``): benchmark simcore models and kernels in a user's suite.

Fixtures:

* ``simcore_benchmark``: a :class:`~simcore.testing.benchmark.SimcoreBenchmark`
  around pytest-benchmark's ``benchmark`` (needs pytest-benchmark);
* ``simcore_machine_limits``: this core's :class:`~simcore.testing.limits.MachineLimits`,
  measured once per session, beside the benchmarks.

After a benchmark run the terminal summary lists every benchmark's
``extra_info`` (natural units, fractions of the limits) and the limits.
Loading the plugin imports nothing heavy: numba and the models load when a
fixture is first used.
"""
from __future__ import annotations

import pytest


@pytest.fixture
def simcore_benchmark(benchmark):
    """A :class:`~simcore.testing.benchmark.SimcoreBenchmark`: time a model or kernel in natural units."""
    from .benchmark import SimcoreBenchmark

    return SimcoreBenchmark(benchmark)


@pytest.fixture(scope="session")
def simcore_machine_limits():
    """The limits of one core of this machine (FMA flop/s, triad bytes/s, Philox calls/s), measured once."""
    from .limits import machine_limits

    return machine_limits()


def pytest_terminal_summary(terminalreporter, config):
    """Print each benchmark's natural units and fractions of the machine's limits."""
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled or not session.benchmarks:
        return
    terminalreporter.section("natural units")
    for bench in session.benchmarks:
        info = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in bench.extra_info.items())
        terminalreporter.write_line(f"{bench.name}: {info}")
    from .limits import machine_limits

    if machine_limits.cache_info().currsize:
        terminalreporter.write_line(f"machine limits (one core, this session): {machine_limits().describe()}")

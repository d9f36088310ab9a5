"""Every example in data/configs/ runs, and agrees with its model's validation reference where one exists.

References are independent of simcore: exact pi, the rod model's closed form, exact enumeration of the
4 x 4 Ising lattice, NIST's LJ table, the Kepler energy -m1 m2 / (2a).  Statistical results must lie
within 4 standard errors (combined with the reference's own error where it has one).
"""
import math
from pathlib import Path

import pytest

import simcore

from .support.ising_exact import exact_l4
from .support.nist_lj import nist_row

DATA = Path(__file__).resolve().parents[1] / "data"
CONFIGS = sorted((DATA / "configs").glob("*.toml"))
#: lj: 8 s or more on 2 cores; ising and its sweep: the budget (test_ising checks L=4 against exact enumeration)
SLOW = {"lj.toml", "ising.toml", "ising_sweep.toml"}


def _close(estimate, exact: float, reference_stderr: float = 0.0) -> bool:
    return abs(estimate.mean - exact) <= 4 * math.hypot(estimate.stderr, reference_stderr)


def check_pi(res):
    assert _close(res.result("pi"), math.pi), res.result("pi")


def check_rod_half_space(res):
    k = math.sqrt(1 - 0.75)
    assert _close(res.result("reflection"), (1 - k) / (1 + k)), res.result("reflection")


def check_transport_slab(res):
    total = sum(res.mean(name) for name in ("reflection", "transmission", "absorption"))
    assert abs(total - 1) < 1e-12  # every history ends in exactly one outcome


def check_ising(res):
    for name, exact in exact_l4(2.269).items():
        assert _close(res.result(name), exact), (name, res.result(name), exact)


def check_ising_sweep(res):
    assert res.series("T").tolist() == [1.5, 2.269, 3.0]
    for k, temperature in enumerate(res.series("T")):
        for name, exact in exact_l4(temperature).items():
            estimate = simcore.Estimate(res.series(name)[k], res.series(f"{name}_stderr")[k], 1)
            assert _close(estimate, exact), (temperature, name, estimate, exact)


def check_lj(res):
    nist = nist_row(0.776, 0.85)
    energy = res.result("potential_energy_per_atom")
    assert _close(energy, float(nist["energy_per_atom"]), float(nist["energy_stderr"])), (energy, nist)
    temperature = res.result("temperature")
    assert _close(temperature, 0.85) and abs(temperature.mean - 0.85) < 0.02 * 0.85, temperature
    assert temperature.n / res.autocorrelation_times["temperature"] > 50  # stationary: many independent samples


def check_nbody(res):
    assert res.series("energy")[0] == pytest.approx(-1.0 * 1e-3 / (2 * 1.0), rel=1e-12)  # -m1 m2 / (2a)
    assert res.mean("energy_error") < 1e-3  # bounded: leapfrog at dt = 0.01 keeps |dE/E| near 3e-4
    assert res.mean("momentum_error") < 1e-12


#: config file name -> its check (check_<stem>; None if missing, which the last test reports)
CHECKS = {path.name: globals().get(f"check_{path.stem}") for path in CONFIGS}


@pytest.mark.parametrize("config", [pytest.param(path, marks=pytest.mark.slow) if path.name in SLOW else path
                                    for path in CONFIGS], ids=lambda p: p.name)
def test_example_config_runs_and_matches_its_reference(cli, config):
    done = cli("run", str(config), "--out", "out.h5", "--quiet", timeout=300)
    assert done.returncode == 0, done.stderr
    if CHECKS[config.name] is not None:
        CHECKS[config.name](simcore.open_results(cli.cwd / "out.h5"))


def test_every_example_config_has_a_check():
    assert [name for name, check in CHECKS.items() if check is None] == []
    assert {"pi.toml", "transport_slab.toml", "ising.toml", "lj.toml", "nbody.toml", "ising_sweep.toml"} <= set(CHECKS)

"""The experiments/ scripts run end to end on tiny inputs and write what they promise."""
import subprocess
import sys
from pathlib import Path

import h5py

REPO = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "experiments" / script), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_ising_binder_writes_the_sweep_and_the_plot(tmp_path):
    done = _run("ising_binder.py", "--sizes", "4,8", "--temperatures", "1.5:3.5:5", "--sweeps", "2000",
                "--workers", "2", "--outdir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "U4 crossing of L=4   and L=8" in done.stdout
    assert (tmp_path / "ising_binder.png").stat().st_size > 10_000
    with h5py.File(tmp_path / "ising_binder.h5") as handle:
        assert handle["series/binder"].shape == (10,)
        assert handle.attrs["model"] == "sweep"


def test_slab_albedo_writes_the_sweep_and_the_plot(tmp_path):
    done = _run("slab_albedo.py", "--histories", "4000", "--outdir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("rod") == 7
    assert (tmp_path / "slab_albedo.png").stat().st_size > 10_000
    with h5py.File(tmp_path / "slab_albedo.h5") as handle:
        assert handle["series/reflection"].shape == (14,)


def test_lj_eos_writes_the_sweep_and_the_plot(tmp_path):
    done = _run("lj_eos.py", "--steps", "200", "--thermalize", "50", "--outdir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("NIST") == 2
    assert (tmp_path / "lj_eos.png").stat().st_size > 10_000
    with h5py.File(tmp_path / "lj_eos.h5") as handle:
        assert handle["series/potential_energy_per_atom"].shape == (2,)

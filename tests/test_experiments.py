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


def test_sharing_data_writes_its_tables_and_plot(tmp_path):
    done = _run("sharing_data.py", "--sizes", "8e3,8e4", "--repeats", "2", "--workers", "2", "--increments", "2000",
                "--outdir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "| to parent [GB/s] | 8 kB | 80 kB | latency (8 B) |" in done.stdout
    assert "| own row per worker, summed at the end | 2 |" in done.stdout
    assert (tmp_path / "sharing_data.png").stat().st_size > 10_000
    with h5py.File(tmp_path / "sharing_data.h5") as handle:
        assert len(handle["transfers/method"]) == 2 * 2 * 6  # sizes x directions x methods
        totals = dict(zip(handle["counters/case"].asstr()[()], handle["counters/total"][()]))
    # the locked counter and the per-worker rows count every increment
    assert totals["Lock around a shared Value"] == totals["own row per worker, summed at the end"] == 4000


def test_pool_granularity_writes_its_table_and_plot(tmp_path):
    done = _run("pool_granularity.py", "--total", "0.02", "--sizes", "1e-4,1e-2", "--max-tasks", "50",
                "--repeats", "1", "--outdir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "| task | tasks | work | serial | thread pool | process pool |" in done.stdout
    assert "process pool beats serial from tasks of" in done.stdout
    assert (tmp_path / "pool_granularity.png").stat().st_size > 10_000
    with h5py.File(tmp_path / "pool_granularity.h5") as handle:
        assert sorted(set(handle["runs/mode"].asstr()[()])) == ["process", "serial", "thread"]
        assert handle["costs/pool_start_s"][0] > 0

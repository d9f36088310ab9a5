"""The experiments/ scripts run end to end on tiny inputs and write what they promise."""
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "experiments" / script), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def _run_ok(script: str, *args: str, outdir: Path, checkpoints: bool = False) -> str:
    """Run an experiment that must succeed, draw its plot in ``outdir`` and write nothing else there but its
    results (and, with ``checkpoints``, their kept checkpoints: a sweep is a simcore run); its stdout."""
    done = _run(script, *args, "--outdir", str(outdir), cwd=outdir)
    assert done.returncode == 0, done.stderr
    stem = script.removesuffix(".py")
    assert (outdir / f"{stem}.png").stat().st_size > 10_000
    written = sorted(p.name for p in outdir.iterdir() if not (checkpoints and p.name.startswith(f"{stem}.h5.ckpt")))
    assert written == [f"{stem}.h5", f"{stem}.png"]
    return done.stdout


def test_ising_binder_writes_the_sweep_and_the_plot(tmp_path):
    stdout = _run_ok("ising_binder.py", "--sizes", "4,8", "--temperatures", "1.5:3.5:5", "--sweeps", "2000",
                     "--workers", "2", outdir=tmp_path, checkpoints=True)
    assert "U4 crossing of L=4   and L=8" in stdout
    with h5py.File(tmp_path / "ising_binder.h5") as handle:
        assert handle["series/binder"].shape == (10,)
        assert handle.attrs["model"] == "ising" and handle.attrs["kind"] == "sweep"


def test_slab_albedo_writes_the_sweep_and_the_plot(tmp_path):
    stdout = _run_ok("slab_albedo.py", "--histories", "4000", outdir=tmp_path, checkpoints=True)
    assert stdout.count("rod") == 7
    with h5py.File(tmp_path / "slab_albedo.h5") as handle:
        assert handle["series/reflection"].shape == (14,)


def test_lj_eos_writes_the_sweep_and_the_plot(tmp_path):
    stdout = _run_ok("lj_eos.py", "--steps", "200", "--thermalize", "50", outdir=tmp_path, checkpoints=True)
    assert stdout.count("NIST") == 2
    with h5py.File(tmp_path / "lj_eos.h5") as handle:
        assert handle["series/potential_energy_per_atom"].shape == (2,)


def test_sharing_data_writes_its_tables_and_plot(tmp_path):
    stdout = _run_ok("sharing_data.py", "--sizes", "8e3,8e4", "--repeats", "2", "--workers", "2", "--increments",
                     "2000", outdir=tmp_path)
    assert "| to parent [GB/s] | 8 kB | 80 kB | latency (8 B) |" in stdout
    assert "| own row per worker, summed at the end | 2 |" in stdout
    with h5py.File(tmp_path / "sharing_data.h5") as handle:
        assert len(handle["transfers/method"]) == 2 * 2 * 6  # sizes x directions x methods
        totals = dict(zip(handle["counters/case"].asstr()[()], handle["counters/total"][()]))
    # the locked counter and the per-worker rows count every increment
    assert totals["Lock around a shared Value"] == totals["own row per worker, summed at the end"] == 4000


@pytest.mark.slow  # slow for the default suite's budget; the script's bad-input test stays in it
def test_pool_granularity_writes_its_table_and_plot(tmp_path):
    stdout = _run_ok("pool_granularity.py", "--total", "0.02", "--sizes", "1e-4,1e-2", "--max-tasks", "50",
                     "--repeats", "1", outdir=tmp_path)
    assert "| task | tasks | work | serial | thread pool | process pool |" in stdout
    assert "process pool beats serial from tasks of" in stdout
    with h5py.File(tmp_path / "pool_granularity.h5") as handle:
        assert sorted(set(handle["runs/mode"].asstr()[()])) == ["process", "serial", "thread"]
        assert handle["costs/pool_start_s"][0] > 0


@pytest.mark.slow  # slow for the default suite's budget; the script's bad-input and darts tests stay in it
def test_threads_vs_processes_writes_its_tables_and_plot(tmp_path):
    stdout = _run_ok("threads_vs_processes.py", "--workers", "1,2", "--seconds", "0.05", "--repeats", "1",
                     "--writes", "2", "--write-mb", "1", outdir=tmp_path)
    assert "| job, pool | 1 worker | 2 workers |" in stdout
    assert "| job on one thread | job alone | writes alone | job, then writes (cost) | writes on a thread" in stdout
    with h5py.File(tmp_path / "threads_vs_processes.h5") as handle:
        studies = list(handle["runs/study"].asstr()[()])
        assert handle["runs/workers"][()].tolist() == [1, 2] * 4 + [1] + [1, 2] * 2
        assert handle["runs/speedup"][0] == 1.0  # each job's 1-worker run is its own reference
        assert list(handle["overlap/job"].asstr()[()]) == ["pure Python", "Numba nogil"]
        assert (handle["overlap/writes_s"][()] > 0).all()
    assert studies[:2] == ["pure Python, threads"] * 2 and studies[-5:] == ["HDF5 writes, inline"] + [
        "HDF5 writes, threads"] * 2 + ["HDF5 writes, processes"] * 2


def test_threads_vs_processes_pure_python_darts_estimate_pi():
    sys.path.insert(0, str(REPO / "experiments"))
    try:
        import threads_vs_processes
    finally:
        sys.path.remove(str(REPO / "experiments"))
    darts = 200_000
    estimate = 4 * threads_vs_processes.python_count_hits(3, darts) / darts
    assert abs(estimate - 3.141592653589793) < 5 * 1.6422 / darts**0.5
    # streams differ
    assert threads_vs_processes.python_count_hits(3, 1000) != threads_vs_processes.python_count_hits(4, 1000)


@pytest.mark.slow  # slow for the default suite's budget; the script's bad-input test stays in it
def test_scaling_writes_its_table_and_plot(tmp_path):
    stdout = _run_ok("scaling.py", "--workers", "1,2", "--pi-darts", "1e6", "--ising-L", "32", "--ising-sweeps", "16",
                     "--lj-cells", "5", "--lj-steps", "16", outdir=tmp_path)
    assert "| driver (model), scaling | 1 worker | 2 workers |" in stdout
    assert stdout.count(" strong | ") == stdout.count(" weak | ") == 3
    with h5py.File(tmp_path / "scaling.h5") as handle:
        work = dict(zip(zip(handle["runs/study"].asstr()[()], handle["runs/workers"][()]), handle["runs/work"][()]))
        assert (handle["runs/median_s"][()] > 0).all()
    # strong: 1e6 darts a worker times the largest count, for both counts; weak: 1e6 darts a worker
    assert work[("batch (pi), strong", 1)] == work[("batch (pi), strong", 2)] == 2e6
    assert work[("batch (pi), weak", 1)] == 1e6
    # weak Ising on 1 of 2 workers: L = 32 / sqrt(2) = 22.6 -> 22 (even); 16 sweeps
    assert work[("lockstep (Ising), weak", 1)] == 22 * 22 * 16
    # weak LJ on 1 of 2 workers: cells = 5 / 2^(1/3) = 3.97 -> 4; 4 cells^3 atoms, 16 steps
    assert work[("lockstep (LJ), weak", 1)] == 4 * 4**3 * 16 and work[("lockstep (LJ), strong", 1)] == 4 * 5**3 * 16


def test_scaling_and_threads_vs_processes_refuse_bad_input_in_one_line(tmp_path):
    for script, args, message in [
            ("scaling.py", ("--workers", "0"), "worker counts must be >= 1"),
            ("scaling.py", ("--ising-L", "33"), "L must be even (got 33)"),
            ("scaling.py", ("--lj-steps", "4"), "steps [steps] must be in [16,"),
            ("scaling.py", ("--workers", "4096"), "no worker count in [4096] fits"),
            ("threads_vs_processes.py", ("--workers", "two"), "expected comma-separated whole numbers"),
            ("threads_vs_processes.py", ("--seconds", "0"), "--seconds and --write-mb must be > 0")]:
        done = _run(script, *args, "--outdir", str(tmp_path), cwd=tmp_path)
        assert done.returncode == 2, (script, args, done.stderr)
        last = done.stderr.splitlines()[-1]
        assert last.startswith(f"{script}: error: ") and message in last, done.stderr
        assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []

"""A researcher's plain script (no ``if __name__ == "__main__"`` guard) and a notebook cell run pooled, exactly.

Multiprocessing's workers run the parent's ``__main__`` again before they
start; simcore's do not (:mod:`simcore._preload`), and a model object defined
in the script or the cell reaches them by value.  Every run here uses two
process workers and must give the bytes of the same run from the CLI.
"""
import subprocess
import sys
import textwrap

import nbclient
import nbformat
import pytest

from tests.conftest import REPO, CliRun, results_snapshot

TRANSPORT = dict(histories=400_000, partitions=8, seed=3)
PI = dict(samples=4_000_000, partitions=8, seed=4)

#: A model of the user's own: pi with a kernel (numba) and a partition function defined beside the run.
USER_MODEL = '''
import dataclasses
import numba
import numpy as np
from simcore.models import pi
from simcore.models.base import partition_share
from simcore.rng import uniform_quad32


@numba.njit
def darts_inside(seed, stream, n):
    hits = 0
    for counter in range(n // 2):
        x0, y0, x1, y1 = uniform_quad32(seed, stream, counter)
        hits += (x0 * x0 + y0 * y0 < 1.0) + (x1 * x1 + y1 * y1 < 1.0)
    return hits


def run_partition(p, seed, partition, partitions, row):
    start, stop = partition_share(p["samples"], partitions, partition)
    row[0] = 2 * ((stop - start) // 2)
    row[1] = darts_inside(np.uint64(seed), np.uint64(partition), np.int64(stop - start))


MODEL = dataclasses.replace(pi.MODEL, name="halfpi", run_partition=run_partition)
'''


def _args(values: dict) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in values.items())


def _cli_sets(values: dict) -> list[str]:
    return [item for name, value in values.items() for item in ("--set", f"{name}={value}")]


def _script(cli, name: str, body: str) -> subprocess.CompletedProcess:
    (cli.cwd / name).write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, name], cwd=cli.cwd, env=cli.env, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def _quiet_success(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "BufferError" not in done.stderr and "WARNING" not in done.stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The CLI's runs every test compares against, made once: ``reference("transport")`` is its results snapshot.

    ``halfpi`` is USER_MODEL imported from a module in the working directory and run as ``halfpi:MODEL``.
    """
    cli = CliRun(tmp_path_factory.mktemp("cli"))
    (cli.cwd / "halfpi.py").write_text(USER_MODEL)
    env = dict(cli.env, PYTHONPATH=f"{cli.cwd}:{REPO}")
    made = {}

    def snapshot(model: str):
        if model not in made:
            values = TRANSPORT if model == "transport" else PI
            reference = "halfpi:MODEL" if model == "halfpi" else model
            done = subprocess.run([sys.executable, "-m", "simcore", "run", reference, *_cli_sets(values),
                                   "--workers", "2", "--quiet", "--out", f"{model}.h5"], cwd=cli.cwd, env=env,
                                  capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
            assert done.returncode == 0, done.stderr
            made[model] = results_snapshot(cli.cwd / f"{model}.h5")
        return made[model]

    return snapshot


def test_a_pooled_run_from_a_script_without_a_main_guard(cli, reference):
    done = _script(cli, "plain.py", f"""
        import simcore
        res = simcore.run("transport", {_args(TRANSPORT)}, workers=2, executor="process", out="s.h5")
        print(res.attrs["executor"], res.attrs["workers"])
    """)
    _quiet_success(done)
    assert done.stdout.split() == ["process", "2"]  # really pooled, and run once: the workers ran no script
    assert results_snapshot(cli.cwd / "s.h5") == reference("transport")


def test_two_runs_gathered_by_asyncio_from_a_script_without_a_main_guard(cli, reference):
    done = _script(cli, "gathered.py", f"""
        import asyncio
        import simcore.aio

        async def both():
            return await asyncio.gather(simcore.aio.run("pi", {_args(PI)}, workers=2, out="a.h5"),
                                        simcore.aio.run("transport", {_args(TRANSPORT)}, workers=2, out="b.h5"))

        for res in asyncio.run(both()):
            print(res.attrs["executor"])
    """)
    _quiet_success(done)
    assert done.stdout.split() == ["process", "process"]
    assert results_snapshot(cli.cwd / "a.h5") == reference("pi")
    assert results_snapshot(cli.cwd / "b.h5") == reference("transport")


def test_a_model_defined_in_the_script_runs_on_process_workers(cli, reference):
    """The same model from a module, run by the CLI as ``module:MODEL``, gives the bytes of the script's run."""
    done = _script(cli, "own_model.py", USER_MODEL + f"""
import simcore
res = simcore.run(MODEL, {_args(PI)}, workers=2, executor="process", out="s.h5")
print(res.attrs["executor"], res.attrs["workers"], res.model)
""")
    _quiet_success(done)
    assert done.stdout.split() == ["process", "2", "halfpi"]
    assert results_snapshot(cli.cwd / "s.h5") == reference("halfpi")


def test_a_model_that_cannot_be_pickled_is_one_line_naming_the_fix(cli):
    done = _script(cli, "unpicklable.py", """
        import dataclasses, threading
        import simcore
        from simcore.models import pi

        lock = threading.Lock()
        def run_partition(p, seed, partition, partitions, row):
            with lock:
                pi.MODEL.run_partition(p, seed, partition, partitions, row)

        MODEL = dataclasses.replace(pi.MODEL, name="locked", run_partition=run_partition)
        try:
            simcore.run(MODEL, samples=10**6, workers=2, executor="process", out="u.h5")
        except ValueError as exc:
            print(exc)
    """)
    assert done.returncode == 0, done.stderr
    assert "model 'locked' cannot be sent to process workers" in done.stdout
    assert "define it in a module and run 'module:NAME', or use executor thread" in done.stdout
    assert not (cli.cwd / "u.h5").exists()


def test_a_model_of_ones_own_may_not_take_a_built_in_name(tmp_path):
    import dataclasses

    import simcore
    from simcore.models import UnknownModelError, pi

    impostor = dataclasses.replace(pi.MODEL, cost=None)
    with pytest.raises(UnknownModelError, match="'pi' is taken by a built-in model"):
        simcore.run(impostor, samples=1000, executor="serial", out=str(tmp_path / "x.h5"))


def test_a_notebook_cell_runs_pooled_with_a_model_defined_in_the_notebook(cli, reference):
    cells = [USER_MODEL, "import simcore",
             f'res = simcore.run("transport", {_args(TRANSPORT)}, workers=2, executor="process", out="t.h5")',
             f'own = simcore.run(MODEL, {_args(PI)}, workers=2, executor="process", out="m.h5")',
             'print(res.attrs["executor"], own.attrs["executor"], own.model)']
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(cli.cwd)}})
    client.execute(env=cli.env)
    printed = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    assert printed.split() == ["process", "process", "halfpi"]
    streams = [output for cell in notebook.cells for output in cell.outputs if output.get("name") == "stderr"]
    assert not [s for s in streams if "Warning" in s["text"] or "Error" in s["text"]], streams
    assert results_snapshot(cli.cwd / "t.h5") == reference("transport")
    assert results_snapshot(cli.cwd / "m.h5") == reference("halfpi")

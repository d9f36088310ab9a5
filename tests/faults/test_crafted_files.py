"""Crafted and foreign files: ``info`` and ``resume`` import nothing, follow no link and allocate nothing unasked.

Each case starts from a real checkpoint or results file and changes one
thing as an attacker (or a damaged download) would; every command must then
end with exit 2 and one line naming the file, never a traceback, and
nothing the file names is imported.
"""
import hashlib
import shutil

import h5py
import numpy as np
import pytest

from ..conftest import CliRun, assert_refused
from ..support.inprocess import cli_in_process as here

ZEN = "Beautiful is better than ugly"  # what ``import this`` prints: the proof an import ran


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """An interrupted-looking checkpoint with rows in a segment, and a results file."""
    cli = CliRun(tmp_path_factory.mktemp("good"))
    done = cli("run", "pi", "--set", "samples=1e6", "--executor", "serial", "--out", "r.h5", "--quiet")
    assert done.returncode == 0, done.stderr
    with h5py.File(cli.cwd / "r.h5.ckpt" / "checkpoint.h5", "r+") as handle:
        handle.attrs["status"] = "interrupted"
    return cli.cwd


def _copy(good, cli):
    """The good run's checkpoint directory copied into ``cli``'s; its checkpoint file."""
    shutil.copytree(good / "r.h5.ckpt", cli.cwd / "r.h5.ckpt")
    return cli.cwd / "r.h5.ckpt" / "checkpoint.h5"


def _rel(path) -> str:
    """``path`` as a command names it: relative to the run's directory (``r.h5.ckpt/checkpoint.h5``)."""
    return f"{path.parent.name}/{path.name}"


def _rename_model(path, model: str) -> None:
    """Make the checkpoint name ``model``, consistently (config text and its hash too)."""
    with h5py.File(path, "r+") as handle:
        config = handle.attrs["config"].replace('model = "pi"', f'model = "{model}"')
        handle.attrs["config"] = config
        handle.attrs["config_sha256"] = hashlib.sha256(config.encode()).hexdigest()
        handle.attrs["model"] = model


@pytest.mark.parametrize("command", [("info",), ("resume",), ("info", "--json")])
def test_a_model_reference_in_a_file_is_never_imported(cli, good, command):
    path = _copy(good, cli)
    _rename_model(path, "this:s")
    done = cli(*command, _rel(path))
    assert ZEN not in done.stdout + done.stderr
    if command[0] == "info":
        assert done.returncode == 0, done.stderr
        assert "this:s" in done.stdout
        if command == ("info",):  # the way on says what it would import, and only if trusted
            assert done.stdout.strip().splitlines()[-1] == (
                "continue with: simcore resume r.h5.ckpt --model this:s   (imports this: only if you trust it)")
        return
    assert_refused(done, "names the model 'this:s'")
    assert "resume with --model this:s" in done.stderr


def test_a_user_model_resumes_when_the_user_names_it(cli, good):
    path = _copy(good, cli)
    _rename_model(path, "tests.support.faulty:MODEL")
    assert_refused(cli("resume", _rel(path), "--model", "tests.support.faulty:OTHER"),
                   "names the model 'tests.support.faulty:MODEL' (not 'tests.support.faulty:OTHER')")
    assert_refused(cli("resume", _rel(path), "--model", "pi"), "names the model 'tests.support.faulty:MODEL'")
    # named as the file names it, the model is imported and checks the file against its own parameters
    done = cli("resume", _rel(path), "--model", "tests.support.faulty:MODEL", "--dry-run")
    assert done.returncode in (0, 2) and "Traceback" not in done.stderr, done.stderr
    assert "names the model" not in done.stderr


def test_a_sweep_of_a_user_model_is_not_imported_either(cli):
    done = cli("sweep", "pi", "--param", "samples=1000,2000", "--executor", "serial", "--out", "s.h5", "--quiet",
               "--checkpoint-every", "1e6")
    assert done.returncode == 0, done.stderr
    path = cli.cwd / "s.h5.ckpt" / "checkpoint.h5"
    with h5py.File(path, "r+") as handle:
        handle.attrs["status"] = "interrupted"
        config = handle.attrs["config"].replace('of = "pi"', 'of = "this:s"')
        assert config != handle.attrs["config"]
        handle.attrs["config"] = config
        handle.attrs["config_sha256"] = hashlib.sha256(config.encode()).hexdigest()
    (cli.cwd / "s.h5").unlink()
    assert cli("info", "s.h5.ckpt").stdout.strip().endswith("resume s.h5.ckpt --model this:s   "
                                                             "(imports this: only if you trust it)")
    done = cli("resume", "s.h5.ckpt")
    assert ZEN not in done.stdout + done.stderr
    assert_refused(done, "names the model 'this:s'")


def _set_rows_attr(path, name: str, value) -> None:
    with h5py.File(path, "r+") as handle:
        handle["rows/tallies"].attrs[name] = value


@pytest.mark.parametrize("shape", [[64, 2**34], [2**40, 1], [-1, 4], [float("nan"), 2.0], []])
@pytest.mark.parametrize("command", ["info", "resume"])
def test_an_absurd_declared_shape_is_refused_before_anything_is_allocated(cli, good, shape, command):
    path = _copy(good, cli)
    _set_rows_attr(path, "shape", np.asarray(shape))
    assert_refused(here([command, _rel(path)], cli.cwd), path.name)


@pytest.mark.parametrize("dtype", ["|O", "|V8", "<U4", "S3"])
def test_a_declared_dtype_that_is_not_numbers_is_refused(cli, good, dtype):
    path = _copy(good, cli)
    _set_rows_attr(path, "dtype", dtype)
    assert_refused(here(["resume", _rel(path)], cli.cwd), path.name)


def test_declared_rows_that_do_not_fit_the_config_are_refused_before_assembly(cli, good):
    path = _copy(good, cli)
    with h5py.File(path, "r") as handle:
        rows, width = (int(n) for n in handle["rows/tallies"].attrs["shape"])
    extra = cli.cwd / "r.h5.ckpt" / "seg-tallies-999999.h5"
    assert not extra.exists()
    _set_rows_attr(path, "shape", np.asarray([rows, width + 1]))  # segments then disagree: refused when read
    assert_refused(here(["info", _rel(path)], cli.cwd), "not the")


@pytest.mark.parametrize("name", ["../r.h5.ckpt.seg-tallies-000000", "/etc/passwd", "sub/x", "..", ""])
def test_segment_names_outside_the_checkpoints_directory_are_refused(cli, good, name):
    path = _copy(good, cli)
    with h5py.File(path, "r+") as handle:
        group = handle["rows/tallies"]
        names = [n.decode() for n in group["segments"][()]]
        del group["segments"]
        group.create_dataset("segments", data=[name] + names[1:], dtype=h5py.string_dtype())
    done = here(["info", _rel(path)], cli.cwd)
    assert_refused(done, "not a plain file name")


def _replace_with_link(path, where: str, link) -> None:
    with h5py.File(path, "r+") as handle:
        del handle[where]
        handle[where] = link


@pytest.mark.parametrize("kind", ["external", "soft"])
@pytest.mark.parametrize("command", ["info", "resume"])
def test_links_in_a_checkpoint_are_not_followed(cli, good, kind, command):
    path = _copy(good, cli)
    target = cli.cwd / "elsewhere.h5"
    with h5py.File(target, "w") as handle:
        handle["done"] = np.ones(4, dtype=np.uint8)
    link = h5py.ExternalLink(str(target), "/done") if kind == "external" else h5py.SoftLink("/rows")
    _replace_with_link(path, "state/done", link)
    assert_refused(here([command, _rel(path)], cli.cwd), "which simcore does not follow")


@pytest.mark.parametrize("storage", ["external", "virtual"])
def test_external_and_virtual_storage_are_refused(cli, good, storage):
    shutil.copy(good / "r.h5", cli.cwd / "r.h5")
    path = cli.cwd / "r.h5"
    raw = cli.cwd / "raw.bin"
    raw.write_bytes(np.arange(4, dtype=np.float64).tobytes())
    with h5py.File(path, "r+") as handle:
        n = handle["results/pi"].shape
        del handle["results/pi"]
        if storage == "external":
            dataset = handle.create_dataset("results/pi", shape=(4,), dtype="<f8", external=[(str(raw), 0, 32)])
        else:
            with h5py.File(cli.cwd / "source.h5", "w") as source:
                source["x"] = np.zeros(n)
            layout = h5py.VirtualLayout(shape=n, dtype="<f8")
            layout[:] = h5py.VirtualSource(str(cli.cwd / "source.h5"), "x", shape=n)
            dataset = handle.create_virtual_dataset("results/pi", layout)
        for key, value in {"mean": 3.0, "stderr": 0.1, "n": 4, "units": ""}.items():
            dataset.attrs[key] = value
    for command in ("info", "plot"):
        assert_refused(here([command, "r.h5"], cli.cwd), "external or virtual storage")


def test_a_results_dataset_claiming_more_than_the_file_stores_is_refused(cli, good):
    shutil.copy(good / "r.h5", cli.cwd / "r.h5")
    with h5py.File(cli.cwd / "r.h5", "r+") as handle:
        handle.create_dataset("series/huge", shape=(2**20, 2**15), dtype="<f8")  # 256 GiB, none of it stored
    assert_refused(here(["info", "r.h5"], cli.cwd), "claims 274877906944 bytes")

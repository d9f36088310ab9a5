"""simcore info and simcore resume on damaged files: exit 2 and one clear line, never a traceback."""
import h5py
import pytest

from ..conftest import CliRun


#: A dataset each command must read, per kind of file: its bytes are the ones "corrupt" flips.
READ_BY_BOTH = {"results": "results/pi", "checkpoint": "state/done"}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A finished results file and an interrupted run's checkpoint, as bytes."""
    cli = CliRun(tmp_path_factory.mktemp("good"))
    assert cli("run", "pi", "--set", "samples=1e6", "--executor", "serial", "--out", "r.h5", "--quiet").returncode == 0
    checkpoint = cli.cwd / "r.h5.ckpt" / "checkpoint.h5"
    with h5py.File(checkpoint, "r+") as handle:  # the final checkpoint, made to look unfinished
        handle.attrs["status"] = "interrupted"
    return {"results": cli.cwd / "r.h5", "checkpoint": checkpoint}


def _data_offset(path, name: str) -> int:
    with h5py.File(path, "r") as handle:
        dataset = handle[name]
        return dataset.id.get_chunk_info(0).byte_offset if dataset.chunks else dataset.id.get_offset()


def _damage(path, kind: str, how: str) -> bytes:
    data = path.read_bytes()
    if how == "truncated":
        return data[: len(data) // 2]
    if how == "corrupt":
        at = _data_offset(path, READ_BY_BOTH[kind])
        return data[:at] + bytes(b ^ 0x5A for b in data[at:at + 8]) + data[at + 8:]
    if how == "empty":
        return b""
    return "not HDF5 at all: ∂ünïcødé\n".encode() * 50


@pytest.mark.parametrize("how", ["truncated", "corrupt", "empty", "text"])
@pytest.mark.parametrize("kind", ["results", "checkpoint"])
@pytest.mark.parametrize("command", ["info", "resume"])
def test_damaged_file_exits_2_with_one_line(cli, good, how, kind, command):
    name = "d.h5" if kind == "results" else "d.h5.ckpt"
    (cli.cwd / name).write_bytes(_damage(good[kind], kind, how))
    done = cli(command, name)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert len(lines) == 1 and lines[0].startswith("simcore: error: ") and "Traceback" not in done.stderr, lines
    assert name in lines[0]

"""The command line: results summary, JSON, and bad input (exit 2, one line, nothing written)."""
import fcntl
import json
import math
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest


def test_run_then_info_json(cli):
    done = cli("run", "transport", "--set", "histories=20000", "--out", "t.h5", "--quiet")
    assert done.returncode == 0, done.stderr
    info = cli("info", "t.h5", "--json")
    assert info.returncode == 0
    summary = json.loads(info.stdout)
    assert summary["model"] == "transport"
    assert set(summary["results"]) == {"reflection", "transmission", "absorption"}
    for value in summary["results"].values():
        assert set(value) >= {"mean", "stderr"} and math.isfinite(value["mean"]) and value["stderr"] > 0


def test_default_output_is_numbered_instead_of_overwritten(cli):
    for expected in ("pi.h5", "pi-2.h5"):
        done = cli("run", "pi", "--set", "samples=1000", "--executor", "serial")
        assert done.returncode == 0, done.stderr
        assert f"wrote {expected}" in done.stdout


def test_toml_config_and_set_override(cli):
    (cli.cwd / "slab.toml").write_text('model = "transport"\nhistories = 1e4\nthickness = inf\nseed = 5\n')
    done = cli("run", "slab.toml", "--set", "scatter_ratio=0.2", "--out", "s.h5", "--quiet")
    assert done.returncode == 0, done.stderr
    info = json.loads(cli("info", "s.h5", "--json").stdout)
    assert info["seed"] == 5 and info["results"]["transmission"]["mean"] == 0.0


BAD_INPUT = [
    (["run", "transport", "--set", "thickness=-1"], "thickness"),
    (["run", "transport", "--set", "scatter_ratio=1.5"], "scatter_ratio"),
    (["run", "transport", "--set", "histories=lots"], "histories"),
    (["run", "transport", "--set", "thicknes=2"], "did you mean 'thickness'"),
    (["run", "transprt"], "available: pi, transport"),
    (["run", "transport", "--workers", "0"], "workers must be a positive integer (at most 4096) or auto (got 0)"),
    (["run", "transport", "--workers", "many"],
     "workers must be a positive integer (at most 4096) or auto (got 'many')"),
    (["run", "transport", "--workers", "2.5"], "workers must be a positive integer (at most 4096) or auto (got 2.5)"),
    (["run", "transport", "--seed", "-3"], "seed"),
    (["run", "transport", "--executor", "gpu"], "executor"),
    (["run", "transport", "--set", "incidence=sideways"], "incidence"),
    (["run", "transport", "--set", "thickness=nan"], "thickness"),
    (["run", "broken.toml"], "not valid TOML"),
    (["run", "missing.toml"], "does not exist"),
    (["run", "transport", "--bogus-flag"], "unrecognized arguments"),
    (["info", "missing.h5"], "does not exist"),
    (["info", "notes.txt"], "cannot be read"),
]


@pytest.mark.parametrize("args, names", BAD_INPUT, ids=[" ".join(a[1:]) for a, _ in BAD_INPUT])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(cli, args, names):
    (cli.cwd / "broken.toml").write_text('model = "transport"\nhistories = [1\n')
    (cli.cwd / "notes.txt").write_text("not hdf5\n")
    before = sorted(p.name for p in cli.cwd.iterdir())
    done = cli(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("simcore: error: ") and names in lines[0]
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert sorted(p.name for p in cli.cwd.iterdir()) == before


def test_existing_out_is_not_overwritten_without_force(cli):
    target = cli.cwd / "keep.h5"
    target.write_bytes(b"precious")
    done = cli("run", "pi", "--set", "samples=1000", "--out", "keep.h5")
    assert done.returncode == 2 and "--force" in done.stderr and len(done.stderr.splitlines()) == 1
    assert target.read_bytes() == b"precious"
    forced = cli("run", "pi", "--set", "samples=1000", "--out", "keep.h5", "--force", "--quiet")
    assert forced.returncode == 0 and target.read_bytes()[:4] == b"\x89HDF"


def test_models_lists_parameters_with_ranges(cli):
    done = cli("models")
    assert done.returncode == 0
    for text in ("transport", "scatter_ratio", "in [0, 1]", "pi", "samples"):
        assert text in done.stdout


def test_worker_log_records_reach_the_main_process(cli):
    done = cli("run", "pi", "--set", "samples=1000", "--workers", "2", "--log-level", "debug", "--out", "p.h5")
    assert done.returncode == 0, done.stderr
    assert "attached arena" in done.stderr  # logged inside a worker, emitted by the main process


def test_info_shows_parameters_and_every_result_with_units_and_that_the_run_finished(cli):
    done = cli("run", "ising", "--set", "L=8", "--set", "sweeps=200", "--set", "thermalize=20", "--executor", "serial",
               "--out", "i.h5", "--quiet")
    assert done.returncode == 0, done.stderr
    shown = cli("info", "i.h5")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "status      finished" in lines
    assert "    L          = 8 sites" in lines and "    T          = 2.269 J/k_B" in lines
    units = {"energy_per_site": " J", "abs_magnetization_per_site": "", "binder": "", "specific_heat": " k_B",
             "susceptibility": " 1/J"}
    blocked = r"  \(tau_int \d+(\.\d+)? samples, \d+(\.\d+)? effective\)"  # a series' autocorrelation time
    for name, unit in units.items():
        (line,) = [line for line in lines if line.strip().startswith(f"{name} = ")]
        tail = blocked if name in ("energy_per_site", "abs_magnetization_per_site") else ""
        assert re.fullmatch(rf"\s+{name} = -?\d+\.\d+ ± \d+\.\d+{re.escape(unit)}{tail}", line), line


def test_info_of_a_run_that_died_says_where_it_resumes(cli):
    done = cli("run", "tests.support.faulty:LOCKSTEP", "--set", "L=8", "--set", "sweeps=200", "--executor", "serial",
               "--checkpoint-mode", "sync", "--out", "f.h5")  # sync: the checkpoint of step 0 is on disk before step 0
    assert done.returncode == 1, done.stderr  # partition 0 raises at step 5; the last checkpoint is kept
    shown = cli("info", "f.h5")  # the results path of the unfinished run: its newest checkpoint
    assert shown.returncode == 0, shown.stderr
    assert "status      unfinished, resumable at step 0 of 1200" in shown.stdout  # thermalize 1000 + 200 sweeps
    assert "continue with: simcore resume f.h5.ckpt" in shown.stdout  # the run's checkpoint directory


def _stderr_on_a_terminal(cli, *args: str) -> tuple[int, str]:
    """Run the CLI with stderr on a 120-column pseudo-terminal; (exit code, what the terminal received)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "simcore", *args], cwd=cli.cwd, env=cli.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    received = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        received += chunk
    os.close(master)
    return proc.wait(timeout=120), received.decode(errors="replace")


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_bar_on_a_terminal_shows_the_models_rate_and_an_eta(cli, quiet):
    code, terminal = _stderr_on_a_terminal(cli, "run", "ising", "--set", "L=8", "--set", "sweeps=2000",
                                           "--executor", "serial", "--out", "i.h5", *(["--quiet"] if quiet else []))
    assert code == 0, terminal
    if quiet:
        assert terminal == ""
    else:
        assert "ising:" in terminal and "flips/s" in terminal and "ETA" in terminal
        frames = [frame.strip() for frame in terminal.replace("\n", "\r").split("\r") if frame.strip()]
        assert all(frame.startswith("ising:") for frame in frames), frames  # nothing else on the terminal

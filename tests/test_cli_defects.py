"""Defects a new user met in the first minutes (issue 19); each test failed before its fix."""
import re
import subprocess
import sys
import tomllib

import h5py
import pytest

from tests.conftest import REPO, assert_refused


def test_resume_of_a_directory_is_one_line_not_a_traceback(cli):
    assert_refused(cli("resume", "."), "'.'")


def _with_reader_gone(cli, *args: str) -> subprocess.CompletedProcess:
    """Run the CLI with stdout a pipe whose reader has already gone (``simcore ... | head`` once head exits)."""
    proc = subprocess.Popen([sys.executable, "-m", "simcore", *args], cwd=cli.cwd, env=cli.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", stderr)


@pytest.mark.parametrize("command", [["models"], ["info", "p.h5"], ["info", "p.h5", "--json"]])
def test_a_closed_pipe_ends_quietly_like_coreutils(cli, command):
    assert cli("run", "pi", "--set", "samples=1000", "--out", "p.h5", "--quiet").returncode == 0
    done = _with_reader_gone(cli, *command)
    assert done.returncode == 141 and done.stderr == ""  # 128 + SIGPIPE, as `yes | head` or `git log | head`


def test_unknown_parameter_is_a_punctuated_sentence_with_a_suggestion_from_the_docs(cli):
    done = cli("run", "ising", "--set", "temperature=2")
    assert_refused(done, "unknown parameter 'temperature' for ising; did you mean 'T'? Valid parameters: dim, L, T,")
    assert_refused(cli("run", "transport", "--set", "thicknes=2"), "did you mean 'thickness'?")


def test_models_lists_one_model_when_named(cli):
    done = cli("models", "ising")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ising  (lockstep)") and "transport" not in done.stdout
    assert_refused(cli("models", "isng"), "did you mean 'ising'?")


def test_models_shows_defaults_as_toml_values(cli):
    listed = cli("models").stdout
    defaults = dict(re.findall(r"^\s+(\w+)\s+default (\S+)", listed, flags=re.M))
    assert defaults["incidence"] == '"normal"' and defaults["workers"] == '"auto"'
    for name, shown in defaults.items():
        if not shown.startswith("("):
            tomllib.loads(f"v = {shown}")  # every default is something a user can type
    assert not re.search(r"default (True|False|None|'\w+')", listed)


def test_every_toml_file_the_readme_runs_exists():
    named = re.findall(r"simcore (?:run|sweep) (\S+\.toml)", (REPO / "README.md").read_text())
    assert named and [name for name in named if not (REPO / name).is_file()] == []


@pytest.mark.parametrize("config", sorted((REPO / "data" / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_the_results_file_an_example_config_names_is_the_one_it_writes(cli, config):
    named = set(re.findall(r"simcore (?:info|plot) (\S+\.h5)", config.read_text()))
    done = cli("run", str(config), "--dry-run")
    assert done.returncode == 0, done.stderr
    written = re.search(r"would write (\S+)", done.stdout).group(1)
    assert named <= {written}, f"{config.name} says {named}, writes {written}"


def test_a_sweeps_root_attribute_model_names_the_model_swept(cli):
    done = cli("sweep", "pi", "--param", "samples=1000,2000", "--executor", "serial")
    assert done.returncode == 0, done.stderr
    assert "wrote pi_sweep.h5" in done.stdout
    with h5py.File(cli.cwd / "pi_sweep.h5") as handle:
        assert handle.attrs["model"] == "pi" and handle.attrs["kind"] == "sweep"

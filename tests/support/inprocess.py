"""The ``simcore`` command line run in the test's own process: milliseconds instead of a second a call."""
import contextlib
import io
import logging
import os
import subprocess

from simcore.cli import main


def cli_in_process(argv: list[str], cwd=None) -> subprocess.CompletedProcess:
    """Run ``simcore argv`` here (in ``cwd``); exit code, stdout and stderr as a CompletedProcess."""
    stderr, stdout = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    before = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            try:
                code = main(argv)
            except SystemExit as exit_:
                code = exit_.code
    finally:
        os.chdir(before)
        root.handlers, root.level = saved[0], saved[1]
    return subprocess.CompletedProcess(["simcore", *argv], code, stdout.getvalue(), stderr.getvalue())

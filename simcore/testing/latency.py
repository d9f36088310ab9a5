"""Interrupt latency: seconds from SIGINT or SIGTERM to simcore's exit, for every model, small to huge.

``python -m simcore.testing.latency [--repeat 5] [--case NAME ...]`` starts each
case's run at default settings (partitions, checkpoint cadence) in a fresh
directory, waits for its first checkpoint and ``--after`` seconds more (the
run is computing), sends SIGINT and SIGTERM in turn, and times the exit.  It
prints one line per case: the median and the largest of the repeats, and the
exit codes.  A case marked ``exact`` is small enough to finish: its last
interrupted run is resumed and must give the bytes of an uninterrupted run.

Kernels are compiled (or loaded into numba's cache) first, by a tiny pooled
run: a run's first start after simcore's sources change compiles them for
tens of seconds, and a stop waits for that compile to end.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import results_snapshot

CONFIGS = Path(__file__).resolve().parents[2] / "data" / "configs"


@dataclass(frozen=True)
class Case:
    """A run to interrupt: its ``simcore`` arguments, and whether it is small enough to check its resume."""

    name: str
    args: tuple[str, ...]
    exact: bool = False


CASES = (
    Case("pi 1e10", ("run", "pi", "--set", "samples=1e10"), exact=True),
    Case("pi 1e12", ("run", "pi", "--set", "samples=1e12")),
    Case("transport_slab.toml x100", ("run", str(CONFIGS / "transport_slab.toml"), "--set", "histories=5e7"),
         exact=True),
    Case("transport 1e10", ("run", "transport", "--set", "histories=1e10")),
    Case("transport 1e10, 16 threads", ("run", "transport", "--set", "histories=1e10", "--executor", "thread",
                                        "--workers", "16")),
    Case("ising.toml", ("run", str(CONFIGS / "ising.toml")), exact=True),
    Case("ising L=1024", ("run", "ising", "--set", "L=1024", "--set", "sweeps=100000")),
    Case("lj.toml", ("run", str(CONFIGS / "lj.toml")), exact=True),
    Case("lj 32k atoms", ("run", "lj", "--set", "cells=20", "--set", "steps=100000")),
    Case("nbody plummer 4096", ("run", "nbody", "--set", "preset=plummer", "--set", "bodies=4096",
                                "--set", "t_end=100")),
    Case("tutorial sweep", ("sweep", "ising", "--param", "L=8,16", "--param", "T=2.1:2.5:9", "--set", "sweeps=20000",
                            "--set", "thermalize=2000", "--set", "partitions=1"), exact=True),
)
SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass
class Measured:
    """The exit latencies of one case [s], the exit codes seen, and whether its resume was exact (None: unchecked)."""

    case: Case
    seconds: list[float]
    codes: list[int]
    exact: bool | None = None

    @property
    def median(self) -> float:
        """Median latency [s]."""
        return statistics.median(self.seconds)

    def line(self) -> str:
        """One line for a table: case, median, max, exit codes, resume."""
        resumed = {None: "", True: "; resumed bitwise", False: "; RESUME DIFFERS"}[self.exact]
        return (f"{self.case.name:<28} median {self.median:5.2f} s  max {max(self.seconds):5.2f} s  "
                f"exits {sorted(set(self.codes))}{resumed}")


def _simcore(*args: str) -> list[str]:
    return [sys.executable, "-m", "simcore", *args, "--quiet"]


def interrupt_once(case: Case, cwd: Path, sig: signal.Signals, after: float, out: str = "x.h5") -> tuple[float, int]:
    """Start ``case`` in ``cwd``, signal it ``after`` seconds past its first checkpoint; (seconds to exit, code)."""
    proc = subprocess.Popen(_simcore(*case.args, "--out", out), cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (cwd / f"{out}.ckpt").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{case.name}: no checkpoint before the run ended or 120 s: {proc.stderr.read()}")
            time.sleep(0.02)
        time.sleep(after)
        if proc.poll() is not None:
            raise RuntimeError(f"{case.name}: the run ended before the signal; make it longer")
        signalled = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=600)
        return time.monotonic() - signalled, proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def warm_caches() -> None:
    """Fill numba's cache for every built-in kernel (the pool's server compiles them all), once."""
    with tempfile.TemporaryDirectory(prefix="simcore-latency-") as tmp:
        subprocess.run(_simcore("run", "pi", "--set", "samples=1000", "--workers", "2", "--executor", "process",
                                "--out", "warm.h5"), cwd=tmp, check=True, capture_output=True, stdin=subprocess.DEVNULL)


def measure(case: Case, repeat: int = 5, after: float = 1.0, check_resume: bool = True) -> Measured:
    """Interrupt ``case`` ``repeat`` times (SIGINT, SIGTERM, SIGINT ...); for an exact case, resume the last one."""
    with tempfile.TemporaryDirectory(prefix="simcore-latency-") as tmp:
        cwd = Path(tmp)
        measured = Measured(case, [], [])
        for k in range(repeat):
            out = f"x{k}.h5"
            seconds, code = interrupt_once(case, cwd, SIGNALS[k % 2], after, out)
            measured.seconds.append(seconds)
            measured.codes.append(code)
        if case.exact and check_resume:
            resumed = subprocess.run(_simcore("resume", f"x{repeat - 1}.h5"), cwd=cwd, capture_output=True,
                                     text=True, stdin=subprocess.DEVNULL)
            whole = subprocess.run(_simcore(*case.args, "--out", "whole.h5"), cwd=cwd, capture_output=True,
                                   text=True, stdin=subprocess.DEVNULL)
            if resumed.returncode or whole.returncode:
                raise RuntimeError(f"{case.name}: resume or reference failed: {resumed.stderr}{whole.stderr}")
            measured.exact = results_snapshot(cwd / f"x{repeat - 1}.h5") == results_snapshot(cwd / "whole.h5")
        return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simcore.testing.latency", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="signals per case (default 5)")
    parser.add_argument("--after", type=float, default=1.0, help="seconds after the first checkpoint (default 1)")
    parser.add_argument("--case", action="append", default=[], help="only the cases whose name starts with this")
    parser.add_argument("--no-resume", action="store_true", help="skip the resume check of the exact cases")
    args = parser.parse_args(argv)
    chosen = [c for c in CASES if not args.case or any(c.name.startswith(prefix) for prefix in args.case)]
    if not chosen:
        parser.error(f"no case matches {args.case}; cases: {', '.join(c.name for c in CASES)}")
    warm_caches()
    print(f"# {os.cpu_count()} cores; median and max seconds from the signal to the exit, {args.repeat} signals")
    for case in chosen:
        print(measure(case, args.repeat, args.after, not args.no_resume).line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

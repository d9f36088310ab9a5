"""The fault campaign: faults at random moments in real runs, and a count of what they did.

``python -m simcore.testing.faults --cases 200 [--seed S] [--workdir DIR]``

Each case starts a real ``simcore`` run (a batch run, a lockstep run or a
sweep, on two process workers, checkpointing every 0.3 s), injects one
fault drawn at random, then finishes the run the way a user would
(``simcore resume`` until the results exist, or a fresh start if nothing was
checkpointed yet) and compares the results bit for bit with an undisturbed
run of the same seed and partitions.  The faults:

==============  ==============================================================
kill-main       SIGKILL of the main process (OOM killer, ``kill -9``)
kill-worker     SIGKILL of one pool worker
signal          SIGINT, SIGTERM or SIGHUP, to the main process or to its whole
                process group (Ctrl-C, ``scancel``, a closed terminal)
usr1            SIGUSR1 to the group (Slurm's warning before the wall time)
disk-full       the run's directory is a tmpfs of 24-160 KiB (ENOSPC)
file-size       RLIMIT_FSIZE of 4-64 KiB (EFBIG)
read-only       the run's tmpfs is remounted read-only mid-run (EROFS)
crafted         ``info`` and ``resume`` of a checkpoint changed as an attacker
                would (a module reference, absurd shapes, links, traversal)
==============  ==============================================================

Moments are drawn uniformly over the run's life from 50 ms after the
process starts (the first ~30 ms belong to CPython's own start-up, before
any line of simcore runs).  For each case it records: an unclear ending
(an exit code other than the fault's, or more than one line on stderr for
one outcome), a traceback anywhere, data lost (the finished results differ,
or the run could not be finished), orphan processes, and files left in
/dev/shm.  The disk faults need root (to mount a tmpfs); without it they are
skipped and counted as such.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np

from . import pool_workers_of, processes_with, results_snapshot

#: Workloads of 2-4 s on 2 cores: a batch run, a lockstep run and a sweep.
WORKLOADS = {
    "batch": ("run", "pi", "--set", "samples=8e8", "--set", "partitions=96", "--seed", "3"),
    "lockstep": ("run", "ising", "--set", "L=32", "--set", "sweeps=10000", "--set", "thermalize=100", "--seed", "4"),
    "sweep": ("sweep", "ising", "--param", "T=2:3:4", "--set", "L=12", "--set", "sweeps=2000", "--set",
              "thermalize=200", "--seed", "5"),
}
COMMON = ("--workers", "2", "--checkpoint-every", "0.3")
KINDS = ("kill-main", "kill-worker", "signal", "usr1", "disk-full", "file-size", "read-only", "crafted")
DISK_KINDS = ("disk-full", "file-size", "read-only")
STOP_SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
EXIT_STORAGE = 74
ZEN = "Beautiful is better than ugly"
#: Warning lines a disk fault may add before the one line that ends a command.
WARNINGS_ALONG_THE_WAY = ("simcore: WARNING: checkpoint ", "simcore: WARNING: numba's cache cannot be written")
#: The environment variable that tags a case's processes, to find orphans.
MARKER = "SIMCORE_FAULT_MARKER"


@dataclasses.dataclass
class Outcome:
    """What one case did."""

    kind: str
    workload: str
    detail: str
    identical: bool = False
    lost: bool = False
    tracebacks: int = 0
    unclear: list[str] = dataclasses.field(default_factory=list)
    orphans: int = 0
    leaks: list[str] = dataclasses.field(default_factory=list)
    skipped: str = ""

    @property
    def clean(self) -> bool:
        """True when the case found nothing wrong."""
        return not (self.lost or self.tracebacks or self.unclear or self.orphans or self.leaks)


class Campaign:
    """Runs cases in ``workdir``; references are computed once per workload."""

    def __init__(self, workdir: Path, rng: random.Random) -> None:
        self.workdir = workdir
        self.rng = rng
        self.references: dict[str, tuple[dict, float]] = {}
        self.can_mount = os.geteuid() == 0 and self._try_mount()
        self.counter = 0

    def _try_mount(self) -> bool:
        probe = self.workdir / "mount-probe"
        probe.mkdir()
        ok = _mount(probe, "size=16k")
        if ok:
            _umount(probe)
        probe.rmdir()
        return ok

    # -- processes --------------------------------------------------------------------------------------

    def _env(self, marker: str) -> dict[str, str]:
        repo = str(Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH", "")
        return dict(os.environ, **{MARKER: marker}, PYTHONPATH=f"{repo}{os.pathsep}{path}" if path else repo)

    def _start(self, cwd: Path, args, marker: str, fsize: int | None = None) -> subprocess.Popen:
        def prepare():
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            if fsize is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-long write fails with EFBIG instead
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

        return subprocess.Popen([sys.executable, "-m", "simcore", *args], cwd=cwd, env=self._env(marker),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                process_group=0, preexec_fn=prepare)

    def _run(self, cwd: Path, args, marker: str, timeout: float = 300) -> subprocess.CompletedProcess:
        proc = self._start(cwd, args, marker)
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    # -- references -------------------------------------------------------------------------------------

    def reference(self, workload: str) -> tuple[dict, float]:
        """The undisturbed results of ``workload`` and its wall time [s]."""
        if workload not in self.references:
            cwd = self.workdir / f"reference-{workload}"
            cwd.mkdir()
            for attempt in range(2):  # timed the second time: the first may compile the kernels
                started = time.monotonic()
                done = self._run(cwd, [*WORKLOADS[workload], *COMMON, "--out", "ref.h5", "--quiet", "--force"],
                                 "reference")
                if done.returncode != 0:
                    raise RuntimeError(f"the reference run of {workload} failed: {done.stderr}")
            self.references[workload] = (results_snapshot(cwd / "ref.h5"), time.monotonic() - started)
        return self.references[workload]

    # -- one case ---------------------------------------------------------------------------------------

    def case(self, kind: str) -> Outcome:
        """Draw and run one case of ``kind``."""
        self.counter += 1
        if kind == "crafted":
            return self._crafted()
        workload = self.rng.choice(list(WORKLOADS))
        reference, seconds = self.reference(workload)
        if kind in DISK_KINDS and not self.can_mount and kind != "file-size":
            return Outcome(kind, workload, "", skipped="needs root to mount a tmpfs")
        cwd = self.workdir / f"case-{self.counter:04d}"
        cwd.mkdir()
        mounted = kind in ("disk-full", "read-only")
        size_kib = self.rng.randint(24, 160) if kind == "disk-full" else 4096
        if mounted and not _mount(cwd, f"size={size_kib}k"):
            return Outcome(kind, workload, "", skipped="mount failed")
        marker = uuid.uuid4().hex
        shm_before = set(os.listdir("/dev/shm"))
        try:
            outcome = self._inject(kind, workload, cwd, marker, seconds, size_kib)
            if mounted:  # room again, writable again: the user freed space
                subprocess.run(["mount", "-o", "remount,rw,size=65536k", str(cwd)], capture_output=True)
            self._finish(outcome, cwd, marker, reference)
        finally:
            outcome_orphans = processes_with(MARKER, marker)
            for pid in outcome_orphans:
                _kill(pid)
            if mounted:
                _umount(cwd)
        outcome.orphans = len(outcome_orphans)
        time.sleep(0.2)
        outcome.leaks = _unheld(set(os.listdir("/dev/shm")) - shm_before)  # every process of the case is gone
        return outcome

    def _inject(self, kind: str, workload: str, cwd: Path, marker: str, seconds: float, size_kib: int) -> Outcome:
        args = [*WORKLOADS[workload], *COMMON, "--out", "f.h5"]
        moment = self.rng.uniform(0.05, seconds * 1.1)
        fsize = self.rng.randint(4, 64) * 1024 if kind == "file-size" else None
        proc = self._start(cwd, args, marker, fsize=fsize)
        detail, expected = f"{moment:.2f} s", {0}
        if kind in ("disk-full", "file-size"):
            detail = f"{size_kib} KiB tmpfs" if kind == "disk-full" else f"RLIMIT_FSIZE {fsize // 1024} KiB"
            expected = {0, EXIT_STORAGE} | ({1} if kind == "file-size" else set())  # 1: a shm block over ulimit -f
        else:
            time.sleep(moment)
            if kind == "kill-main":
                proc.kill()
                expected = {0, -signal.SIGKILL}
            elif kind == "kill-worker":
                workers = pool_workers_of(proc.pid)
                if workers:
                    _kill(self.rng.choice(workers))
                    detail += f", worker of {len(workers)}"
                else:
                    detail += ", no worker yet"
            elif kind == "signal":
                sig = self.rng.choice(list(STOP_SIGNALS))
                to_group = self.rng.random() < 0.5
                (os.killpg if to_group else os.kill)(proc.pid, sig)
                detail += f", {signal.Signals(sig).name} to the {'group' if to_group else 'process'}"
                expected = {0, STOP_SIGNALS[sig]}
            elif kind == "usr1":
                os.killpg(proc.pid, signal.SIGUSR1)
            elif kind == "read-only":
                subprocess.run(["mount", "-o", "remount,ro", str(cwd)], capture_output=True)
                detail += ", remounted read-only"
                expected = {0, 2, EXIT_STORAGE}  # 2: read-only before the run began, refused before any work
        try:
            _, stderr = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
            stderr += "\n(hung: killed after 300 s)"
        outcome = Outcome(kind, workload, detail)
        _judge(outcome, "run", proc.returncode, stderr, expected, kind)
        return outcome

    def _finish(self, outcome: Outcome, cwd: Path, marker: str, reference: dict) -> None:
        """Resume (or restart) until the results exist, as a user would; compare them bit for bit."""
        out = cwd / "f.h5"
        args = [*WORKLOADS[outcome.workload], *COMMON, "--out", "f.h5", "--quiet"]
        for _ in range(6):
            if out.exists():
                break
            has_checkpoint = any(cwd.glob("f.h5.ckpt*"))
            command = ["resume", "f.h5", "--quiet"] if has_checkpoint else [*args, "--force"]
            done = self._run(cwd, command, marker)
            _judge(outcome, "resume" if has_checkpoint else "restart", done.returncode, done.stderr, {0},
                   outcome.kind)
        try:
            outcome.identical = out.exists() and results_snapshot(out) == reference
        except OSError:
            outcome.identical = False
        outcome.lost = not outcome.identical

    # -- crafted files ----------------------------------------------------------------------------------

    def _crafted(self) -> Outcome:
        source = self.workdir / "crafted-source"
        if not source.exists():
            source.mkdir()
            done = self._run(source, ["run", "pi", "--set", "samples=1e6", "--executor", "serial", "--out", "r.h5",
                                      "--quiet"], "crafted")
            if done.returncode != 0:
                raise RuntimeError(f"the crafted files' source run failed: {done.stderr}")
            _edit(source / "r.h5.ckpt" / "checkpoint.h5",
                  lambda handle: handle.attrs.__setitem__("status", "interrupted"))
        cwd = self.workdir / f"case-{self.counter:04d}"
        shutil.copytree(source, cwd)
        (cwd / "r.h5").unlink()
        name, craft, may_resume = self.rng.choice(CRAFTS)
        craft(cwd / "r.h5.ckpt" / "checkpoint.h5", self.rng)
        outcome = Outcome("crafted", "checkpoint", name)
        marker = uuid.uuid4().hex
        before = sorted(p.name for p in cwd.iterdir())
        for command in (["info", "r.h5.ckpt"], ["resume", "r.h5.ckpt", "--quiet"]):
            done = self._run(cwd, command, marker)
            if ZEN in done.stdout + done.stderr:
                outcome.unclear.append(f"{command[0]}: imported the module the file names")
            expected = {0, 2} if command[0] == "info" or may_resume else {2}
            _judge(outcome, command[0], done.returncode, done.stderr, expected, "crafted")
        if (cwd / "r.h5").exists():  # damage the checks could not see (free space): the results must be exact
            outcome.lost = results_snapshot(cwd / "r.h5") != results_snapshot(source / "r.h5")
        elif sorted(p.name for p in cwd.iterdir()) != before:
            outcome.unclear.append("files appeared or vanished")
        outcome.identical = not (outcome.unclear or outcome.lost)
        outcome.orphans = len(processes_with(MARKER, marker))
        return outcome


def _judge(outcome: Outcome, step: str, code: int, stderr: str, expected: set[int], kind: str) -> None:
    """Record a traceback, an unexpected exit code, or an ending of more than one line (warnings aside)."""
    if "Traceback" in stderr or "Fatal Python error" in stderr:
        outcome.tracebacks += 1
        outcome.unclear.append(f"{step}: traceback: {stderr.strip().splitlines()[-1][:160]}")
        return
    if code < 0 and 128 - code in expected and -code != signal.SIGKILL:
        code = 128 - code  # died of the signal in CPython's last instants: what a shell (or Slurm) reports alike
    if code == 1 and kind == "file-size" and "(ulimit -f)" not in stderr:
        outcome.unclear.append(f"{step}: exit 1 for another cause than a shared-memory block over ulimit -f")
    if code not in expected:
        outcome.unclear.append(f"{step}: exit {code}, expected {sorted(expected)}: {stderr.strip()[-300:]}")
    lines = [line for line in stderr.strip().splitlines() if line]
    endings = [line for line in lines if not line.startswith(WARNINGS_ALONG_THE_WAY)]
    if kind == "kill-worker":  # the pool is rebuilt, and says so
        endings = [line for line in endings if "running them again" not in line and "back to step" not in line]
    if len(endings) > 1:
        outcome.unclear.append(f"{step}: {len(endings)} lines: {' | '.join(endings)[:300]}")


# -- crafted checkpoints ------------------------------------------------------------------------------------

def _edit(path: Path, change) -> None:
    import h5py

    with h5py.File(path, "r+") as handle:
        change(handle)


def _renamed(model: str):
    def craft(path: Path, rng: random.Random) -> None:
        def change(handle):
            config = handle.attrs["config"].replace('model = "pi"', f'model = "{model}"')
            handle.attrs["config"] = config
            handle.attrs["config_sha256"] = hashlib.sha256(config.encode()).hexdigest()
            handle.attrs["model"] = model
        _edit(path, change)
    return craft


def _rows_attr(name: str, values):
    def craft(path: Path, rng: random.Random) -> None:
        _edit(path, lambda handle: handle["rows/tallies"].attrs.__setitem__(name, rng.choice(values)))
    return craft


def _segment_name(path: Path, rng: random.Random) -> None:
    import h5py

    def change(handle):
        group = handle["rows/tallies"]
        del group["segments"]
        group.create_dataset("segments", data=[rng.choice(["../x", "/etc/passwd", "a/b", "..", ""])],
                             dtype=h5py.string_dtype())
    _edit(path, change)


def _link(path: Path, rng: random.Random) -> None:
    import h5py

    def change(handle):
        del handle["state/done"]
        handle["state/done"] = rng.choice([h5py.SoftLink("/rows"), h5py.ExternalLink("/etc/hostname", "/x")])
    _edit(path, change)


def _huge_state(path: Path, rng: random.Random) -> None:
    def change(handle):
        del handle["state/done"]
        handle.create_dataset("state/done", shape=(2 ** rng.randint(33, 45),), dtype="u1")
    _edit(path, change)


def _flipped_bytes(path: Path, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    for _ in range(rng.randint(1, 16)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


def _truncated(path: Path, rng: random.Random) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:rng.randrange(len(data))])


#: (name, how, whether ``resume`` may still succeed: damage that misses every checked byte is harmless).
CRAFTS = [
    ("module reference this:s", _renamed("this:s"), False),
    ("module reference os:system", _renamed("os:system"), False),
    ("absurd rows shape", _rows_attr("shape", [np.asarray([64, 2**34]), np.asarray([-3, 2]), np.asarray([2**62, 4]),
                                              np.asarray([np.nan, 1.0]), np.asarray([])]), False),
    ("rows dtype not numbers", _rows_attr("dtype", ["|O", "|V16", "<U8", "S2"]), False),
    ("segment name outside", _segment_name, False),
    ("a soft or external link", _link, False),
    ("a state array claiming terabytes", _huge_state, False),
    ("flipped bits", _flipped_bytes, True),
    ("truncated", _truncated, False),
]


# -- processes and mounts -----------------------------------------------------------------------------------

def _mount(path: Path, options: str) -> bool:
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def _umount(path: Path) -> None:
    for _ in range(100):
        if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)


def _unheld(names: set[str]) -> list[str]:
    """The /dev/shm files of ``names`` that no live process maps or holds open: left behind, not in use.

    Every process of a case is gone when this is asked, so a file still held
    belongs to something else running on the machine (another run, a test).
    """
    held = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            held.update(line.rsplit("/dev/shm/", 1)[1].split(" ")[0] for line in (proc / "maps").read_text()
                        .splitlines() if "/dev/shm/" in line)
            held.update(os.readlink(fd).rsplit("/", 1)[1] for fd in (proc / "fd").iterdir()
                        if os.readlink(fd).startswith("/dev/shm/"))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return sorted(name for name in names if name not in held and os.path.exists(f"/dev/shm/{name}"))


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -- the campaign -------------------------------------------------------------------------------------------

def run_campaign(cases: int, seed: int, workdir: Path, kinds=KINDS, report=print) -> list[Outcome]:
    """Run ``cases`` cases, kinds in turn (so each kind gets its share), moments and details drawn from ``seed``."""
    rng = random.Random(seed)
    campaign = Campaign(workdir, rng)
    outcomes = []
    for index in range(cases):
        outcome = campaign.case(kinds[index % len(kinds)])
        outcomes.append(outcome)
        state = "skipped: " + outcome.skipped if outcome.skipped else ("ok" if outcome.clean else "FOUND")
        report(f"{index + 1:4d} {outcome.kind:<11} {outcome.workload:<10} {outcome.detail:<44} {state}"
               + "".join(f"\n       {line}" for line in outcome.unclear + outcome.leaks))
    return outcomes


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    """The campaign's figures, as RELIABILITY.md records them."""
    ran = [o for o in outcomes if not o.skipped]
    return {
        "faults injected": len(ran),
        "skipped": len(outcomes) - len(ran),
        "finished byte-identical": sum(o.identical for o in ran),
        "data lost": sum(o.lost for o in ran),
        "tracebacks": sum(o.tracebacks for o in ran),
        "unclear endings": sum(bool(o.unclear) for o in ran),
        "orphan processes": sum(o.orphans for o in ran),
        "leaked /dev/shm files": sum(len(o.leaks) for o in ran),
    }


def main(argv=None) -> int:
    """``python -m simcore.testing.faults``: run the campaign, print each case and the figures; 1 if any found."""
    parser = argparse.ArgumentParser(prog="python -m simcore.testing.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200, help="faults to inject (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the draws (default 1)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated subset of {','.join(KINDS)}")
    parser.add_argument("--workdir", type=Path, help="where the runs go (default: a temporary directory, removed)")
    args = parser.parse_args(argv)
    kinds = tuple(args.kinds.split(","))
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds {sorted(unknown)}; choose from {', '.join(KINDS)}")
    if args.cases < 1:
        parser.error(f"--cases must be a positive integer, not {args.cases}")
    if args.workdir is not None and not args.workdir.is_dir():
        parser.error(f"--workdir {args.workdir} is not an existing directory")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="simcore-faults-", dir=args.workdir) as workdir:
        outcomes = run_campaign(args.cases, args.seed, Path(workdir), kinds)
    figures = summary(outcomes)
    print(f"\ncampaign: {args.cases} cases, seed {args.seed}, {time.monotonic() - started:.0f} s, "
          f"kinds {dict(Counter(o.kind for o in outcomes if not o.skipped))}")
    for name, value in figures.items():
        print(f"  {name:<24} {value}")
    found = figures["data lost"] + figures["tracebacks"] + figures["unclear endings"] + figures["orphan processes"] \
        + figures["leaked /dev/shm files"]
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

"""Strong and weak scaling of simcore's two drivers: batch (pi) and lockstep (Ising, Lennard-Jones).

Every point is a whole ``simcore.run`` on the process executor, timed by the
engine's own ``wall_seconds`` (kernel warm-up, pool start, the work, the tally
copy; not the HDF5 write), checkpoints off.  The forkserver is started, and
each model run once on the largest worker count, before anything is timed.

* strong scaling: the same problem on every worker count; efficiency T1 / (W TW);
* weak scaling: the problem grows with the workers (pi: darts; Ising: L^2;
  LJ: cells^3, rounded to whole cells); the one on the largest worker count
  is the strong-scaling problem.  Efficiency is the rate per worker against the
  1-worker rate, (work_W / TW / W) / (work_1 / T1).

``--studies`` picks them: batch, ising, lj (the default), and mpi, ising-mpi
and lj-mpi, the batch, Ising and LJ studies on MPI ranks (``--executor mpi``,
ranks spawned by simcore: their start is in the wall time, as the pool's is;
each Ising rank holds only its rows and their halo, each LJ rank the atoms of
its slab of the box and their ghosts).

Problems (options): pi ``--pi-darts`` darts per worker (strong: times the
largest worker count; 64 partitions); Ising ``--ising-L`` (2D, T = 2.269,
``--ising-sweeps`` sweeps, no thermalisation); LJ ``--lj-cells`` (4 cells^3
atoms, in.lj's density and cutoff, ``--lj-steps`` steps, NVE).  Lockstep runs use
max(16, largest worker count) partitions, so every worker count runs the same
partitions and results.  Worker counts: ``--workers`` (default 1,2,4,8,16, those
above the usable cores dropped).

Writes ``scaling.h5`` and ``scaling.png`` (speed-up and efficiency against
workers) and prints the Markdown table that BENCHMARKS.md shows.

On the 16-core device machine (DESIGN.md section 8 targets: batch 1 -> 16 >= 90 %,
lockstep with Ising L=4096 and LJ 256k atoms 1 -> 16 >= 75 %), one command:

    python experiments/scaling.py --workers 1,2,4,8,16 --pi-darts 1e9 --ising-L 4096 --ising-sweeps 1000 \\
        --lj-cells 40 --lj-steps 200 --repeats 1 --studies batch,mpi,ising,lj --outdir /tmp/scaling

That is about 3-4 minutes there, an estimate from this 2-core machine's 1-worker
rates (pi 1.1 ns a dart, Ising 1.3 ns a site update, LJ 360 ns an atom-step plus
about 1.8 s of set-up at 256k atoms): the 1-worker strong runs take about 18 s
(pi), 22 s (Ising) and 20 s (LJ), each study about twice that over five worker
counts, plus 15 weak runs of about 1.1-1.4 s, if the drivers scale.  A smoke
run: ``--workers 1,2 --pi-darts 1e6 --ising-L 32 --ising-sweeps 16 --lj-cells 5
--lj-steps 16``.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

from _measure import (exit_on_sigterm, loglog_plot, machine_summary, speedup_rows, speedup_table, timing_of,
                      usable_cores, worker_study_parser, write_rows)
import simcore
from simcore.runner import prepare

#: Batch partitions: 4 a worker at 16 workers, as tests/benchmarks/test_scaling.py.
PI_PARTITIONS = 64


def even(value: float) -> int:
    """The nearest even whole number, at least 2 (an Ising L)."""
    return max(2, 2 * round(value / 2))


def problems(args: argparse.Namespace, workers: int, largest: int, weak: bool) -> dict[str, tuple[dict, float]]:
    """Each model's parameters on ``workers`` workers, and its work (darts, site updates, atom-steps), by model."""
    share = workers / largest if weak else 1.0
    darts = round(args.pi_darts * (workers if weak else largest))
    side = even(args.ising_L * math.sqrt(share)) if weak and workers < largest else args.ising_L
    cells = max(1, round(args.lj_cells * share ** (1 / 3)))
    partitions = max(16, largest)
    return {
        "pi": (dict(samples=darts, partitions=PI_PARTITIONS), float(darts)),
        "ising": (dict(L=side, T=2.269, sweeps=args.ising_sweeps, thermalize=0, partitions=partitions),
                  float(side * side * args.ising_sweeps)),
        "lj": (dict(cells=cells, steps=args.lj_steps, partitions=partitions), float(4 * cells**3 * args.lj_steps)),
    }


#: Each study's model and executor.
RUNS_OF = {"batch (pi)": ("pi", "process"), "batch (pi, MPI ranks)": ("pi", "mpi"),
           "lockstep (Ising)": ("ising", "process"), "lockstep (Ising, MPI ranks)": ("ising", "mpi"),
           "lockstep (LJ)": ("lj", "process"), "lockstep (LJ, MPI ranks)": ("lj", "mpi")}
#: ``--studies`` names.
STUDY_NAMED = {"batch": "batch (pi)", "mpi": "batch (pi, MPI ranks)", "ising": "lockstep (Ising)",
               "ising-mpi": "lockstep (Ising, MPI ranks)", "lj": "lockstep (LJ)",
               "lj-mpi": "lockstep (LJ, MPI ranks)"}


def chosen(args: argparse.Namespace) -> list[str]:
    """The studies ``--studies`` names, in their table order."""
    return [study for name, study in STUDY_NAMED.items() if name in args.studies]


def study_names(text: str) -> list[str]:
    """``"batch,lj"`` -> ``["batch", "lj"]``, each a key of STUDY_NAMED (argparse type)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in STUDY_NAMED]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"studies are a comma-separated list of {', '.join(STUDY_NAMED)} "
                                         f"(got {text!r})")
    return names


def wall_seconds(study: str, params: dict, workers: int, directory: Path) -> float:
    """One run of ``study`` with ``params`` on ``workers`` workers (or MPI ranks): the engine's wall time [s]."""
    model, executor = RUNS_OF[study]
    out = directory / f"{model}.h5"
    res = simcore.run(model, workers=workers, executor=executor, checkpoint_every=0, seed=1,
                      out=str(out), force=True, **params)
    seconds = float(res.attrs["wall_seconds"])
    out.unlink()
    return seconds


def check(args: argparse.Namespace, counts: list[int]) -> None:
    """Validate every run's parameters before anything runs (simcore.ConfigError names the bad one)."""
    for weak in (False, True):
        for workers in counts:
            for study in chosen(args):
                model, executor = RUNS_OF[study]
                params = problems(args, workers, max(counts), weak)[model][0]
                prepare(model, dict(params, workers=workers, executor=executor), force=True)


def warm_up(args: argparse.Namespace, largest: int, directory: Path) -> None:
    """Start the forkserver and run every model once, small, on ``largest`` workers (untimed)."""
    tiny = argparse.Namespace(pi_darts=1e5, ising_L=max(32, 2 * largest), ising_sweeps=16, lj_cells=5, lj_steps=16)
    for study in chosen(args):
        wall_seconds(study, problems(tiny, largest, largest, weak=False)[RUNS_OF[study][0]][0], largest, directory)


def measure(args: argparse.Namespace, counts: list[int], directory: Path) -> list[dict]:
    """Every study, strong and weak, at every worker count; rows as ``speedup_rows`` makes them."""
    largest = max(counts)
    rows = []
    done = {}  # (study, workers, params) -> Timing: weak scaling's largest point is strong scaling's, run once
    for weak in (False, True):
        kind = "weak" if weak else "strong"
        for study in chosen(args):
            timings, work = {}, {}
            for workers in counts:
                params, work[workers] = problems(args, workers, largest, weak)[RUNS_OF[study][0]]
                key = (study, workers, tuple(sorted(params.items())))
                if key not in done:
                    done[key] = timing_of([wall_seconds(study, params, workers, directory)
                                           for _ in range(args.repeats)])
                timings[workers] = done[key]
                print(f"{study}, {kind}, {workers} worker(s): {params} -> {timings[workers].median:.3g} s",
                      flush=True)
            rows += speedup_rows(f"{study}, {kind}", timings, work)
    return rows


def plot(path: Path, rows: list[dict], counts: list[int]) -> None:
    """Parallel efficiency against workers: strong scaling (left), weak (right), one line a driver."""
    series = {}
    for study in dict.fromkeys(row["study"] for row in rows):
        model, kind = study.rsplit(", ", 1)
        mine = [row for row in rows if row["study"] == study]
        series[f"{kind} scaling: {model}"] = ([r["workers"] for r in mine], [r["efficiency"] for r in mine])
    loglog_plot(path, series, "workers", "parallel efficiency",
                f"simcore drivers on 1..{max(counts)} process workers ({usable_cores()} usable cores)",
                hlines={"ideal": 1.0, "batch target (16 workers)": 0.90, "lockstep target (16 workers)": 0.75},
                panels=2, panel_of=lambda label: int(label.startswith("weak")), log=False)


def main() -> None:
    parser = worker_study_parser(__doc__, "1,2,4,8,16", repeats=1)  # counts above the usable cores are dropped
    parser.add_argument("--pi-darts", type=float, default=2e9, help="pi darts per worker")
    parser.add_argument("--ising-L", type=int, default=4096, help="Ising lattice side (even)")
    parser.add_argument("--ising-sweeps", type=int, default=200, help="Ising sweeps a run")
    parser.add_argument("--lj-cells", type=int, default=40, help="LJ fcc cells a side (4 cells^3 atoms)")
    parser.add_argument("--lj-steps", type=int, default=50, help="LJ steps a run")
    parser.add_argument("--studies", type=study_names, default=["batch", "ising", "lj"],
                        help="which to run, of batch, mpi (the batch study on MPI ranks: needs pip install -e "
                             "'.[mpi]'), ising, ising-mpi (Ising on MPI ranks), lj, lj-mpi (LJ on MPI ranks) "
                             "(default: batch,ising,lj)")
    args = parser.parse_args()
    counts = [w for w in args.workers if w <= usable_cores()]
    if not counts:
        parser.error(f"no worker count in {args.workers} fits the {usable_cores()} usable cores")
    if args.pi_darts < 1 or args.repeats < 1:
        parser.error("--pi-darts and --repeats must be >= 1")
    try:
        check(args, counts)
    except simcore.ConfigError as error:
        parser.error(str(error))
    exit_on_sigterm()
    args.outdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(dir=args.outdir) as directory:
            warm_up(args, max(counts), Path(directory))
            rows = measure(args, counts, Path(directory))
    except simcore.Interrupted as stopped:
        sys.exit(stopped.exit_code)
    write_rows(args.outdir / "scaling.h5", {"runs": rows})
    plot(args.outdir / "scaling.png", rows, counts)
    print(f"\n{machine_summary(started)}\n")
    print(speedup_table(rows, "driver (model), scaling"))


if __name__ == "__main__":
    main()

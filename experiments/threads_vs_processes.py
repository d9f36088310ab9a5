"""Threads or processes?  The same CPU-bound work as pure Python and as a nogil Numba kernel, and an I/O job.

Three jobs, each timed on 1..N workers (``--workers``, default 1..all usable
cores); the TOTAL work is fixed, cut into 4 equal tasks per worker, so the
speed-up is T(1 worker) / T(W workers) (strong scaling):

* ``pure Python``  -- darts thrown by a pure-Python loop (SplitMix64 numbers), holding the GIL;
* ``Numba nogil``  -- the same number of darts in ``simcore.models.pi.count_hits``, compiled
  ``nogil=True``, so a thread releases the GIL while it runs;

  each on a ``ThreadPoolExecutor`` and on a ``ProcessPoolExecutor`` (simcore's forkserver,
  kernels warm).  Pools are started and warmed before the timing: this measures the work,
  not the start (``pool_granularity.py`` measures that).  Each job is sized to ``--seconds``
  on one worker, calibrated first.
* ``HDF5 writes``  -- ``--writes`` checkpoint-sized writes (``--write-mb`` MB of float64 each,
  as simcore checkpoints them: h5py, uncompressed, to a temporary file, fsync, rename) on both
  pools; the speed-up is against the same writes done inline, one after another.
* ``overlap``      -- what simcore's checkpoint thread relies on: each darts job on one thread
  with the HDF5 writes, inline (one, then the other) and with the writes on a background thread
  beside the job; the cost of the writes is what they add to the job's wall time.  The Numba
  job releases the GIL, as simcore's main thread does while it waits on its workers; the
  pure-Python one holds it.

Writes ``threads_vs_processes.h5`` and ``threads_vs_processes.png`` (speed-up against workers,
one panel a job) and prints the Markdown tables that BENCHMARKS.md shows.

    python experiments/threads_vs_processes.py [--workers 1,2,4] [--seconds 2] [--repeats 3]
                                               [--writes 8] [--write-mb 32] [--outdir DIR]
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from _measure import (exit_on_sigterm, loglog_plot, machine_summary, markdown_table, speedup_rows, speedup_table,
                      started_pool, timed, usable_cores, worker_study_parser, write_rows)
from simcore._h5 import fsync_path
from simcore.models.pi import count_hits

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
#: Equal tasks per worker: the total work splits evenly at every worker count.
TASKS_PER_WORKER = 4
SEED = 7


def python_count_hits(stream: int, darts: int) -> int:
    """Darts with x^2 + y^2 < 1 among ``darts`` from SplitMix64 stream ``stream``, in pure Python [hits]."""
    state = (SEED * GOLDEN + stream) & MASK64
    hits = 0
    for _ in range(darts):
        state = (state + GOLDEN) & MASK64
        z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        z ^= z >> 31
        x, y = (z >> 32) * 2.0**-32, (z & 0xFFFFFFFF) * 2.0**-32
        hits += x * x + y * y < 1.0
    return hits


def numba_count_hits(stream: int, darts: int) -> int:
    """The same count with simcore's pi kernel (Philox, compiled nogil) [hits]."""
    return int(count_hits(np.uint64(SEED), np.uint64(stream), np.int64(darts)))


KERNELS = {"pure Python": python_count_hits, "Numba nogil": numba_count_hits}


def dart_task(kernel: str, stream: int, darts: int) -> int:
    """One task: ``darts`` darts of ``kernel`` on ``stream`` [hits]."""
    return KERNELS[kernel](stream, darts)


@lru_cache(maxsize=2)
def _snapshot(nbytes: int) -> np.ndarray:
    """A float64 array of ``nbytes`` bytes standing in for a state snapshot (made once a process)."""
    return np.random.default_rng(SEED).random(nbytes // 8)


def write_checkpoint(path: str, nbytes: int) -> None:
    """Write an ``nbytes`` snapshot to ``path`` as simcore checkpoints: HDF5 to a temporary file, fsync, rename."""
    import h5py

    temporary = path + ".tmp"
    with h5py.File(temporary, "w") as handle:
        handle.create_dataset("state", data=_snapshot(nbytes))
    fsync_path(Path(temporary))
    os.replace(temporary, path)


def seconds_per_dart(kernel: str) -> float:
    """Calibrated cost of one dart of ``kernel`` in this process [s] (best of 3 runs of 0.05-0.1 s)."""
    darts = 100_000 if kernel == "pure Python" else 100_000_000
    dart_task(kernel, 0, 10)
    return timed(lambda: dart_task(kernel, 0, darts), repeats=3).best / darts


def time_on_pools(kind: str, counts: list[int], repeats: int, fn, arguments) -> dict:
    """Timing of ``fn`` over ``arguments(workers)`` (a list of argument tuples) on a ``kind`` pool of each count.

    Each pool runs the whole list once untimed first (imports, per-process buffers).
    """
    timings = {}
    for workers in counts:
        calls = list(zip(*arguments(workers)))
        with started_pool(kind, workers) as pool:
            def run() -> None:
                list(pool.map(fn, *calls))
            run()
            timings[workers] = timed(run, repeats=repeats, budget=120.0)
    return timings


def dart_tasks(kernel: str, total_darts: int):
    """``arguments(workers)`` for ``time_on_pools``: ``total_darts`` darts of ``kernel`` in 4 tasks a worker."""
    def arguments(workers: int) -> list[tuple]:
        tasks = workers * TASKS_PER_WORKER
        return [(kernel, stream, total_darts // tasks) for stream in range(tasks)]
    return arguments


def time_overlap(darts_of: dict[str, int], writes_of: list[tuple], writes_alone: float, repeats: int) -> list[dict]:
    """Each kernel's job on one thread with the checkpoint writes: inline (one, then the other) and beside.

    ``writes_of`` are the writes' ``write_checkpoint`` arguments, already
    written once, and ``writes_alone`` their median time [s].  One row a
    kernel: the times [s] of the job alone, the writes alone, both inline and
    the writes on a thread beside the job (medians), and what the writes
    added to the job's wall time [s] either way.
    """
    def write_all() -> None:
        for call in writes_of:
            write_checkpoint(*call)

    def beside(compute) -> None:
        writer = threading.Thread(target=write_all)
        writer.start()
        try:
            compute()
        finally:
            writer.join()

    rows = []
    for kernel, darts in darts_of.items():
        def compute() -> None:
            dart_task(kernel, 0, darts)
        alone, inline, threaded = (timed(body, repeats=repeats, budget=120.0).median for body in (
            compute, lambda: (compute(), write_all()), lambda: beside(compute)))
        rows.append(dict(job=kernel, job_s=alone, writes_s=writes_alone, inline_s=inline, thread_s=threaded,
                         inline_cost_s=inline - alone, thread_cost_s=threaded - alone))
    return rows


def overlap_table(rows: list[dict]) -> str:
    """Markdown: one line per job, its times alone and with the writes inline or on a thread, and their cost."""
    cells = [[row["job"], f"{row['job_s']:.3g} s", f"{row['writes_s']:.3g} s",
              f"{row['inline_s']:.3g} s ({row['inline_cost_s']:+.3f} s)",
              f"{row['thread_s']:.3g} s ({row['thread_cost_s']:+.3f} s)"] for row in rows]
    return markdown_table(["job on one thread", "job alone", "writes alone", "job, then writes (cost)",
                           "writes on a thread beside the job (cost)"], cells)


def pool_rows(job: str, fn, arguments, counts: list[int], repeats: int, baseline=None) -> list[dict]:
    """``job`` timed on thread pools and on process pools of each worker count: ``speedup_rows`` of each."""
    rows = []
    for kind, plural in (("thread", "threads"), ("process", "processes")):
        timings = time_on_pools(kind, counts, repeats, fn, arguments)
        rows += speedup_rows(f"{job}, {plural}", timings, baseline=baseline)
        print(f"  {plural}: " + ", ".join(f"{w}: {t.median:.3g} s" for w, t in timings.items()), flush=True)
    return rows


def measure(counts: list[int], seconds: float, repeats: int, writes: int, nbytes: int,
            outdir: Path) -> tuple[list[dict], dict]:
    """Every job at every worker count, and the overlap cases (module docstring)."""
    rows = []
    darts_of = {}
    for kernel in KERNELS:
        per_dart = seconds_per_dart(kernel)
        darts_of[kernel] = max(TASKS_PER_WORKER * max(counts), round(seconds / per_dart))
        print(f"{kernel}: {per_dart * 1e9:.3g} ns a dart, {darts_of[kernel]:.3g} darts a run", flush=True)
        rows += pool_rows(kernel, dart_task, dart_tasks(kernel, darts_of[kernel]), counts, repeats)
    with tempfile.TemporaryDirectory(dir=outdir) as directory:
        writes_of = [(str(Path(directory) / f"snapshot{k}.h5"), nbytes) for k in range(writes)]
        for call in writes_of:  # untimed: h5py imported, snapshot made, the files exist (as for the pools)
            write_checkpoint(*call)
        inline = timed(lambda: [write_checkpoint(*call) for call in writes_of], repeats=repeats, budget=120.0)
        print(f"HDF5 writes: inline {inline.median:.3g} s", flush=True)
        rows += speedup_rows("HDF5 writes, inline", {1: inline})
        rows += pool_rows("HDF5 writes", write_checkpoint, lambda workers: writes_of, counts, repeats, inline)
        overlap = time_overlap(darts_of, writes_of, inline.median, repeats)
    return rows, overlap


def plot(path: Path, rows: list[dict], counts: list[int]) -> None:
    """Speed-up against workers, one panel a job."""
    panels = {"pure Python": 0, "Numba nogil": 1, "HDF5 writes": 2}
    series = {}
    for study in dict.fromkeys(row["study"] for row in rows):
        job, kind = study.split(", ")
        if kind != "inline":
            series[f"{job}: {kind}"] = ([r["workers"] for r in rows if r["study"] == study],
                                        [r["speedup"] for r in rows if r["study"] == study])
    loglog_plot(path, series, "workers", "speed-up over 1 worker (writes: over inline)",
                f"the same total work on 1..{max(counts)} workers ({usable_cores()} usable cores)",
                panels=3, panel_of=lambda label: panels[label.split(": ")[0]], log=False, diagonal="ideal")


def main() -> None:
    parser = worker_study_parser(__doc__, None, repeats=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="work of each job on one worker [s]")
    parser.add_argument("--writes", type=int, default=8, help="checkpoint writes in the I/O job")
    parser.add_argument("--write-mb", type=float, default=32.0, help="size of one checkpoint write [MB]")
    args = parser.parse_args()
    if args.seconds <= 0 or args.repeats < 1 or args.writes < 1 or args.write_mb <= 0:
        parser.error("--seconds and --write-mb must be > 0, --repeats and --writes >= 1")
    exit_on_sigterm()
    args.outdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows, overlap = measure(args.workers, args.seconds, args.repeats, args.writes,
                            max(8, round(args.write_mb * 1e6)), args.outdir)
    write_rows(args.outdir / "threads_vs_processes.h5", {"runs": rows, "overlap": overlap})
    plot(args.outdir / "threads_vs_processes.png", rows, args.workers)
    print(f"\n{machine_summary(started)}\n")
    print(speedup_table(rows, "job, pool"))
    print(overlap_table(overlap))


if __name__ == "__main__":
    main()

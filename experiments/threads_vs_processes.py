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
* ``overlap``      -- what simcore's checkpoint thread relies on: the pure-Python job on one
  worker and the HDF5 writes, inline (one then the other) and with the writes on a background
  thread beside the computation; "hidden" is the share of the write time that the thread took
  off the wall time.

Writes ``threads_vs_processes.h5`` and ``threads_vs_processes.png`` (speed-up against workers,
one panel a job) and prints the Markdown tables that BENCHMARKS.md shows.

    python experiments/threads_vs_processes.py [--workers 1,2,4] [--seconds 2] [--repeats 3]
                                               [--writes 8] [--write-mb 32] [--outdir DIR]
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from _measure import (exit_on_sigterm, loglog_plot, markdown_table, speedup_rows, speedup_table, timed,
                      usable_cores, worker_study_parser, write_rows)
from simcore.executors import forkserver_context
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
    descriptor = os.open(temporary, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)


def noop(_: object = None) -> int:
    """A task that does nothing (pool warm-up)."""
    return 0


def seconds_per_dart(kernel: str) -> float:
    """Calibrated cost of one dart of ``kernel`` in this process [s] (best of 3 runs of about 0.2 s)."""
    darts = 100_000 if kernel == "pure Python" else 100_000_000
    dart_task(kernel, 0, 10)
    return timed(lambda: dart_task(kernel, 0, darts), repeats=3).best / darts


def make_pool(kind: str, workers: int) -> cf.Executor:
    """A thread pool, or a process pool on simcore's forkserver, with every worker already started."""
    if kind == "thread":
        pool = cf.ThreadPoolExecutor(max_workers=workers)
    else:
        pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=forkserver_context())
    list(pool.map(noop, range(workers)))
    return pool


def time_on_pools(kind: str, counts: list[int], repeats: int, fn, arguments) -> dict:
    """Timing of ``fn`` over ``arguments(workers)`` (a list of argument tuples) on a ``kind`` pool of each count.

    Each pool runs the whole list once untimed first (imports, per-process buffers).
    """
    timings = {}
    for workers in counts:
        calls = list(zip(*arguments(workers)))
        with make_pool(kind, workers) as pool:
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


def time_overlap(darts: int, directory: Path, writes: int, nbytes: int, repeats: int) -> dict:
    """Pure-Python darts and the checkpoint writes: each alone, one after the other, and the writes on a thread."""
    paths = [str(directory / f"overlap{k}.h5") for k in range(writes)]

    def compute() -> None:
        python_count_hits(0, darts)

    def write_all() -> None:
        for path in paths:
            write_checkpoint(path, nbytes)

    def beside() -> None:
        writer = threading.Thread(target=write_all)
        writer.start()
        try:
            compute()
        finally:
            writer.join()

    cases = {"compute alone": compute, "writes alone": write_all,
             "inline: compute, then writes": lambda: (compute(), write_all()),
             "writes on a thread beside compute": beside}
    return {case: timed(body, repeats=repeats, budget=120.0) for case, body in cases.items()}


def overlap_table(timings: dict) -> tuple[str, float]:
    """Markdown of the overlap cases, and the share of the write time the thread hid (0..1)."""
    inline = timings["inline: compute, then writes"].median
    hidden = (inline - timings["writes on a thread beside compute"].median) / timings["writes alone"].median
    cells = [[case, f"{t.median:.3g} s", f"{t.best:.3g}-{t.worst:.3g} s"] for case, t in timings.items()]
    return markdown_table(["case", "median", "range"], cells), hidden


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
        write_checkpoint(*writes_of[0])  # h5py imported, snapshot made
        inline = timed(lambda: [write_checkpoint(*call) for call in writes_of], repeats=repeats, budget=120.0)
        print(f"HDF5 writes: inline {inline.median:.3g} s", flush=True)
        rows += speedup_rows("HDF5 writes, inline", {1: inline})
        rows += pool_rows("HDF5 writes", write_checkpoint, lambda workers: writes_of, counts, repeats, inline)
        overlap = time_overlap(darts_of["pure Python"], Path(directory), writes, nbytes, repeats)
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
    table, hidden = overlap_table(overlap)
    write_rows(args.outdir / "threads_vs_processes.h5",
               {"runs": rows, "overlap": [dict(case=case, median_s=t.median, best_s=t.best, worst_s=t.worst)
                                          for case, t in overlap.items()]})
    plot(args.outdir / "threads_vs_processes.png", rows, args.workers)
    print(f"\n{usable_cores()} usable cores; {time.perf_counter() - started:.0f} s in all\n")
    print(speedup_table(rows, "job, pool"))
    print(table)
    print(f"the writer thread hid {hidden:.0%} of the write time")


if __name__ == "__main__":
    main()

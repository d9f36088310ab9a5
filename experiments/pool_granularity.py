"""When does a pool pay?  The same work cut into tasks of 1 us .. 1 s: serial, threads, processes.

The work is simcore's own pi kernel (``count_hits``, compiled ``nogil``, so
threads can run it in parallel); a task of duration s throws s / (ns per dart)
darts, calibrated first.  For each task size the script times

* ``serial``  -- a loop in this process;
* ``thread``  -- a ``ThreadPoolExecutor`` of W threads, started inside the timing;
* ``process`` -- a ``ProcessPoolExecutor`` of W workers on simcore's forkserver (warm
  kernels, as the engine starts it), started inside the timing, one task per submit
  (as the engine submits one partition).

Every mode runs the same tasks: ``--total`` seconds of work, except that at
most ``--max-tasks`` tasks are run (the smallest sizes then do less work; the
table says how much).  Separately it times what the engine's ``workers=auto``
needs: the process pool's start (first result of a no-op task, forkserver
already running; and the forkserver's own cold start with its kernel preload)
and the per-task overhead (the pool's time per 1 us task).

Writes ``pool_granularity.h5``, ``pool_granularity.png`` (speed-up over serial
against task size) and prints the Markdown table that BENCHMARKS.md shows.

    python experiments/pool_granularity.py [--total 2] [--sizes 1e-6,...,1] [--workers W] [--outdir DIR]
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import time
from pathlib import Path

import numpy as np

from _measure import (exit_on_sigterm, human_seconds, loglog_plot, markdown_table,
                      parse_numbers, started_pool, timed, usable_cores, write_rows)
from simcore.executors import forkserver_context
from simcore.models.pi import count_hits

DEFAULT_SIZES = "1e-6,1e-5,1e-4,1e-3,1e-2,1e-1,1"


def task(darts: int) -> int:
    """One task: ``darts`` darts of the pi kernel (about 1 ns each) [hits]."""
    return int(count_hits(np.uint64(7), np.uint64(0), np.int64(darts)))


def seconds_per_dart() -> float:
    """Calibrated cost of one dart in this process [s] (best of a few 5e7-dart runs)."""
    task(10)
    return timed(lambda: task(50_000_000), repeats=5).best / 50_000_000


def run_serial(darts: int, tasks: int, workers: int) -> None:
    for _ in range(tasks):
        task(darts)


def run_threads(darts: int, tasks: int, workers: int) -> None:
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(task, [darts] * tasks):
            pass


def run_processes(darts: int, tasks: int, workers: int) -> None:
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=forkserver_context()) as pool:
        for _ in pool.map(task, [darts] * tasks):
            pass


MODES = {"serial": run_serial, "thread": run_threads, "process": run_processes}


def start_pool(workers: int) -> None:
    """Start a process pool on simcore's forkserver, get ``workers`` no-op results, shut it down."""
    with started_pool("process", workers):
        pass


def measure(sizes: list[float], total: float, max_tasks: int, workers: int, repeats: int) -> tuple[list[dict], dict]:
    """Time every mode at every task size; also the pool's start-up and per-task costs."""
    started = time.perf_counter()
    start_pool(workers)  # the first pool also starts the forkserver, which preloads simcore's kernels
    cold_start = time.perf_counter() - started
    per_dart = seconds_per_dart()
    start = timed(lambda: start_pool(workers), repeats=max(repeats, 5)).median
    print(f"dart {per_dart * 1e9:.3f} ns; forkserver cold start {cold_start:.2f} s; "
          f"process pool start (warm server) {start * 1e3:.0f} ms", flush=True)
    rows = []
    for size in sizes:
        darts = max(1, round(size / per_dart))
        tasks = max(1, min(max_tasks, round(total / size)))
        times = {}
        for mode, body in MODES.items():
            times[mode] = timed(lambda: body(darts, tasks, workers), repeats=repeats, budget=60.0)
        serial = times["serial"].median
        for mode, timing in times.items():
            rows.append(dict(mode=mode, task_seconds=size, tasks=tasks, work_seconds=tasks * darts * per_dart,
                             median_s=timing.median, best_s=timing.best, worst_s=timing.worst,
                             speedup=serial / timing.median))
        print(f"task {human_seconds(size):>7} x {tasks:>6}: " + "  ".join(
            f"{mode} {timing.median:7.3f} s ({serial / timing.median:5.2f} x)" for mode, timing in times.items()),
            flush=True)
    smallest = min(sizes)
    tiny = {row["mode"]: row for row in rows if row["task_seconds"] == smallest}
    costs = dict(cold_start_s=cold_start, pool_start_s=start, seconds_per_dart=per_dart, workers=workers,
                 process_task_overhead_s=max(0.0, tiny["process"]["median_s"] - start) / tiny["process"]["tasks"]
                 * workers,
                 thread_task_overhead_s=tiny["thread"]["median_s"] / tiny["thread"]["tasks"] * workers)
    return rows, costs


def crossover(rows: list[dict], mode: str) -> float | None:
    """Smallest task size [s] from which ``mode`` is faster than serial at every larger size (None: never)."""
    sizes = sorted({row["task_seconds"] for row in rows})
    wins = {row["task_seconds"]: row["speedup"] > 1.0 for row in rows if row["mode"] == mode}
    winning = None
    for size in reversed(sizes):
        if not wins[size]:
            break
        winning = size
    return winning


def table(rows: list[dict]) -> str:
    """Markdown: one row per task size; time and speed-up over serial per mode."""
    sizes = sorted({row["task_seconds"] for row in rows})
    cells = []
    for size in sizes:
        at = {row["mode"]: row for row in rows if row["task_seconds"] == size}
        cells.append([human_seconds(size), str(at["serial"]["tasks"]), f"{at['serial']['work_seconds']:.3g} s"]
                     + [f"{at[mode]['median_s']:.3g} s ({at[mode]['speedup']:.2f} x)" for mode in MODES])
    return markdown_table(["task", "tasks", "work", "serial", "thread pool", "process pool"], cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=float, default=2.0, help="seconds of work per mode and size")
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="task durations in seconds, comma-separated")
    parser.add_argument("--max-tasks", type=int, default=20_000, help="most tasks per run")
    parser.add_argument("--workers", type=int, default=usable_cores())
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell (median reported)")
    parser.add_argument("--outdir", type=Path, default=Path("."))
    args = parser.parse_args()
    exit_on_sigterm()
    args.outdir.mkdir(parents=True, exist_ok=True)
    rows, costs = measure(sorted(parse_numbers(args.sizes)), args.total, args.max_tasks, args.workers, args.repeats)
    write_rows(args.outdir / "pool_granularity.h5", {"runs": rows, "costs": [costs]})
    series = {f"{mode} pool": ([r["task_seconds"] for r in rows if r["mode"] == mode],
                               [r["speedup"] for r in rows if r["mode"] == mode]) for mode in ("thread", "process")}
    loglog_plot(args.outdir / "pool_granularity.png", series, "task duration [s]", "speed-up over serial",
                f"same work, {args.workers} workers: where a pool pays",
                hlines={"break-even (serial)": 1.0, f"ideal ({args.workers} x)": float(args.workers)})
    print()
    print(table(rows))
    for mode in ("thread", "process"):
        at = crossover(rows, mode)
        print(f"{mode} pool beats serial from tasks of {human_seconds(at) if at else 'never'} on")
    print(f"process pool start {costs['pool_start_s'] * 1e3:.0f} ms (forkserver cold start "
          f"{costs['cold_start_s']:.2f} s); per-task overhead: process "
          f"{costs['process_task_overhead_s'] * 1e6:.0f} us, thread {costs['thread_task_overhead_s'] * 1e6:.0f} us "
          f"(worker-seconds per task)")


if __name__ == "__main__":
    main()

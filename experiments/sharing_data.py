"""Moving a float64 array between processes: Queue, Pipe, Manager, shared_memory, mmap.

One worker process (forkserver) and the parent move an N-element float64
array in each direction, worker -> parent and parent -> worker, with

* ``queue``     -- ``multiprocessing.Queue`` (pickle + feeder thread + pipe);
* ``pipe``      -- ``multiprocessing.Pipe``, ``send``/``recv`` (pickle + pipe);
* ``manager``   -- a ``Manager().Namespace()`` attribute (pickled twice, via the manager process);
* ``manager-list`` -- a ``Manager().list()`` of Python floats (small sizes only: one object per element);
* ``shm``       -- ``multiprocessing.shared_memory`` (what simcore uses): a block made once by the
  parent, attached once by the worker; moving data is one memcpy by the sender, and the receiver
  reads a NumPy view, no copy;
* ``mmap``      -- a memory-mapped file (``np.memmap``, page cache, no ``msync``), as ``shm``.

A transfer is timed from the parent's request until the receiver holds the
array as a NumPy array, checked (the control message round trip is part of
it).  Latency is the median time of a 1-element array; throughput is bytes
over the median time per size.  The lock-contention case runs W workers that
each add 1 to a shared counter M times: under a ``Lock``, without one (lost
updates), and into per-worker rows of a shared array summed at the end
(simcore's pattern: every partition owns its tally row).

Writes ``sharing_data.h5``, ``sharing_data.png`` and prints the Markdown
tables that BENCHMARKS.md shows.

    python experiments/sharing_data.py [--sizes 1e6,1e7,1e8,1e9] [--repeats 5] [--outdir DIR]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from _measure import (exit_on_sigterm, human_bytes, human_seconds, loglog_plot,
                      markdown_table, parse_numbers, timed, write_rows)

METHODS = ("queue", "pipe", "manager", "manager-list", "shm", "mmap")
DIRECTIONS = ("to_parent", "to_worker")
#: A Manager list holds one Python float per element: beyond this many bytes it is too slow to time.
MANAGER_LIST_MAX_BYTES = 10_000_000
#: Row stride of the per-worker counters [float64]: one 64-byte cache line each, no false sharing.
ROW_STRIDE = 8


class Channels:
    """Every transport, made once by the parent and handed to the worker at its start."""

    def __init__(self, context, manager, max_bytes: int, mmap_path: Path) -> None:
        self.ctrl_parent, self.ctrl_worker = context.Pipe()
        self.pipe_parent, self.pipe_worker = context.Pipe()
        self.to_parent_queue, self.to_worker_queue = context.Queue(), context.Queue()
        self.namespace = manager.Namespace()
        self.list = manager.list()
        self.shm = shared_memory.SharedMemory(create=True, size=max(max_bytes, 8))
        self.mmap_path = mmap_path
        np.memmap(mmap_path, dtype=np.uint8, mode="w+", shape=(max(max_bytes, 8),)).flush()

    def worker_args(self) -> tuple:
        return (self.ctrl_worker, self.pipe_worker, self.to_parent_queue, self.to_worker_queue, self.namespace,
                self.list, self.shm.name, self.shm.size, str(self.mmap_path))


def _worker(ctrl, pipe, to_parent_queue, to_worker_queue, namespace, shared_list, shm_name, shm_size, mmap_path):
    """The worker: answer (method, direction, n) requests until it receives None."""
    shm = shared_memory.SharedMemory(name=shm_name)
    mapped = np.memmap(mmap_path, dtype=np.float64, mode="r+", shape=(shm_size // 8,))
    block = np.frombuffer(shm.buf, dtype=np.float64)
    data = np.zeros(0)
    try:
        while (request := ctrl.recv()) is not None:
            method, direction, n = request
            if len(data) != n:
                data = np.arange(n, dtype=np.float64)
            if direction == "to_parent":
                _send(method, data, pipe, to_parent_queue, namespace, shared_list, block, mapped)
                if method not in ("queue", "pipe"):
                    ctrl.send(n)  # "written"
            else:
                got = _receive(method, n, pipe, to_worker_queue, namespace, shared_list, block, mapped)
                ctrl.send(float(got[-1]))
                del got
    finally:
        del block, mapped
        shm.close()


def _send(method, data, pipe, queue, namespace, shared_list, block, mapped) -> None:
    if method == "queue":
        queue.put(data)
    elif method == "pipe":
        pipe.send(data)
    elif method == "manager":
        namespace.data = data
    elif method == "manager-list":
        shared_list[:] = data.tolist()
    elif method == "shm":
        block[:len(data)] = data
    else:
        mapped[:len(data)] = data


def _receive(method, n, pipe, queue, namespace, shared_list, block, mapped) -> np.ndarray:
    if method == "queue":
        return queue.get()
    if method == "pipe":
        return pipe.recv()
    if method == "manager":
        return namespace.data
    if method == "manager-list":
        return np.array(shared_list[:], dtype=np.float64)
    if method == "shm":
        return block[:n]
    return mapped[:n]


class Parent:
    """The parent's side of the transfers, one persistent worker."""

    def __init__(self, channels: Channels) -> None:
        self.ch = channels
        self.block = np.frombuffer(channels.shm.buf, dtype=np.float64)
        self.mapped = np.memmap(channels.mmap_path, dtype=np.float64, mode="r+", shape=(channels.shm.size // 8,))
        self.payloads: dict[int, np.ndarray] = {}

    def transfer(self, method: str, direction: str, n: int) -> None:
        """One transfer of an n-element array; raises if the receiver got the wrong data."""
        ch = self.ch
        if direction == "to_parent":
            ch.ctrl_parent.send((method, direction, n))
            if method not in ("queue", "pipe"):  # wait for "written"
                ch.ctrl_parent.recv()
            got = _receive(method, n, ch.pipe_parent, ch.to_parent_queue, ch.namespace, ch.list, self.block,
                           self.mapped)
            last = float(got[-1])
            del got
        else:
            if len(self.payloads.get(n, ())) != n:
                self.payloads = {n: np.arange(n, dtype=np.float64)}
            streamed = method in ("queue", "pipe")  # the worker blocks on them; the others need "ready" after
            if streamed:
                ch.ctrl_parent.send((method, direction, n))
            _send(method, self.payloads[n], ch.pipe_parent, ch.to_worker_queue, ch.namespace, ch.list, self.block,
                  self.mapped)
            if not streamed:
                ch.ctrl_parent.send((method, direction, n))
            last = ch.ctrl_parent.recv()
        if last != n - 1:
            raise RuntimeError(f"{method} {direction}: got {last}, expected {n - 1}")

    def close(self) -> None:
        self.ch.ctrl_parent.send(None)
        del self.block, self.mapped


def measure_transfers(sizes: list[int], repeats: int, budget: float) -> list[dict]:
    """Time every method, direction and size (plus the 1-element latency); one row per cell."""
    context = mp.get_context("forkserver")
    rows = []
    with tempfile.TemporaryDirectory() as scratch, context.Manager() as manager:
        channels = Channels(context, manager, max(sizes) * 8, Path(scratch) / "mapped.bin")
        worker = context.Process(target=_worker, args=channels.worker_args(), name="sharing-worker")
        worker.start()
        parent = Parent(channels)
        try:
            for method in METHODS:
                for direction in DIRECTIONS:
                    parent.transfer(method, direction, 1)  # warm-up: pickler, attach, first pages
                    latency = timed(lambda: parent.transfer(method, direction, 1), repeats=max(repeats, 20),
                                    budget=budget)
                    for n in sizes:
                        nbytes = n * 8
                        if method == "manager-list" and nbytes > MANAGER_LIST_MAX_BYTES:
                            continue
                        parent.transfer(method, direction, n)
                        timing = timed(lambda: parent.transfer(method, direction, n), repeats=repeats, budget=budget)
                        rows.append(dict(method=method, direction=direction, nbytes=nbytes, median_s=timing.median,
                                         best_s=timing.best, worst_s=timing.worst, repeats=timing.repeats,
                                         gb_per_s=nbytes / timing.median / 1e9, latency_s=latency.median))
                        print(f"{method:>12} {direction:>9} {human_bytes(nbytes):>7}: {timing.median * 1e3:9.2f} ms "
                              f"median ({timing.repeats} runs), {nbytes / timing.median / 1e9:6.2f} GB/s", flush=True)
        finally:
            parent.close()
            worker.join(timeout=30)
            channels.shm.close()
            channels.shm.unlink()
    return rows


def _count_locked(counter, increments, start, results) -> None:
    start.wait()
    began = time.perf_counter()
    for _ in range(increments):
        with counter.get_lock():
            counter.value += 1
    results.put(time.perf_counter() - began)


def _count_unlocked(counter, increments, start, results) -> None:
    start.wait()
    began = time.perf_counter()
    for _ in range(increments):
        counter.value += 1  # read-modify-write without the lock: updates get lost
    results.put(time.perf_counter() - began)


def _count_own_row(shm_name, worker, workers, increments, start, results) -> None:
    shm = shared_memory.SharedMemory(name=shm_name)
    rows = np.frombuffer(shm.buf, dtype=np.float64).reshape(workers, ROW_STRIDE)
    mine = rows[worker]
    start.wait()
    began = time.perf_counter()
    for _ in range(increments):
        mine[0] += 1.0
    results.put(time.perf_counter() - began)
    del mine, rows
    shm.close()


def measure_counters(workers: int, increments: int) -> list[dict]:
    """W workers each add 1, ``increments`` times: locked counter, unlocked counter, own rows."""
    context = mp.get_context("forkserver")
    rows = []
    for case in ("Lock around a shared Value", "shared Value, no lock", "own row per worker, summed at the end"):
        start, results = context.Event(), context.Queue()
        shm = None
        if case.startswith("own row"):
            shm = shared_memory.SharedMemory(create=True, size=workers * ROW_STRIDE * 8)
            np.frombuffer(shm.buf, dtype=np.float64)[:] = 0.0
            procs = [context.Process(target=_count_own_row, args=(shm.name, w, workers, increments, start, results))
                     for w in range(workers)]
        else:
            counter = context.Value("q", 0)
            target = _count_locked if case.startswith("Lock") else _count_unlocked
            procs = [context.Process(target=target, args=(counter, increments, start, results))
                     for _ in range(workers)]
        for proc in procs:
            proc.start()
        time.sleep(0.5)  # every worker is waiting at the start line
        start.set()
        elapsed = max(results.get() for _ in procs)
        for proc in procs:
            proc.join()
        if shm is not None:
            view = np.frombuffer(shm.buf, dtype=np.float64).reshape(workers, ROW_STRIDE)
            total = int(view[:, 0].sum())
            del view
            shm.close()
            shm.unlink()
        else:
            total = counter.value
        expected = workers * increments
        rows.append(dict(case=case, workers=workers, increments=expected, total=total, seconds=elapsed,
                         per_second=expected / elapsed))
        print(f"{case:>40}: {elapsed:6.2f} s, {expected / elapsed / 1e6:6.2f} M increments/s, "
              f"count {total} of {expected}", flush=True)
    return rows


def transfer_tables(rows: list[dict]) -> str:
    """Markdown: GB/s per method (rows) and size (columns), both directions; then latencies."""
    sizes = sorted({row["nbytes"] for row in rows})
    out = []
    for direction in DIRECTIONS:
        cells = []
        for method in METHODS:
            found = {row["nbytes"]: row for row in rows if row["method"] == method and row["direction"] == direction}
            if found:
                cells.append([method] + [f"{found[s]['gb_per_s']:.3g}" if s in found else "-" for s in sizes]
                             + [human_seconds(next(iter(found.values()))["latency_s"])])
        header = [f"{direction.replace('_', ' ')} [GB/s]"] + [human_bytes(s) for s in sizes] + ["latency (8 B)"]
        out.append(markdown_table(header, cells))
    return "\n".join(out)


def counter_table(rows: list[dict]) -> str:
    """Markdown: the lock-contention cases."""
    return markdown_table(["case", "workers", "increments/s", "final count", "expected"],
                          [[row["case"], str(row["workers"]), f"{row['per_second'] / 1e6:.3g} M",
                            str(row["total"]), str(row["increments"])] for row in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6,1e7,1e8,1e9", help="array sizes in bytes, comma-separated")
    parser.add_argument("--repeats", type=int, default=5, help="timed transfers per cell (median reported)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds at most per cell")
    parser.add_argument("--workers", type=int, default=4, help="workers of the lock-contention case")
    parser.add_argument("--increments", type=int, default=200_000, help="increments per worker")
    parser.add_argument("--outdir", type=Path, default=Path("."))
    args = parser.parse_args()
    exit_on_sigterm()
    args.outdir.mkdir(parents=True, exist_ok=True)
    sizes = [max(1, int(nbytes) // 8) for nbytes in parse_numbers(args.sizes)]
    transfers = measure_transfers(sizes, args.repeats, args.budget)
    counters = measure_counters(args.workers, args.increments)
    write_rows(args.outdir / "sharing_data.h5", {"transfers": transfers, "counters": counters})
    series = {f"{direction.replace('_', ' ')}: {method}": (
        [row["nbytes"] for row in transfers if row["method"] == method and row["direction"] == direction],
        [row["gb_per_s"] for row in transfers if row["method"] == method and row["direction"] == direction])
        for direction in DIRECTIONS for method in METHODS}
    loglog_plot(args.outdir / "sharing_data.png", {k: v for k, v in series.items() if v[0]}, "array size [bytes]",
                "throughput [GB/s]", "float64 array between two processes", panels=2,
                panel_of=lambda label: DIRECTIONS.index(label.split(":")[0].replace(" ", "_")))
    print()
    print(transfer_tables(transfers))
    print(counter_table(counters))


if __name__ == "__main__":
    main()

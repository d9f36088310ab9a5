"""Checkpoint overhead: one transport run with checkpointing off, async and sync, side by side in one process.

The tally state is ``partitions`` rows of ``5 + 2 * bins`` float64 (bins =
100000, transport's maximum: 1.5 MiB a row); with 168 partitions that is
256.4 MiB in shared memory, checkpointed every 3 s.  A completed row is final,
so each checkpoint writes the rows completed since the previous one to a row
segment and lists all earlier segments (``simcore/segments.py``): whatever
the cadence, a run writes its state about once, and the overhead is the cost
of that write over the run's length.  The bytes each checkpoint wrote are
measured and recorded.

Times are the engine's wall time (``run_batch``: partitions, checkpoints
including the final one, tally copy; no results file, which would be the same
for every mode).  The three modes run in turn, ``ROUNDS`` times, and each
mode's fastest round is compared, which filters out the machine's noise
(DESIGN.md section 8 target: async overhead <= 2 % of wall time; sync drains
the partitions in flight and writes while the workers wait, so it is
expected to be clearly slower).

On a small shared VM the round-to-round spread of the same run can exceed
2 %, so the cost is also accounted directly: for async, the time the run's
loop spent handing over snapshots and waiting for the last write, plus the
writer thread's CPU time divided by the cores it competed with; for sync, the
time the loop stood still draining the partitions in flight and writing.
Those figures do not depend on the neighbours' noise, and they are the ones
asserted.
"""
import logging
import os
import re

import pytest

#: Driver studies, minutes long when measuring: run on purpose, pytest tests/benchmarks --benchmark-only -m slow.
pytestmark = pytest.mark.slow

from simcore.engine import run_batch
from simcore.runner import checkpoint_plan, prepare

ASYNC_TARGET = 0.02  # DESIGN.md section 8
EVERY_SECONDS = 3.0
BINS = 100_000
PARTITIONS = 168
ROUNDS = 3
MODES = ("off", "async", "sync")
_WRITTEN = re.compile(r"checkpoint \d+ \((\w+)\) written to .* in ([\d.]+) s \(([\d.]+) MiB\)")


class _CheckpointLog(logging.Handler):
    """Collects (status, seconds, MiB written) of every checkpoint the writer reports."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.writes: list[tuple[str, float, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = _WRITTEN.match(record.getMessage())
        if match:
            self.writes.append((match[1], float(match[2]), float(match[3])))


def _run(tmp_path, histories, partitions, mode):
    """One engine run; returns (wall seconds, checkpoint writes, tallies, writer stats)."""
    model, cfg, out = prepare("transport", {
        "histories": histories, "bins": BINS, "partitions": partitions, "workers": len(os.sched_getaffinity(0)),
        "checkpoint_every": 0 if mode == "off" else EVERY_SECONDS,
        "checkpoint_mode": "async" if mode == "off" else mode, "out": str(tmp_path / f"{mode}.h5")}, force=True)
    handler = _CheckpointLog()
    logger = logging.getLogger("simcore.checkpoint")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        outcome = run_batch(model, cfg, checkpoints=checkpoint_plan(model, cfg, out))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    for leftover in tmp_path.glob(f"{mode}.h5*"):
        leftover.unlink()  # keep the disk (and page cache) free for the next run
    os.sync()
    return outcome.wall_seconds, handler.writes, outcome.tallies, outcome.checkpoint_stats


@pytest.fixture(scope="module")
def warm_pool(tmp_path_factory):
    """Start the forkserver and load the transport kernel before anything is timed."""
    _run(tmp_path_factory.mktemp("warm"), 1000, 2, "off")


def test_async_checkpoint_overhead_against_off_and_sync(benchmark, tmp_path, warm_pool):
    cores = len(os.sched_getaffinity(0))
    # ~40 s per run on 2 cores (1.2e7 histories/s per core with 100000 bins); a tiny problem as a smoke test
    histories, partitions, rounds = (480_000_000 * cores, PARTITIONS, ROUNDS) if not benchmark.disabled else (
        20_000, 8, 1)
    walls: dict[str, list[float]] = {mode: [] for mode in MODES}
    writes: dict[str, list] = {}
    tallies = {}
    accounted: list[float] = []
    sync_stalled: list[float] = []

    def one_round():
        for mode in MODES:
            wall, written, tallies[mode], stats = _run(tmp_path, histories, partitions, mode)
            walls[mode].append(wall)
            writes[mode] = written
            if mode == "async":
                accounted.append((stats.loop_seconds + stats.cpu_seconds / cores) / wall)
            elif mode == "sync":
                sync_stalled.append(stats.loop_seconds / wall)

    for _ in range(rounds - 1):
        one_round()
    benchmark.pedantic(one_round, rounds=1, iterations=1)
    assert (tallies["off"] == tallies["async"]).all() and (tallies["off"] == tallies["sync"]).all()
    assert writes["off"] == []
    assert writes["async"] and writes["async"][-1][0] == "finished"
    if benchmark.disabled:
        return
    off, async_, sync = (min(walls[mode]) for mode in MODES)
    state_mib = partitions * (5 + 2 * BINS) * 8 / 2**20
    written = [w[2] for w in writes["async"]]
    benchmark.extra_info.update(
        cores=cores, histories=histories, state_mib=state_mib, every_seconds=EVERY_SECONDS,
        seconds_off=off, seconds_async=async_, seconds_sync=sync,
        async_overhead=async_ / off - 1, sync_overhead=sync / off - 1, async_accounted=max(accounted),
        sync_stalled=min(sync_stalled),
        off_spread=max(walls["off"]) / off - 1,
        checkpoints_async=len(writes["async"]), checkpoints_sync=len(writes["sync"]),
        mean_mib_written=sum(written) / len(written), max_mib_written=max(written),
        async_write_seconds=sum(w[1] for w in writes["async"]),
        all_rounds=str({mode: [round(t, 2) for t in ts] for mode, ts in walls.items()}),
    )
    assert state_mib >= 256
    assert max(accounted) <= ASYNC_TARGET
    assert min(sync_stalled) > 2 * max(accounted)  # sync stands still longer than async costs in all

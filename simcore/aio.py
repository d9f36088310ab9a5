"""Run simulations from asyncio (or a Jupyter notebook) without blocking the event loop.

::

    results = await simcore.aio.run("pi", samples=10**8, out="pi.h5")
    a, b = await asyncio.gather(simcore.aio.run("pi", out="a.h5"), simcore.aio.run("ising", out="b.h5"))

    run = simcore.aio.start("transport", histories=10**7)     # a handle; the run starts at once
    async for done, total in run.progress():                 # work units (histories, sweeps ...)
        print(f"{done / total:.0%}")
    results = await run

``run`` mirrors :func:`simcore.run`: same parameters, same validation, same
results file, and the same bytes in it.  The synchronous run (its driver
loop, checkpoint writer and results file) goes on in a thread of its own;
the partitions run on the usual worker processes (or serially, as
``workers`` says); the event loop only awaits a future, so it stays free.

* **Errors** come out of the ``await``: a partition that raised in a worker
  raises :class:`~simcore.PartitionFailed`, whose ``__cause__`` is a
  :class:`RemoteTraceback` holding the worker's traceback, as
  ``concurrent.futures`` does for its process pool.
* **Cancellation** (``task.cancel()``, ``asyncio.timeout``, ``wait_for``,
  Ctrl-C under ``asyncio.run``) takes the engine's own SIGINT path: the
  partitions in flight finish (a lockstep run finishes its round), a final
  checkpoint is written when checkpointing is on, the workers stop and the
  shared memory is unlinked; only then does ``CancelledError`` propagate.
  ``handle.checkpoint`` then names that checkpoint (``simcore.resume`` it).
  A second cancellation while the run stops abandons the partitions in
  flight, as a second Ctrl-C does.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import threading
from pathlib import Path
from typing import Any, AsyncIterator

from .engine import PartitionFailed
from .interrupts import Interrupted, StopFlag
from .models.base import Model
from .results import Results, open_results
from .provenance import api_call, invoked_as
from .runner import execute, prepare

log = logging.getLogger(__name__)

__all__ = ["RemoteTraceback", "Run", "run", "start"]


class RemoteTraceback(Exception):
    """The formatted traceback of a worker, attached as ``__cause__`` of the error it raised."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text.rstrip()}\n"""'


class Run:
    """One simulation running in the background: await it for its :class:`~simcore.Results`.

    Made by :func:`start` inside a running event loop.  ``progress()``
    yields ``(done, total)`` work units; ``cancel()`` stops the run
    gracefully; ``checkpoint`` is the final checkpoint of a cancelled run
    (None if checkpointing was off or the run was not cancelled).
    """

    def __init__(self, model: str | Model, force: bool, values: dict[str, Any]) -> None:
        self._loop = asyncio.get_running_loop()
        prepared = prepare(model, values, force)  # ConfigError here, before anything starts
        self._command = api_call("simcore.aio.start", model, **values)
        self._stop = StopFlag()
        self._listeners: list[asyncio.Queue] = []
        self._state = (0, prepared[0].work(dict(prepared[1].params)))
        self._finished = False
        self.checkpoint: Path | None = None
        self._task = self._loop.create_task(self._drive(prepared, force))

    def __await__(self):
        return self._task.__await__()

    def cancel(self) -> bool:
        """Ask the run to stop (the same as cancelling the task that awaits it); False if it is over."""
        return self._task.cancel()

    def done(self) -> bool:
        """True once the run has finished, failed or been cancelled."""
        return self._task.done()

    async def progress(self) -> AsyncIterator[tuple[int, int]]:
        """``(done, total)`` work units as the run advances; ends when the run ends, however it ends.

        The first update is the state at the time of the call; updates that
        come faster than the consumer reads them are merged (the newest wins).
        """
        updates: asyncio.Queue = asyncio.Queue()
        self._listeners.append(updates)
        try:
            last = self._state
            yield last
            ended = self._finished
            while not ended:
                batch = [await updates.get()]
                while not updates.empty():
                    batch.append(updates.get_nowait())
                ended = None in batch
                states = [update for update in batch if update is not None]
                if states and states[-1] != last:
                    last = states[-1]
                    yield last
        finally:
            self._listeners.remove(updates)

    def _publish(self, update: tuple[int, int] | None) -> None:
        """On the event loop: record an update (None: the end) and wake every progress() reader."""
        if update is None:
            self._finished = True
        else:
            self._state = update
        for queue in self._listeners:
            queue.put_nowait(update)

    async def _drive(self, prepared: tuple, force: bool) -> Results:
        future: cf.Future = cf.Future()
        thread = threading.Thread(target=self._body, args=(future, prepared, force), daemon=False,
                                  name=f"simcore-aio-{prepared[0].name}")
        thread.start()
        waited = asyncio.wrap_future(future)
        try:
            return await asyncio.shield(waited)
        except PartitionFailed as exc:
            # the whole worker traceback, down to the model's frame that raised (the process pool's
            # own cause stops at the task function)
            exc.__cause__ = RemoteTraceback(exc.remote_traceback)
            raise
        except asyncio.CancelledError:
            await self._stop_gracefully(waited)
            raise
        finally:
            if waited.done():
                thread.join()  # it has set the future, its last act: this returns at once
            self._publish(None)

    async def _stop_gracefully(self, waited: asyncio.Future) -> None:
        """Cancelled: ask the run to stop as SIGINT would, then wait for it to clean up (a second cancel aborts)."""
        self._stop.request(None)
        while not waited.done():
            try:
                await asyncio.shield(waited)
            except asyncio.CancelledError:
                self._stop.request(None)
            except BaseException:  # noqa: BLE001 - the run's own ending (Interrupted, an error): reported below
                break
        error = waited.exception() if not waited.cancelled() else None
        if isinstance(error, Interrupted):
            self.checkpoint = error.checkpoint
            log.warning("cancelled; %s", f"checkpoint written: continue with simcore.resume({str(error.checkpoint)!r})"
                        if error.checkpoint else "partial work discarded (no checkpoint), shared memory released")
        elif error is not None:
            log.warning("cancelled while the run failed: %s", error)

    def _body(self, future: cf.Future, prepared: tuple, force: bool) -> None:
        """In the run's thread: run and write the results; the outcome goes to ``future``."""
        if not future.set_running_or_notify_cancel():
            return
        model, cfg, out = prepared
        done, total = self._state

        def advance(units: int) -> None:
            nonlocal done
            done += units
            self._loop.call_soon_threadsafe(self._publish, (done, total))

        try:
            with invoked_as(self._command):
                path = execute(model, cfg, out, force=force, progress=advance, stop=self._stop)
            future.set_result(open_results(path))
        except BaseException as exc:  # noqa: BLE001 - delivered to the awaiting coroutine
            future.set_exception(exc)


def start(model: str | Model, *, force: bool = False, **values: Any) -> Run:
    """Start ``model`` with parameters ``values`` in the background; return its :class:`Run` handle.

    Parameters are those of :func:`simcore.run` (model parameters, seed,
    partitions, workers, executor, out, checkpoint_every [s] ...), validated
    here (ConfigError at once).  Must be called from a running event loop.
    """
    return Run(model, force, values)


async def run(model: str | Model, *, force: bool = False, **values: Any) -> Results:
    """Run ``model`` without blocking the event loop; return its results (as :func:`simcore.run` does).

    Raises what :func:`simcore.run` raises (ConfigError, PartitionFailed with
    the worker's traceback as ``__cause__``, WorkerCrashed ...);
    cancelled, it stops the run gracefully first (module docstring).
    """
    return await start(model, force=force, **values)

"""simcore: Monte Carlo and particle simulations on a shared-memory process pool.

Public API::

    simcore.run(model, **params) -> Results     run and write HDF5
    simcore.resume(path, **settings) -> Results  continue a checkpointed run exactly
    simcore.sweep(model, grid, **params) -> Results  one run per grid point, one HDF5 file
    simcore.open_results(path) -> Results        read a results file
    simcore.read_checkpoint(path) -> Checkpoint  read and verify a checkpoint
    simcore.get_model(name), simcore.BUILTIN     the model registry
    await simcore.aio.run(model, **params)       the same from asyncio, without blocking the loop
"""
import sys
import types

from . import _jit  # noqa: F401  (numba cache directory before numba is imported)

__version__ = "0.1.0"

#: Public name -> the module defining it.  They are imported on first use (PEP 562), so that
#: ``import simcore`` (and the console script's first steps) loads no numpy, numba or h5py.
_PUBLIC = {
    "Checkpoint": "checkpoint", "CheckpointError": "checkpoint", "CheckpointFileError": "checkpoint",
    "read_checkpoint": "checkpoint", "ConfigError": "config", "RunConfig": "config",
    "Interrupted": "interrupts", "PartitionFailed": "engine", "WorkerCrashed": "engine",
    "BUILTIN": "models", "get_model": "models", "Results": "results", "ResultsFileError": "results",
    "open_results": "results", "resume": "runner", "run": "runner", "Estimate": "stats", "sweep": "sweep",
    "StorageError": "storage",
}


class _Package(types.ModuleType):
    """The package module: importing the submodule ``simcore.sweep`` must not replace the function ``simcore.sweep``."""

    def __setattr__(self, name: str, value) -> None:
        if name in _PUBLIC and isinstance(value, types.ModuleType):
            return  # the import system binds each submodule on its package; the public function stays
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    import importlib

    if name == "aio":
        return importlib.import_module(".aio", __name__)
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'simcore' has no attribute {name!r}")


__all__ = [
    "BUILTIN",
    "Checkpoint",
    "CheckpointError",
    "CheckpointFileError",
    "ConfigError",
    "Estimate",
    "Interrupted",
    "PartitionFailed",
    "Results",
    "ResultsFileError",
    "RunConfig",
    "StorageError",
    "WorkerCrashed",
    "__version__",
    "aio",
    "get_model",
    "open_results",
    "read_checkpoint",
    "resume",
    "run",
    "sweep",
]

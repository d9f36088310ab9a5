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
from . import _jit  # noqa: F401  (numba cache directory before numba is imported)

__version__ = "0.1.0"

from .checkpoint import Checkpoint, CheckpointError, CheckpointFileError, read_checkpoint  # noqa: E402
from .config import ConfigError, RunConfig  # noqa: E402
from .engine import Interrupted, PartitionFailed, WorkerCrashed  # noqa: E402
from .models import BUILTIN, get_model  # noqa: E402
from .results import Results, ResultsFileError, open_results  # noqa: E402
from .runner import resume, run  # noqa: E402
from .stats import Estimate  # noqa: E402
from .sweep import sweep  # noqa: E402
from . import aio  # noqa: E402  (after run: it builds on it)

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

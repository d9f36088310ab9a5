"""Imported by the forkserver before it forks workers: load every built-in kernel warm.

Warming here (from numba's on-disk cache, filled by the main process before
the pool starts) makes a new worker's first partition cost microseconds
instead of a compile.  No HDF5, no threads, no shared memory in here.
"""
from .models import warm_builtin_models

warm_builtin_models()

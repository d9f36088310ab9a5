"""The HDF5 results file: layout, provenance, and reading it back.

Layout (DESIGN.md section 5)::

    /                    attrs: filetype="simcore-results", format_version,
                         simcore_version, model, seed, partitions, workers,
                         executor, created, wall_seconds, host, python,
                         numpy/numba/h5py versions, config (TOML), config_sha256,
                         legs (JSON), command, [until (JSON, simcore.until)]
    /results/<name>      per-partition estimates; attrs mean, stderr, n,
                         units, description, estimator; a result blocked
                         from a time series also autocorrelation_time
                         [samples] and effective_samples (n / that time)
    /series/<name>       a profile or time series; attrs units, description,
                         axis (name of the abscissa dataset beside it), and for
                         a 2D series columns and column_units (one per column);
                         /series/<name>_stderr when the series has errors
    /tallies/rows        the raw (P, K) float64 tally rows the results reduce
    /h5md, /particles    a particle model's trajectory, H5MD 1.1 (position/step, time, value; box)

Every non-empty dataset is chunked with a Fletcher-32 checksum and the file
uses the HDF5 1.10 format, whose object headers carry checksums: a damaged
file fails to read (one clear error) instead of yielding wrong numbers.
Files hold arrays, numbers and text only -- never pickles.  A results file is
written to a temporary name in the target directory and moved into place at
the end, so a reader never sees a half-written file; without ``force`` an
existing file is never replaced.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._h5 import RESULTS_FILETYPE, ForeignContent, built_in_memory, first_line, member, members, plain, read_dataset
from .config import RunConfig
from .models.base import Reduction
from .provenance import source_version
from .stats import Estimate

FILETYPE = RESULTS_FILETYPE
FORMAT_VERSION = "1.3"  # 1.1: attr kind; a sweep's model is the model swept; 1.2: until, autocorrelation_time;
# 1.3: lj's sums over atoms exact (its bytes differ)


class ResultsFileError(ValueError):
    """The file is missing, not HDF5, not a simcore results file, or damaged."""


def _versions() -> dict[str, str]:
    import h5py
    import numba

    from . import __version__

    return {
        "simcore_version": __version__,
        **source_version(),
        "python": platform.python_version(),
        "numpy_version": np.__version__,
        "numba_version": numba.__version__,
        "h5py_version": h5py.__version__,
    }


def write_results(path: Path, cfg: RunConfig, reduction: Reduction, tallies: np.ndarray, *,
                  model_results: dict[str, tuple[str, str]], legs: list[dict], force: bool,
                  trajectory=None, until: dict | None = None) -> Path:
    """Write a results file atomically; ``model_results`` maps name -> (units, description).

    ``legs`` are the run's legs (:mod:`simcore.provenance`): ``wall_seconds``
    is their sum; ``workers`` and ``executor`` are those of the last
    (``workers = auto`` resolved); ``command`` is what started the first.

    ``trajectory`` is (a :class:`~simcore.models.base.Trajectory`, steps (F,),
    positions (F, N, 3)) to store as H5MD 1.1 under /h5md and /particles/all.
    ``until`` is the record of a run with precision targets (:mod:`simcore.until`).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with built_in_memory(tmp, libver=_LIBVER) as handle:
            attrs = handle.attrs
            attrs["filetype"] = FILETYPE
            attrs["format_version"] = FORMAT_VERSION
            sweep = cfg.model == "sweep"
            attrs["kind"] = "sweep" if sweep else "run"
            attrs["model"] = cfg.params["of"] if sweep else cfg.model
            attrs["seed"] = np.uint64(cfg.seed)
            attrs["partitions"] = cfg.partitions
            attrs["workers"] = legs[-1]["workers"]
            attrs["executor"] = legs[-1]["executor"]
            attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            attrs["wall_seconds"] = sum(one["seconds"] for one in legs)
            attrs["host"] = socket.gethostname()
            attrs["command"] = legs[0]["command"]
            attrs["legs"] = json.dumps(legs)
            if until is not None:
                attrs["until"] = json.dumps(until)
            for key, value in _versions().items():
                attrs[key] = value
            attrs["config"] = cfg.to_toml()
            attrs["config_sha256"] = cfg.sha256
            group = handle.create_group("results", track_order=True)  # the model's order, not alphabetical
            for name, value in reduction.results.items():
                dataset = _checksummed(group, name, value.per_partition)
                units, description = model_results.get(name, ("", ""))
                dataset.attrs["mean"] = value.estimate.mean
                dataset.attrs["stderr"] = value.estimate.stderr
                dataset.attrs["n"] = value.estimate.n
                dataset.attrs["units"] = units
                dataset.attrs["description"] = description
                dataset.attrs["estimator"] = value.estimator
                if value.autocorrelation_time is not None:
                    dataset.attrs["autocorrelation_time"] = value.autocorrelation_time
                    dataset.attrs["effective_samples"] = value.estimate.n / value.autocorrelation_time
            series_group = handle.create_group("series")
            for name, series in reduction.series.items():
                dataset = _checksummed(series_group, name, series.values)
                dataset.attrs["units"] = series.units
                dataset.attrs["description"] = series.doc
                dataset.attrs["axis"] = series.axis_name
                if series.columns:  # fixed-length byte strings: the same bytes on every write, unlike vlen str
                    dataset.attrs["columns"] = np.array(series.columns, dtype="S")
                    dataset.attrs["column_units"] = np.array(series.column_units, dtype="S")
                axis = (series_group[series.axis_name] if series.axis_name in series_group
                        else _checksummed(series_group, series.axis_name, series.axis))
                axis.attrs["units"] = series.axis_units
                if series.stderr is not None:
                    _checksummed(series_group, f"{name}_stderr", series.stderr).attrs["units"] = series.units
            # gzip level 1 after byte shuffling: for 256 MiB of transport tallies 0.8 s and 20 MiB,
            # against 1.7 s and 31 MiB for the default level 4 without shuffling
            big = tallies.size > 4096
            rows = _checksummed(handle.create_group("tallies"), "rows", tallies, compression="gzip" if big else None,
                                compression_opts=1 if big else None, shuffle=big)
            rows.attrs["description"] = "raw per-partition tally rows (model-defined columns)"
            if trajectory is not None:
                _write_h5md(handle, *trajectory)
        _place(tmp, path, force)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write_h5md(handle, spec, steps: np.ndarray, positions: np.ndarray) -> None:
    """H5MD 1.1 (de Buyl et al., Comput. Phys. Commun. 185, 1546 (2014)): /h5md and /particles/all."""
    from . import __version__

    h5md = handle.create_group("h5md")
    h5md.attrs["version"] = np.array([1, 1], dtype=np.int32)
    h5md.create_group("author").attrs["name"] = "simcore"
    creator = h5md.create_group("creator")
    creator.attrs["name"] = "simcore"
    creator.attrs["version"] = __version__
    particles = handle.create_group("particles/all")
    box = particles.create_group("box")
    box.attrs["dimension"] = np.int32(3)
    box.attrs["boundary"] = np.array([b"periodic"] * 3)
    position = particles.create_group("position")
    position.create_dataset("step", data=steps)
    position.create_dataset("time", data=steps * spec.dt)
    edges = box.create_group("edges")  # time-dependent form (what MDAnalysis reads), sharing position's clock
    edges["step"], edges["time"] = position["step"], position["time"]
    edges.create_dataset("value", data=np.tile(np.asarray(spec.box, dtype=np.float64), (len(steps), 1)))
    # no H5MD "unit" attributes: the model's units are reduced (sigma, tau), which readers such as
    # MDAnalysis reject as unknown; read them with unit conversion off
    position.create_dataset("value", data=positions, chunks=(1,) + positions.shape[1:], compression="gzip",
                            compression_opts=1, shuffle=True, fletcher32=True)


#: HDF5 1.10 file format: version-2 object headers and superblock, which carry checksums of the metadata.
_LIBVER = ("v110", "latest")


def _checksummed(group, name: str, data, **options):
    """A dataset whose chunks carry Fletcher-32 checksums: damaged data fails to read instead of lying."""
    data = np.asarray(data)
    if data.size == 0:
        return group.create_dataset(name, data=data)
    return group.create_dataset(name, data=data, chunks=True, fletcher32=True, **options)


def _place(tmp: Path, path: Path, force: bool) -> None:
    """Move ``tmp`` to ``path``: replace if ``force``, else fail rather than overwrite."""
    if force:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic, and refuses an existing target
    except FileExistsError:
        raise ResultsFileError(f"{str(path)!r} appeared while the run was going; results left unwritten") from None


@dataclass
class Results:
    """A results file read back: provenance, estimates and series, all in memory.

    Use :func:`open_results`; ``mean(name)``, ``stderr(name)`` and
    ``result(name)`` give the pooled estimates, ``series(name)`` the arrays
    and ``series_attrs[name]`` their attributes (units, description, axis).
    """

    path: Path
    attrs: dict[str, Any]
    estimates: dict[str, Estimate]
    per_partition: dict[str, np.ndarray]
    series_data: dict[str, np.ndarray] = field(default_factory=dict)
    series_attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)  # result name -> what it is
    #: result name -> integrated autocorrelation time [samples] of the series it was blocked from
    autocorrelation_times: dict[str, float] = field(default_factory=dict)

    @property
    def model(self) -> str:
        """Model reference the file was produced by (of a sweep: the model every point ran)."""
        return str(self.attrs["model"])

    @property
    def is_sweep(self) -> bool:
        """True for a sweep (one row per grid point), False for a single run."""
        return self.attrs.get("kind", "sweep" if self.attrs["model"] == "sweep" else "run") == "sweep"  # 1.0: model

    @property
    def seed(self) -> int:
        """The run's seed."""
        return int(self.attrs["seed"])

    @property
    def config(self) -> str:
        """Canonical TOML of the run's configuration."""
        return str(self.attrs["config"])

    @property
    def names(self) -> list[str]:
        """Result names in file order."""
        return list(self.estimates)

    def result(self, name: str) -> Estimate:
        """Pooled estimate of result ``name`` (mean, stderr, n, units)."""
        try:
            return self.estimates[name]
        except KeyError:
            raise KeyError(f"no result {name!r} in {self.path}; available: {', '.join(self.estimates)}") from None

    def mean(self, name: str) -> float:
        """Mean of result ``name``."""
        return self.result(name).mean

    def stderr(self, name: str) -> float:
        """Standard error of the mean of result ``name``."""
        return self.result(name).stderr

    def series(self, name: str) -> np.ndarray:
        """Array ``/series/<name>``."""
        return self.series_data[name]

    def __enter__(self) -> "Results":
        return self

    def __exit__(self, *exc_info) -> None:
        return None


def open_results(path: str | os.PathLike) -> Results:
    """Read a simcore results file (checks filetype and major format version).

    Raises ResultsFileError with one sentence if the file is missing, not
    HDF5, not a simcore results file, or damaged.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ResultsFileError(f"{str(path)!r} does not exist or is not a file")
    try:
        with h5py.File(path, "r") as handle:
            attrs = {key: plain(value) for key, value in handle.attrs.items()}
            if attrs.get("filetype") != FILETYPE:
                raise ResultsFileError(f"{str(path)!r} is not a simcore results file")
            major = str(attrs.get("format_version", "0")).split(".")[0]
            if major != FORMAT_VERSION.split(".")[0]:
                raise ResultsFileError(
                    f"{str(path)!r} has results format {attrs.get('format_version')}; this simcore reads {FORMAT_VERSION}")
            estimates, per_partition, descriptions, autocorrelation_times = {}, {}, {}, {}
            for name, dataset in members(member(handle, "results")):
                a = dataset.attrs
                estimates[name] = Estimate(float(a["mean"]), float(a["stderr"]), int(a["n"]), str(plain(a["units"])))
                per_partition[name] = read_dataset(dataset)
                descriptions[name] = str(plain(a.get("description", "")))
                if "autocorrelation_time" in a:
                    autocorrelation_times[name] = float(a["autocorrelation_time"])
            stored = members(member(handle, "series"))
            series = {name: read_dataset(dataset, "biufSO") for name, dataset in stored}  # a sweep's text axes
            series_attrs = {name: {key: _attr(value) for key, value in dataset.attrs.items()} for name, dataset in stored}
    except ResultsFileError:
        raise
    except ForeignContent as exc:
        raise ResultsFileError(f"{str(path)!r} is refused: {exc}") from None
    except (OSError, KeyError, ValueError) as exc:
        raise ResultsFileError(f"{str(path)!r} cannot be read as simcore results: {first_line(exc)}") from None
    return Results(path, attrs, estimates, per_partition, series, series_attrs, descriptions, autocorrelation_times)


def _attr(value: Any) -> Any:
    """An attribute as a plain value; an array of strings (a 2D series' column names) as a list of str."""
    if isinstance(value, np.ndarray):
        return [plain(item) for item in value.tolist()]
    return plain(value)
